"""Tone drills and the pitch-only tone judgement, validated across voices.

    python -m benchmarks.assess_tones            # everything (about 20 minutes on 2 cores)
    python -m benchmarks.assess_tones --quick    # fewer sentences and syllables
    python -m benchmarks.assess_tones --leave-one-voice-out   # every voice, its family held out

Voices (`tingshuo.learn.train_drill`): `gcin` (../shared/data/gcin-syllables-male: 1,165
isolated syllables with tones 1-4, one male native voice, alone and joined into words),
`tts` (tingshuo's own Mandarin voice reading every syllable in each tone, and random two- to
four-syllable words) and the two AISHELL speakers (runs of one to four syllables of the
long-form utterances, for validation only). No figure is fitted and scored on the same
voice: the native figure (the floor) comes from a model fitted on tingshuo's voice and
scored on gcin, which it has never heard; tingshuo's voice is scored by a model fitted on
gcin, the AISHELL speakers by one fitted on both. The shipped model
(`data/tone_drill.json`) is fitted on gcin and tingshuo's voice.

Measures:
- isolated native syllables: tone judged right, read against their own prompt (as `tingshuo
  assess x.ogg --text ma3` would judge them);
- the same recordings against a prompt with each other tone: flagged;
- the same with the register from ten other readings of the same voice (what the /learn page
  sends once it has them) and with the voice's register known;
- words of two to four syllables (the native syllables joined with short gaps);
- initial and final judged by forced scoring (`learn/phones.py`) on a sample, against the
  prompt and against a prompt with another initial or final;
- single-syllable assessment time (VAD, pitch, tone, forced scoring), median and p95;
- sentences: `benchmarks.assess_synth` (tingshuo's voice with a third of the tones
  changed) and `benchmarks.assess` (native AISHELL sentences judged right);
and confusion matrices of the tone heard for isolated syllables, words and running speech.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import time

import numpy as np
from rich.console import Console
from rich.table import Table

from tingshuo.asr import load_recognizer
from tingshuo.errors import TingshuoError
from tingshuo.learn import drill, phones, train_drill
from tingshuo.learn.assess import assess_audio
from tingshuo.learn.sandhi import SHAPES, reference_syllables
from tingshuo.settings import Settings

from . import assess as native_bench
from . import assess_synth
from .common import DATA, median, p95

log = logging.getLogger(__name__)


def _pct(a: float, b: float) -> str:
    return f"{100 * a / b:.1f} % ({a:.0f}/{b:.0f})" if b else "n/a"


EARLIER = 10  # readings of the same voice the "earlier" register is the median pitch of
SETTLE = 3  # readings before the /learn page sends the register they tell (`register_estimate`)


def tone_scores(
    model: drill.DrillToneModel, readings, register: str = "guess", seed: int = 5
) -> dict:
    """Judged right against the own prompt, flagged against each other tone, confusion.

    `register`: "guess" (from the sound of the voice, as a first reading is judged),
    "earlier" (the median pitch of `EARLIER` other readings of the same voice, drawn at
    random), "settled" (as the /learn page judges a learner: the readings in a random order,
    each judged against what the readings before it told of the register once `SETTLE` have,
    `drill.register_estimate`, and against the guess before that) or "known" (the median
    over all of the voice's readings)."""
    rng = random.Random(seed)
    known = train_drill.register(readings) if register == "known" else None
    confusion = np.zeros((4, 5), dtype=int)  # expected x heard (+ not judged)
    right = total = flagged = wrong_prompts = unsure = unsure_wrong = 0
    told: list[float] = []  # "settled": what each reading so far told of the register
    if register == "settled":  # a learner reads them in some order
        readings = rng.sample(readings, len(readings))
    for r in readings:
        contours = drill.contours_for(r.track, r.spans)
        if register == "settled":
            known = float(np.median(told[-30:])) if len(told) >= SETTLE else None
            estimate = drill.register_estimate(model, r.track, contours, r.tones)
            if estimate:
                told.append(estimate)
        if register == "earlier":
            others = rng.sample([o for o in readings if o is not r], EARLIER)
            known = float(np.median([o.track.median_hz for o in others]))
        # as an assessment does (drill.reading_registers)
        registers = drill.registers_for(known, r.guess_hz, r.track.median_hz)
        for i, tone in enumerate(r.tones):
            total += 1
            probs = drill.tone_probabilities(model, r.track, r.spans, contours, i, registers)
            if probs is None:
                confusion[tone - 1, 4] += 1
                wrong_prompts += 3
                continue
            # judged right: a sure ✓; flagged: a sure ✗ ("cannot tell" is neither)
            ok, sure = drill.tone_verdict(probs, tone)
            right += ok and sure
            unsure += not sure
            heard = tone if ok else drill.likeliest_other(probs, tone)
            confusion[tone - 1, heard - 1] += 1
            for other in (1, 2, 3, 4):
                if other != tone:
                    wrong_prompts += 1
                    ok, sure = drill.tone_verdict(probs, other)
                    flagged += not ok and sure
                    unsure_wrong += not sure
    return {
        "right": (right, total),
        "flagged": (flagged, wrong_prompts),
        "unsure": (unsure, total),
        "unsure_wrong": (unsure_wrong, wrong_prompts),
        "confusion": confusion,
    }


def per_tone(confusion: np.ndarray) -> str:
    """Judged right per expected tone, e.g. "1: 95 · 2: 88 · 3: 90 · 4: 93"."""
    return " · ".join(
        f"{t}: {100 * confusion[t - 1, t - 1] / max(1, confusion[t - 1].sum()):.0f}"
        for t in (1, 2, 3, 4)
    )


def leave_one_voice_out(console: Console, voices: dict, models: dict) -> None:
    """Every voice scored by a model fitted on the other families only (`cross_voice`):
    isolated syllables against their own prompt and against each other tone, with the
    register guessed from the voice (a first reading), known, and settled as /learn settles
    it (`SETTLE` readings, in a random order); words of two to four; per tone; and a
    confusion matrix per family. AISHELL's "syllables" are one-syllable runs of running
    speech, not syllables read alone."""
    table = Table(title="Leave one voice family out: isolated syllables (floors 90 % / 85 %)")
    for column in (
        "voice",
        "family",
        "n",
        "first reading: right",
        "flagged",
        "register known: right",
        f"settled after {SETTLE}: right",
        "flagged",
        "cannot tell (right / other prompts)",
        "first reading, per tone: right %",
        "words: right",
    ):
        table.add_column(column, justify="left" if column in ("voice", "family") else "right")
    families: dict[str, np.ndarray] = {}
    for voice in sorted(voices, key=lambda v: (train_drill.family(v), v)):
        readings = voices[voice]
        isolated = [r for r in readings if len(r.tones) == 1]
        words = [r for r in readings if len(r.tones) > 1]
        model = models[voice]
        if not isolated:  # running speech: runs of one to four syllables
            got = tone_scores(model, readings)
            table.add_row(
                voice,
                train_drill.family(voice),
                str(len(readings)),
                *[""] * 6,
                per_tone(got["confusion"]),
                _pct(*got["right"]),
            )
            continue
        got = tone_scores(model, isolated)
        known = tone_scores(model, isolated, register="known")
        settled = tone_scores(model, isolated, register="settled")
        fam = train_drill.family(voice)
        families[fam] = families.get(fam, 0) + got["confusion"]
        table.add_row(
            voice,
            fam,
            str(len(isolated)),
            _pct(*got["right"]),
            _pct(*got["flagged"]),
            _pct(*known["right"]),
            _pct(*settled["right"]),
            _pct(*settled["flagged"]),
            f"{_pct(*settled['unsure'])} / {_pct(*settled['unsure_wrong'])}",
            per_tone(got["confusion"]),
            _pct(*tone_scores(model, words)["right"]) if words else "",
        )
    console.print(table)
    for fam, confusion in families.items():
        _matrix(console, f"Family {fam}, isolated syllables, held out; rows: expected", confusion)


def phone_scores(recognizer, clips, rng: random.Random, n: int) -> dict:
    """Initial and final against the own prompt and against a changed one (forced scoring);
    syllables with no one-token character in Whisper's vocabulary are counted apart."""
    vocab = phones.vocabulary(recognizer)
    out = {"own_i": [0, 0], "own_f": [0, 0], "bad_i": [0, 0], "bad_f": [0, 0], "unjudged": 0}
    for pinyin, audio in rng.sample(clips, min(n, len(clips))):
        syl = reference_syllables(pinyin)
        v = phones.judge(recognizer, audio, syl)[0]
        if v is None:
            out["unjudged"] += 1
            continue
        same_final, same_initial = (
            [p for p in group if _readable(f"{p}1")] for group in phones.neighbours(syl[0], vocab)
        )
        out["own_i"][0] += bool(v.initial_ok)
        out["own_i"][1] += 1
        out["own_f"][0] += bool(v.final_ok)
        out["own_f"][1] += 1
        if same_final:
            other = reference_syllables(f"{rng.choice(same_final)}{pinyin[-1]}")
            out["bad_i"][0] += phones.judge(recognizer, audio, other)[0].initial_ok is False
            out["bad_i"][1] += 1
        if same_initial:
            other = reference_syllables(f"{rng.choice(same_initial)}{pinyin[-1]}")
            out["bad_f"][0] += phones.judge(recognizer, audio, other)[0].final_ok is False
            out["bad_f"][1] += 1
    return out


def latency(recognizer, settings: Settings, clips, n: int) -> list[float]:
    """Seconds for whole single-syllable assessments (the recording padded as recorded)."""
    pad = np.zeros(4000, dtype=np.float32)
    seconds = []
    assess_audio(recognizer, np.concatenate([pad, clips[0][1], pad]), clips[0][0], settings)
    for pinyin, audio in clips[1 : n + 1]:
        t0 = time.perf_counter()
        try:
            assess_audio(recognizer, np.concatenate([pad, audio, pad]), pinyin, settings)
        except TingshuoError as e:
            log.warning("%s: %s", pinyin, e)
            continue
        seconds.append(time.perf_counter() - t0)
    return seconds


def _readable(pinyin: str) -> bool:
    """A prompt can be written for this syllable (ê has no pinyin prompt)."""
    try:
        return len(reference_syllables(pinyin)) == 1
    except TingshuoError:
        return False


def _matrix(console: Console, title: str, confusion: np.ndarray, rows=(1, 2, 3, 4)) -> None:
    table = Table(title=title)
    table.add_column("expected")
    for t in (1, 2, 3, 4):
        table.add_column(SHAPES[t], justify="right")
    if confusion.shape[1] > 4:
        table.add_column("light" if confusion.shape[1] > 5 else "unclear", justify="right")
    if confusion.shape[1] > 5:
        table.add_column("unclear", justify="right")
    for k, t in enumerate(rows):
        total = max(1, confusion[k].sum())
        table.add_row(f"{t} {SHAPES[t]}", *[f"{100 * v / total:.0f} %" for v in confusion[k]])
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer sentences and syllables")
    parser.add_argument("--sentences", type=int, default=0, help="AISHELL sentences (0: all)")
    parser.add_argument("--synth", type=int, default=0, help="synthesized sentences (0: all)")
    parser.add_argument("--fresh", action="store_true", help="re-read the voices (no cache)")
    parser.add_argument(
        "--leave-one-voice-out",
        action="store_true",
        help="only the tones of every voice, each judged by a model that never heard its family",
    )
    args = parser.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    logging.basicConfig(level=logging.WARNING)
    console = Console()
    settings = Settings()
    voices = train_drill.voices(DATA, fresh=args.fresh)
    models = train_drill.cross_voice(voices)
    if args.leave_one_voice_out:
        leave_one_voice_out(console, voices, models)
        return
    recognizer = load_recognizer(settings)
    rng = random.Random(17)
    isolated = {v: [r for r in rs if len(r.tones) == 1] for v, rs in voices.items()}
    words = {v: [r for r in rs if len(r.tones) > 1] for v, rs in voices.items()}

    rows: list[tuple[str, str, str]] = []
    native = tone_scores(models["gcin"], isolated["gcin"])
    rows.append(
        (
            "native isolated syllables (gcin): tone judged right, fitted on tingshuo's voice",
            _pct(*native["right"]),
            "≥ 90 %",
        )
    )
    rows.append(
        (
            "  … against a prompt with another tone: flagged",
            _pct(*native["flagged"]),
            "≥ 85 %",
        )
    )
    earlier = tone_scores(models["gcin"], isolated["gcin"], register="earlier")
    rows.append(
        (
            f"  … with the register from {EARLIER} other readings of the voice (the /learn page)",
            _pct(*earlier["right"]),
            "",
        )
    )
    with_reg = tone_scores(models["gcin"], isolated["gcin"], register="known")
    rows.append(("  … with the voice's register known", _pct(*with_reg["right"]), ""))
    native_words = tone_scores(models["gcin"], words["gcin"])
    rows.append(("native 2–4-syllable words: tones judged right", _pct(*native_words["right"]), ""))
    tts = tone_scores(models["tts"], isolated["tts"])
    rows.append(
        (
            "tingshuo's voice, isolated, fitted on gcin: right / flagged",
            f"{_pct(*tts['right'])} / {_pct(*tts['flagged'])}",
            "",
        )
    )

    for v in sorted(k for k in voices if k.startswith("aishell")):
        a = tone_scores(models[v], voices[v])
        rows.append(
            (
                f"{v} running speech, runs of 1–4 syllables: right (fitted on both)",
                _pct(*a["right"]),
                "",
            )
        )
    clips = [c for c in train_drill.gcin_clips(DATA) if _readable(c[0])]
    ph = phone_scores(recognizer, clips, rng, 60 if args.quick else 200)
    rows.append(
        (
            "native isolated: initial / final judged right",
            f"{_pct(*ph['own_i'])} / {_pct(*ph['own_f'])}",
            "",
        )
    )
    rows.append(
        (
            "  … not judged (no one-token character in Whisper's vocabulary)",
            f"{ph['unjudged']} of {ph['unjudged'] + ph['own_i'][1]}",
            "",
        )
    )
    rows.append(
        (
            "  … against another initial / another final: flagged",
            f"{_pct(*ph['bad_i'])} / {_pct(*ph['bad_f'])}",
            "",
        )
    )
    seconds = latency(recognizer, settings, rng.sample(clips, 41), 20 if args.quick else 40)
    rows.append(
        (
            "single-syllable assessment, seconds: median / p95",
            f"{median(seconds):.3f} / {p95(seconds):.3f}",
            "≤ 0.3 s",
        )
    )

    synth = assess_synth.run(
        recognizer, settings, args.synth or (20 if args.quick else 0), 60, seed=7
    )
    rows.append(
        (
            "synthesized sentences, a third of the tones changed: changed tones flagged",
            _pct(*synth["flagged"]),
            "≥ 75 %",
        )
    )
    rows.append(("  … correct readings: syllables passed", _pct(*synth["passed"]), "≥ 95 %"))
    rows.append(
        ("  … wrong readings: unchanged syllables flagged", _pct(*synth["false_alarms"]), "")
    )
    aishell = native_bench.run(
        recognizer, settings, args.sentences or (60 if args.quick else 0), console=console
    )
    rows.append(
        (
            "native AISHELL sentences: syllables judged right",
            _pct(aishell["native"]["correct"], aishell["native"]["syllables"]),
            "≥ 90 %",
        )
    )
    rows.append(
        (
            "  … tones judged right",
            _pct(aishell["native"]["tone_ok"], aishell["native"]["tone_judged"]),
            "",
        )
    )

    table = Table(title="Tone drills and tone judgement (python -m benchmarks.assess_tones)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("floor", justify="right")
    for row in rows:
        table.add_row(*row)
    console.print(table)
    _matrix(console, "Isolated native syllables (gcin), rows: expected", native["confusion"])
    _matrix(console, "Native 2–4-syllable words (gcin), rows: expected", native_words["confusion"])
    _matrix(
        console,
        "Running speech (AISHELL sentences, pitch network's likeliest), rows: expected",
        aishell["confusion"],
        rows=(1, 2, 3, 4, 5),
    )


if __name__ == "__main__":
    main()
