"""A session's recorded sound read again at full quality (issue 27): `tingshuo retranscribe`
and `POST /api/sessions/{id}/retranscribe`.

The whole sound is transcribed as `tingshuo transcribe` transcribes a file (its commit policy,
beam `asr_beam_size`, the second pass), with the session's hot words and the room's correction
rules and prepared texts, and its words are given out to the live captions by time
(`live/share_out.py`): a live room cuts a sentence where a speaker pauses briefly, and read
caption by caption the cut pieces lose what the whole sentence told the model (11.3 % CER on
the long-form talk, against 10.7 % for the file). (Not with the terms earlier captions
settled, which a live room adds to its hot words: on the long-form talk they made the reading
worse, 16.4 % against 13.9 % CER on its first minute.)

Captions keep their times, speakers and ids: a new text is a revision (`by="reread"`), so the
live text stays in the history and `--original` still gives it; a caption an operator
corrected stays as the operator left it. Changed captions are
translated again in the translator's idle time (`mt/worker.py` background work), after every
live caption.

It runs in a thread at the lowest CPU priority with a recognizer of its own (loaded in that
thread, so the model's threads inherit the priority), and waits while a live final waits for
the recognizer: live rooms never wait for it.
"""

from __future__ import annotations

import difflib
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..asr.base import Recognizer
from ..asr.streaming import policy_config, transcribe_audio
from ..asr.worker import RecognizerWorker
from ..audio.decode import SAMPLE_RATE
from ..audio.opus import decode
from ..errors import StoreError, TingshuoError
from ..events import Correction, Segment, Translation
from ..mt.base import Turn
from ..mt.worker import BackgroundJob
from ..priority import lower_priority
from ..rules import RuleBook, Rules
from ..settings import Settings
from ..store.db import SessionInfo, Store
from ..store.sound import session_sound
from .scripts import Following
from .share_out import Piece, share_out

if TYPE_CHECKING:
    from ..asr.second_pass import SecondPass
    from ..mt import Glossary, TranslationWorker
    from .captions import Publish
    from .models import Models

log = logging.getLogger(__name__)

NICE = 19
_REPORT_EVERY_S = 1.0
_TRANSLATION_STALL_S = 600.0


class Busy(TingshuoError):
    """The session is live, or already being read again."""

    status = 409


@dataclass
class Counts:
    duration_s: float = 0.0  # of the sound
    heard_s: float = 0.0  # transcribed so far
    captions: int = 0  # given their new text so far
    changed: int = 0
    kept: int = 0  # corrected by an operator: left as they are
    translations: int = 0  # redone so far
    to_translate: int = 0
    # seconds spent: decoding the sound, recognizing, in the second pass, waiting for live work
    decode_s: float = 0.0
    recognize_s: float = 0.0
    review_s: float = 0.0
    waited_s: float = 0.0
    reported_at: float = 0.0


@dataclass
class Job:
    """What reading one session again needs, besides the models."""

    info: SessionInfo
    store: Store
    settings: Settings
    publish: Publish | None = None  # the room's pages are told of each change
    on_progress: Callable[[float, Counts], None] | None = None
    # True while live work waits for the models: the reading pauses
    live_busy: Callable[[], bool] = lambda: False
    counts: Counts = field(default_factory=Counts)


def check(info: SessionInfo) -> None:
    """Whether the session can be read again now (its sound is checked when it is read)."""
    if info.status == "live":
        raise Busy(f"session {info.id} is live: stop its room first")


