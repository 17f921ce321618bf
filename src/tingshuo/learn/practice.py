"""What a learner practises: graded sentences (`data/practice.tsv`) and tone drills
(`data/drills.json`), each with its reading after tone sandhi; and the learner's page."""

from __future__ import annotations

import csv
import json
from functools import lru_cache
from importlib import resources

from pydantic import BaseModel

from .sandhi import reference_syllables


class PracticeSentence(BaseModel):
    level: str  # drill, HSK1 … HSK4
    text: str
    english: str
    pinyin: str  # with tone marks, after sandhi


class DrillItem(BaseModel):
    text: str
    english: str
    pinyin: str  # with tone marks, after sandhi
    tones: list[int]  # the tones expected (after sandhi; 5 = light)
    citation: list[int]  # the dictionary tones, before sandhi (你好: 3 3, said 2 3)


class DrillSet(BaseModel):
    kind: str  # four (the four tones of a syllable), pairs (two-syllable tone pairs), minimal
    name: str
    items: list[DrillItem]


@lru_cache(maxsize=1)
def practice_sentences() -> list[PracticeSentence]:
    text = resources.files("tingshuo.learn").joinpath("data/practice.tsv").read_text("utf-8")
    return [
        PracticeSentence(
            level=row["level"],
            text=row["text"],
            english=row["english"],
            pinyin=" ".join(s.marked for s in reference_syllables(row["text"])),
        )
        for row in csv.DictReader(text.splitlines(), delimiter="\t")
    ]


@lru_cache(maxsize=1)
def drill_sets() -> list[DrillSet]:
    """The drills of the page (`data/drills.json`): the four tones of ten syllables, the 20
    two-syllable tone pairs (16 full-tone pairs and 4 with a light second syllable), and
    minimal pairs that differ only in tone."""

    def item(text: str, english: str) -> DrillItem:
        syllables = reference_syllables(text)
        return DrillItem(
            text=text,
            english=english,
            pinyin=" ".join(s.marked for s in syllables),
            tones=[s.tone for s in syllables],
            citation=[s.citation_tone for s in syllables],
        )

    data = json.loads(resources.files("tingshuo.learn").joinpath("data/drills.json").read_text())
    out = [
        DrillSet(kind="four", name=d["name"], items=[item(*x) for x in d["items"]])
        for d in data["four"]
    ]
    out.append(DrillSet(kind="pairs", name="tone pairs", items=[item(*x) for x in data["pairs"]]))
    out += [
        DrillSet(
            kind="minimal", name=" / ".join(t for t, _ in pair), items=[item(*x) for x in pair]
        )
        for pair in data["minimal"]
    ]
    return out


def page_html() -> str:
    """The learner's page (`/learn`): one file, its script and styles inline."""
    return resources.files("tingshuo.learn").joinpath("data/learn.html").read_text("utf-8")
