"""A room's voices: restored from the store when it starts again, renamed and merged in its
captions and in its diarizer alike."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

import numpy as np

from ..errors import StoreError
from ..settings import Settings
from ..speakers.turns import LABEL
from ..store.db import SavedVoice, Store

if TYPE_CHECKING:
    from ..speakers import Diarizer, SpeakerEncoder

log = logging.getLogger(__name__)

_AUTO_SPEAKER = re.compile(re.escape(LABEL).replace(r"\{n\}", r"(\d+)"))


def restored_diarizer(
    settings: Settings, store: Store, encoder: SpeakerEncoder, room_id: str
) -> Diarizer:
    """A room's speakers as the store kept them: after a restart a voice is still who the
    organizer named, and new voices go on from the highest "Speaker N", never reusing it."""
    from ..speakers import Diarizer, new_turns

    try:
        segments = store.room_segments(room_id)
        voices = store.voices(room_id)
    except StoreError as e:  # speakers start afresh; the room runs all the same
        log.warning("room %s: known voices not restored: %s", room_id, e)
        segments, voices = [], []
    names = [seg.speaker for seg in segments if seg.speaker] + [v.name for v in voices]
    numbers = [int(m.group(1)) for name in names if (m := _AUTO_SPEAKER.fullmatch(name))]
    turns = new_turns(settings, first_number=max(numbers, default=0) + 1)
    diarizer = Diarizer(encoder, turns)
    latest = {seg.speaker: seg.id for seg in segments if seg.speaker and seg.id is not None}
    for voice in voices:
        turns.restore(voice.name, np.asarray(voice.total, dtype=np.float32), voice.utterances)
        if voice.name in latest:
            diarizer.latest_segment[len(turns.speakers) - 1] = latest[voice.name]
    if voices:
        log.info("room %s: %d known voices restored", room_id, len(voices))
    return diarizer


def are_voices(store: Store, diarizer: Diarizer | None, room_id: str, *names: str) -> bool:
    """Whether each name is a voice the room knows (stored, or in its diarizer)."""
    voices = {v.name for v in store.voices(room_id)}
    if diarizer is not None:
        with diarizer.lock:
            voices |= set(diarizer.turns.names)
    return all(name in voices for name in names)


def rename_voice(
    store: Store, diarizer: Diarizer | None, room_id: str, old: str, new: str
) -> list[int]:
    """Every caption of `old` is `new`'s, and so are the voice's later ones: a room's
    diarizer in memory learns the name at once. Returns the relabelled captions' ids."""
    if old == new:
        return []
    if diarizer is not None:
        with diarizer.lock:
            index = diarizer.rename(old, new)
            if index is not None:  # queued before the store's rename: the stored voice agrees
                store.save_voice(room_id, _voice(diarizer, index))
    return store.rename_speaker(room_id, old, new)


def merge_voices(
    store: Store, diarizer: Diarizer | None, room_id: str, source: str, into: str
) -> list[int]:
    """One person heard as two voices: `source`'s captions become `into`'s and the two
    voices one, in the diarizer too. Returns the relabelled captions' ids."""
    if diarizer is not None:
        with diarizer.lock:
            # queued before the store's merge, which then finds the voices merged already
            if diarizer.merge(source, into) or diarizer.rename(source, into) is not None:
                store.replace_voices(room_id, _voices_of(diarizer))
    return store.merge_speakers(room_id, source, into)


def _voices_of(diarizer: Diarizer) -> list[SavedVoice]:
    return [_voice(diarizer, index) for index in range(len(diarizer.turns.speakers))]


def _voice(diarizer: Diarizer, index: int) -> SavedVoice:
    name, total, utterances = diarizer.turns.state(index)
    return SavedVoice(position=index, name=name, total=total.tolist(), utterances=utterances)
