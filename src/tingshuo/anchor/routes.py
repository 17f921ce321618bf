"""The anchor in the server: a stage page and the endpoints it uses.

    app.include_router(tingshuo.anchor.routes.router)

- GET  /room/{id}/stage        the stage page: the presenter (SVG, the same drawing as the
                               video), the anchor's voice, subtitles highlighted as spoken
- GET  /api/anchor/presenter   the drawing as JSON (shapes, eyes, mouth shapes)
- POST /api/anchor/rundown     parse a rundown (YAML or Markdown text) into segments (public:
                               rate-limited per client, parsed in the public worker pool)
- POST /api/anchor/say         synthesize one line: WAV (base64), units with times, mouth track
                               (organizer token: it spends the server's CPU on any text)

In a live room the stage follows the console instead: see tingshuo.server.anchor_room.

Synthesis runs in a worker thread; the event loop never waits on a voice.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from ..errors import TingshuoError
from ..server.auth import organizer
from ..server.limits import public_limit, run_public
from ..settings import Settings, get_settings
from ..tts.audio_out import wav_bytes
from . import presenter
from .rundown import MAX_CHARS, Rundown, parse_markdown, parse_yaml

STATIC = Path(__file__).parent / "static"
if TYPE_CHECKING:
    from ..tts import Voice

router = APIRouter(tags=["anchor"])


class SayIn(BaseModel):
    text: str = Field(max_length=2000)
    lang: str = "zh"


class UnitOut(BaseModel):
    text: str
    start: float
    end: float


class SayOut(BaseModel):
    lang: str
    voice: str
    duration: float
    audio: str  # data:audio/wav;base64,…
    units: list[UnitOut]
    mouth: list[tuple[float, float, str]]  # (start, end, mouth shape)


class RundownIn(BaseModel):
    text: str = Field(max_length=MAX_CHARS)
    format: Literal["yaml", "markdown"] = "yaml"


class SegmentOut(BaseModel):
    kind: str
    line: int
    id: str
    lines: dict[str, str]
    speak: list[str]
    seconds: float
    cue: str
    speaker: str
    title: str


class RundownOut(BaseModel):
    title: str
    languages: list[str]
    segments: list[SegmentOut]


def _settings(request: Request) -> Settings:
    return getattr(request.app.state, "settings", None) or get_settings()


def say_line(text: str, lang: str, settings: Settings, voice: Voice | None = None) -> SayOut:
    """The line in `voice` (default: the process's voice for `lang`)."""
    from ..tts import load_voice

    speech = (voice or load_voice(lang, settings)).say(text)
    mouth = [
        (round(p.start, 3), round(p.end, 3), presenter.viseme(p.symbol, speech.lang))
        for u in speech.units
        for p in u.phones
    ]
    return SayOut(
        lang=speech.lang,
        voice=speech.voice,
        duration=round(speech.duration, 3),
        audio="data:audio/wav;base64,"
        + base64.b64encode(wav_bytes(speech.audio, speech.sample_rate)).decode(),
        units=[
            UnitOut(text=u.text, start=round(u.start, 3), end=round(u.end, 3)) for u in speech.units
        ],
        mouth=mouth,
    )


@router.get("/room/{room_id}/stage", include_in_schema=False)
def stage(room_id: str) -> FileResponse:  # noqa: ARG001 (read by the page's script)
    return FileResponse(
        STATIC / "stage.html",
        media_type="text/html; charset=utf-8",
        headers={"Cache-Control": "no-cache"},
    )


@router.get("/anchor-static/stage.js", include_in_schema=False)
def stage_script() -> FileResponse:
    return FileResponse(STATIC / "stage.js", media_type="text/javascript; charset=utf-8")


@router.get("/api/anchor/presenter")
def presenter_drawing() -> dict:
    return presenter.description()


@router.post("/api/anchor/rundown", dependencies=[Depends(public_limit)])
async def rundown(request: Request, body: RundownIn) -> RundownOut:
    parse = parse_yaml if body.format == "yaml" else parse_markdown
    try:
        plan: Rundown = await run_public(request, parse, body.text, "rundown")
    except TingshuoError as e:
        raise HTTPException(status_code=400, detail=str(e)) from e
    return RundownOut(
        title=plan.title,
        languages=plan.languages,
        segments=[SegmentOut(**vars(s)) for s in plan.segments],
    )


@router.post("/api/anchor/say", dependencies=[Depends(organizer)])
async def say(body: SayIn, request: Request) -> SayOut:
    try:
        return await run_in_threadpool(say_line, body.text, body.lang, _settings(request))
    except TingshuoError as e:
        raise HTTPException(status_code=400, detail=str(e)) from e