def retranscribe(
    job: Job,
    recognizer: Recognizer,
    second_pass: SecondPass | None,
    translator: TranslationWorker | None,
) -> Counts:
    """Read the session's captions again from its sound; their translations redone. Raises
    SoundMissing (no sound), StoreError, or what a model raised."""
    info, store = job.info, job.store
    check(info)
    counts = job.counts
    began = time.monotonic()
    samples = decode(session_sound(store, info))
    counts.decode_s = time.monotonic() - began
    counts.duration_s = samples.size / SAMPLE_RATE
    segments = store.segments(info.id)
    room = store.get_room(info.room_id) if info.room_id else None
    rules = RuleBook(store).for_room(info.room_id)
    following = Following.of_texts(store.room_texts(room.id)) if room is not None else None
    targets = list(info.targets)
    again = None
    if translator is not None and targets:
        again = _Translations(job, translator, targets, _glossary(room))
        translator.add_background(again)
    hotwords = list(
        dict.fromkeys(
            [
                *info.hotwords,
                *rules.hotwords,
                *(following.hotwords() if following is not None else []),
            ]
        )
    )
    last_report = 0.0
    try:
        shares = _heard_again(
            job,
            samples,
            segments,
            (recognizer, second_pass),
            hotwords,
            lambda: _report(job, len(segments), again),
        )
        for n, (seg, share) in enumerate(zip(segments, shares, strict=True)):
            if _operator_corrected(store, seg):
                counts.kept += 1  # as the operator left it; read on from there
                if following is not None:
                    following.final(seg.model_copy())
            elif share:
                text, prepared = _finish(share, seg, rules, following)
                if text and text != seg.text:
                    corrected = store.correct_segment(seg.id or 0, text, by="reread")
                    if corrected is not None and corrected.changed:
                        counts.changed += 1
                        if job.publish is not None:
                            job.publish(Correction.of(corrected.segment, "reread"))
                        if again is not None:
                            again.add(corrected.segment, prepared)
                    elif corrected is not None:  # corrected by an operator meanwhile
                        counts.kept += 1
            counts.captions = n + 1
            if time.monotonic() - last_report > _REPORT_EVERY_S:
                last_report = time.monotonic()
                _report(job, len(segments), again)
        if again is not None:
            again.finish(lambda: _report(job, len(segments), again))
    finally:
        if again is not None and translator is not None:
            translator.remove_background(again)
    _report(job, len(segments), again)
    log.info(
        "session %s read again: %d captions, %d changed, %d kept as corrected; %.1f s "
        "decoding the sound, %.1f s recognizing, %.1f s in the second pass, %.1f s waiting",
        info.id,
        counts.captions,
        counts.changed,
        counts.kept,
        counts.decode_s,
        counts.recognize_s,
        counts.review_s,
        counts.waited_s,
    )
    return counts


def _operator_corrected(store: Store, seg: Segment) -> bool:
    if not seg.revision or seg.id is None:
        return False
    return any(r.by == "operator" for r in store.revisions(seg.id))


def _heard_again(
    job: Job,
    samples: np.ndarray,
    segments: list[Segment],
    models: tuple[Recognizer, SecondPass | None],
    hotwords: list[str],
    report: Callable[[], None],
) -> list[str]:
    """The whole sound transcribed as a file is, its words given out to the captions: each
    caption's share ("" where none fell to it)."""
    counts = job.counts
    recognizer, second_pass = models
    lang = None if job.info.lang in ("", "auto") else job.info.lang
    paced: Any = _Paced(recognizer, "recognize", job, "recognize_s")
    worker = RecognizerWorker(paced)  # its thread takes this one's priority
    reviewer: Any = _Paced(second_pass, "review", job, "review_s") if second_pass else None

    def heard(t: float) -> None:
        counts.heard_s = t
        if time.monotonic() - counts.reported_at > _REPORT_EVERY_S:
            counts.reported_at = time.monotonic()
            report()

    pieces: list[Piece] = []
    try:
        for final in transcribe_audio(
            worker,
            samples,
            policy_config(job.settings),
            lang,
            hotwords,
            on_progress=heard,
            second_pass=reviewer,
            front_end=job.settings.front_end,
        ):
            pieces.append(Piece(final.start, final.end, final.text, final.lang))
    finally:
        worker.close()
    counts.heard_s = counts.duration_s
    times = _WordTimes(samples, recognizer, job)
    return share_out(pieces, [(s.start, s.end) for s in segments], times)


def _wait_for_live(job: Job) -> None:
    """Until no live final waits for the models."""
    began = time.monotonic()
    while job.live_busy():
        time.sleep(0.05)
    job.counts.waited_s += time.monotonic() - began


class _Paced:
    """A model whose `method` first waits while live work waits for the models, the seconds
    it takes added to the `Counts` field `spent`."""

    def __init__(self, inner: object, method: str, job: Job, spent: str) -> None:
        self._inner, self._method, self._job, self._spent = inner, method, job, spent

    def __getattr__(self, name: str):
        found = getattr(self._inner, name)
        if name != self._method:
            return found

        def call(*args, **kwargs):
            _wait_for_live(self._job)
            began = time.monotonic()
            try:
                return found(*args, **kwargs)
            finally:
                counts = self._job.counts
                setattr(
                    counts, self._spent, getattr(counts, self._spent) + time.monotonic() - began
                )

        return call


