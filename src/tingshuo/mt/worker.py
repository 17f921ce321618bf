"""One translator shared by every live session, in its own thread, behind a bounded queue.

A session hands over each final caption with `submit` and goes on at once; the translations
arrive later, one `Translation` event per target language, through the callback (on the
translator's thread) and through the returned Future. Finals go before drafts, and a draft
that is still waiting when a newer one from the same session arrives is dropped. The last
captions of each session and direction go along as context; a segment said again comes from
an LRU cache.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass

from ..errors import TingshuoError
from ..events import Final, Translation
from ..settings import Settings
from .base import Translator, Turn
from .glossary import Glossary

log = logging.getLogger(__name__)

_FINAL, _DRAFT, _STOP = 0, 1, 2

TranslationCallback = Callable[[Translation], None]


class QueueFull(TingshuoError):
    pass


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


class TranslationWorker:
    def __init__(self, translator: Translator, settings: Settings) -> None:
        self.translator = translator
        self._queue: queue.PriorityQueue = queue.PriorityQueue(maxsize=settings.mt_queue_size)
        # drafts may only fill half the queue, so that finals always find room
        self._draft_room = max(1, settings.mt_queue_size // 2)
        self._order = itertools.count()
        self._latest_draft: dict[str | None, int] = {}
        self._lock = threading.Lock()
        # touched by the worker thread only
        self._context: dict[tuple[str | None, str, str], deque[Turn]] = {}
        self._context_size = settings.mt_context_captions
        self._cache: OrderedDict[tuple, str] = OrderedDict()
        self._cache_size = settings.mt_cache_size
        self._thread = threading.Thread(target=self._run, name="translator", daemon=True)
        self._thread.start()

    def submit(
        self,
        job: Job,
        callback: TranslationCallback | None = None,
    ) -> Future[dict[str, str]]:
        """Queue a job without ever waiting. The Future gives {target: text} once every
        target is done; `callback` gets each Translation as soon as it is ready. A full
        queue fails the Future with QueueFull at once (the caption itself stays stored)."""
        future: Future[dict[str, str]] = Future()
        n = next(self._order)
        if job.draft:
            if self._queue.qsize() >= self._draft_room:
                future.set_exception(QueueFull("the translator is busy; draft not translated"))
                return future
            with self._lock:
                self._latest_draft[job.session_id] = n
        try:
            self._queue.put_nowait((_DRAFT if job.draft else _FINAL, n, job, callback, future))
        except queue.Full:
            log.warning("translation queue full: caption %s not translated", job.utterance)
            future.set_exception(QueueFull("the translator is saturated; caption not translated"))
        return future

    def submit_final(
        self,
        final: Final,
        targets: Sequence[str],
        callback: TranslationCallback | None = None,
        glossary: Glossary | None = None,
    ) -> Future[dict[str, str]]:
        """The live pipeline's entry: a stored Final in, Translation events out."""
        seg = final.segment
        job = Job(
            text=seg.text,
            src=seg.lang,
            targets=tuple(targets),
            session_id=seg.session_id,
            utterance=final.utterance,
            segment_id=seg.id,
            glossary=glossary,
        )
        return self.submit(job, callback)

    def pending(self) -> int:
        return self._queue.qsize()

    def _run(self) -> None:
        while True:
            priority, n, job, callback, future = self._queue.get()
            if priority == _STOP:
                return
            if job.draft:
                with self._lock:
                    stale = self._latest_draft.get(job.session_id) != n
                if stale:
                    future.cancel()
                    continue
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(self._translate(job, callback))
            except Exception as e:  # the caller decides; the worker keeps serving
                log.warning("translation of caption %s failed: %s", job.utterance, e)
                future.set_exception(e)

    def _translate(self, job: Job, callback: TranslationCallback | None) -> dict[str, str]:
        results: dict[str, str] = {}
        text = job.text.strip()
        for tgt in job.targets:
            if tgt == job.src or not text:
                continue  # already in that language
            if (job.src, tgt) not in self.translator.pairs:
                log.info("no %s→%s translation for caption %s", job.src, tgt, job.utterance)
                continue
            results[tgt] = self._one(job, text, tgt)
            if callback is not None:
                event = Translation(
                    session_id=job.session_id,
                    segment_id=job.segment_id,
                    utterance=job.utterance,
                    lang=tgt,
                    text=results[tgt],
                )
                try:
                    callback(event)
                except Exception:  # a broken sink must not stop the translator
                    log.exception("translation callback failed")
        return results

    def _one(self, job: Job, text: str, tgt: str) -> str:
        key = (text, job.src, tgt, job.glossary.key if job.glossary else ())
        context = self._context.setdefault(
            (job.session_id, job.src, tgt), deque(maxlen=self._context_size)
        )
        if key in self._cache:
            self._cache.move_to_end(key)
            result = self._cache[key]
        else:
            result = self.translator.translate(text, job.src, tgt, list(context), job.glossary)
            if not job.draft:
                self._cache[key] = result
                if len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        if not job.draft and self._context_size:
            context.append(Turn(text, result))
        return result

    def close(self) -> None:
        self._queue.put((_STOP, next(self._order), None, None, None))
        self._thread.join(timeout=30)

    def __enter__(self) -> TranslationWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
