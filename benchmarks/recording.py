"""A room's recording against its floors (issue 27): the recorder's CPU share of one core and
the megabytes an hour of sound takes in the database.

    python -m benchmarks.recording                  # the 7-minute two-speaker AISHELL talk
    python -m benchmarks.recording --minutes 30     # the talk round and round

The talk goes through `live/recording.py` `Recorder` as a room's blocks (0.1 s each) into a
private SQLite store: encoding (Ogg/Opus, 24 kbit/s), paging and every database write, all in
the recorder's own thread, whose CPU time (`time.thread_time`) is what is reported. The blocks
are fed as fast as they are taken, so the run takes seconds; the CPU share is that CPU time
over the sound's duration (a live room feeds the same blocks over that duration). Prints one
line. Run time: about 1 s per 5 minutes of sound.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from tingshuo.audio.decode import load_audio
from tingshuo.live.recording import Recorder
from tingshuo.store.db import open_store
from tingshuo.store.sound import session_sound

from .common import DATA

LONGFORM = DATA / "aishell-asr0009-sample-2spk" / "longform" / "longform_2spk.flac"


class TimedRecorder(Recorder):
    """A recorder that notes its thread's CPU time when it ends."""

    cpu_s = 0.0

    def _write_loop(self) -> None:
        try:
            super()._write_loop()
        finally:
            self.cpu_s = time.thread_time()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=None, help="default: the talk once")
    args = parser.parse_args()
    talk = load_audio(LONGFORM)
    if args.minutes:
        talk = np.resize(talk, int(args.minutes * 60 * 16000))
    seconds = talk.size / 16000
    with tempfile.TemporaryDirectory() as folder:
        store = open_store(f"sqlite:///{Path(folder) / 'tingshuo.db'}")
        session = store.create_session("benchmark")
        store.set_session_audio(session.id, "kept")
        recorder = TimedRecorder(store, session.id)
        for at in range(0, talk.size, 1600):
            recorder.feed(talk[at : at + 1600])
        recorder.close(timeout=600)
        stored = store.sound_bytes(session.id)
        served = len(session_sound(store, store.get_session(session.id)))
        store.engine.dispose()
    share = recorder.cpu_s / seconds * 100
    per_hour = stored / seconds * 3600 / 1e6
    print(
        f"recording: {seconds / 60:.1f} min of sound, CPU {share:.2f} % of one core "
        f"(floor 2 %), {per_hour:.1f} MB per hour stored (floor 30), "
        f"the whole file served: {served / 1e6:.2f} MB"
    )


if __name__ == "__main__":
    main()