@dataclass
class _WordTimes:
    """When each unit of a piece was said (for a piece that spans several captions): the
    recognizer's word times (`timed_words`, cross-attention alignment) carried over to the
    piece's text by aligning the two; None where the recognizer gives no times."""

    samples: np.ndarray
    recognizer: Recognizer
    job: Job

    def __call__(self, piece: Piece, units: list[str]) -> list[float] | None:
        timed = getattr(self.recognizer, "timed_words", None)
        if timed is None:
            return None
        audio = self.samples[int(piece.start * SAMPLE_RATE) : int(piece.end * SAMPLE_RATE)]
        _wait_for_live(self.job)
        began = time.monotonic()
        try:
            words, _ = timed(audio, piece.lang, min(220, 3 * len(piece.text) + 16))
        except Exception:  # noqa: BLE001 - the piece is then spread evenly
            log.exception("a piece's word times could not be found")
            return None
        finally:
            self.job.counts.recognize_s += time.monotonic() - began
        heard, heard_at = "", []
        for w in words:
            word = str(w["word"])
            for k in range(len(word)):
                heard += word[k]
                heard_at.append(float(w["start"]) + (w["end"] - w["start"]) * (k + 0.5) / len(word))
        text = "".join(units)
        at: list[float | None] = [None] * len(text)
        matcher = difflib.SequenceMatcher(None, heard, text, autojunk=False)
        for a, b, size in matcher.get_matching_blocks():
            at[b : b + size] = heard_at[a : a + size]
        filled = _fill(at, 0.0, piece.end - piece.start)
        out, offset = [], 0
        for unit in units:
            out.append(piece.start + filled[offset])
            offset += len(unit)
        return out


def _fill(at: list[float | None], first: float, last: float) -> list[float]:
    """Times missing between known ones, drawn on a straight line between them."""
    known = [(i, t) for i, t in enumerate(at) if t is not None]
    points = [(-1, first), *known, (len(at), last)]
    out = [0.0] * len(at)
    for (i, a), (j, b) in zip(points, points[1:], strict=False):
        for k in range(max(i, 0), min(j, len(at))):
            out[k] = a if k == i else a + (b - a) * (k - i) / (j - i)
    return out


def _finish(
    text: str, seg: Segment, rules: Rules, following: Following | None
) -> tuple[str, dict[str, str]]:
    """A caption's new text with the room's rules applied (in a prepared text's writing where
    it was read from one), and the prepared translations of a caption that is whole passages."""
    if rules:
        text = rules.apply(text)
    prepared: dict[str, str] = {}
    if following is not None:
        followed = seg.model_copy(update={"text": text, "source": None})
        try:
            prepared = following.final(followed)
            text = followed.text
        except Exception:  # noqa: BLE001 - a fault in following never costs the caption
            log.exception("session %s: a caption read again was not followed", seg.session_id)
    return text, prepared


def _report(job: Job, total: int, again: _Translations | None) -> None:
    c = job.counts
    heard = c.heard_s / c.duration_s if c.duration_s else 1.0
    read = 0.9 * heard + 0.1 * (c.captions / total if total else 1.0)
    if again is not None and c.to_translate:
        progress = 0.8 * read + 0.2 * c.translations / c.to_translate
    else:
        progress = read * (0.8 if again is not None else 1.0)
    if job.on_progress is not None:
        job.on_progress(min(progress, 1.0), c)


def _glossary(room) -> Glossary | None:
    if room is None:
        return None
    from .recipe import room_glossary

    return room_glossary(room)


