"""A live session: audio blocks in; partials and finals out. Finals take the caption path
(live/captions.py): stored, then shown, then translated."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from typing import TYPE_CHECKING

import numpy as np

from ..asr.second_pass import LANGUAGES as REVIEWED
from ..asr.streaming import StreamingTranscriber, policy_config
from ..asr.worker import RecognizerWorker
from ..audio.decode import SAMPLE_RATE
from ..errors import StoreError
from ..events import (
    Final,
    Lag,
    Partial,
    RoomEvent,
    ScriptPlace,
    Segment,
    SoundNotice,
    Translation,
)
from ..prepared.terms import known_terms
from ..rules import Rules
from ..settings import Settings
from ..store.db import SavedVoice, SessionInfo, Store
from .captions import CaptionPath
from .review import CONTEXT_CAPTIONS, Job, ReviewWorker

if TYPE_CHECKING:
    from ..mt import TranslationWorker
    from ..speakers import Diarizer
    from .models import LagMeter
    from .recipe import Recipe
    from .recording import Recorder
    from .scripts import Following

log = logging.getLogger(__name__)

EventSink = Callable[[RoomEvent], None]

_END = object()
# captions later than this (s behind the speaker): the second pass skips their finals
REVIEW_SKIP_LAG_S = 1.5
# the terms of the session's captions kept as hot words (measured: AISHELL long-form, live
# CER 13.6 → 13.0 %; see the README)
SESSION_TERMS = 16


class LiveSession:
    def __init__(
        self,
        recipe: Recipe,
        worker: RecognizerWorker,
        store: Store,
        settings: Settings,
        *,
        translator: TranslationWorker | None = None,
        diarizer: Diarizer | None = None,
        rules: Callable[[], Rules] | None = None,
        review: ReviewWorker | None = None,
        resume: SessionInfo | None = None,
        offset_s: float = 0.0,
        utterance_base: int = 0,
        id_floor: Callable[[], int] | None = None,
        following: Following | None = None,
    ) -> None:
        """Build one with `live/recipe.py` `open_session`.

        `resume`: go on with a session another process started (a room taken over by
        another worker); its audio resumes `offset_s` into the session, and utterances are
        numbered from `utterance_base` so that pages never mistake one for an earlier one.
        `rules`: the room's correction rules now; what they write becomes a hot word.
        `review`: the machine's second pass, given each Mandarin final once it is shown.
        `following`: the room's prepared texts; their terms near the speaker are hot words,
        and a caption that follows one is not given to the second pass."""
        lang, hotwords, targets = recipe.lang, recipe.hotwords, recipe.targets
        glossary, room_id = recipe.glossary, recipe.room_id
        self.store = store
        self.info: SessionInfo = resume or store.create_session(
            recipe.title,
            recipe.source,
            lang or "auto",
            list(hotwords),
            list(targets),
            room_id=room_id,
        )
        self.offset_s = offset_s
        self.utterance_base = utterance_base
        self.targets = [t for t in targets]
        self.translator = translator if self.targets else None
        self.glossary = glossary
        self.following = following
        self.captions = CaptionPath(
            store,
            self.translator,
            self.targets,
            glossary,
            id_floor,
            rules=rules,
            following=following,
        )
        self._hotwords = tuple(hotwords)
        self.review = review
        self._said: deque[str] = deque(maxlen=CONTEXT_CAPTIONS)  # the latest finals' text
        # the terms this session's captions settled, the latest last: hot words from now on
        self._settled: OrderedDict[str, None] = OrderedDict()
        self._settled_changed = False
        self._rules_seen: Rules | None = None
        self.transcriber = StreamingTranscriber(
            worker,
            policy_config(settings),
            lang,
            hotwords,
            session_id=self.info.id,
            diarizer=diarizer,
            front_end=settings.front_end,
        )
        self.diarizer = diarizer
        if self.translator is not None:
            # while translations wait or are written, redrafts come at most every 1.5 s of
            # audio, shared among the rooms on the recognizer (2 rooms: each every 3 s)
            busy_gap = 3 * settings.partial_interval_s
            translator = self.translator
            self.transcriber.draft_gap = lambda: (
                busy_gap * max(worker.sharing(), 1) if translator.busy() else 0.0
            )
        self.room_id = room_id
        self._partial_interval = settings.partial_interval_s
        self.stop = threading.Event()
        # another process took the session over: stop without a last final or an end
        self.abandoned = threading.Event()
        self._inbox: queue.Queue = queue.Queue()
        # samples put in / taken out of the inbox, each written by one thread only
        self._received = 0
        self._consumed = 0
        # when audio arrived: (samples received so far, monotonic time), to tell how late a
        # caption is; and when the block being worked on arrived (None: caught up)
        self._arrivals: deque[tuple[int, float]] = deque(maxlen=6000)
        self._working_since: float | None = None
        self.shedding_drafts = False
        # recent final lags (phrase end heard → final out) and translation lags (final out →
        # translation complete), in seconds
        self.final_lags: deque[float] = deque(maxlen=50)
        self.translation_lags: deque[float] = deque(maxlen=50)
        self.meter: LagMeter | None = None  # the process's histograms of both (room_session)
        self._finals_out: dict[int, float] = {}
        self._read_ahead_chars: dict[int, int] = {}  # utterance -> stable length to read at
        self.recorder: Recorder | None = None  # the room's sound kept (live/recording.py)

    @property
    def backlog_s(self) -> float:
        """Seconds of audio received but not yet processed: how far behind real time it is."""
        return (self._received - self._consumed) / SAMPLE_RATE

    @property
    def lag_s(self) -> float:
        """How long ago the audio now being worked on arrived: how late captions are now."""
        since = self._working_since
        return 0.0 if since is None else max(time.monotonic() - since, 0.0)

    def lag(self, translator: TranslationWorker | None) -> Lag:
        """How far behind the captions and translations are, and what is shed to keep up
        (`translator`: the process's, if it is loaded)."""
        recent = list(self.final_lags)[-5:]
        caption = max([self.lag_s, *recent[-1:]])
        translation = 0.0
        shed = "drafts" if self.shedding_drafts else "none"
        if self.translator is not None and translator is not None:
            done = list(self.translation_lags)[-1:]
            translation = max([translator.lag_s(), *done])
            if translator.shedding != "none":
                shed = translator.shedding
        second_pass = None
        if self.review is not None:
            second_pass = "keeping up" if self.review.counts.keeping_up else "behind"
        return Lag(
            caption_s=round(caption, 2),
            translation_s=round(translation, 2),
            shed=shed,
            second_pass=second_pass,
        )

    def sound(self) -> SoundNotice | None:
        """How the input sounds, once the meter has heard a second of it."""
        front = self.transcriber.front_end
        report = front.last_report
        if report is None:
            return None
        return SoundNotice(
            level_db=round(report.level_db),
            noise_db=round(report.noise_db),
            echo_s=None if report.echo is None else round(report.echo, 1),
            verdict=report.verdict,
            advice=report.advice,
            cleaning=front.filtering,
        )

    def _heard_at(self, seconds: float) -> float | None:
        """When the audio at `seconds` into the session arrived."""
        sample = int(seconds * SAMPLE_RATE)
        # a final's end rounded past the last block received: that block's arrival
        found = self._arrivals[-1][1] if self._arrivals and sample > self._arrivals[-1][0] else None
        for received, at in reversed(self._arrivals):
            if received < sample:
                break
            found = at
        return found

    @property
    def store_error(self) -> StoreError | None:
        """The first write the store refused."""
        return self.captions.store_error

    @property
    def on_store_error(self) -> Callable[[StoreError], None] | None:
        return self.captions.on_store_error

    @on_store_error.setter
    def on_store_error(self, callback: Callable[[StoreError], None] | None) -> None:
        self.captions.on_store_error = callback

    def _follow_rules(self) -> None:
        """A rule added while the room is live: what it writes is a hot word from now on; so
        are the prepared texts' terms near where the speaker is, and the terms the session's
        captions settled (a talk says its topic words again and again)."""
        rules = self.captions.rules()
        following = self.following
        if rules is not self._rules_seen or (following is not None and following.changed):
            self._rules_seen = rules
            self._settled_changed = True
        if self._settled_changed:
            self._settled_changed = False
            near = following.hotwords() if following is not None else []
            self.transcriber.hotwords = tuple(
                dict.fromkeys([*self._hotwords, *rules.hotwords, *near, *reversed(self._settled)])
            )

    def _settle(self, segment: Segment) -> None:
        """The known terms of a final join the session's hot words (the latest
        `SESSION_TERMS`); a caption in a prepared text's writing adds none (its terms are
        the text's)."""
        if segment.source == "script" or segment.lang not in ("zh", "en"):
            return
        try:
            found = known_terms(segment.text, segment.lang)
        except Exception:  # noqa: BLE001 - a tagger fault costs hot words, never a caption
            log.exception("the terms of caption %s could not be read", segment.id)
            return
        for term in found:
            self._settled[term] = None
            self._settled.move_to_end(term)
            self._settled_changed = True
        while len(self._settled) > SESSION_TERMS:
            self._settled.popitem(last=False)

    def _emit(self, events: list[Partial | Final], sink: EventSink) -> None:
        if events:
            self._follow_rules()
        for event in events:
            self._in_session_time(event)
            if isinstance(event, Final):
                # a rename or merge waits until this caption is stored, so it relabels it too
                with self.diarizer.lock if self.diarizer is not None else nullcontext():
                    self._keep_speaker_name(event.segment)
                    self.captions.commit(event, self._noting(sink), stored=self._stored)
                self._settle(event.segment)
                self._second_pass(event, sink)
                self._tell_place(sink)
                continue
            event = self.captions.corrected(event)
            sink(event)
            if self.translator is not None:
                self._read_ahead(event)

    def _tell_place(self, sink: EventSink) -> None:
        """The speaker reached another passage of a prepared text: the console is told."""
        following = self.following
        if following is None or not following.moved:
            return
        following.moved = False
        for lang, (text_id, index) in following.position().items():
            sink(ScriptPlace(lang=lang, text_id=text_id, index=index))

    def _second_pass(self, final: Final, sink: EventSink) -> None:
        """A Mandarin final, shown, goes to the second pass with the captions before it and
        the beam's other readings (not one in a prepared text's writing: the script knows
        better)."""
        segment = final.segment
        if (
            self.review is not None
            and segment.id is not None
            and segment.lang in REVIEWED
            and segment.source != "script"
        ):
            self.review.submit(
                Job(
                    segment=segment.model_copy(),
                    context=list(self._said),
                    hotwords=list(self.transcriber.hotwords),
                    hypotheses=list(final.alternatives),
                    captions=self.captions,
                    publish=sink,
                    behind=self._behind,
                )
            )
        self._said.append(segment.text)

    def _behind(self) -> bool:
        """Too late for a second pass: captions or translations are falling behind."""
        if self.lag_s > REVIEW_SKIP_LAG_S or self.shedding_drafts:
            return True
        return self.translator is not None and self.translator.shedding != "none"

    def _in_session_time(self, event: Partial | Final) -> None:
        if not (self.offset_s or self.utterance_base):
            return
        event.utterance += self.utterance_base
        timed = event.segment if isinstance(event, Final) else event
        timed.start = round(timed.start + self.offset_s, 3)
        timed.end = round(timed.end + self.offset_s, 3)

    @property
    def seconds(self) -> float:
        """How far into the session the audio heard so far reaches."""
        return self.offset_s + self.transcriber.seconds

    def _stored(self, final: Final) -> None:
        """Between storing a final and showing it: its speaker and how late it is."""
        self._note_speaker(final.segment)
        heard = self._heard_at(final.segment.end - self.offset_s)
        now = time.monotonic()
        if heard is not None:
            self.final_lags.append(now - heard)
            if self.meter is not None:
                self.meter.final(now - heard)
        if final.segment.id is not None and self.translator is not None:
            self._finals_out[final.segment.id] = now

    def _noting(self, sink: EventSink) -> EventSink:
        """The sink, noting how long each complete translation took after its final."""

        def publish(event: RoomEvent) -> None:
            if isinstance(event, Translation) and not (event.partial or event.skipped):
                out = self._finals_out.pop(event.segment_id or -1, None)
                if out is not None:
                    self.translation_lags.append(time.monotonic() - out)
                    if self.meter is not None:
                        self.meter.translation(self.translation_lags[-1])
            sink(event)

        return publish

    def _keep_speaker_name(self, segment: Segment) -> None:
        """An organizer's name for a voice sticks to its later captions.

        Renaming a speaker, or naming one of its captions, changes the stored speaker of its
        latest caption: that is what the voice is called from now on, unless another voice
        already has the name (then it was a caption's correction, not a new name).
        """
        if self.diarizer is None or segment.speaker is None:
            return
        segment.speaker = self.diarizer.current(segment.speaker)  # renamed since it was heard
        if self.room_id is None:
            return
        turns = self.diarizer.turns
        index = turns.index(segment.speaker)
        latest = self.diarizer.latest_segment.get(index) if index is not None else None
        if index is None or latest is None:
            return
        try:
            rows = self.store.room_segments(self.room_id, after_id=latest - 1, limit=1)
        except StoreError as e:  # the name waits; the caption does not
            log.warning("session %s: speaker name not looked up: %s", self.info.id, e)
            return
        named = rows[0].speaker if rows and rows[0].id == latest else None
        if named in self.diarizer.renamed:  # stored before a rename relabelled it: stale
            return
        if named and named != segment.speaker and turns.rename(index, named):
            log.info("session %s: %s is now called %s", self.info.id, segment.speaker, named)
            segment.speaker = named

    def _note_speaker(self, segment: Segment) -> None:
        if self.diarizer is not None and segment.speaker is not None and segment.id is not None:
            index = self.diarizer.turns.index(segment.speaker)
            if index is not None:
                self.diarizer.latest_segment[index] = segment.id
                if self.room_id is not None:
                    self._save_voice(index)

    def _save_voice(self, index: int) -> None:
        """The room's voice as it now stands, so a restarted server still knows it."""
        assert self.diarizer is not None and self.room_id is not None
        name, total, utterances = self.diarizer.turns.state(index)
        voice = SavedVoice(position=index, name=name, total=total.tolist(), utterances=utterances)
        try:
            self.store.save_voice(self.room_id, voice)
        except StoreError as e:  # the caption is what matters; the voice is known in memory
            log.warning("session %s: voice %s not stored: %s", self.info.id, name, e)

    def _read_ahead(self, partial: Partial) -> None:
        """A draft's stable words go to the translator early (it reads them while it would
        wait anyway): the final's translation then starts with its last words."""
        if len(partial.stable) >= self._read_ahead_chars.get(partial.utterance, 4):
            self._read_ahead_chars = {partial.utterance: len(partial.stable) + 4}
            assert self.translator is not None
            self.translator.prefetch(
                self.info.id, partial.lang, self.targets, partial.stable, self.glossary
            )

    def wait_translations(self, timeout: float | None = None) -> None:
        """Until the translations of every caption so far have been delivered (or failed)."""
        self.captions.wait(timeout)

    def _end(self, status: str, sink: EventSink) -> None:
        """The open utterance becomes final, and the session is closed with `status`."""
        try:
            self._emit(self.transcriber.flush(), sink)
        finally:
            self.transcriber.front_end.close()  # its native state, now, not at exit
            try:
                self.store.finish_session(self.info.id, status, self.seconds)
            except StoreError as e:
                self.captions.store_error = self.store_error or e

    def run(self, blocks: Iterable[np.ndarray], sink: EventSink) -> SessionInfo:
        """Consume a source until it ends or `stop` is set; what was heard is always kept."""
        # The source runs in its own thread so a slow decode never makes a live source drop
        # audio; blocks wait in this queue and drafts are skipped while it holds a backlog.
        inbox = self._inbox
        source_error: list[BaseException] = []
        recorder = self.recorder
        if recorder is not None:
            recorder.tell = sink  # a recording that stops says so to the console

        def pump() -> None:
            try:
                for block in blocks:
                    self._received += block.size
                    now = time.monotonic()
                    self._arrivals.append((self._received, now))
                    inbox.put((block, now))
                    if recorder is not None:  # the blocks the recognizer hears, in order
                        recorder.feed(block)
                    if self.stop.is_set():
                        break
            except BaseException as e:  # reported by the consumer, in its thread
                source_error.append(e)
            finally:
                inbox.put(_END)

        threading.Thread(target=pump, name="audio-source", daemon=True).start()
        status = "done"
        try:
            while not self.stop.is_set():
                item = inbox.get()
                if item is _END:
                    break
                block, self._working_since = item
                self._consumed += block.size
                backlog_s = inbox.qsize() * block.size / SAMPLE_RATE
                # behind real time: drafts are the first to go
                self.shedding_drafts = backlog_s >= self._partial_interval
                self._emit(self.transcriber.feed(block, eager=not self.shedding_drafts), sink)
                nxt = inbox.queue[0] if inbox.qsize() else None
                self._working_since = nxt[1] if isinstance(nxt, tuple) else None
            self._working_since = None
            if self.stop.is_set():
                status = "stopped"
        except KeyboardInterrupt:
            status = "stopped"
            raise
        except BaseException:
            status = "failed"
            raise
        finally:
            self.stop.set()
            # the rest of its sound stored (another worker's, if taken) before the session
            # ends: a finished session's sound is whole when it is deleted or read again
            if recorder is not None:
                recorder.close(keep=not self.abandoned.is_set())
            if not self.abandoned.is_set():
                self._end(status, sink)
        if self.abandoned.is_set():
            return self.info
        if source_error:
            raise source_error[0]
        try:
            info = self.store.get_session(self.info.id)
        except StoreError:  # the database cannot be read now; the session ended all the same
            info = self.info.model_copy(update={"status": status, "duration": self.seconds})
        if self.store_error is not None:
            raise StoreError(
                f"{self.store_error}; the session went on without storing: "
                f"{info.segments} captions are in session {self.info.id}"
            )
        return info


class PushSource:
    """Audio that arrives from elsewhere (a WebSocket): `push` blocks in, iterate them out.

    `close` ends the iteration once what was pushed has been consumed.
    """

    def __init__(self) -> None:
        self._blocks: queue.Queue = queue.Queue()

    def push(self, block: np.ndarray) -> None:
        self._blocks.put(block)

    def close(self) -> None:
        self._blocks.put(_END)

    def __iter__(self):
        while True:
            block = self._blocks.get()
            if block is _END:
                return
            yield block
