"""Hall sound (issue 32): captions from a room microphone, beside a competing talker, in the
hall's murmur, with the front end (audio/enhance.py, DeepFilterNet3) off and on.

    python -m benchmarks.hall_sound                      # all rooms, front end off,on, 60 sentences
    python -m benchmarks.hall_sound --longform-only --fast --conditions clean,room
    python -m benchmarks.hall_sound --sentences 400 --json hall.json      # the full run
    python -m benchmarks.hall_sound --front-end on --with hall-off.json   # beside an earlier run
    python -m benchmarks.hall_sound --report hall.json                    # its tables again

The rooms are built by benchmarks/rooms.py (pyroomacoustics, seeded: the same audio every run;
built audio is cached). Each condition is transcribed the way `tingshuo transcribe` does it
(live/transcription.py: the commit policy, one final each, the second pass unless --fast;
no speaker labels, which do not change the text), `--repeat` times in the same process.
Reports, per condition × front end: CER (long-form file, sentences), looping captions, runs
of identical characters, the fastest caption (characters per second of audio), how many
captions differ between repeats, the front end's CPU cost and the real-time factor; beside
the issue's floors. CER normalisation: tingshuo.asr.scoring.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import tempfile
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import track
from rich.table import Table

from tingshuo.asr import load_recognizer
from tingshuo.asr.scoring import cer
from tingshuo.asr.worker import RecognizerWorker
from tingshuo.audio.decode import SAMPLE_RATE, load_audio
from tingshuo.live.transcription import transcribe_file
from tingshuo.settings import Settings, get_settings
from tingshuo.store.db import open_store

from .common import DATA, peak_rss_mb, read_tsv
from .rooms import CONDITIONS, Hall, HallSpec

AISHELL = DATA / "aishell-asr0009-sample-2spk"
LONGFORM = AISHELL / "longform" / "longform_2spk.flac"
DEFAULT_CONDITIONS = ("clean", "desk", "room", "talker", "noise")
CACHE = Path(tempfile.gettempdir()) / "tingshuo-hall-sound"

log = logging.getLogger("benchmarks.hall_sound")
console = Console()


# --- what a caption must never look like ------------------------------------------------

_PHRASE_LOOP = re.compile(r"(.{2,}?)\1{2,}")  # a phrase of ≥ 2 characters, 3 times in a row
_UNIT_LOOP = re.compile(r"(.+?)\1{2,}")
_RUN = re.compile(r"(.)\1{4,}")  # 5 or more identical characters
_SYMBOL_RUN = re.compile(r"(.)\1{3,}")  # 4 or more identical symbols (《《《《)


def _bare(text: str) -> str:
    """Words only: punctuation, symbols and spaces out (as the CER's normalisation)."""
    return "".join(
        ch for ch in text if not unicodedata.category(ch).startswith(("P", "S", "Z")) and ch.strip()
    )


def _symbol(ch: str) -> bool:
    return unicodedata.category(ch).startswith(("P", "S"))


def looping(text: str) -> bool:
    """Some phrase of ≥ 2 characters said 3 or more times in a row, or a caption mostly one
    unit repeated (《《《《《《。, 啊啊啊啊啊啊)."""
    if any(not m.group(1).isdigit() for m in _PHRASE_LOOP.finditer(_bare(text))):
        return True  # (a number's zeros are no loop: 1000000)
    raw = "".join(text.split())
    return any(
        m.end() - m.start() >= max(5, len(raw) / 2) and not m.group(1).isdigit()
        for m in _UNIT_LOOP.finditer(raw)
    )


def runs(text: str) -> list[str]:
    """Runs of 5 or more identical characters (digits of a number apart: 1000000)."""
    raw = "".join(text.split())
    return [m.group(0) for m in _RUN.finditer(raw) if not m.group(1).isdigit()]


def symbol_runs(text: str) -> list[str]:
    raw = "".join(text.split())
    return [m.group(0) for m in _SYMBOL_RUN.finditer(raw) if _symbol(m.group(1))]


# --- the front end ----------------------------------------------------------------------


class FilterClock:
    """The front end's filter over whole recordings, timed alone: CPU seconds (all threads of
    the process, `time.process_time`) and wall seconds per second of audio. One filter for
    all (loading it, 0.5 s, is a room's once, not a recording's)."""

    def __init__(self) -> None:
        from tingshuo.audio.enhance import RoomFilter

        self._filter = RoomFilter()
        self.cpu = self.wall = self.audio = 0.0

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        cpu, wall = time.process_time(), time.perf_counter()
        out = np.concatenate([self._filter(audio), self._filter.flush()])
        self.cpu += time.process_time() - cpu
        self.wall += time.perf_counter() - wall
        self.audio += audio.size / SAMPLE_RATE
        return out

    def mark(self) -> tuple[float, float, float]:
        return (self.cpu, self.wall, self.audio)

    def since(self, mark: tuple[float, float, float]) -> tuple[float, float]:
        """CPU and wall seconds per second of audio filtered since `mark`."""
        audio = max(self.audio - mark[2], 1e-9)
        return (self.cpu - mark[0]) / audio, (self.wall - mark[1]) / audio


# --- transcription ----------------------------------------------------------------------


@dataclass
class Run:
    """One transcription of a condition: the long-form file's captions, each sentence's."""

    longform: list[dict] = field(default_factory=list)  # {"start", "end", "text"}
    sentences: list[list[dict]] = field(default_factory=list)
    wall_s: float = 0.0  # transcription, the front end within it
    audio_s: float = 0.0


class Transcriber:
    def __init__(self, args, recognizer, reviewer, store) -> None:
        self.args = args
        self.worker = RecognizerWorker(recognizer)
        self.reviewer = reviewer
        self.store = store

    def settings(self, front_end: str) -> Settings:
        # the CLI reads get_settings(): the environment says the same as the object
        os.environ["TINGSHUO_FRONT_END"] = front_end
        get_settings.cache_clear()
        return Settings(front_end=front_end)

    def captions(self, audio: np.ndarray, settings: Settings, title: str) -> list[dict]:
        transcript = transcribe_file(
            audio,
            self.worker,
            self.store,
            settings,
            title=title,
            source=title,
            lang=self.args.lang,
            second_pass=self.reviewer,
        )
        if transcript.status != "done":
            raise RuntimeError(f"{title}: transcription {transcript.status}")
        return [{"start": s.start, "end": s.end, "text": s.text} for s in transcript.segments]


def transcribe_condition(
    tr: Transcriber,
    items: list[tuple[str, np.ndarray]],
    front_end: str,
    label: str,
) -> Run:
    """Each item (the long-form file first, if any; then sentences) as `tingshuo transcribe`
    would read it with `Settings(front_end=front_end)`."""
    settings = tr.settings(front_end)
    run = Run()
    for name, audio in track(items, description=label, console=console, transient=True):
        t = time.perf_counter()
        caps = tr.captions(audio, settings, name)
        run.wall_s += time.perf_counter() - t
        run.audio_s += audio.size / SAMPLE_RATE
        if name == "longform":
            run.longform = caps
        else:
            run.sentences.append(caps)
    return run


# --- scoring ----------------------------------------------------------------------------


def differing(a: list[dict], b: list[dict]) -> int:
    """Captions that differ between two runs of the same audio (text or bounds), by position."""
    return sum(x != y for x, y in zip(a, b, strict=False)) + abs(len(a) - len(b))


def score(
    runs_: list[Run], lf_ref: str | None, refs: list[str], condition: str, front_end: str
) -> dict:
    per_run = []
    for run in runs_:
        caps = [("longform", c) for c in run.longform]
        caps += [(f"sentence {i}", c) for i, cs in enumerate(run.sentences) for c in cs]
        loops = [(where, c) for where, c in caps if looping(c["text"])]
        long_runs = [(where, c) for where, c in caps if runs(c["text"])]
        sym = [(where, c) for where, c in caps if symbol_runs(c["text"])]
        speeds = [
            (len(_bare(c["text"])) / max(c["end"] - c["start"], 0.1), where, c)
            for where, c in caps
            if c["text"]
        ]
        fastest = max(speeds, key=lambda s: s[0]) if speeds else (0.0, "", {})
        longest = max(speeds, key=lambda s: len(_bare(s[2]["text"]))) if speeds else fastest
        per_run.append(
            {
                "cer_longform": (
                    cer([lf_ref], ["".join(c["text"] for c in run.longform)])
                    if lf_ref is not None
                    else None
                ),
                "cer_sentences": (
                    cer(refs, ["".join(c["text"] for c in cs) for cs in run.sentences])
                    if refs
                    else None
                ),
                "captions": len(caps),
                "loops": [{"where": w, **c} for w, c in loops],
                "runs": [{"where": w, **c} for w, c in long_runs],
                "symbol_runs": [{"where": w, **c} for w, c in sym],
                "max_chars_per_s": fastest[0],
                "fastest": {"where": fastest[1], **fastest[2]},
                "longest": {"where": longest[1], "chars_per_s": longest[0], **longest[2]},
                "rtf": run.wall_s / max(run.audio_s, 1e-9),
            }
        )
    first = runs_[0]
    repeats = [
        {
            "longform": differing(first.longform, run.longform),
            "sentences": sum(a != b for a, b in zip(first.sentences, run.sentences, strict=True)),
        }
        for run in runs_[1:]
    ]

    def mean(key: str) -> float | None:
        values = [r[key] for r in per_run if r[key] is not None]
        return float(np.mean(values)) if values else None

    return {
        "condition": condition,
        "front_end": front_end,
        "cer_longform": mean("cer_longform"),
        "cer_sentences": mean("cer_sentences"),
        "cer_longform_runs": [r["cer_longform"] for r in per_run],
        "cer_sentences_runs": [r["cer_sentences"] for r in per_run],
        "loops": max(len(r["loops"]) for r in per_run),
        "runs": max(len(r["runs"]) for r in per_run),
        "symbol_runs": max(len(r["symbol_runs"]) for r in per_run),
        "max_chars_per_s": max(r["max_chars_per_s"] for r in per_run),
        "longest_chars": max(len(_bare(r["longest"].get("text", ""))) for r in per_run),
        "repeat_differ_longform": max((d["longform"] for d in repeats), default=None),
        "repeat_differ_sentences": max((d["sentences"] for d in repeats), default=None),
        "captions_longform": len(first.longform),
        "sentences": len(first.sentences),
        "rtf": mean("rtf"),
        "per_run": per_run,
        "transcripts": [{"longform": r.longform, "sentences": r.sentences} for r in runs_],
    }


# --- tables -----------------------------------------------------------------------------


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x:.2%}"


