"""A live stream of audio → Partial and Final events: VAD, commit policy and a shared recognizer."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING

import numpy as np

from ..audio.decode import SAMPLE_RATE
from ..audio.front_end import FrontEnd
from ..audio.front_end import choose as choose_front_end
from ..audio.vad import FRAME, StreamingVAD
from ..events import Final, Partial, Segment
from ..settings import Settings
from .base import Hypothesis, Request
from .policy import Commit, CommitPolicy, Draft, HypothesisStabilizer, PolicyConfig, Prepare
from .second_pass import LANGUAGES as REVIEWED
from .worker import QueueFull, RecognizerWorker

if TYPE_CHECKING:
    from ..speakers import Diarizer
    from .second_pass import SecondPass

log = logging.getLogger(__name__)

# audio kept before the open utterance, so an onset found late still has its first syllable
_LOOKBACK_S = 1.0


def policy_config(settings: Settings) -> PolicyConfig:
    return PolicyConfig(
        threshold=settings.vad_threshold,
        min_speech_s=settings.min_speech_s,
        min_silence_s=settings.min_silence_s,
        lead_pad_s=settings.lead_pad_s,
        speech_pad_s=settings.speech_pad_s,
        max_utterance_s=settings.max_utterance_s,
        partial_interval_s=settings.partial_interval_s,
        first_partial_s=settings.first_partial_s,
    )


class StreamingTranscriber:
    """Feed 16 kHz mono float32 audio in any block size; get events back in order."""

    def __init__(
        self,
        worker: RecognizerWorker,
        config: PolicyConfig,
        lang: str | None,
        hotwords: Sequence[str] = (),
        session_id: str | None = None,
        diarizer: Diarizer | None = None,
        live: bool = True,
        front_end: str = "off",
    ) -> None:
        self.worker = worker
        # what the VAD and the recognizer hear: the input, or it cleaned (settings.front_end)
        self.front_end = FrontEnd(front_end, load_aside=live)
        self.diarizer = diarizer  # labels each final's speaker
        self.lang = lang
        self.hotwords = tuple(hotwords)
        self.session_id = session_id
        self.policy = CommitPolicy(config)
        self.vad = StreamingVAD()
        self.stabilizer = HypothesisStabilizer()
        self.utterance = 0
        self._live = live  # live captions: finals decode on a shorter window
        self._draft_lang: str | None = None
        self._prepared: tuple[Commit, Future[Hypothesis]] | None = None
        # the draft being decoded (one at a time): its utterance, range and result to come.
        # Drafts do not block the stream, so a pause is seen, and its final queued, at once.
        self._drafting: tuple[int, Draft, Future[Hypothesis]] | None = None
        # seconds of audio between drafts beyond the policy's own interval: raised while
        # other work (translation) needs the CPU, since drafts are the first to go
        self.draft_gap: Callable[[], float] = lambda: 0.0
        self._drafted_to = 0.0  # audio time of the last draft
        self._audio = np.zeros(0, dtype=np.float32)
        self._offset = 0  # stream sample index of self._audio[0]
        self._frames = 0  # VAD frames consumed
        self._new_probs = np.zeros(0, dtype=np.float32)  # the last block's VAD frames
        # the speech probability of each VAD frame still in self._audio, the first being
        # frame self._probs_from: how much of an utterance is speech bounds its text
        self._probs: list[float] = []
        self._probs_from = 0

    @property
    def seconds(self) -> float:
        return (self._offset + self._audio.size) / SAMPLE_RATE

    def feed(self, audio: np.ndarray, eager: bool = True) -> list[Partial | Final]:
        """Process a block.

        `eager`: draft partials and decode finals ahead during pauses, as a live caption
        needs; off when the caller is behind real time or transcribing a file.
        """
        heard = audio.astype(np.float32, copy=False)
        audio = self.front_end(heard)
        events = self._hear(audio, eager)
        self.front_end.heard(heard, self._new_probs)
        return events

    def _hear(self, audio: np.ndarray, eager: bool) -> list[Partial | Final]:
        self._audio = np.concatenate([self._audio, audio])
        events: list[Partial | Final] = self._drafted()
        self._new_probs = self.vad(audio)
        for prob in self._new_probs:
            self._probs.append(float(prob))
            t0 = self._frames * FRAME / SAMPLE_RATE
            self._frames += 1
            t1 = self._frames * FRAME / SAMPLE_RATE
            for action in self.policy.feed(t0, t1, float(prob)):
                if isinstance(action, Commit):
                    events.extend(self._commit(action))
                elif not eager:
                    continue
                elif isinstance(action, Prepare):
                    self._prepare(action)
                else:
                    events.extend(self._drafted())
                    self._draft(action)
        self._trim()
        return events

    def flush(self) -> list[Partial | Final]:
        """End of stream: the open utterance becomes final."""
        events: list[Partial | Final] = []
        held = self.front_end.flush()
        if held.size:
            events += self._hear(held.astype(np.float32, copy=False), eager=False)
        for action in self.policy.flush(self.seconds):
            events.extend(self._commit(action))
        return events

    def _slice(self, start: float, end: float) -> np.ndarray:
        a = max(int(start * SAMPLE_RATE) - self._offset, 0)
        b = max(int(end * SAMPLE_RATE) - self._offset, a)
        return self._audio[a:b]

    def _trim(self) -> None:
        keep_from = self.policy.start if self.policy.open else self.seconds - _LOOKBACK_S
        keep_from = max(min(keep_from, self.seconds - _LOOKBACK_S), 0.0)
        drop = int(keep_from * SAMPLE_RATE) - self._offset
        if drop > 0:
            self._audio = self._audio[drop:]
            self._offset += drop
        frames = self._offset // FRAME - self._probs_from
        if frames > 0:
            del self._probs[:frames]
            self._probs_from += frames

    def _speech_s(self, start: float, end: float) -> float:
        """Seconds of [start, end) the VAD heard as speech (leniently: its lower threshold)."""
        a = max(int(start * SAMPLE_RATE) // FRAME - self._probs_from, 0)
        b = max(int(end * SAMPLE_RATE) // FRAME - self._probs_from, a)
        quiet = self.policy.cfg.neg_threshold
        return sum(p >= quiet for p in self._probs[a:b]) * FRAME / SAMPLE_RATE

    def _draft(self, action: Draft) -> None:
        if self._drafting is not None:
            return  # the last draft is still being decoded: this one would only queue
        if self.worker.waiting(owner=self, finals_only=self.stabilizer.has_text is False):
            # another session's request is queued: its final matters more than this
            # redraft, and the caption is redrafted at the next interval anyway (an
            # utterance's first draft gives way only to finals: a caption must show)
            return
        if self.stabilizer.has_text and action.end - self._drafted_to < self.draft_gap():
            return  # the CPU is wanted elsewhere: fewer redrafts (never no first draft)
        self._drafted_to = action.end
        audio = self._slice(action.start, action.end)
        if self.lang is None and self._draft_lang is None and audio.size >= SAMPLE_RATE:
            self._draft_lang = self.worker.recognizer.detect_language(audio)
        lang = self.lang or self._draft_lang
        if lang is None:
            return  # too short to tell the language yet
        request = Request(
            audio,
            lang,
            self.hotwords,
            draft=True,
            speech_s=self._speech_s(action.start, action.end),
        )
        try:
            future = self.worker.submit(request, owner=self, urgent=not self.stabilizer.has_text)
        except QueueFull:
            return
        self._drafting = (self.utterance, action, future)

    def _drafted(self) -> list[Partial]:
        """The partial of a draft decoded since the last look, if its utterance is open."""
        if self._drafting is None or not self._drafting[2].done():
            return []
        utterance, action, future = self._drafting
        self._drafting = None
        if utterance != self.utterance or future.cancelled():
            return []
        try:
            hyp = future.result()
        except Exception:  # logged by the worker; the next draft or the final will show
            return []
        if hyp is None or not hyp.text:
            return []
        stable, unstable = self.stabilizer.update(hyp.text)
        return [
            Partial(
                session_id=self.session_id,
                utterance=self.utterance,
                start=round(action.start, 3),
                end=round(action.end, 3),
                lang=hyp.lang,
                stable=stable,
                unstable=unstable,
            )
        ]

    def _final_request(self, start: float, end: float) -> Request:
        return Request(
            self._slice(start, end),
            self.lang,
            self.hotwords,
            draft=False,
            live=self._live,
            speech_s=self._speech_s(start, end),
        )

    def _prepare(self, action: Prepare) -> None:
        if self._prepared is not None:
            self._prepared[1].cancel()
            self._prepared = None
        if self.worker.waiting(owner=self, finals_only=True):
            return  # a guess that may be wasted is a luxury while others' finals wait
        future = self.worker.submit(self._final_request(action.start, action.end), owner=self)
        self._prepared = (Commit(action.start, action.end), future)

    def _commit(self, action: Commit) -> list[Final]:
        if self._drafting is not None:
            self._drafting[2].cancel()  # the final says it now
            self._drafting = None
        self.stabilizer.reset()
        self._draft_lang = None
        prepared, self._prepared = self._prepared, None
        if prepared is not None and prepared[0] == action:
            pending = prepared[1]
        else:
            if prepared is not None:
                prepared[1].cancel()  # speech went on after the pause: that guess is void
            pending = self.worker.submit(self._final_request(action.start, action.end), owner=self)
        # the voice is embedded here, in the session's thread, while the recognizer decodes
        voice = None
        if self.diarizer is not None:
            voice = self.diarizer.voice(self._slice(action.start, action.end))
        hyp = pending.result()
        utterance = self.utterance
        self.utterance += 1
        if hyp is None or not hyp.text:
            return []
        segment = Segment(
            session_id=self.session_id,
            start=round(action.start, 3),
            end=round(action.end, 3),
            lang=hyp.lang,
            text=hyp.text,
            # only utterances with words join a speaker: a cough opens nobody
            speaker=self.diarizer.label(voice) if voice is not None else None,
        )
        return [Final(utterance=utterance, segment=segment, alternatives=hyp.alternatives)]


def transcribe_audio(
    worker: RecognizerWorker,
    audio: np.ndarray,
    config: PolicyConfig,
    lang: str | None,
    hotwords: Sequence[str] = (),
    on_progress: Callable[[float], None] | None = None,
    diarizer: Diarizer | None = None,
    live: bool = False,
    second_pass: SecondPass | None = None,
    front_end: str = "off",
) -> Iterator[Segment]:
    """A whole recording, cut into utterances by the same policy as live audio, one final each.

    Language is detected per utterance when `lang` is None, since meetings mix languages.
    `live`: decode finals as a live session does (a shortened window), to compare the two.
    `second_pass`: each final is read again after the two before it, and its reading chosen
    among the recognizer's (`asr/second_pass.py`). `front_end`: "off", "on" or "auto"
    (audio/front_end.py; for a file, "auto" is chosen once from the whole recording).
    """
    transcriber = StreamingTranscriber(
        worker,
        config,
        lang,
        hotwords,
        diarizer=diarizer,
        live=live,
        front_end=choose_front_end(front_end, audio),
    )
    said: list[str] = []

    def reviewed(final: Final) -> Segment:
        segment = final.segment
        if second_pass is not None and segment.lang in REVIEWED:
            review = second_pass.review(
                segment.text, said[-2:], hotwords, final.alternatives, segment.lang
            )
            segment.text = review.text
        said.append(segment.text)
        return segment

    for i in range(0, audio.size, SAMPLE_RATE):
        for event in transcriber.feed(audio[i : i + SAMPLE_RATE], eager=False):
            yield reviewed(event)
        if on_progress is not None:
            on_progress(min(i + SAMPLE_RATE, audio.size) / SAMPLE_RATE)
    for event in transcriber.flush():
        yield reviewed(event)
