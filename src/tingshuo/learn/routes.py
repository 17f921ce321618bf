"""The learner page (`/learn`) and its API: pick or type a sentence, record, see the report.

    app.include_router(tingshuo.learn.routes.router)

The router uses the server's recognizer (`app.state.models`) when there is one
and otherwise loads its own on first use. The page needs no token, so everything that runs a
model is rate-limited per client and runs in the public worker pool (server/limits.py), never
on the event loop or in the threads the live rooms use; sizes and lengths are checked first.
"""

from __future__ import annotations

import csv
import threading
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel

from ..errors import TingshuoError
from ..server.limits import public_limit, run_public
from ..server.uploads import save_upload, upload_file
from ..settings import Settings, get_settings
from . import report
from .assess import Assessment

router = APIRouter()
_LOCK = threading.Lock()  # one assessment at a time: the recognizer is shared
MAX_UPLOAD_BYTES = 20 * 1024 * 1024  # 30 s of audio in any format is far below this
_CHARS_PER_SYLLABLE = 10  # "zhuang1 " and punctuation: a prompt longer than this is refused


class PracticeSentence(BaseModel):
    level: str  # drill, HSK1 … HSK4
    text: str
    english: str
    pinyin: str  # with tone marks, after sandhi


class PinyinOut(BaseModel):
    text: str
    pinyin: str  # with tone marks, after sandhi, as the sentences' pinyin


class DrillItem(BaseModel):
    text: str
    english: str
    pinyin: str  # with tone marks, after sandhi
    tones: list[int]  # the tones expected (after sandhi; 5 = light)
    citation: list[int]  # the dictionary tones, before sandhi (你好: 3 3, said 2 3)


class DrillSet(BaseModel):
    kind: str  # four (the four tones of a syllable), pairs (two-syllable tone pairs), minimal
    name: str
    items: list[DrillItem]


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
def drill_sets() -> list[DrillSet]:
    """The drills of the page (`data/drills.json`): the four tones of ten syllables, the 20
    two-syllable tone pairs (16 full-tone pairs and 4 with a light second syllable), and
    minimal pairs that differ only in tone."""
    import json

    from .sandhi import reference_syllables

    def item(text: str, english: str) -> DrillItem:
        syllables = reference_syllables(text)
        return DrillItem(
            text=text,
            english=english,
            pinyin=" ".join(s.marked for s in syllables),
            tones=[s.tone for s in syllables],
            citation=[s.citation_tone for s in syllables],
        )

    data = json.loads(resources.files("tingshuo.learn").joinpath("data/drills.json").read_text())
    out = [
        DrillSet(kind="four", name=d["name"], items=[item(*x) for x in d["items"]])
        for d in data["four"]
    ]
    out.append(DrillSet(kind="pairs", name="tone pairs", items=[item(*x) for x in data["pairs"]]))
    out += [
        DrillSet(
            kind="minimal", name=" / ".join(t for t, _ in pair), items=[item(*x) for x in pair]
        )
        for pair in data["minimal"]
    ]
    return out


@lru_cache(maxsize=1)
def _own_recognizer():
    from ..asr import load_recognizer

    return load_recognizer(get_settings())


def _recognizer(request: Request):
    models = getattr(request.app.state, "models", None)
    return models.worker.recognizer if models is not None else _own_recognizer()


def _settings(request: Request) -> Settings:
    return getattr(request.app.state, "settings", None) or get_settings()


@router.get("/learn", response_class=HTMLResponse, include_in_schema=False)
def learn_page() -> str:
    return resources.files("tingshuo.learn").joinpath("data/learn.html").read_text("utf-8")


@router.get("/api/learn/sentences")
def sentences() -> list[PracticeSentence]:
    return practice_sentences()


@router.get("/api/learn/drills")
def drills() -> list[DrillSet]:
    return drill_sets()