class _Translations:
    """The changed captions' new translations, made one at a time in the translator's idle
    time, each with the two before it as context; stored (unless the caption changed again
    meanwhile) and published."""

    def __init__(
        self,
        job: Job,
        translator: TranslationWorker,
        targets: list[str],
        glossary: Glossary | None,
    ) -> None:
        self.job = job
        self.translator = translator
        self.targets = targets
        self.glossary = glossary
        self.conversation = object()  # its own chat: a live room's stays as it was
        self._waiting: deque[tuple[Segment, str]] = deque()
        self._turns: dict[str, deque[Turn]] = {}
        self._lock = threading.Lock()

    def add(self, segment: Segment, prepared: dict[str, str]) -> None:
        for tgt in self.targets:
            if tgt == segment.lang:
                continue
            self.job.counts.to_translate += 1
            if prepared.get(tgt):  # a prepared text's own translation
                self._deliver(segment, tgt, prepared[tgt], model="script")
                continue
            with self._lock:
                self._waiting.append((segment, tgt))
            self.translator.wake()  # it sleeps once it has nothing to do

    def next_job(self) -> BackgroundJob | None:
        with self._lock:
            if not self._waiting:
                return None
            segment, tgt = self._waiting[0]
            context = tuple(self._turns.get(tgt, ()))
        return BackgroundJob(
            text=segment.text,
            src=segment.lang,
            tgt=tgt,
            conversation=self.conversation,
            context=context,
            glossary=self.glossary,
        )

    def done(self, job: BackgroundJob, text: str | None) -> None:
        with self._lock:
            segment, tgt = self._waiting.popleft()
            if text:
                turns = self._turns.setdefault(tgt, deque(maxlen=2))
                turns.append(Turn(source=segment.text, target=text))
        if text:
            self._deliver(segment, tgt, text, model="reread")
        else:
            self.job.counts.translations += 1  # failed: logged by the worker

    def _deliver(self, segment: Segment, tgt: str, text: str, model: str) -> None:
        store = self.job.store
        assert segment.id is not None
        try:
            if store.stored_revision(segment.id) == segment.revision:
                store.set_translation(segment.id, tgt, text)
                if self.job.publish is not None:
                    self.job.publish(
                        Translation(
                            session_id=segment.session_id,
                            segment_id=segment.id,
                            utterance=0,
                            lang=tgt,
                            text=text,
                            model=model,
                        )
                    )
        except StoreError as e:
            log.warning("session %s: a new translation is not stored: %s", segment.session_id, e)
        self.job.counts.translations += 1

    def finish(self, report: Callable[[], None]) -> None:
        """Until every translation is made, reporting progress now and then."""
        seen, since = -1, time.monotonic()
        while (made := self.job.counts.translations) < self.job.counts.to_translate:
            if made != seen:
                seen, since = made, time.monotonic()
            elif time.monotonic() - since > _TRANSLATION_STALL_S:
                raise TingshuoError("the translator made no translation for 10 minutes")
            time.sleep(_REPORT_EVERY_S / 4)
            report()


def load_second_pass(settings: Settings) -> SecondPass | None:
    """The second pass for reading again, with `mt_threads` threads (at the caller's priority,
    the lowest: they take only what live work leaves); None when it is off or cannot load."""
    if not settings.second_pass:
        return None
    from ..asr.second_pass import SecondPass

    try:
        return SecondPass.load(
            settings, settings.second_pass_model or None, threads=settings.mt_threads
        )
    except TingshuoError as e:
        log.warning("sessions are read again without the second pass: %s", e)
        return None


class Retranscriptions:
    """A server's readings again: one at a time, in one thread at the lowest priority, with a
    recognizer of its own; the state of each kept in the store (any gateway shows it)."""

    def __init__(self, models: Models, store: Store, publish: Callable[[str, object], None]):
        self.models = models
        self.store = store
        self.publish = publish  # (room id, event)
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._recognizer: Recognizer | None = None
        self._second_pass: SecondPass | None = None
        self._lock = threading.Lock()

    def start(self, info: SessionInfo) -> None:
        """Queue the session (raises Busy while it is live or being read again)."""
        check(info)
        if not self.store.claim_retranscription(info.id):
            raise Busy(f"session {info.id} is already being read again")
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="retranscribe", daemon=True)
                self._thread.start()
        self._queue.put(info.id)

    def _run(self) -> None:
        lower_priority(NICE)
        while (session_id := self._queue.get()) is not None:
            try:
                self._one(session_id)
            except Exception as e:  # noqa: BLE001 - told in the session's state; the thread goes on
                log.exception("session %s: reading it again failed", session_id)
                self._set(session_id, "failed", 0.0, Counts(), f"{type(e).__name__}: {e}")

    def _one(self, session_id: str) -> None:
        settings = self.models.settings
        info = self.store.get_session(session_id)
        if self._recognizer is None:  # loaded in this thread: its threads take its priority
            from ..asr import load_recognizer

            self._recognizer = load_recognizer(settings)
            self._second_pass = load_second_pass(settings)
        translator = self.models.translator() if info.targets else None
        room_id = info.room_id

        def publish(event) -> None:
            if room_id is not None:
                self.publish(room_id, event)

        def progress(p: float, c: Counts) -> None:
            self._set(session_id, "running", p, c)

        job = Job(
            info,
            self.store,
            settings,
            publish=publish,
            on_progress=progress,
            live_busy=self.models.live_busy,
        )
        try:
            counts = retranscribe(job, self._recognizer, self._second_pass, translator)
        except TingshuoError as e:
            self._set(session_id, "failed", 0.0, job.counts, str(e))
            return
        self._set(session_id, "done", 1.0, counts)

    def _set(self, session_id: str, state: str, progress: float, c: Counts, note=None) -> None:
        try:
            self.store.set_retranscription(session_id, state, progress, c.changed, c.kept, note)
        except StoreError as e:  # the database away: the next report tries again
            log.warning("session %s: progress of its reading again not stored: %s", session_id, e)

    def close(self) -> None:
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(5)
