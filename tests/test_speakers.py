"""Automatic speaker turns: the real GE2E encoder on real AISHELL voices of two speakers."""

from __future__ import annotations

import wave

import numpy as np
import pytest

from tingshuo.audio.decode import SAMPLE_RATE, load_audio
from tingshuo.events import Final
from tingshuo.live.recipe import Recipe, open_session
from tingshuo.speakers import Diarizer, SpeakerTurns, Voice, load_speaker_encoder, new_turns
from tingshuo.store.db import open_store

from .helpers import AISHELL

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def encoder(settings):
    return load_speaker_encoder(settings)


def _sentences(rows, speaker: str, n: int) -> list[np.ndarray]:
    picked = [r for r in rows if r["speaker"] == speaker][:n]
    return [load_audio(AISHELL / r["path"]) for r in picked]


def _with_pauses(parts: list[np.ndarray], pause_s: float = 1.0) -> np.ndarray:
    gap = np.zeros(int(pause_s * SAMPLE_RATE), dtype=np.float32)
    return np.concatenate([x for p in parts for x in (p, gap)])


def _unit(v: list[float]) -> np.ndarray:
    a = np.asarray(v, dtype=np.float32)
    return a / np.linalg.norm(a)


def test_a_short_utterance_joins_the_nearest_speaker_and_moves_no_centroid():
    turns = SpeakerTurns(threshold=0.8, min_voice_s=1.0)
    assert turns.assign(Voice(_unit([1, 0, 0]), 3.0)) == "Speaker 1"
    assert turns.assign(Voice(_unit([0, 1, 0]), 3.0)) == "Speaker 2"
    # too short to open a speaker: the nearest one, though below the threshold
    assert turns.assign(Voice(_unit([1, 0, 1]), 0.6)) == "Speaker 1"
    assert len(turns.speakers) == 2 and turns.speakers[0].utterances == 1
    # no voice to embed at all: the turn goes on
    assert turns.assign(Voice(None, 0.3)) == "Speaker 1"
    # the same voice when long enough: a new speaker
    assert turns.assign(Voice(_unit([1, 0, 1]), 2.0)) == "Speaker 3"


def test_a_person_s_name_is_never_given_to_a_second_voice():
    turns = SpeakerTurns(threshold=0.8, min_voice_s=1.0)
    turns.assign(Voice(_unit([1, 0, 0]), 3.0))
    assert turns.rename(0, "Speaker 2")  # an organizer may call anyone anything
    assert turns.assign(Voice(_unit([0, 1, 0]), 3.0)) == "Speaker 3"
    assert not turns.rename(1, "Speaker 2")  # taken by the first voice


def test_two_aishell_speakers_are_told_apart(encoder, settings, aishell_rows):
    a = _sentences(aishell_rows, "S0150", 4)
    b = _sentences(aishell_rows, "S0252", 4)
    diarizer = Diarizer(encoder, new_turns(settings))
    order = [a[0], a[1], b[0], b[1], a[2], b[2], a[3], b[3]]
    truth = "AABBABAB"
    labels = [diarizer.label(diarizer.voice(x)) for x in order]
    assert len(set(labels)) == 2, labels
    for who in "AB":
        assert len({lab for lab, t in zip(labels, truth, strict=True) if t == who}) == 1, labels
    assert labels[0] == "Speaker 1" and labels[2] == "Speaker 2"
    assert diarizer.last_embed_s < 1.0  # a 5-s sentence on one core


def test_a_rename_sticks_to_later_captions_of_that_voice(
    worker, encoder, settings, db_url, aishell_rows
):
    store = open_store(db_url)
    room = store.create_room("panel", lang="zh")
    a = _sentences(aishell_rows, "S0150", 3)
    b = _sentences(aishell_rows, "S0252", 2)
    audio = _with_pauses([a[0], a[1], b[0], a[2], b[1]])
    diarizer = Diarizer(encoder, new_turns(settings))
    session = open_session(
        Recipe("zh", room_id=room.id), worker, store, settings, diarizer=diarizer
    )
    shown: list[str | None] = []

    def sink(event):
        if not isinstance(event, Final):
            return
        seg = event.segment
        shown.append(seg.speaker)
        # the organizer acts while the room goes on, as the console does
        if seg.speaker == "Speaker 1":
            store.rename_speaker(room.id, "Speaker 1", "李老师")
        elif seg.speaker == "Speaker 2":
            store.set_speaker(seg.id, "Dr Wang")  # names one caption: the voice keeps it

    blocks = (audio[i : i + 1600] for i in range(0, audio.size, 1600))
    session.run(blocks, sink)
    assert shown == ["Speaker 1", "李老师", "Speaker 2", "李老师", "Dr Wang"]
    stored = [s.speaker for s in store.room_segments(room.id)]
    assert stored == ["李老师", "李老师", "Dr Wang", "李老师", "Dr Wang"]


def test_transcribe_with_speakers_writes_them_into_the_export(cli, tmp_path, aishell_rows):
    a = _sentences(aishell_rows, "S0150", 2)
    b = _sentences(aishell_rows, "S0252", 1)
    audio = _with_pauses([a[0], b[0], a[1]])
    path = tmp_path / "two.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
    out = tmp_path / "two.txt"
    done = cli("transcribe", str(path), "--lang", "zh", "--speakers", "-f", "txt", "-o", str(out))
    assert done.returncode == 0, done.stderr
    lines = out.read_text(encoding="utf-8").splitlines()
    assert [line.split("] ", 1)[1].split(":", 1)[0] for line in lines] == [
        "Speaker 1",
        "Speaker 2",
        "Speaker 1",
    ]


def test_a_restarted_server_still_knows_the_room_s_voices(worker, settings, db_url, aishell_rows):
    import asyncio

    from tingshuo.live.bus import LocalBus
    from tingshuo.live.models import Models
    from tingshuo.live.rooms import Rooms

    store = open_store(db_url)
    room = store.create_room("panel", lang="zh")
    a = _sentences(aishell_rows, "S0150", 3)
    b = _sentences(aishell_rows, "S0252", 2)
    loop = asyncio.new_event_loop()

    def listen(rooms: Rooms, parts: list[np.ndarray], act=lambda seg: None) -> list[str | None]:
        session = open_session(
            Recipe("zh", room_id=room.id), worker, store, settings, diarizer=rooms.diarizer(room.id)
        )
        shown: list[str | None] = []

        def sink(event):
            if isinstance(event, Final):
                shown.append(event.segment.speaker)
                act(event.segment)

        audio = _with_pauses(parts)
        session.run((audio[i : i + 1600] for i in range(0, audio.size, 1600)), sink)
        return shown

    def name_the_first_voice(seg):
        if seg.speaker == "Speaker 1":
            store.rename_speaker(room.id, "Speaker 1", "李老师")

    before = listen(
        Rooms(settings, store, Models(settings, worker), LocalBus(), loop),
        [a[0], a[1], b[0]],
        name_the_first_voice,
    )
    assert before == ["Speaker 1", "李老师", "Speaker 2"]
    # a new server process on the same database: the voices come back with their names
    after = listen(Rooms(settings, store, Models(settings, worker), LocalBus(), loop), [b[1], a[2]])
    assert after == ["Speaker 2", "李老师"]
    assert [v.name for v in store.voices(room.id)] == ["李老师", "Speaker 2"]
    loop.close()