@router.get("/api/learn/pinyin", dependencies=[Depends(public_limit)])
async def pinyin(request: Request, text: Annotated[str, Query()]) -> PinyinOut:
    """The reading of a typed prompt, as it will be assessed; 422 with why it cannot be."""
    from .assess import prompt_syllables

    settings = _settings(request)
    _check_length(text, settings)
    try:
        syllables = await run_public(request, prompt_syllables, text, settings)
    except TingshuoError as e:
        raise HTTPException(422, str(e)) from e
    return PinyinOut(text=text, pinyin=" ".join(s.marked for s in syllables))


def _check_length(text: str, settings: Settings) -> None:
    limit = settings.assess_max_syllables * _CHARS_PER_SYLLABLE
    if len(text) > limit:
        raise HTTPException(
            422,
            f"the prompt has {len(text)} characters; assess at most {limit} at a time: "
            "split it into sentences",
        )


_MAX_SPEAK_CHARS = 200  # a practice sentence or two; this is not a general speech service


@router.get("/api/learn/speak", response_class=Response, dependencies=[Depends(public_limit)])
async def speak(
    request: Request, text: Annotated[str, Query(max_length=_MAX_SPEAK_CHARS)]
) -> Response:
    """The sentence read by tingshuo's Mandarin voice (WAV), for the learner to imitate."""
    from ..tts import load_voice
    from ..tts.audio_out import wav_bytes

    settings = _settings(request)

    models = getattr(request.app.state, "models", None)  # the server's voices, if served

    def run() -> bytes:
        from .sandhi import has_han, reference_syllables
        from .voice import read_pinyin

        voice = models.voice("zh") if models is not None else load_voice("zh", settings)
        if has_han(text):
            speech = voice.say(text)
        else:  # a pinyin prompt (ma3, ni3 hao3): read with exactly the tones asked for
            syllables = reference_syllables(text)
            speech = read_pinyin(voice, [s.numbered for s in syllables])
        return wav_bytes(speech.audio, speech.sample_rate)

    try:
        body = await run_public(request, run)
    except TingshuoError as e:
        raise HTTPException(422, str(e)) from e
    return Response(body, media_type="audio/wav", headers={"Cache-Control": "max-age=86400"})


@router.post("/api/learn/assess", dependencies=[Depends(public_limit)])
async def assess_upload(
    request: Request,
    file: Annotated[UploadFile, File(description="the learner's recording")],
    text: Annotated[str, Form(description="the prompt: Hanzi or tone-numbered pinyin")],
    register_hz: Annotated[
        float | None,
        Form(
            ge=50,
            le=600,
            description="the learner's usual pitch (median of earlier readings), for drills",
        ),
    ] = None,
) -> AssessmentOut:
    """Score a recording of the prompt; a bad recording or prompt answers 422 with why."""
    from ..audio.decode import load_audio
    from .assess import assess_audio, prompt_syllables

    settings = _settings(request)
    # limits before work: the length now, the prompt's syllables off the event loop
    _check_length(text, settings)
    try:
        await run_public(request, prompt_syllables, text, settings)
    except TingshuoError as e:
        raise HTTPException(422, str(e)) from e
    name = Path(file.filename or "recording").name
    if not Path(name).suffix:
        name += ".webm"
    with upload_file(settings, name) as tmp:
        await save_upload(
            file, tmp, MAX_UPLOAD_BYTES, "recording too large: read one or two sentences"
        )

        def run() -> AssessmentOut:
            recognizer = _recognizer(request)
            # decoding stops past the longest reading assessed: a small file of compressed
            # silence cannot make the server decode hours
            audio = load_audio(tmp.name, settings.assess_max_audio_s, name)
            with _LOCK:
                result = assess_audio(recognizer, audio, text, settings, register_hz)
            return AssessmentOut(assessment=result, cards_html=report.cards_html(result))

        try:
            return await run_public(request, run)
        except TingshuoError as e:
            raise HTTPException(422, str(e)) from e
