"""Pronunciation assessment on readings synthesized with wrong tones.

    python -m benchmarks.assess_synth              # HSK practice + 60 AISHELL sentences
                                                   # (five syllables or more)
    python -m benchmarks.assess_synth --limit 20   # a quick look

No learner recordings with tone labels exist, so tingshuo's Mandarin voice reads each
sentence twice: once with the tones the assessment expects (after sandhi), once with a third
of the toned syllables given another tone (seeded). Each reading is assessed against the
sentence as written. Prints the share of syllables judged right in the correct readings, the
share of changed tones flagged in the wrong ones, and false alarms on the unchanged syllables.
The voice's tones come from the same expected syllables, so this measures the tone judgement,
not the text front end.
"""

from __future__ import annotations

import argparse
import csv
import logging
import random
import re
from importlib import resources

from rich.console import Console
from rich.progress import track
from rich.table import Table

from tingshuo.asr import load_recognizer
from tingshuo.errors import TingshuoError
from tingshuo.learn.assess import assess_audio
from tingshuo.learn.sandhi import reference_syllables
from tingshuo.learn.voice import changed_tones, read_with_tones
from tingshuo.settings import Settings
from tingshuo.tts.zh_fastspeech import ZhFastSpeech

from .common import DATA, median, read_tsv

AISHELL = DATA / "aishell-asr0009-sample-2spk"
_HAN_ONLY = re.compile(r"^[\u4e00-\u9fff，。？！、：；]+$")


def sentences(aishell: int) -> list[str]:
    """HSK practice sentences and AISHELL texts of five syllables or more (shorter prompts
    are drills, judged by `benchmarks.assess_tones`)."""
    practice = resources.files("tingshuo.learn").joinpath("data/practice.tsv").read_text("utf-8")
    rows = csv.DictReader(practice.splitlines(), delimiter="\t")
    texts = [r["text"] for r in rows if r["level"] != "drill"]
    refs = [r["reference_text"] for r in read_tsv(AISHELL / "manifest.tsv")]
    texts += [t for t in refs if _HAN_ONLY.match(t)][:aishell]
    return [t for t in texts if _HAN_ONLY.match(t) and len(reference_syllables(t)) > 4]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=0, help="only the first N sentences")
    parser.add_argument("--aishell", type=int, default=60, help="AISHELL sentences to add")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    settings = Settings()
    recognizer = load_recognizer(settings)
    out = run(recognizer, settings, args.limit, args.aishell, args.seed)
    native_ok, native_n = out["passed"]
    flagged, changed_n = out["flagged"]
    false_alarms, unchanged_n = out["false_alarms"]
    texts, seconds = out["texts"], out["seconds"]
    table = Table(title=f"Assessment of synthesized readings ({len(texts)} sentences)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row(
        "correct tones: syllables judged right",
        f"{native_ok / max(native_n, 1):.1%} ({native_ok}/{native_n})",
    )
    table.add_row(
        "wrong tones: changed tones flagged",
        f"{flagged / max(changed_n, 1):.1%} ({flagged}/{changed_n})",
    )
    table.add_row(
        "wrong tones: unchanged syllables flagged",
        f"{false_alarms / max(unchanged_n, 1):.1%} ({false_alarms}/{unchanged_n})",
    )
    table.add_row("median reading length", f"{median(seconds):.1f} s")
    Console().print(table)


def run(recognizer, settings: Settings, limit: int = 0, aishell: int = 60, seed: int = 7) -> dict:
    """Counts (judged, out of) for the correct readings' syllables passed, the changed tones
    flagged and the unchanged syllables of the wrong readings flagged."""
    voice = ZhFastSpeech(settings.cache_dir, pace=settings.tts_zh_pace)
    rng = random.Random(seed)
    texts = sentences(aishell)[: limit or None]
    native_ok = native_n = flagged = changed_n = false_alarms = unchanged_n = 0
    seconds = []
    for text in track(texts, description="synthesized readings"):
        expected = reference_syllables(text)
        try:
            right = read_with_tones(voice, text, [s.tone for s in expected])
            tones, changed = changed_tones(expected, rng)
            wrong = read_with_tones(voice, text, tones)
        except TingshuoError:
            continue
        for audio, wrong_at in ((right, set()), (wrong, changed)):
            try:
                result = assess_audio(recognizer, audio, text, settings)
            except TingshuoError as e:
                logging.warning("%s: %s", text, e)
                continue
            seconds.append(result.duration_s)
            for syl in result.syllables:
                if not wrong_at:
                    native_n += 1
                    native_ok += bool(syl.tone_ok and syl.tone_sure is not False)
                elif syl.index in wrong_at:
                    changed_n += 1
                    flagged += syl.tone_ok is False and syl.tone_sure is not False
                else:
                    unchanged_n += 1
                    false_alarms += syl.tone_ok is False and syl.tone_sure is not False

    return {
        "passed": (native_ok, native_n),
        "flagged": (flagged, changed_n),
        "false_alarms": (false_alarms, unchanged_n),
        "texts": texts,
        "seconds": seconds,
    }


if __name__ == "__main__":
    main()
