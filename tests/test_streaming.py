"""Streaming: partials while someone speaks, finals when they pause, stored before shown."""

from __future__ import annotations

import time

import numpy as np
import pytest

from tingshuo.asr.scoring import cer
from tingshuo.asr.streaming import StreamingTranscriber, policy_config, transcribe_audio
from tingshuo.audio.decode import SAMPLE_RATE, load_audio
from tingshuo.events import Final, Partial
from tingshuo.live.recipe import Recipe, open_session
from tingshuo.store.db import open_store

from .helpers import AISHELL, read_tsv

LONG = AISHELL / "longform" / "longform_2spk.flac"
SECONDS = 34.0  # the first eight utterances, three speaker turns


@pytest.fixture(scope="module")
def stream_events(worker, settings):
    audio = load_audio(LONG)[: int(SECONDS * SAMPLE_RATE)]
    st = StreamingTranscriber(worker, policy_config(settings), "zh")
    events = []
    block = SAMPLE_RATE // 10
    # paced at 2× real time: drafts are decoded while the audio goes on, as in a live room
    started = time.monotonic()
    for i in range(0, audio.size, block):
        time.sleep(max(0.0, started + i / SAMPLE_RATE / 2 - time.monotonic()))
        events += st.feed(audio[i : i + block])
    events += st.flush()
    return audio, events


def test_partials_come_before_the_final_of_their_utterance(stream_events):
    _, events = stream_events
    finals = [e for e in events if isinstance(e, Final)]
    partials = [e for e in events if isinstance(e, Partial)]
    assert len(finals) >= 6
    assert len(partials) >= len(finals)
    with_partials = 0
    for f in finals:
        mine = [
            i for i, e in enumerate(events) if isinstance(e, Partial) and e.utterance == f.utterance
        ]
        if mine:
            with_partials += 1
            assert max(mine) < events.index(f)
    assert with_partials >= len(finals) - 1
    # stable text only grows within an utterance
    for u in {p.utterance for p in partials}:
        stables = [p.stable for p in partials if p.utterance == u]
        assert all(b.startswith(a) for a, b in zip(stables, stables[1:], strict=False))


def test_finals_cover_every_utterance_once_without_overlap(stream_events):
    _, events = stream_events
    segs = [e.segment for e in events if isinstance(e, Final)]
    assert all(a.end <= b.start for a, b in zip(segs, segs[1:], strict=False))
    refs = [
        r for r in read_tsv(AISHELL / "longform" / "segments.tsv") if float(r["end_s"]) < SECONDS
    ]
    for r in refs:
        middle = (float(r["start_s"]) + float(r["end_s"])) / 2
        assert sum(s.start <= middle < s.end for s in segs) == 1, r["reference_text"]
    text = "".join(s.text for s in segs)
    assert cer(["".join(r["reference_text"] for r in refs)], [text]) <= 0.2


def test_finals_match_the_file_transcript(stream_events, worker, settings):
    audio, events = stream_events
    streamed = [e.segment for e in events if isinstance(e, Final)]
    batch = list(transcribe_audio(worker, audio, policy_config(settings), "zh"))
    # drafts and early finals change nothing: the same utterances
    assert [(s.start, s.end) for s in streamed] == [(s.start, s.end) for s in batch]
    # read nearly the same way: live finals decode on a shortened window, files on the whole
    assert cer(["".join(s.text for s in batch)], ["".join(s.text for s in streamed)]) <= 0.15
    live = list(transcribe_audio(worker, audio, policy_config(settings), "zh", live=True))
    assert "".join(s.text for s in live) == "".join(s.text for s in streamed)


def test_live_session_stores_each_final_before_showing_it(worker, settings, db_url, aishell_rows):
    store = open_store(db_url)
    audio = np.concatenate([load_audio(AISHELL / r["path"]) for r in aishell_rows[:2]])
    session = open_session(Recipe("zh", title="two sentences"), worker, store, settings)
    seen = []

    def sink(event):
        if isinstance(event, Final):
            # already in the store, with its id, when the sink sees it
            assert event.segment.id in {s.id for s in store.segments(session.info.id)}
        seen.append(event)

    blocks = (audio[i : i + 1600] for i in range(0, audio.size, 1600))
    info = session.run(blocks, sink)
    finals = [e for e in seen if isinstance(e, Final)]
    assert info.status == "done" and info.segments == len(finals) >= 2
    assert info.duration == pytest.approx(audio.size / SAMPLE_RATE, abs=0.1)
    assert "指标" in "".join(f.segment.text for f in finals)


def test_a_failing_source_keeps_what_was_heard(worker, settings, db_url, aishell_rows):
    store = open_store(db_url)
    audio = load_audio(AISHELL / aishell_rows[0]["path"])

    def broken():
        for i in range(0, audio.size, 1600):
            yield audio[i : i + 1600]
        raise OSError("device unplugged")

    session = open_session(Recipe("zh"), worker, store, settings)
    with pytest.raises(OSError, match="unplugged"):
        session.run(broken(), lambda e: None)
    kept = store.segments(session.info.id)
    assert kept and "指标" in kept[0].text


def test_listen_plays_a_file_in_real_time_and_stores_the_session(cli, aishell_rows):
    row = aishell_rows[2]
    started = time.monotonic()
    done = cli("listen", "--file", str(AISHELL / row["path"]), "--realtime", "--lang", "zh")
    took = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    assert took >= float(row["duration_s"])  # paced like a live source
    stamp, text = done.stdout.split(None, 1)
    assert text.startswith("Speaker 1: ")  # the voice is named where it starts
    assert cer([row["reference_text"]], [text.removeprefix("Speaker 1: ")]) < 0.3
    sessions = cli("sessions").stdout
    assert row["path"].split("/")[-1] in sessions


def test_listen_without_a_source_or_device_is_a_clear_error(cli):
    done = cli("listen")
    assert done.returncode != 0 and "--file" in done.stderr
    bad = cli("listen", "--mic", "--device", "no-such-device-xyz")
    assert bad.returncode != 0
    assert "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_a_draft_cancelled_while_it_waits_never_stops_the_recognizer(worker, aishell_rows):
    """A commit cancels its utterance's draft; a draft that waits may be both cancelled and
    overtaken by a newer one. The worker passes over it and goes on serving."""
    from tingshuo.asr.base import Request

    row = aishell_rows[0]
    audio = load_audio(AISHELL / row["path"])
    owner = object()
    busy = worker.submit(Request(audio, "zh"))  # holds the model while the drafts queue
    first = worker.submit(Request(audio[:16000], "zh", draft=True), owner=owner)
    newer = worker.submit(Request(audio[:24000], "zh", draft=True), owner=owner)
    assert first.cancel() and newer.cancel()  # both still waiting: the utterance is final
    assert busy.result(timeout=60).text
    after = worker.submit(Request(audio, "zh"))
    assert cer([row["reference_text"]], [after.result(timeout=60).text]) < 0.3
