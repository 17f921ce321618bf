"""Shared helpers for the benchmarks: where the data is, manifests, memory, tables."""

from __future__ import annotations

import csv
import os
import resource
import statistics
from pathlib import Path

DATA = Path(
    os.environ.get("TINGSHUO_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data")
)


def read_tsv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def p95(values: list[float]) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