def hall_table(spec: HallSpec, measured: dict, levels: dict[str, dict]) -> Table:
    """What the hall measured; `levels`: each built mix's ("condition/item") SNR."""
    m = measured
    table = Table(
        title=f"the hall: {' × '.join(f'{d:g}' for d in spec.dim)} m, wall absorption "
        f"{m['absorption']:.3f}, image sources to order {m['max_order']}; DRR by distance"
    )
    for column in ("response", "distance", "DRR", "RT60 (T30)", "target"):
        table.add_column(column, justify="right")
    targets = {
        "desk": f"{spec.desk_drr_db:+.0f} dB, {spec.rt60} s",
        "room": f"{spec.room_drr_db:+.0f} dB, {spec.rt60} s",
        "talker": "seat → desk mic",
    }
    for name in ("desk", "room", "talker"):
        r = m[name]
        table.add_row(
            f"{name} microphone" if name != "talker" else "competing talker",
            f"{r['distance_m']:.2f} m",
            f"{r['drr_db']:+.1f} dB",
            f"{r['rt60_s']:.2f} s",
            targets[name],
        )
    for condition in CONDITIONS:
        snrs = [
            v["snr_db"]
            for key, v in levels.items()
            if key.split("/")[0] == condition and "snr_db" in v
        ]
        if snrs:
            table.add_row(condition, "", "", "", f"SNR {np.mean(snrs):.1f} dB ({spec.snr_db:g})")
    return table


