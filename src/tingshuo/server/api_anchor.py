"""The anchor's stage page and the endpoints it uses.

- GET  /room/{id}/stage        the stage page: the presenter (SVG, the same drawing as the
                               video), the anchor's voice, subtitles highlighted as spoken
- GET  /api/anchor/presenter   the drawing as JSON (shapes, eyes, mouth shapes)
- POST /api/anchor/rundown     parse a rundown (YAML or Markdown text) into segments (public:
                               rate-limited per client, parsed in the public worker pool)
- POST /api/anchor/say         synthesize one line: WAV (base64), units with times, mouth track
                               (organizer token: it spends the server's CPU on any text)

In a live room the stage follows the console instead: see live/anchor_desk.py and
server/api_anchor_room.py.

Synthesis runs in a worker thread; the event loop never waits on a voice.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from ..anchor import STATIC, presenter
from ..anchor.messages import SayOut, SegmentOut, say_line
from ..anchor.rundown import MAX_CHARS, Rundown, parse_markdown, parse_yaml
from ..errors import TingshuoError
from .auth import organizer
from .limits import public_limit, run_public

router = APIRouter(tags=["anchor"])


class SayIn(BaseModel):
    text: str = Field(max_length=2000)
    lang: str = "zh"


class RundownIn(BaseModel):
    text: str = Field(max_length=MAX_CHARS)
    format: Literal["yaml", "markdown"] = "yaml"


class RundownOut(BaseModel):
    title: str
    languages: list[str]
    segments: list[SegmentOut]


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
        segments=[SegmentOut.of(s) for s in plan.segments],
    )


@router.post("/api/anchor/say", dependencies=[Depends(organizer)])
async def say(body: SayIn, request: Request) -> SayOut:
    models = request.app.state.models  # the server's voices
    try:
        return await run_in_threadpool(lambda: say_line(body.text, models.voice(body.lang)))
    except TingshuoError as e:
        raise HTTPException(status_code=400, detail=str(e)) from e
