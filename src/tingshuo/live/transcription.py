"""File transcription, the one way for `tingshuo transcribe`, `POST /api/transcribe` and the
OpenAI audio API (`server/api_openai.py`): a whole recording through the live commit policy,
each final on the caption path (stored as it comes, rules applied) into a session of its own;
and a finished transcript's translation, caption by caption."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..asr.streaming import policy_config, transcribe_audio
from ..asr.worker import RecognizerWorker
from ..audio.decode import SAMPLE_RATE
from ..errors import StoreError
from ..events import Final, Segment
from ..mt.base import Translator, check_pair
from ..rules import Rules
from ..settings import Settings
from ..store.db import SessionInfo, Store
from .captions import CaptionPath

if TYPE_CHECKING:
    from ..asr.second_pass import SecondPass
    from ..speakers import Diarizer
    from .scripts import Following

log = logging.getLogger(__name__)


@dataclass
class Transcript:
    info: SessionInfo
    segments: list[Segment] = field(default_factory=list)
    status: str = "failed"  # "done", "stopped" (Ctrl-C: what was heard is kept) or "failed"
    lost: StoreError | None = None  # the store refused a write: the text went on without it


def transcribe_file(
    samples: np.ndarray,
    worker: RecognizerWorker,
    store: Store,
    settings: Settings,
    *,
    title: str,
    source: str,
    lang: str | None,
    hotwords: Sequence[str] = (),
    targets: Sequence[str] = (),
    diarizer: Diarizer | None = None,
    rules: Callable[[], Rules] | None = None,
    following: Following | None = None,
    second_pass: SecondPass | None = None,
    on_progress: Callable[[float], None] | None = None,
    on_store_error: Callable[[StoreError], None] | None = None,
) -> Transcript:
    """Transcribe `samples` (16 kHz) into a new stored session. A database that refuses a
    write does not stop it (`lost` says so); nor does Ctrl-C lose what was heard.
    `following`: prepared texts the speaker read from (`--script`). `second_pass`: each
    caption is read again by the language model before it is stored."""
    duration = samples.size / SAMPLE_RATE
    info = store.create_session(title, source, lang or "auto", list(hotwords), list(targets))
    out = Transcript(info)
    captions = CaptionPath(store, rules=rules, following=following)
    captions.on_store_error = on_store_error
    try:
        pieces = transcribe_audio(
            worker,
            samples,
            policy_config(settings),
            lang,
            hotwords,
            on_progress=on_progress,
            diarizer=diarizer,
            second_pass=second_pass,
            front_end=settings.front_end,
        )
        for n, piece in enumerate(pieces):
            piece.session_id = info.id
            out.segments.append(captions.commit(Final(utterance=n, segment=piece)).segment)
        out.status = "done"
    except KeyboardInterrupt:
        out.status = "stopped"
    finally:
        out.lost = captions.store_error
        if out.lost is None:
            try:
                store.finish_session(info.id, out.status, duration)
            except StoreError as e:
                out.lost = e
    return out


def translate_transcript(
    translator: Translator, segments: Sequence[Segment], target: str, store: Store | None = None
) -> list[Segment]:
    """The transcript's captions with their text in `target`, translated one by one in one
    conversation (each with the ones before it as context); captions already in `target`
    stay as they are. Each translation is stored beside its caption when `store` is given."""
    conversation = object()  # this transcript's own chat, let go at the end
    out: list[Segment] = []
    try:
        for seg in segments:
            text = seg.text
            if seg.lang != target and seg.text.strip():
                check_pair(seg.lang, target, translator.pairs)
                text = translator.translate(seg.text, seg.lang, target, conversation=conversation)
                if store is not None and seg.id is not None:
                    try:
                        store.set_translation(seg.id, target, text)
                    except StoreError as e:  # the translation still goes to the caller
                        log.warning("translations of this transcript not stored: %s", e)
                        store = None
            out.append(seg.model_copy(update={"text": text, "lang": target}))
    finally:
        forget = getattr(translator, "forget", None)
        if forget is not None:
            forget(conversation)
    return out