def results_tables(results: list[dict], args: dict) -> tuple[Table, Table]:
    """Accuracy and cost; the shapes of failure. CER and RTF: the mean of the repeats;
    loops, runs and the fastest caption: the worst repeat."""
    how = (
        f"{'no second pass (--fast)' if args['fast'] else 'second pass on'}, "
        f"lang {args['lang'] or 'auto'}, {args['repeat']} run(s) each"
    )
    accuracy = Table(title=f"hall sound: accuracy and cost — {how}")
    for column in ("condition", "front end", "CER long-form", "CER sentences", "filter CPU", "RTF"):
        accuracy.add_column(column, justify="right")
    shapes = Table(title="hall sound: captions that loop, run on or change (worst run)")
    for column in (
        "condition",
        "front end",
        "loops",
        "runs ≥5",
        "symbols ≥4",
        "chars/s",
        "longest",
        "repeat differs",
    ):
        shapes.add_column(column, justify="right")
    for r in results:
        fe = r["front_end"] + (" (emul.)" if r.get("emulated") else "")
        cost = r.get("front_end_cpu")
        accuracy.add_row(
            r["condition"],
            fe,
            _pct(r["cer_longform"]),
            _pct(r["cer_sentences"]),
            "—" if cost is None else f"{cost:.3f} s/s",
            f"{r['rtf']:.3f}",
        )
        if r["repeat_differ_longform"] is None:
            differ = "—"
        else:
            differ = []
            if r["captions_longform"]:
                differ.append(f"{r['repeat_differ_longform']}/{r['captions_longform']} LF")
            if r["sentences"]:
                differ.append(f"{r['repeat_differ_sentences']}/{r['sentences']} sent.")
            differ = ", ".join(differ)
        shapes.add_row(
            r["condition"],
            fe,
            str(r["loops"]),
            str(r["runs"]),
            str(r["symbol_runs"]),
            f"{r['max_chars_per_s']:.1f}",
            str(r["longest_chars"]),
            differ,
        )
    return accuracy, shapes


