"""The learner page (`/learn`) and its API: pick or type a sentence, record, see the report.

The recognizer and the voice come from the server's `Models` (`app.state.models`). The page
needs no token, so everything that runs a model is rate-limited per client and runs in the
public worker pool (limits.py), never on the event loop or in the threads the live rooms use;
sizes and lengths are checked first. What is practised and how a reading is assessed live in
`tingshuo.learn`.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel

from ..errors import TingshuoError
from ..learn import practice, report
from ..learn.practice import DrillSet, PracticeSentence
from ..learn.result import Assessment
from ..live.models import Models
from ..settings import Settings, get_settings
from .limits import public_limit, run_public
from .uploads import save_upload, upload_file

router = APIRouter()
_LOCK = threading.Lock()  # one assessment at a time: the recognizer is shared
MAX_UPLOAD_BYTES = 20 * 1024 * 1024  # 30 s of audio in any format is far below this
_CHARS_PER_SYLLABLE = 10  # "zhuang1 " and punctuation: a prompt longer than this is refused
_MAX_SPEAK_CHARS = 200  # a practice sentence or two; this is not a general speech service


class PinyinOut(BaseModel):
    text: str
    pinyin: str  # with tone marks, after sandhi, as the sentences' pinyin


class AssessmentOut(BaseModel):
    assessment: Assessment
    cards_html: str  # the coloured syllable cards with their pitch contours


def _settings(request: Request) -> Settings:
    return getattr(request.app.state, "settings", None) or get_settings()


def _models(request: Request) -> Models:
    return request.app.state.models  # the server's, set at start-up


@router.get("/learn", response_class=HTMLResponse, include_in_schema=False)
def learn_page() -> str:
    return practice.page_html()


@router.get("/api/learn/sentences")
def sentences() -> list[PracticeSentence]:
    return practice.practice_sentences()


@router.get("/api/learn/drills")
def drills() -> list[DrillSet]:
    return practice.drill_sets()


@router.get("/api/learn/pinyin", dependencies=[Depends(public_limit)])
async def pinyin(request: Request, text: Annotated[str, Query()]) -> PinyinOut:
    """The reading of a typed prompt, as it will be assessed; 422 with why it cannot be."""
    from ..learn.assess import prompt_syllables

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


@router.get("/api/learn/speak", response_class=Response, dependencies=[Depends(public_limit)])
async def speak(
    request: Request, text: Annotated[str, Query(max_length=_MAX_SPEAK_CHARS)]
) -> Response:
    """The sentence read by tingshuo's Mandarin voice (WAV), for the learner to imitate."""
    from ..learn.voice import read_prompt
    from ..tts.audio_out import wav_bytes

    models = _models(request)

    def run() -> bytes:
        speech = read_prompt(models.voice("zh"), text)
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
    from ..learn.assess import assess_audio, prompt_syllables

    settings = _settings(request)
    models = _models(request)
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
            recognizer = models.worker.recognizer  # loaded here, off the event loop, if not yet
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
