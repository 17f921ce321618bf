"""The learner page (`/learn`) and its API: pick or type a sentence, record, see the report.

    app.include_router(tingshuo.learn.routes.router)

The router uses the app's shared recognizer (`app.state.worker.recognizer`) when there is one
and otherwise loads its own on first use. Assessments run one at a time in a worker thread.
"""

from __future__ import annotations

import csv
import tempfile
import threading
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel

from ..errors import TingshuoError
from ..settings import Settings, get_settings
from . import report
from .assess import Assessment

router = APIRouter()
_LOCK = threading.Lock()  # one assessment at a time: the recognizer is shared
MAX_UPLOAD_BYTES = 20 * 1024 * 1024  # 30 s of audio in any format is far below this


class PracticeSentence(BaseModel):
    level: str  # drill, HSK1 … HSK4
    text: str
    english: str
    pinyin: str  # with tone marks, after sandhi


class AssessmentOut(BaseModel):
    assessment: Assessment
    cards_html: str  # the coloured syllable cards with their pitch contours


@lru_cache(maxsize=1)
def practice_sentences() -> list[PracticeSentence]:
    from .sandhi import reference_syllables

    text = resources.files("tingshuo.learn").joinpath("data/practice.tsv").read_text("utf-8")
    return [
        PracticeSentence(
            level=row["level"],
            text=row["text"],
            english=row["english"],
            pinyin=" ".join(s.marked for s in reference_syllables(row["text"])),
        )
        for row in csv.DictReader(text.splitlines(), delimiter="\t")
    ]


@lru_cache(maxsize=1)
def _own_recognizer():
    from ..asr import load_recognizer

    return load_recognizer(get_settings())


def _recognizer(request: Request):
    worker = getattr(request.app.state, "worker", None)
    return worker.recognizer if worker is not None else _own_recognizer()


def _settings(request: Request) -> Settings:
    return getattr(request.app.state, "settings", None) or get_settings()


@router.get("/learn", response_class=HTMLResponse, include_in_schema=False)
def learn_page() -> str:
    return resources.files("tingshuo.learn").joinpath("data/learn.html").read_text("utf-8")


@router.get("/api/learn/sentences")
def sentences() -> list[PracticeSentence]:
    return practice_sentences()


_MAX_SPEAK_CHARS = 200  # a practice sentence or two; this is not a general speech service


@router.get("/api/learn/speak", response_class=Response)
async def speak(
    request: Request, text: Annotated[str, Query(max_length=_MAX_SPEAK_CHARS)]
) -> Response:
    """The sentence read by tingshuo's Mandarin voice (WAV), for the learner to imitate."""
    from ..tts import load_voice
    from ..tts.audio_out import wav_bytes

    settings = _settings(request)

    def run() -> bytes:
        speech = load_voice("zh", settings).say(text)
        return wav_bytes(speech.audio, speech.sample_rate)

    try:
        body = await run_in_threadpool(run)
    except TingshuoError as e:
        raise HTTPException(422, str(e)) from e
    return Response(body, media_type="audio/wav", headers={"Cache-Control": "max-age=86400"})


@router.post("/api/learn/assess")
async def assess_upload(
    request: Request,
    file: Annotated[UploadFile, File(description="the learner's recording")],
    text: Annotated[str, Form(description="the prompt: Hanzi or tone-numbered pinyin")],
) -> AssessmentOut:
    """Score a recording of the prompt; a bad recording or prompt answers 422 with why."""
    from ..audio.decode import load_audio
    from .assess import assess_audio, prompt_syllables

    settings = _settings(request)
    try:
        prompt_syllables(text, settings)
    except TingshuoError as e:
        raise HTTPException(422, str(e)) from e
    suffix = Path(file.filename or "recording").suffix or ".webm"
    with tempfile.NamedTemporaryFile(suffix=suffix) as tmp:
        size = 0
        while chunk := await file.read(1 << 20):
            size += len(chunk)
            if size > MAX_UPLOAD_BYTES:
                raise HTTPException(413, "recording too large: read one or two sentences")
            tmp.write(chunk)
        tmp.flush()
        recognizer = await run_in_threadpool(_recognizer, request)

        def run() -> Assessment:
            audio = load_audio(tmp.name)
            with _LOCK:
                return assess_audio(recognizer, audio, text, settings)

        try:
            result = await run_in_threadpool(run)
        except TingshuoError as e:
            raise HTTPException(422, str(e)) from e
    return AssessmentOut(assessment=result, cards_html=report.cards_html(result))
