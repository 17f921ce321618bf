"""The model-free commit policy: when to draft a partial, when an utterance is final.

It sees only VAD frame probabilities with their times and the text of successive
hypotheses; no model. An utterance opens at speech onset (less a small pad), is redrafted at
a steady cadence while speech goes on, and is committed at the first long enough silence or
when it reaches the maximum length. Consecutive utterances share their boundary, so no audio
is lost or doubled across them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel


class PolicyConfig(BaseModel):
    threshold: float = 0.5
    min_speech_s: float = 0.25
    min_silence_s: float = 0.45
    # kept before a detected onset: the VAD needs a few frames to notice speech has begun
    lead_pad_s: float = 0.3
    speech_pad_s: float = 0.15  # kept after the last speech frame
    max_utterance_s: float = 20.0
    partial_interval_s: float = 0.5
    first_partial_s: float = 0.4
    # after this much silence the final is decoded ahead, while the policy waits to be sure
    speculate_after_s: float = 0.15

    @property
    def neg_threshold(self) -> float:
        # hysteresis: speech must fall clearly below the threshold to count as silence
        return max(self.threshold - 0.15, 0.01)


@dataclass(frozen=True)
class Draft:
    """Decode the open utterance [start, end) as a partial."""

    start: float
    end: float


@dataclass(frozen=True)
class Prepare:
    """Start decoding [start, end) as final now: a Commit of this range will probably follow."""

    start: float
    end: float


@dataclass(frozen=True)
class Commit:
    """Decode [start, end) as final; the utterance is closed."""

    start: float
    end: float


Action = Draft | Prepare | Commit


class CommitPolicy:
    def __init__(self, config: PolicyConfig | None = None) -> None:
        self.cfg = config or PolicyConfig()
        self.committed_until = 0.0  # no utterance may start before this
        self._run_start: float | None = None  # first speech frame of a candidate onset
        self.start: float | None = None  # open utterance start
        self._silence_start: float | None = None
        self._last_draft: float | None = None
        self._prepared = False
        # (time, prob) of the open utterance, to find a quiet cut when it grows too long
        self._frames: list[tuple[float, float]] = []

    @property
    def open(self) -> bool:
        return self.start is not None

    def feed(self, t0: float, t1: float, prob: float) -> list[Action]:
        """One VAD frame covering [t0, t1) with speech probability `prob`."""
        cfg = self.cfg
        if self.start is None:
            if prob < cfg.threshold:
                self._run_start = None
                return []
            if self._run_start is None:
                self._run_start = t0
            if t1 - self._run_start < cfg.min_speech_s:
                return []
            self.start = max(self._run_start - cfg.lead_pad_s, self.committed_until)
            self._run_start = None
            self._silence_start = None
            self._last_draft = None
            self._frames = []

        self._frames.append((t0, prob))
        if prob >= cfg.threshold:
            self._silence_start = None
            self._prepared = False
        elif prob < cfg.neg_threshold and self._silence_start is None:
            self._silence_start = t0

        if self._silence_start is not None:
            silent = t1 - self._silence_start
            end = self._silence_start + cfg.speech_pad_s
            if silent >= cfg.min_silence_s:
                return [self._commit(min(end, t1))]
            if silent >= cfg.speculate_after_s and not self._prepared and end <= t1:
                self._prepared = True
                return [Prepare(self.start, end)]
        if t1 - self.start >= cfg.max_utterance_s:
            return [self._commit(self._quiet_cut(t1), keep_open=True)]

        due = (
            self.start + cfg.first_partial_s
            if self._last_draft is None
            else self._last_draft + cfg.partial_interval_s
        )
        if t1 >= due and self._silence_start is None:
            self._last_draft = t1
            return [Draft(self.start, t1)]
        return []

    def flush(self, t_end: float) -> list[Action]:
        """The stream ended: commit what is open."""
        if self.start is None:
            return []
        return [self._commit(t_end)]

    def _quiet_cut(self, t_now: float) -> float:
        """The least speech-like moment in the later half of the utterance."""
        assert self.start is not None
        half = self.start + (t_now - self.start) / 2
        candidates = [(p, t) for t, p in self._frames if t >= half] or [(0.0, t_now)]
        return min(candidates)[1]

    def _commit(self, end: float, keep_open: bool = False) -> Commit:
        assert self.start is not None
        action = Commit(self.start, end)
        self.committed_until = end
        if keep_open:
            # speech goes on: the next utterance starts exactly where this one ended
            self.start = end
            self._frames = [(t, p) for t, p in self._frames if t >= end]
            self._last_draft = None
        else:
            self.start = None
            self._frames = []
        self._silence_start = None
        self._prepared = False
        return action


def common_prefix(a: Sequence, b: Sequence) -> int:
    """How many leading items two sequences share (characters, tokens)."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


class HypothesisStabilizer:
    """LocalAgreement-2: the prefix two successive drafts agree on becomes stable.

    Stable text only grows within an utterance, so captions do not flicker.
    """

    def __init__(self) -> None:
        self.stable = ""
        self._previous: str | None = None

    def reset(self) -> None:
        self.stable = ""
        self._previous = None

    @property
    def has_text(self) -> bool:
        """The open utterance has had a draft with words."""
        return bool(self._previous)

    def update(self, hypothesis: str) -> tuple[str, str]:
        """Return (stable, unstable) for a new draft of the open utterance."""
        previous = self._previous
        if previous is not None and hypothesis.startswith(self.stable):
            n = common_prefix(previous, hypothesis)
            agreed = hypothesis[:n]
            if not _is_cjk(agreed[-1:]) and not (
                _word_end(hypothesis, n) and _word_end(previous, n)
            ):
                # in spaced languages, agree on whole words only
                agreed = agreed[: agreed.rfind(" ") + 1]
            if len(agreed) > len(self.stable):
                self.stable = agreed
        self._previous = hypothesis
        unstable = hypothesis[len(self.stable) :] if hypothesis.startswith(self.stable) else ""
        return self.stable, unstable


def _word_end(text: str, n: int) -> bool:
    return n == len(text) or text[n] == " "


def _is_cjk(ch: str) -> bool:
    return bool(ch) and ("\u3000" <= ch <= "\u9fff" or "\uff00" <= ch <= "\uffef")
