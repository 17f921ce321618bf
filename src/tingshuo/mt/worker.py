"""One translator shared by every live session, in its own low-priority thread.

A session hands over each final caption with `submit` and goes on at once; the translations
arrive later through the callback (on the translator's thread) and the returned Future: first
`partial` Translation events with the words written so far, then the complete one, stored by
the caller. Finals go before drafts, and a draft still waiting when a newer one from the same
session arrives is dropped. A segment said again comes from an LRU cache.

Recognition comes first: this thread runs at a lower CPU priority (`mt_nice`) and the model
pauses between tokens while a final waits for the recognizer. When translations would fall
behind, they degrade rather than lag, in this order:
1. a caption goes to the fast model (the bundled 0.5B) when the main one would miss
   `mt_target_lag_s`, when others wait behind it, or when captions themselves run late;
2. a caption is skipped (a `skipped` Translation, so viewers see the gap) when even the fast
   model would finish it later than `mt_skip_after_s` after its final while newer ones wait
   behind it (the oldest goes first), or when captions are `mt_shed_translation_lag_s` late.

Background work (a room's prepared texts, translated before they are said) comes last of all:
one sentence at a time, only while nothing else waits, by the main model.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Protocol

from ..errors import TingshuoError
from ..events import Final, Translation
from ..priority import lower_priority
from ..settings import Settings
from ..supervised import Supervised
from .base import Translator, Turn
from .glossary import Glossary
from .llama_chat import CallStats

log = logging.getLogger(__name__)

_FINAL, _PREPARE, _DRAFT, _STOP = 0, 1, 2, 3
# a corrected caption's new translation: after every fresh final, before anything else
_REVISED = 0.5
# the translation so far goes out at most this often (every viewer gets each one)
_PARTIAL_EVERY_S = 0.25

TranslationCallback = Callable[[Translation], None]

MAIN, FAST, SKIP = "main", "fast", "skip"


class QueueFull(TingshuoError):
    pass


@dataclass(frozen=True)
class BackgroundJob:
    text: str
    src: str
    tgt: str
    conversation: Hashable  # its own chat with the model: a live room's stays as it was
    context: tuple[Turn, ...] = ()
    glossary: Glossary | None = None


class Background(Protocol):
    """Work for the translator's idle time (a room's prepared texts)."""

    def next_job(self) -> BackgroundJob | None:
        """The most useful job now, or None while there is none."""
        ...

    def done(self, job: BackgroundJob, text: str | None) -> None:
        """Its translation (None: it failed)."""
        ...


class Recognition(Protocol):
    def busy(self) -> bool:
        """A final waits for the recognizer: translation pauses."""
        ...

    def idle(self) -> bool:
        """The recognizer has nothing to do: translation may use more threads."""
        ...


@dataclass
class Pace:
    """A model's measured seconds per source character of a live caption (its new prompt
    tokens, the reply, any repair and the pauses for recognition): what the next caption
    will cost it. A model not chosen for a while drifts back to its first guess, so one slow
    caption does not rule it out for good."""

    prior: float
    per_char: float = 0.0

    def __post_init__(self) -> None:
        self.per_char = self.per_char or self.prior

    def estimate(self, chars: int) -> float:
        return self.per_char * max(chars, 4)

    def update(self, chars: int, seconds: float) -> None:
        self.per_char += 0.3 * (seconds / max(chars, 4) - self.per_char)

    def relax(self) -> None:
        self.per_char += 0.2 * (self.prior - self.per_char)


@dataclass(frozen=True)
class Job:
    text: str
    src: str
    targets: tuple[str, ...]
    session_id: str | None = None
    utterance: int = 0
    segment_id: int | None = None
    draft: bool = False
    glossary: Glossary | None = None
    submitted: float = field(default_factory=time.monotonic)
    revised: bool = False  # a correction's: it never holds up a fresh caption


class TranslationWorker:
    def __init__(
        self,
        translator: Translator,
        settings: Settings,
        fast: Translator | None = None,
        caption_lag: Callable[[], float] | None = None,
        recognizer: Recognition | None = None,
    ) -> None:
        """`fast`: a quicker, weaker translator to degrade to. `caption_lag`: how late
        captions are now (s), to shed translation when recognition falls behind.
        `recognizer`: the model the translator gives way to."""
        self.translator = translator
        self.fast = fast
        self._caption_lag = caption_lag or (lambda: 0.0)
        if recognizer is not None:
            for t in (translator, fast):
                engine = getattr(t, "llm", None)
                if engine is not None and hasattr(engine, "yield_to"):
                    engine.yield_to = recognizer.busy
                    engine.spare_core = recognizer.idle
        self.settings = settings
        self._queue: queue.PriorityQueue = queue.PriorityQueue(maxsize=settings.mt_queue_size)
        # drafts may only fill half the queue, so that finals always find room
        self._draft_room = max(1, settings.mt_queue_size // 2)
        self._order = itertools.count()
        self._latest_draft: dict[str | None, int] = {}
        self._lock = threading.Lock()
        self._waiting: dict[int, float] = {}  # order -> submitted, of finals not yet done
        self._latest_prefetch: dict[str, int] = {}
        # touched by the worker thread only
        self._context: dict[tuple[str | None, str, str], deque[Turn]] = {}
        self._context_size = settings.mt_context_captions
        self._cache: OrderedDict[tuple, str] = OrderedDict()
        self._cache_size = settings.mt_cache_size
        # each model's pace as measured (first guesses: a 2-core machine beside a live room)
        self.pace = {MAIN: Pace(0.1), FAST: Pace(0.05)}
        self.shedding = "none"  # the last decision under pressure: none, quality, translation
        self.counts = {MAIN: 0, FAST: 0, SKIP: 0}
        self._background: list[Background] = []
        self._thread = Supervised("translator", self._run)

    def submit(
        self,
        job: Job,
        callback: TranslationCallback | None = None,
    ) -> Future[dict[str, str]]:
        """Queue a job without ever waiting. The Future gives {target: text} once every
        target is done; `callback` gets each Translation as soon as it is ready. A full
        queue fails the Future with QueueFull at once (the caption itself stays stored)."""
        self._thread.ensure()
        future: Future[dict[str, str]] = Future()
        n = next(self._order)
        if job.draft:
            if self._queue.qsize() >= self._draft_room:
                future.set_exception(QueueFull("the translator is busy; draft not translated"))
                return future
            with self._lock:
                self._latest_draft[job.session_id] = n
        priority = _DRAFT if job.draft else _REVISED if job.revised else _FINAL
        try:
            self._queue.put_nowait((priority, n, job, callback, future))
        except queue.Full:
            log.warning("translation queue full: caption %s not translated", job.utterance)
            future.set_exception(QueueFull("the translator is saturated; caption not translated"))
            return future
        if priority == _FINAL:
            with self._lock:
                self._waiting[n] = job.submitted
        return future

    def submit_final(
        self,
        final: Final,
        targets: Sequence[str],
        callback: TranslationCallback | None = None,
        glossary: Glossary | None = None,
        revised: bool = False,
    ) -> Future[dict[str, str]]:
        """The live pipeline's entry: a stored Final in, Translation events out. `revised`:
        a corrected caption's, translated after the fresh ones waiting."""
        seg = final.segment
        job = Job(
            text=seg.text,
            src=seg.lang,
            targets=tuple(targets),
            session_id=seg.session_id,
            utterance=final.utterance,
            segment_id=seg.id,
            glossary=glossary,
            revised=revised,
        )
        return self.submit(job, callback)

    def pending(self) -> int:
        return self._queue.qsize()

    def busy(self) -> bool:
        """A caption is being translated or waits to be."""
        with self._lock:
            return bool(self._waiting)

    def lag_s(self) -> float:
        """How long the oldest final not yet translated has waited (0 when none waits)."""
        with self._lock:
            oldest = min(self._waiting.values(), default=None)
        return 0.0 if oldest is None else time.monotonic() - oldest

    def prepare(self, session_id: str, src: str, targets: Sequence[str]) -> None:
        """A live session is starting: its conversations' instructions are read now (after
        any waiting caption), so that its first caption does not pay for them."""
        for tgt in targets:
            if tgt != src:
                item = ("prepare", session_id, src, tgt)
                self._queue.put_nowait((_PREPARE, next(self._order), item, None, None))

    def prefetch(
        self,
        session_id: str,
        src: str,
        targets: Sequence[str],
        text: str,
        glossary: Glossary | None = None,
    ) -> None:
        """A draft's stable words, before the caption is final: the model reads them now,
        while it would wait anyway, so the final's translation starts sooner. Only the
        newest of a session counts; finals always go first."""
        n = next(self._order)
        with self._lock:
            self._latest_prefetch[session_id] = n
        for tgt in targets:
            if tgt != src:
                item = ("prefetch", session_id, src, tgt, text, glossary)
                try:
                    self._queue.put_nowait((_PREPARE, n, item, None, None))
                except queue.Full:
                    return

    def add_background(self, source: Background) -> None:
        """Ask `source` for work whenever nothing else waits, until it is removed."""
        self._thread.ensure()
        with self._lock:
            if source not in self._background:
                self._background.append(source)
        self.wake()

    def remove_background(self, source: Background) -> None:
        with self._lock:
            if source in self._background:
                self._background.remove(source)

    def wake(self) -> None:
        """A background source has new work: look again."""
        try:
            self._queue.put_nowait((_PREPARE, next(self._order), ("wake", None), None, None))
        except queue.Full:
            pass  # busy anyway: the queue is looked at again soon

    def _background_step(self) -> bool:
        """One background job, if any source has one; whether one ran."""
        with self._lock:
            sources = list(self._background)
        for source in sources:
            try:
                job = source.next_job()
            except Exception:  # a broken source must not stop the translator
                log.exception("background translation source failed")
                self.remove_background(source)
                continue
            if job is None:
                continue
            with self._lock:  # the next time, the next source goes first
                if source in self._background:
                    self._background.remove(source)
                    self._background.append(source)
            key = (job.text, job.src, job.tgt, job.glossary.key if job.glossary else ())
            text: str | None = self._cache.get(key)
            if text is None:
                try:
                    text = self.translator.translate(
                        job.text,
                        job.src,
                        job.tgt,
                        list(job.context),
                        job.glossary,
                        conversation=job.conversation,
                    )
                    self._cache[key] = text
                    if len(self._cache) > self._cache_size:
                        self._cache.popitem(last=False)
                except Exception as e:
                    log.warning("background translation failed: %s", e)
            try:
                source.done(job, text)
            except Exception:
                log.exception("background translation source failed")
            return True
        return False

    def forget(self, session_id: str) -> None:
        """A session has ended: its conversation with the model is let go."""
        for t in (self.translator, self.fast):
            forget = getattr(t, "forget", None)
            if forget is not None:
                forget(session_id)

    def _finals_waiting(self) -> int:
        with self._queue.mutex:
            return sum(1 for item in self._queue.queue if item[0] == _FINAL)

    def _run(self) -> None:
        lower_priority(self.settings.mt_nice)
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                if self._background_step():
                    continue
                item = self._queue.get()
            priority, n, job, callback, future = item
            if priority == _STOP:
                return
            if priority == _PREPARE:
                self._read_ahead(n, job)
                continue
            if job.draft:
                with self._lock:
                    stale = self._latest_draft.get(job.session_id) != n
                if stale:
                    future.cancel()
                    continue
            if not future.set_running_or_notify_cancel():
                self._done(n)
                continue
            try:
                future.set_result(self._translate(job, callback))
            except Exception as e:  # the caller decides; the worker keeps serving
                log.warning("translation of caption %s failed: %s", job.utterance, e)
                future.set_exception(e)
            finally:
                self._done(n)

    def _read_ahead(self, n: int, item: tuple) -> None:
        """A conversation's instruction, or a caption's first words, read before they are
        needed; by the model that would translate now (none while translation is shed)."""
        kind, session_id, *args = item
        if kind == "wake":
            return
        if kind == "prefetch":
            with self._lock:
                if self._latest_prefetch.get(session_id) != n:
                    return  # a newer draft came
            if self._finals_waiting() or self.shedding == "translation":
                return
            fast = self.shedding == "quality" and self.fast is not None
            targets = [self.fast if fast else self.translator]
        else:
            targets = [self.translator, self.fast]
        for t in targets:
            method = getattr(t, kind, None)
            if method is None:
                continue
            try:
                method(session_id, *args)
            except Exception as e:  # the caption will read it instead
                log.warning("translation model could not read ahead: %s", e)

    def _done(self, n: int) -> None:
        with self._lock:
            self._waiting.pop(n, None)

    def plan(self, job: Job) -> str:
        """Which model translates this caption, or whether it is skipped (see module doc)."""
        if job.draft:
            return MAIN
        s = self.settings
        age = time.monotonic() - job.submitted
        behind = self._finals_waiting()
        caption_lag = self._caption_lag()
        if caption_lag >= s.mt_shed_translation_lag_s:
            self.shedding = "translation"
            return SKIP
        quickest = self.pace[FAST if self.fast is not None else MAIN]
        if behind and age + quickest.estimate(len(job.text)) > s.mt_skip_after_s:
            self.shedding = "translation"
            return SKIP
        if self.fast is None:
            self.shedding = "none"
            return MAIN
        if caption_lag >= s.mt_shed_quality_lag_s:
            self.shedding = "quality"
            return FAST
        if behind or age + self.pace[MAIN].estimate(len(job.text)) > s.mt_target_lag_s:
            self.shedding = "quality" if behind else "none"
            self.pace[MAIN].relax()
            return FAST
        self.shedding = "none"
        return MAIN

    def _translate(self, job: Job, callback: TranslationCallback | None) -> dict[str, str]:
        results: dict[str, str] = {}
        text = job.text.strip()
        for tgt in job.targets:
            if tgt == job.src or not text:
                continue  # already in that language
            if (job.src, tgt) not in self.translator.pairs:
                log.info("no %s→%s translation for caption %s", job.src, tgt, job.utterance)
                continue
            mode = self.plan(job)
            if mode == SKIP:
                log.info("caption %s of %s: translation skipped", job.utterance, job.session_id)
                self.counts[SKIP] += 1
                self._send(callback, job, tgt, "", skipped=True)
                continue
            results[tgt], model = self._one(job, text, tgt, mode, callback)
            self._send(callback, job, tgt, results[tgt], degraded=mode == FAST, model=model)
        return results

    def _send(
        self, callback: TranslationCallback | None, job: Job, tgt: str, text: str, **extra
    ) -> None:
        if callback is None:
            return
        event = Translation(
            session_id=job.session_id,
            segment_id=job.segment_id,
            utterance=job.utterance,
            lang=tgt,
            text=text,
            **extra,
        )
        try:
            callback(event)
        except Exception:  # a broken sink must not stop the translator
            log.exception("translation callback failed")

    def _one(
        self, job: Job, text: str, tgt: str, mode: str, callback: TranslationCallback | None
    ) -> tuple[str, str]:
        key = (text, job.src, tgt, job.glossary.key if job.glossary else ())
        context = self._context.setdefault(
            (job.session_id, job.src, tgt), deque(maxlen=self._context_size)
        )
        translator = self.fast if mode == FAST and self.fast is not None else self.translator
        if key in self._cache:
            self._cache.move_to_end(key)
            result = self._cache[key]
        else:
            last = [0.0]

            def partial(so_far: str) -> None:
                now = time.monotonic()
                # the first words at once, then a few times a second
                if so_far and (not last[0] or now - last[0] >= _PARTIAL_EVERY_S):
                    last[0] = now
                    self._send(callback, job, tgt, so_far, partial=True)

            started = time.monotonic()
            result = translator.translate(
                text,
                job.src,
                tgt,
                list(context),
                job.glossary,
                conversation=job.session_id,
                on_text=partial if callback is not None and not job.draft else None,
            )
            if not job.draft:
                calls = getattr(translator, "calls", None)
                stats = CallStats.total(calls) if calls else None
                log.info(
                    "caption %s of %s by %s: %.2f s after its final, %s",
                    job.utterance,
                    job.session_id,
                    translator.name,
                    time.monotonic() - job.submitted,
                    stats,
                )
                self.pace[mode].update(len(text), time.monotonic() - started)
                self.counts[mode] += 1
                self._cache[key] = result
                if len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        if not job.draft and self._context_size:
            context.append(Turn(text, result))
        return result, translator.name

    def thread_state(self) -> str:
        """Its state: "running" (and how often it was started again after stopping by itself)."""
        return self._thread.state()

    def close(self) -> None:
        self._queue.put((_STOP, next(self._order), None, None, None))
        self._thread.join(30)

    def __enter__(self) -> TranslationWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
