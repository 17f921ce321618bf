"""A second pass over Mandarin finals: the bundled Qwen model scores readings, never writes.

Whisper base hears syllables well and often picks the wrong characters; the first pass
chooses among the beam's hypotheses with word frequencies and repairs by sound
(`lexicon.py`, `homophones.py`), each without context beyond a word. The second pass reads
a final again with what came before it (the captions before, the room's hot words) and
lets the translation model judge a short list of candidates:

- the beam's other hypotheses for the final (`Hypothesis.alternatives`),
- the same-sounding readings of the final (`HomophoneFixer.alternatives`).

Each candidate gets the log-probability the model gives it after the context (one batched
decode: every candidate is a sequence of its own that shares the cached context and only
reads from where it differs). The final changes only when a candidate beats it by more than
`margin` nats, plus `change_cost` nats for each character it changes. A free rewrite by the
same model was measured to make CER worse (15.2 % → 17.8 %); scoring can only choose among
readings of the same sound or ones the recognizer itself considered.

Measured (`python -m benchmarks.asr --only-second-pass`, the bundled Qwen2.5-Coder-1.5B,
file-transcription finals with their beam's hypotheses, the two captions before each as
context, no hot words): CER on the 400 AISHELL sentences 9.31 % → 7.71 %; on the 300 held out
from tuning 10.33 % → 8.79 %; 0 of the 170 correct finals changed; 99 of 411 finals changed.
The margin and costs were chosen on sentences 1–100 only (6.24 % → 4.50 % there). Without
the beam's hypotheses (same-sound readings only) it gained about a fifth as much there
(6.24 → 5.9 %); the 0.5B model, with both, 7.56 → 6.96 % on sentences 1–200, harming 3.
Cost per final on a busy 2-core machine, one thread: median 4.5 s, p95 8.5 s.

One `SecondPass` owns one llama.cpp context: calls take turns behind a lock, so it may be
shared between threads, but it is meant for one background consumer at low priority (one
thread by default; the model's weights are memory-mapped, shared with a translator that
loaded the same file).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ModelError
from ..settings import Settings
from .homophones import HomophoneFixer, homophone_fixer
from .loops import loops
from .policy import common_prefix
from .scoring import edit_distance, normalize_en, normalize_zh

log = logging.getLogger(__name__)

MARGIN = 3.0  # nats a candidate must beat the final by (chosen on AISHELL, see benchmarks/asr.py)
CHANGE_COST = 3.0  # nats more per character changed
HOMOPHONES = 6  # same-sound readings scored per final
CONTEXT_CAPTIONS = 2  # captions before the final that the model reads
_CONTEXT_CHARS = 200  # of those, at most this many characters (the latest)
_N_CTX = 2048
_N_SEQ = 32  # candidates decoded side by side
_N_BATCH = 512
_AFTER = 3  # tokens read past a candidate's last difference
# what the candidates are read after, per language: (preamble, before the hot words)
_PREAMBLES = {
    "zh": ("以下是一段普通话新闻播报的文字记录。", "其中的专有名词有："),
    "en": ("The following is a transcript of English speech.", " Names and terms in it: "),
}
LANGUAGES = frozenset(_PREAMBLES)


def _units(text: str, lang: str) -> Sequence[str]:
    """What a change is counted in: characters of Mandarin, words of English."""
    return normalize_zh(text) if lang == "zh" else normalize_en(text)


@dataclass(frozen=True)
class Review:
    """What the second pass made of a final."""

    text: str  # the reading chosen: the final itself unless a candidate won
    changed: bool
    best: str  # the best candidate other than the final (the final itself when none)
    margin: float  # nats by which the best other candidate beat (> 0) or lost to the final
    candidates: int  # readings scored, besides the final
    seconds: float  # wall time of the review
    tokens: int  # tokens the model read for it


class SecondPass:
    """Judges a Mandarin final's candidates with a llama.cpp model (see the module doc).

    Construct with `SecondPass.load(settings)` (the translator's bundled model from the
    model cache, nothing downloaded) or `SecondPass(llm, fixer)` over a `llama_cpp.Llama`
    already loaded. Thread-safe: reviews take turns."""

    def __init__(
        self,
        llm: Any,
        fixer: HomophoneFixer | None = None,
        margin: float = MARGIN,
        change_cost: float = CHANGE_COST,
        homophones: int = HOMOPHONES,
        context_captions: int = CONTEXT_CAPTIONS,
        threads: int = 1,
    ) -> None:
        self.llm = llm
        self.fixer = fixer
        self.margin = margin
        self.change_cost = change_cost
        self.homophones = homophones
        self.context_captions = context_captions
        self._scorer = _Scorer(llm, threads)
        self._lock = threading.Lock()
        # called before each batch the model reads: a live reviewer waits there while
        # recognition or translation is wanted (`live/review.py`)
        self.pause: Callable[[], None] = lambda: None

    @classmethod
    def load(cls, settings: Settings, model: str | None = None, **options: Any) -> SecondPass:
        """The bundled translation model (`settings.mt_model`, or `model`) from the model
        cache, with the homophone index; both are memory-mapped or shared, so beside a
        translator this costs little more than its own context (about 60 MB)."""
        from ..llama import gguf_path, import_llama

        path = gguf_path(model or settings.mt_model, settings.cache_dir)
        llama = import_llama()
        try:
            # the model's own context is not used: it holds a few tokens
            llm = llama(model_path=str(path), n_ctx=64, n_batch=64, seed=0, verbose=False)
        except ValueError as e:
            raise ModelError(f"{path}: llama.cpp cannot load it as a GGUF model ({e})") from e
        options.setdefault("threads", 1)  # a background pass: one core at most
        return cls(llm, homophone_fixer(settings.cache_dir), **options)

    def candidates(
        self,
        text: str,
        hotwords: Sequence[str] = (),
        hypotheses: Sequence[str] = (),
        lang: str = "zh",
    ) -> list[str]:
        """The readings a review scores besides `text`: the hypotheses, then (Mandarin)
        same-sound ones; one of each wording (a reading that differs from another only in
        punctuation is left out: it would not change a word)."""
        found: dict[tuple[str, ...], str] = {tuple(_units(text, lang)): text}
        alternatives = (
            self.fixer.alternatives(text, hotwords, self.homophones)
            if (lang == "zh" and self.fixer is not None and self.homophones > 0)
            else []
        )
        for reading in [*hypotheses, *alternatives]:
            found.setdefault(tuple(_units(reading, lang)), reading.strip())
        # a reading that loops is never chosen (asr/loops.py)
        return [r for r in list(found.values())[1:] if r and not loops(r)]

    def review(
        self,
        text: str,
        context: Sequence[str] = (),
        hotwords: Sequence[str] = (),
        hypotheses: Sequence[str] = (),
        lang: str = "zh",
    ) -> Review:
        """Read `text` (a final in `lang`, one of `LANGUAGES`) again after `context` (the
        captions before it, oldest first) with the room's `hotwords`; `hypotheses`: the
        recognizer's other readings of the same audio. Returns the chosen text, the same one
        when nothing beats it by the margin (plus the cost of each character, or English
        word, it changes)."""
        started = time.monotonic()
        text = text.strip()
        others = self.candidates(text, hotwords, hypotheses, lang) if text else []
        if not others or lang not in _PREAMBLES:
            return Review(text, False, text, -math.inf, 0, time.monotonic() - started, 0)
        prompt = self._prompt(context, hotwords, lang)
        with self._lock:
            self._scorer.pause = self.pause
            scores, tokens = self._scorer.score(prompt, [text, *others])
        mine = _units(text, lang)
        best, best_gain = text, -math.inf
        for other, score in zip(others, scores[1:], strict=True):
            changed = edit_distance(mine, _units(other, lang))
            gain = score - scores[0] - self.change_cost * changed
            if gain > best_gain:
                best, best_gain = other, gain
        chosen = best if best_gain > self.margin else text
        seconds = time.monotonic() - started
        if chosen != text:
            log.info("second pass: %r → %r (by %.1f nats)", text, chosen, best_gain)
        return Review(chosen, chosen != text, best, best_gain, len(others), seconds, tokens)

    def scores(
        self,
        texts: Sequence[str],
        context: Sequence[str] = (),
        hotwords: Sequence[str] = (),
        lang: str = "zh",
    ) -> list[float]:
        """How much likelier (nats) the model finds each text than the first, after the
        context (the first scores 0; see `_Scorer.score`): for tuning and tests."""
        with self._lock:
            return self._scorer.score(self._prompt(context, hotwords, lang), list(texts))[0]

    def _prompt(self, context: Sequence[str], hotwords: Sequence[str], lang: str) -> str:
        """What the candidates are read after: an instruction, the hot words, then the last
        captions (the newest last). Hot words come before the captions, so that a room's
        unchanging start stays in the model's cache from one final to the next."""
        prompt, before_terms = _PREAMBLES[lang]
        terms = [w.strip() for w in hotwords if w.strip()]
        if terms:
            joined = "、".join(terms) + "。" if lang == "zh" else ", ".join(terms) + "."
            prompt += before_terms + joined
        prompt += "\n"
        recent: list[str] = []
        size = 0
        for caption in reversed(
            list(context)[-self.context_captions :] if self.context_captions else []
        ):
            size += len(caption)
            if size > _CONTEXT_CHARS:
                break
            recent.insert(0, caption.strip())
        return prompt + "".join(f"{c}\n" for c in recent if c)


