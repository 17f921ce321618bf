"""Every model a server holds, each loaded once on first need and closed together: the
recognizer (behind its one worker), the translator, the speaker encoder and the voices."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from ..asr.worker import RecognizerWorker
from ..errors import TingshuoError
from ..settings import Settings

if TYPE_CHECKING:
    from ..asr.second_pass import SecondPass
    from ..mt import TranslationWorker
    from ..speakers import SpeakerEncoder
    from ..tts import Voice
    from .review import ReviewWorker

log = logging.getLogger(__name__)


class LagMeter(Protocol):
    """Where a live session reports, in seconds, each final's lag (its phrase's end heard →
    the final out) and each translation's (the final out → its translation complete)."""

    def final(self, seconds: float) -> None: ...

    def translation(self, seconds: float) -> None: ...


class Models:
    def __init__(self, settings: Settings, worker: RecognizerWorker | None = None) -> None:
        """`worker`: a recognizer already loaded (tests share one); else `load` loads it."""
        self.settings = settings
        self._worker = worker
        self._own_worker = worker is None
        self._translator: TranslationWorker | None = None
        self._speaker_encoder: SpeakerEncoder | None = None
        self._speakers_failed = False
        self._review: ReviewWorker | None = None
        self._file_review: SecondPass | None = None
        self._file_review_failed = False
        self._voices: dict[tuple[str, bool], Voice] = {}
        self._lock = threading.RLock()  # one model loads at a time
        # how far behind live recognition is (the rooms set it): the translator sheds by it
        self.caption_lag: Callable[[], float] = lambda: 0.0
        # where each live session of the process reports its finals' and translations' lags
        # (server/metrics.py's histograms); None: nobody measures
        self.meter: LagMeter | None = None

    def load(self) -> None:
        """The recognizer, before the first request (blocking: call it off the event loop)."""
        with self._lock:
            if self._worker is None:
                from ..asr import load_recognizer

                settings = self.settings
                self._worker = RecognizerWorker(
                    load_recognizer(settings),
                    settings.asr_queue_size,
                    # live drafts on their own instance: finals never wait for one
                    drafter=lambda: load_recognizer(settings),
                    draft_nice=settings.asr_draft_nice,
                )

    @property
    def worker(self) -> RecognizerWorker:
        """The recognizer's worker (loaded now if it was not: a gateway loads it only for a
        file to transcribe or a learner's reading)."""
        if self._worker is None:
            self.load()
        assert self._worker is not None
        return self._worker

    @property
    def recognizer_name(self) -> str:
        if self._worker is None:
            return self.settings.asr_model
        recognizer = self._worker.recognizer
        return str(getattr(recognizer, "model_dir", recognizer.name))

    def translator(self) -> TranslationWorker:
        """The translation worker, loaded on the first room (or line) that needs it."""
        with self._lock:
            if self._translator is None:
                from ..mt import TranslationWorker, load_translator

                log.info("loading the translation model for rooms with target languages")
                main = load_translator(self.settings)
                fast = None
                if self.settings.mt_fast_model:
                    try:  # without context: its calls read only the caption
                        fast = load_translator(self.settings, self.settings.mt_fast_model, 0)
                    except TingshuoError as e:
                        log.warning("no fast translation model to fall back on: %s", e)
                self._translator = TranslationWorker(
                    main,
                    self.settings,
                    fast=fast,
                    caption_lag=lambda: self.caption_lag(),
                    recognizer=self.worker,
                )
            return self._translator

    @property
    def loaded_translator(self) -> TranslationWorker | None:
        """The translator if a room has loaded it, without loading it."""
        return self._translator

    def review(self) -> ReviewWorker | None:
        """The second pass over live Mandarin finals, when it is on (its model loads on its
        own thread at the first final)."""
        if not self.settings.second_pass:
            return None
        with self._lock:
            if self._review is None:
                from ..asr.second_pass import SecondPass
                from .review import ReviewWorker

                settings = self.settings
                self._review = ReviewWorker(
                    lambda: SecondPass.load(settings, settings.second_pass_model or None),
                    idle=self._models_idle,
                )
            return self._review

    def live_busy(self) -> bool:
        """A live final waits for the recognizer, or is being decoded: background work
        (a recording read again) waits."""
        return self._worker is not None and self._worker.busy()

    def _models_idle(self) -> bool:
        """No final waits for the recognizer or the translator: the second pass may read."""
        worker, translator = self._worker, self._translator
        return not (worker is not None and worker.busy()) and not (
            translator is not None and translator.busy()
        )

    def file_second_pass(self) -> SecondPass | None:
        """The second pass for uploaded files (one thread, beside live rooms), loaded at first
        need; None when it is off or cannot load (files are then transcribed without it)."""
        if not self.settings.second_pass or self._file_review_failed:
            return None
        with self._lock:
            if self._file_review is None:
                from ..asr.second_pass import SecondPass

                settings = self.settings
                try:
                    self._file_review = SecondPass.load(
                        settings, settings.second_pass_model or None
                    )
                except TingshuoError as e:
                    log.warning("files are transcribed without the second pass: %s", e)
                    self._file_review_failed = True
            return self._file_review

    def threads(self) -> dict[str, str]:
        """The model threads this process runs, for /health (a stopped one is started
        again by asking)."""
        out = {}
        if self._worker is not None:
            out["recognizer"] = self._worker.thread_state()
            drafts = self._worker.drafts_state()
            if drafts is not None:
                out["drafts"] = drafts
        if self._translator is not None:
            out["translator"] = self._translator.thread_state()
        if self._review is not None:
            out["second_pass"] = self._review.thread_state()
        return out

    def queued(self) -> dict[str, int]:
        """What waits for each model thread this process runs (/metrics), by thread name as
        in `threads`."""
        out: dict[str, int] = {}
        if self._worker is not None:
            out.update(self._worker.queued())
        if self._translator is not None:
            out["translator"] = self._translator.pending()
        if self._review is not None:
            out["second_pass"] = self._review.queued()
        return out

    def review_counts(self) -> dict[str, int | bool] | None:
        """The second pass's counts so far, and whether it keeps up (None: it is off or has
        not started)."""
        if self._review is None:
            return None
        c = self._review.counts
        return {"reviewed": c.reviewed, "changed": c.changed, "skipped": c.skipped,
                "refused": c.refused, "keeping_up": c.keeping_up}  # fmt: skip

    def speaker_encoder(self) -> SpeakerEncoder | None:
        """The voice encoder for speaker turns; None (captions go unlabelled) when it is off
        or cannot load."""
        if not self.settings.speakers or self._speakers_failed:
            return None
        with self._lock:
            if self._speaker_encoder is None:
                from ..speakers import load_speaker_encoder

                try:
                    self._speaker_encoder = load_speaker_encoder(self.settings)
                except (TingshuoError, ImportError) as e:
                    log.warning("captions go without speaker labels: %s", e)
                    self._speakers_failed = True
                    return None
            return self._speaker_encoder

    def voice(self, lang: str, fallback: bool = False) -> Voice:
        """tingshuo's voice for a language (the AI anchor, the learner's model reading)."""
        from ..tts import check_lang, make_voice

        key = (check_lang(lang), fallback)
        with self._lock:
            if key not in self._voices:
                self._voices[key] = make_voice(key[0], self.settings, fallback)
            return self._voices[key]

    def close(self) -> None:
        if self._review is not None:
            self._review.close()
        if self._translator is not None:
            self._translator.close()
        if self._own_worker and self._worker is not None:
            self._worker.close()