def floors_table(results: list[dict]) -> Table:
    """The issue's floors. "Today's clean": the front end off (the product as it was);
    a room's or talker's CER is held against the clean CER with the same front end (and
    shown against today's clean beside it)."""
    table = Table(title="floors of issue 32 (✓ met, ✗ not); CER: long-form / sentences")
    for column in ("front end", "floor", "value", ""):
        table.add_column(column, justify="right" if column != "floor" else "left")
    by = {(r["condition"], r["front_end"]): r for r in results}
    today = by.get(("clean", "off"))
    for fe in dict.fromkeys(r["front_end"] for r in results):
        rows = [r for r in results if r["front_end"] == fe]
        clean = by.get(("clean", fe))

        def cers(r: dict) -> list[float | None]:
            return [r["cer_longform"], r["cer_sentences"]]

        if clean is not None and today is not None and fe != "off":
            got = [
                None if a is None or b is None else a - b
                for a, b in zip(cers(clean), cers(today), strict=True)
            ]
            ok = all(g is None or g <= 0.003 for g in got)
            value = " / ".join("—" if g is None else f"{g * 100:+.2f} pts" for g in got)
            table.add_row(fe, "clean: within 0.3 points of today's clean", value, _mark(ok))
        for name in ("room", "talker", "talker_fwd", "noise"):
            r = by.get((name, fe))
            if r is None or clean is None:
                continue
            values, ok = [], True
            for got, same, base in zip(cers(r), cers(clean), cers(today or clean), strict=True):
                if got is None or same is None:
                    values.append("—")
                    continue
                ratio = got / max(same, 1e-9)
                ok = ok and ratio <= 2
                text = f"{ratio:.2f}×"
                if fe != "off" and base is not None:
                    text += f" ({got / max(base, 1e-9):.2f}× today's)"
                values.append(text)
            floor = "≤ 2× clean" if name in ("room", "talker") else "(no floor) × clean"
            table.add_row(
                fe, f"{name}: {floor}", " / ".join(values), _mark(ok) if "≤" in floor else ""
            )
        table.add_row(
            fe,
            "0 looping captions",
            str(sum(r["loops"] for r in rows)),
            _mark(all(r["loops"] == 0 for r in rows)),
        )
        table.add_row(
            fe,
            "0 runs of ≥ 5 same characters or symbols",
            str(sum(r["runs"] + r["symbol_runs"] for r in rows)),
            _mark(all(r["runs"] + r["symbol_runs"] == 0 for r in rows)),
        )
        differ = [r for r in rows if r["repeat_differ_longform"] is not None]
        if differ:
            n = sum(r["repeat_differ_longform"] + r["repeat_differ_sentences"] for r in differ)
            table.add_row(fe, "identical text on repeats", f"{n} differ", _mark(n == 0))
    return table


def _mark(ok: bool) -> str:
    return "[green]✓[/green]" if ok else "[red]✗[/red]"