class _Scorer:
    """Log-probabilities of several continuations of one prompt, in one llama.cpp context
    of its own (several sequences side by side over the shared, cached prompt)."""

    def __init__(self, llm: Any, threads: int) -> None:
        import llama_cpp

        self._llama_cpp = llama_cpp
        self.llm = llm
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = _N_CTX
        params.n_batch = _N_BATCH
        params.n_ubatch = _N_BATCH
        params.n_seq_max = _N_SEQ
        params.n_threads = threads
        params.n_threads_batch = threads
        params.kv_unified = True
        params.no_perf = True
        self._ctx = llama_cpp.llama_init_from_model(llm._model.model, params)
        if self._ctx is None:
            raise ModelError("llama.cpp could not make a context for the second pass")
        self._memory = llama_cpp.llama_get_memory(self._ctx)
        self._batch = llama_cpp.llama_batch_init(_N_BATCH, 0, _N_SEQ)
        self._n_vocab = llama_cpp.llama_vocab_n_tokens(
            llama_cpp.llama_model_get_vocab(llm._model.model)
        )
        self.pause: Callable[[], None] = lambda: None
        self._cached: list[int] = []  # what sequence 0 holds
        self._first = np.zeros(0)  # log-probabilities after sequence 0

    def close(self) -> None:
        if self._ctx is not None:
            self._llama_cpp.llama_batch_free(self._batch)
            self._llama_cpp.llama_free(self._ctx)
            self._ctx = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - at interpreter exit llama_cpp may be gone
            pass

    def _tokens(self, text: str) -> list[int]:
        return self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)

    def score(self, prompt: str, texts: list[str]) -> tuple[list[float], int]:
        """How much likelier the model finds each text than the first, after `prompt`, in
        nats (the first scores 0); and the tokens read. Each text is compared with the first
        over the tokens where they differ and `_AFTER` tokens beyond (what follows a change
        alike in both costs the same in both, nearly): a change at a sentence's start does
        not read the whole sentence again."""
        # each text is followed by a line break: a reading cut short must pay for it
        full = [self._tokens(f"{prompt}{t}\n") for t in texts]
        shared = max(1, min(min(common_prefix(full[0], f) for f in full), min(map(len, full)) - 1))
        read = self._read_shared(full[0][:shared])
        rests = [f[shared:] for f in full]
        base = rests[0]
        # the window of each text that is read: to `_AFTER` tokens past its last difference
        # from the first, which is read whole
        reads, base_ends = [base], [len(base)]
        for rest in rests[1:]:
            same_end = min(common_prefix(rest[::-1], base[::-1]), len(rest) - 1, len(base) - 1)
            reads.append(rest[: len(rest) - same_end + _AFTER])
            base_ends.append(min(len(base), len(base) - same_end + _AFTER))
        logprobs: list[list[float]] = [[] for _ in texts]
        group: list[int] = []
        size = 0
        for i, tokens in enumerate(reads):
            if group and (len(group) >= _N_SEQ - 1 or size + len(tokens) > _N_BATCH):
                read += self._score_group(group, reads, shared, logprobs)
                group, size = [], 0
            group.append(i)
            size += len(tokens)
        if group:
            read += self._score_group(group, reads, shared, logprobs)
        scores = [0.0]
        for i in range(1, len(texts)):
            scores.append(sum(logprobs[i]) - sum(logprobs[0][: base_ends[i]]))
        return scores, read

    def _read_shared(self, tokens: list[int]) -> int:
        """Sequence 0 holds `tokens`, with the log-probabilities after its last kept."""
        lib = self._llama_cpp
        keep = min(common_prefix(self._cached, tokens), len(tokens) - 1)
        lib.llama_memory_seq_rm(self._memory, -1, keep, -1)  # every sequence from `keep` on
        for seq in range(1, _N_SEQ):
            lib.llama_memory_seq_rm(self._memory, seq, -1, -1)
        for start in range(keep, len(tokens), _N_BATCH):
            chunk = tokens[start : start + _N_BATCH]
            self._fill([(t, start + k, 0, False) for k, t in enumerate(chunk)])
            last = start + len(chunk) >= len(tokens)
            if last:
                self._batch.logits[len(chunk) - 1] = True
            self._decode()
            if last:
                self._first = self._logsoftmax(len(chunk) - 1)
        self._cached = list(tokens)
        return len(tokens) - keep

    def _score_group(
        self, group: list[int], reads: list[list[int]], start: int, logprobs: list[list[float]]
    ) -> int:
        """Each text of `group` in a sequence of its own over the shared start: the
        log-probability of each of its tokens."""
        lib = self._llama_cpp
        entries: list[tuple[int, int, int, bool]] = []
        spans: list[tuple[int, int]] = []
        for seq, i in enumerate(group, start=1):
            lib.llama_memory_seq_rm(self._memory, seq, -1, -1)
            lib.llama_memory_seq_cp(self._memory, 0, seq, 0, start)
            tokens = reads[i]
            spans.append((i, len(entries)))
            # the last token's logits would be about what follows the window: not needed
            entries += [(t, start + k, seq, k < len(tokens) - 1) for k, t in enumerate(tokens)]
        self._fill(entries)
        self._decode()
        for i, at in spans:
            tokens = reads[i]
            if tokens:
                logprobs[i] = [float(self._first[tokens[0]])] + [
                    float(self._logsoftmax(at + k)[tokens[k + 1]]) for k in range(len(tokens) - 1)
                ]
        for seq in range(1, len(group) + 1):
            lib.llama_memory_seq_rm(self._memory, seq, -1, -1)
        return len(entries)

    def _fill(self, entries: list[tuple[int, int, int, bool]]) -> None:
        batch = self._batch
        batch.n_tokens = len(entries)
        for j, (token, pos, seq, logits) in enumerate(entries):
            batch.token[j] = token
            batch.pos[j] = pos
            batch.seq_id[j][0] = seq
            batch.n_seq_id[j] = 1
            batch.logits[j] = logits

    def _decode(self) -> None:
        self.pause()
        code = self._llama_cpp.llama_decode(self._ctx, self._batch)
        if code != 0:
            self._cached = []
            raise ModelError(f"llama.cpp could not decode a second-pass batch (code {code})")

    def _logsoftmax(self, i: int) -> np.ndarray:
        ptr = self._llama_cpp.llama_get_logits_ith(self._ctx, i)
        logits = np.ctypeslib.as_array(ptr, shape=(self._n_vocab,))
        top = float(logits.max())
        return logits - (top + math.log(float(np.exp(logits - top).sum(dtype=np.float64))))
