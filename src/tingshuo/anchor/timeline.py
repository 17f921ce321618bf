"""From a rundown to a timeline: the anchor's audio, what is on screen when, and the mouth.

Every segment lands on the timeline. A line the voice cannot say becomes a card saying so
(and a `Failure` the caller reports): it is never silently dropped.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..errors import TingshuoError
from ..tts import Speech, Unit
from ..tts.audio_out import resample
from .presenter import viseme
from .rundown import Rundown, Segment

log = logging.getLogger(__name__)

SAMPLE_RATE = 24_000
GAP_BETWEEN_LANGUAGES_S = 0.5
GAP_AFTER_SEGMENT_S = 0.8
FAILED_CARD_S = 3.0
BLINK_EVERY_S = 3.7
BLINK_S = 0.15


@dataclass
class Caption:
    """Subtitles on screen: every language of the segment; `lang` is the one being spoken."""

    start: float
    end: float
    lines: dict[str, str]
    lang: str | None = None
    units: list[Unit] = field(default_factory=list)  # on the timeline

    def progress(self, t: float) -> float:
        """Share of the spoken line said by time t (0–1), for highlighting."""
        if not self.units:
            return 0.0
        ends = [u.end for u in self.units]
        done = bisect.bisect_right(ends, t)
        return done / len(self.units)


@dataclass
class Card:
    start: float
    end: float
    heading: str
    text: str
    failed: bool = False


@dataclass
class Failure:
    line: int
    lang: str
    reason: str


@dataclass
class Timeline:
    title: str
    duration: float
    audio: np.ndarray  # mono float32 at SAMPLE_RATE
    captions: list[Caption]
    cards: list[Card]
    mouth: list[tuple[float, float, str]]  # (start, end, viseme), sorted
    failures: list[Failure]
    segments: int

    def caption_at(self, t: float) -> Caption | None:
        return next((c for c in self.captions if c.start <= t < c.end), None)

    def card_at(self, t: float) -> Card | None:
        return next((c for c in self.cards if c.start <= t < c.end), None)

    def mouth_at(self, t: float) -> str:
        starts = [m[0] for m in self.mouth]
        i = bisect.bisect_right(starts, t) - 1
        if i >= 0 and t < self.mouth[i][1]:
            return self.mouth[i][2]
        return "rest"

    @staticmethod
    def blink_at(t: float) -> bool:
        return (t % BLINK_EVERY_S) < BLINK_S


VoiceFor = Callable[[str], object]  # language → tingshuo.tts.Voice


def build_timeline(
    rundown: Rundown,
    voice_for: VoiceFor,
    on_segment: Callable[[int], None] | None = None,
) -> Timeline:
    audio: list[np.ndarray] = []
    clock = 0.0
    captions: list[Caption] = []
    cards: list[Card] = []
    mouth: list[tuple[float, float, str]] = []
    failures: list[Failure] = []

    def silence(seconds: float) -> None:
        nonlocal clock
        samples = round(seconds * SAMPLE_RATE)
        audio.append(np.zeros(samples, np.float32))
        clock += samples / SAMPLE_RATE

    def speak(seg: Segment) -> None:
        nonlocal clock
        for i, lang in enumerate(seg.speak):
            if i:
                silence(GAP_BETWEEN_LANGUAGES_S)
            try:
                speech: Speech = voice_for(lang).say(seg.lines[lang])
            except TingshuoError as e:
                failures.append(Failure(seg.line, lang, str(e)))
                log.warning("line %d (%s): %s", seg.line, lang, e)
                cards.append(
                    Card(clock, clock + FAILED_CARD_S, f"⚠ line {seg.line} ({lang})", str(e), True)
                )
                captions.append(Caption(clock, clock + FAILED_CARD_S, dict(seg.lines), lang))
                silence(FAILED_CARD_S)
                continue
            samples = resample(speech.audio, speech.sample_rate, SAMPLE_RATE)
            start = clock
            units = speech.shifted(start)
            captions.append(
                Caption(start, start + samples.size / SAMPLE_RATE, dict(seg.lines), lang, units)
            )
            for unit in units:
                for phone in unit.phones:
                    mouth.append((phone.start, phone.end, viseme(phone.symbol, lang)))
            audio.append(samples)
            clock += samples.size / SAMPLE_RATE

    for index, seg in enumerate(rundown.segments):
        if seg.lines:
            speak(seg)
        if seg.kind == "pause":
            silence(seg.seconds)
        elif seg.kind in ("cue", "speaker") and seg.seconds > 0:
            heading = seg.speaker if seg.kind == "speaker" else "▶ " + seg.cue
            cards.append(Card(clock, clock + seg.seconds, heading, seg.title))
            silence(seg.seconds)
        if seg.kind != "pause":
            silence(GAP_AFTER_SEGMENT_S)
        if on_segment is not None:
            on_segment(index + 1)
    # captions stay up through the short gaps after them, so the screen does not flicker
    for a, b in zip(captions, captions[1:], strict=False):
        if 0 < b.start - a.end <= GAP_AFTER_SEGMENT_S + 0.01:
            a.end = b.start
    mouth.sort()
    joined = np.concatenate(audio) if audio else np.zeros(SAMPLE_RATE, np.float32)
    return Timeline(
        title=rundown.title,
        duration=joined.size / SAMPLE_RATE,
        audio=joined,
        captions=captions,
        cards=cards,
        mouth=mouth,
        failures=failures,
        segments=len(rundown.segments),
    )
