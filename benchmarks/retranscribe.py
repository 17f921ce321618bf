"""A live room's sound read again at full quality: does it read as well as `tingshuo
transcribe` reads the same file, and does it finish within the session's own duration?

    python -m benchmarks.retranscribe                  # the whole long-form file, played at 1×
    python -m benchmarks.retranscribe --seconds 120 --speed 0

Starts `tingshuo serve` in a subprocess (a private database and token), plays the two-speaker
AISHELL long-form file into a Mandarin room (`start/file`, at `--speed`; the room records its
sound), then asks `POST /api/sessions/{id}/retranscribe` and waits for it. Then, with the
server stopped, `tingshuo transcribe` reads the same file (beam 5 and the second pass). For
each: CER of the whole transcript against the reference, and wall time against the sound's
duration. `--to en` makes the room translate, so the reading again translates too.

Then, whether a reading again delays a live room (`--beside`, seconds of talk; 0: skip): a talk
of AISHELL sentences is played at 1× into another room, first with nothing else running, then
while the same session is read again; each final's lag (its publish time minus the moment its
last word was played) is compared, median and p95.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from tingshuo.asr.scoring import cer
from tingshuo.audio.decode import SAMPLE_RATE, load_audio

from .common import DATA, median, p95, read_tsv
from .server_load import Server, write_wav
from .stream_room import lags, talk

LONGFORM = DATA / "aishell-asr0009-sample-2spk" / "longform"


def wait_idle(server: Server, room: dict, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    time.sleep(1)
    while server.http.get(f"/api/rooms/{room['id']}").json()["state"] != "idle":
        if time.monotonic() > deadline:
            raise SystemExit("the room did not finish")
        time.sleep(0.5)


def transcript_cer(reference: str, segments: list[dict]) -> float:
    return cer([reference], ["".join(s["text"] for s in segments)])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--seconds", type=float, help="play only this much of the file")
    parser.add_argument("--speed", default="1", help="the room's pace: 1 (live) or 0 (flat out)")
    parser.add_argument("--to", default="", help="target languages of the room, e.g. en")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--keep", type=Path, help="keep the databases and the sound in this folder")
    parser.add_argument(
        "--beside", type=float, default=60.0, help="seconds of a live talk beside it (0: none)"
    )
    args = parser.parse_args()

    rows = read_tsv(LONGFORM / "segments.tsv")
    audio = load_audio(LONGFORM / "longform_2spk.flac")
    if args.seconds:
        audio = audio[: int(args.seconds * SAMPLE_RATE)]
        rows = [r for r in rows if float(r["end_s"]) <= args.seconds]
    reference = "".join(r["reference_text"] for r in rows)
    duration = audio.size / SAMPLE_RATE
    out: dict = {"duration_s": round(duration, 1), "speed": args.speed, "targets": args.to}
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        wav = folder / "longform.wav"
        write_wav(wav, audio)
        server = Server(folder)
        try:
            targets = [t for t in args.to.split(",") if t]
            r = server.http.post(
                "/api/rooms", json={"name": "long-form", "lang": "zh", "targets": targets}
            )
            r.raise_for_status()
            room = r.json()
            with wav.open("rb") as f:
                r = server.http.post(
                    f"/api/rooms/{room['id']}/start/file",
                    files={"file": ("longform.wav", f, "audio/wav")},
                    data={"speed": args.speed},
                )
            r.raise_for_status()
            wait_idle(server, room, duration * 3 + 120)
            session = server.http.get(f"/api/rooms/{room['id']}/sessions").json()[-1]
            live = server.http.get(f"/api/sessions/{session['id']}").json()["segments"]
            out["live_cer"] = transcript_cer(reference, live)
            out["captions"] = len(live)
            began = time.monotonic()
            r = server.http.post(f"/api/sessions/{session['id']}/retranscribe")
            if r.status_code != 202:
                raise SystemExit(f"retranscribe: {r.status_code} {r.text}")
            while True:
                time.sleep(1)
                got = server.http.get(f"/api/sessions/{session['id']}").json()
                state = got["session"]["retranscribe"]
                if state["state"] != "running":
                    break
            out["reread_s"] = round(time.monotonic() - began, 1)
            out["reread_state"] = state
            out["reread_cer"] = transcript_cer(reference, got["segments"])
            out["reread_translated"] = sum(
                all(t in s["translations"] for t in targets) for s in got["segments"]
            )
            if args.beside:
                beside, texts = talk(
                    read_tsv(DATA / "aishell-asr0009-sample-2spk" / "manifest.tsv"),
                    args.beside,
                    folder,
                    "beside",
                )
                alone, _ = lags(server, "file", beside, texts)
                r = server.http.post(f"/api/sessions/{session['id']}/retranscribe")
                r.raise_for_status()
                during, _ = lags(server, "file", beside, texts)
                reading = server.http.get(f"/api/sessions/{session['id']}").json()
                out["beside"] = {
                    "alone": {"median": median(alone), "p95": p95(alone), "finals": len(alone)},
                    "reading": {
                        "median": median(during),
                        "p95": p95(during),
                        "finals": len(during),
                    },
                    "progress_while_live": reading["session"]["retranscribe"]["progress"],
                }
        finally:
            server.close()
        began = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "tingshuo", "transcribe", str(wav), "-l", "zh", "-f", "json"],
            capture_output=True,
            text=True,
            env={
                **__import__("os").environ,
                "TINGSHUO_DATABASE_URL": f"sqlite:///{folder / 'f.db'}",
            },
            check=True,
        )
        out["transcribe_s"] = round(time.monotonic() - began, 1)
        out["transcribe_cer"] = transcript_cer(reference, json.loads(done.stdout)["segments"])

    table = Table(
        title=f"long-form room read again ({duration:.0f} s of sound, speed {args.speed})"
    )
    for column in ("", "CER", "wall time", "× the sound"):
        table.add_column(column, justify="right" if column else "left")
    table.add_row("live captions", f"{out['live_cer']:.2%}", "", "")
    table.add_row(
        "read again", f"{out['reread_cer']:.2%}", f"{out['reread_s']:.0f} s",
        f"{out['reread_s'] / duration:.2f}",
    )  # fmt: skip
    table.add_row(
        "tingshuo transcribe", f"{out['transcribe_cer']:.2%}", f"{out['transcribe_s']:.0f} s",
        f"{out['transcribe_s'] / duration:.2f}",
    )  # fmt: skip
    Console().print(table)
    Console().print(out["reread_state"])
    if "beside" in out:
        b = out["beside"]
        lag = Table(title=f"a live room beside it ({args.beside:.0f} s talk at 1×): final lag")
        for column in ("", "median", "p95", "finals"):
            lag.add_column(column, justify="right" if column else "left")
        for name, key in (("nothing else running", "alone"), ("while reading again", "reading")):
            lag.add_row(name, f"{b[key]['median']:.2f} s", f"{b[key]['p95']:.2f} s",
                        str(b[key]["finals"]))  # fmt: skip
        Console().print(lag)
        Console().print(f"the reading again reached {b['progress_while_live']:.0%} meanwhile")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
