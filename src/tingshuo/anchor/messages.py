"""The anchor's messages as pages receive them: a line said (audio, unit and mouth timings)
and a rundown's segment."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

from pydantic import BaseModel

from ..tts.audio_out import wav_bytes
from . import presenter
from .rundown import Segment

if TYPE_CHECKING:
    from ..tts import Voice


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

    @classmethod
    def of(cls, seg: Segment) -> SegmentOut:
        return cls(**vars(seg))


def say_line(text: str, voice: Voice) -> SayOut:
    """The line in `voice`, with its units' times and the presenter's mouth shapes."""
    speech = voice.say(text)
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