def examples_table(results: list[dict], limit: int) -> Table | None:
    table = Table(title="captions that loop or run (first of each condition × front end)")
    for column in ("condition", "front end", "what", "where", "s", "caption"):
        table.add_column(column)
    shown = 0
    for r in results:
        for run_no, run in enumerate(r["per_run"]):
            for what in ("loops", "runs", "symbol_runs"):
                for c in run[what][:limit]:
                    text = c["text"] if len(c["text"]) <= 90 else c["text"][:87] + "…"
                    table.add_row(
                        r["condition"],
                        r["front_end"],
                        what + (f" (run {run_no + 1})" if run_no else ""),
                        c["where"],
                        f"{c['start']:.1f}–{c['end']:.1f}",
                        text,
                    )
                    shown += 1
    return table if shown else None


# --- main -------------------------------------------------------------------------------


def sentence_rows(n: int) -> list[dict]:
    """`n` of the 400 AISHELL sentences, spread evenly over both speakers (fixed)."""
    rows = read_tsv(AISHELL / "manifest.tsv")
    if n >= len(rows):
        return rows
    return [rows[i * len(rows) // n] for i in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--conditions",
        default=",".join(DEFAULT_CONDITIONS),
        help=f"comma list of {', '.join(CONDITIONS)} (default: %(default)s)",
    )
    parser.add_argument(
        "--front-end", default="off,on", help="comma list of off, on, auto (default: %(default)s)"
    )
    parser.add_argument(
        "--sentences", type=int, default=60, help="AISHELL sentences (spread; 400: all; 0: none)"
    )
    parser.add_argument("--longform-only", action="store_true", help="only the 7.2-minute file")
    parser.add_argument("--no-longform", action="store_true", help="only the sentences")
    parser.add_argument(
        "--seconds", type=float, help="only the long-form file's first utterances, to this time"
    )
    parser.add_argument("--fast", action="store_true", help="skip the second pass")
    parser.add_argument("--repeat", type=int, default=2, help="transcriptions of each (default 2)")
    parser.add_argument("--lang", default="zh", help="zh (default, as benchmarks/asr) or auto")
    parser.add_argument("--model", default=None)
    parser.add_argument("--json", type=Path, help="write everything here")
    parser.add_argument(
        "--with",
        dest="earlier",
        type=Path,
        action="append",
        default=[],
        help="an earlier --json of this benchmark: its rows join the tables and floors",
    )
    parser.add_argument(
        "--cache", type=Path, default=CACHE, help="built rooms kept here (default: %(default)s)"
    )
    parser.add_argument("--save-audio", type=Path, help="write each condition's long-form here")
    parser.add_argument("--examples", type=int, default=3, help="looping captions shown per row")
    parser.add_argument(
        "--report", type=Path, help="only print the tables of an earlier --json (and any --with)"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    for noisy in ("faster_whisper", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    conditions = [c.strip() for c in args.conditions.split(",") if c.strip()]
    for c in conditions:
        if c not in CONDITIONS:
            parser.error(f"unknown condition {c!r}: {', '.join(CONDITIONS)}")
    front_ends = [f.strip() for f in args.front_end.split(",") if f.strip()]
    for f in front_ends:
        if f not in ("off", "on", "auto"):
            parser.error(f"unknown front end {f!r}: off, on, auto")
    args.lang = None if args.lang == "auto" else args.lang
    if args.report is not None:
        kept = json.loads(args.report.read_text(encoding="utf-8"))
        results = kept["results"]
        for path in args.earlier:
            done = {(r["condition"], r["front_end"]) for r in results}
            more = json.loads(path.read_text(encoding="utf-8"))["results"]
            results += [r for r in more if (r["condition"], r["front_end"]) not in done]
        show(HallSpec(), kept, results, kept["args"], args.examples)
        return
    hall = Hall(HallSpec(), args.cache)
    items: list[tuple[str, np.ndarray]] = []
    lf_ref = None
    if not args.no_longform:
        audio = load_audio(LONGFORM)
        segments = read_tsv(AISHELL / "longform" / "segments.tsv")
        if args.seconds:
            # the utterances that end within the first `--seconds`, and the pause after them
            segments = [r for r in segments if float(r["end_s"]) <= args.seconds]
            audio = audio[: int((float(segments[-1]["end_s"]) + 0.3) * SAMPLE_RATE)]
        items.append(("longform", audio))
        lf_ref = "".join(r["reference_text"] for r in segments)
    rows = [] if args.longform_only else sentence_rows(args.sentences)
    refs = [r["reference_text"] for r in rows]
    items += [(r["utt_id"], load_audio(AISHELL / r["path"])) for r in rows]
    log.info(
        "%d recording(s), %.0f s of audio per condition",
        len(items),
        sum(a.size for _, a in items) / SAMPLE_RATE,
    )

    settings = Settings()
    recognizer = load_recognizer(settings, args.model)
    reviewer = None
    if not args.fast:
        from tingshuo.asr.second_pass import SecondPass

        # as `tingshuo transcribe` loads it: nothing else runs beside a file, both cores
        reviewer = SecondPass.load(
            settings, settings.second_pass_model or None, threads=settings.mt_threads
        )
    clock = FilterClock() if set(front_ends) - {"off"} else None

    results: list[dict] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        tr = Transcriber(args, recognizer, reviewer, open_store(f"sqlite:///{tmp}/hall.db"))
        for condition in conditions:
            t = time.perf_counter()
            built = [(name, hall.build(condition, a, name)) for name, a in items]
            log.info("%s: built in %.1f s", condition, time.perf_counter() - t)
            if args.save_audio is not None and built and built[0][0] == "longform":
                import soundfile as sf

                args.save_audio.mkdir(parents=True, exist_ok=True)
                sf.write(args.save_audio / f"{condition}.flac", built[0][1], SAMPLE_RATE)
            cost = None
            if clock is not None:
                # the filter alone over the condition's audio, timed (transcription runs its
                # own, and "auto" only while the meter hears echo or noise)
                mark = clock.mark()
                for _, audio in track(
                    built, description=f"{condition}: filter", console=console, transient=True
                ):
                    clock(audio)
                cost = clock.since(mark)
            for fe in front_ends:
                runs_: list[Run] = []
                for k in range(args.repeat):
                    label = f"{condition}, front end {fe}, run {k + 1}/{args.repeat}"
                    run = transcribe_condition(tr, built, fe, label)
                    log.info("%s: %.0f s for %.0f s of audio", label, run.wall_s, run.audio_s)
                    runs_.append(run)
                result = score(runs_, lf_ref, refs, condition, fe)
                if cost is not None and fe != "off":
                    result["front_end_cpu"], result["front_end_wall"] = cost
                results.append(result)
                if args.json:  # as it goes: a run stopped early keeps what it measured
                    write_json(args, hall, rows, results)
                log.info(
                    "%s / %s: CER long-form %s, sentences %s, loops %d, runs %d",
                    condition,
                    fe,
                    _pct(result["cer_longform"]),
                    _pct(result["cer_sentences"]),
                    result["loops"],
                    result["runs"],
                )

    earlier = []
    for path in args.earlier:
        kept = json.loads(path.read_text(encoding="utf-8"))
        if kept.get("hall_key") != hall.spec.key() or kept.get("sentences") != [
            r["utt_id"] for r in rows
        ]:
            log.warning("%s: another hall or other sentences; its rows are shown anyway", path)
        done = {(r["condition"], r["front_end"]) for r in results}
        earlier += [r for r in kept["results"] if (r["condition"], r["front_end"]) not in done]
    shown = sorted(
        results + earlier,
        key=lambda r: (
            CONDITIONS.index(r["condition"]),
            ("off", "on", "auto").index(r["front_end"]),
        ),
    )

    levels = {f"{c}/{i}": v for (c, i), v in hall.levels.items()}
    show(
        hall.spec, {"hall": hall.rirs.measured, "levels": levels}, shown, vars(args), args.examples
    )
    console.print(
        f"{time.perf_counter() - started:.0f} s in all; peak memory {peak_rss_mb():.0f} MB"
    )
    if args.json:
        write_json(args, hall, rows, shown)
        log.info("wrote %s", args.json)


def show(spec: HallSpec, kept: dict, results: list[dict], args: dict, examples: int) -> None:
    results = sorted(
        results,
        key=lambda r: (
            CONDITIONS.index(r["condition"]),
            ("off", "on", "auto").index(r["front_end"]),
        ),
    )
    console.print(hall_table(spec, kept["hall"], kept.get("levels", {})))
    for table in results_tables(results, args):
        console.print(table)
    console.print(floors_table(results))
    shown = examples_table(results, examples)
    if shown is not None:
        console.print(shown)


def write_json(args, hall: Hall, rows: list[dict], results: list[dict]) -> None:
    out = {
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "hall_key": hall.spec.key(),
        "hall": hall.rirs.measured,
        "levels": {f"{c}/{i}": v for (c, i), v in hall.levels.items()},
        "sentences": [r["utt_id"] for r in rows],
        "results": results,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
