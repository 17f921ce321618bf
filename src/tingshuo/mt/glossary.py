"""Glossaries: "source term,target term" CSV files, honoured in every translation.

A term is swapped for its translation in the source before the model sees it (the model
copies "iFLYTEK" from a Chinese sentence faithfully, while it mistranslates 科大讯飞), and
the output is checked for it afterwards. A row serves both directions: 青岛,Qingdao makes
zh→en write Qingdao and en→zh write 青岛.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from ..errors import TingshuoError
from .base import detect_lang

_HEADERS = {("source", "target"), ("source term", "target term"), ("term", "translation")}


@dataclass(frozen=True)
class Entry:
    source: str
    target: str
    source_lang: str
    target_lang: str


@dataclass(frozen=True)
class Glossary:
    entries: tuple[Entry, ...] = field(default=())

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, str]]) -> Glossary:
        entries = []
        for source, target in pairs:
            source, target = source.strip(), target.strip()
            entries.append(Entry(source, target, detect_lang(source), detect_lang(target)))
        return cls(tuple(entries))

    @classmethod
    def load(cls, path: Path) -> Glossary:
        """Read a CSV of "source term,target term" rows; a header row and # comments are
        allowed. Any other shape is refused with the line at fault."""
        try:
            text = path.read_text(encoding="utf-8-sig")
        except FileNotFoundError as e:
            raise TingshuoError(f"{path}: glossary file not found") from e
        except UnicodeDecodeError as e:
            raise TingshuoError(f"{path}: the glossary is not UTF-8 text; save it as UTF-8") from e
        except OSError as e:
            raise TingshuoError(f"{path}: cannot read the glossary ({e.strerror})") from e
        pairs: list[tuple[str, str]] = []
        try:
            rows = list(csv.reader(io.StringIO(text)))
        except csv.Error as e:
            raise TingshuoError(f"{path}: not a valid CSV file ({e})") from e
        for number, row in enumerate(rows, start=1):
            cells = [c.strip() for c in row]
            while cells and not cells[-1]:
                cells.pop()
            if not cells or cells[0].startswith("#"):
                continue
            if len(cells) != 2 or not all(cells):
                raise TingshuoError(
                    f"{path}, line {number}: expected 'source term,target term', "
                    f"got {','.join(row)!r}"
                )
            if not pairs and tuple(c.lower() for c in cells) in _HEADERS:
                continue
            pairs.append((cells[0], cells[1]))
        if not pairs:
            raise TingshuoError(f"{path}: the glossary has no terms ('source term,target term')")
        return cls.from_pairs(pairs)

    @cached_property
    def key(self) -> tuple[tuple[str, str], ...]:
        """What a cached translation depends on."""
        return tuple((e.source, e.target) for e in self.entries)

    def terms(self, src: str, tgt: str) -> list[tuple[str, str]]:
        """(term in src, term in tgt), longest first so that 讯飞听见 wins over 讯飞."""
        found: dict[str, str] = {}
        for e in self.entries:
            if (e.source_lang, e.target_lang) == (src, tgt):
                found.setdefault(e.source, e.target)
            elif (e.target_lang, e.source_lang) == (src, tgt):
                found.setdefault(e.target, e.source)
        return sorted(found.items(), key=lambda t: -len(t[0]))

    def hotwords(self, lang: str) -> list[str]:
        """The terms written in `lang`: the recognizer's hot words for that language."""
        words = [e.source for e in self.entries if e.source_lang == lang]
        words += [e.target for e in self.entries if e.target_lang == lang]
        return list(dict.fromkeys(words))

    def _pattern(self, src: str, tgt: str) -> re.Pattern[str] | None:
        terms = self.terms(src, tgt)
        if not terms:
            return None
        return re.compile("|".join(_term_regex(s) for s, _ in terms), re.IGNORECASE)

    def apply(self, text: str, src: str, tgt: str) -> str:
        """The source with each term replaced by its translation."""
        pattern = self._pattern(src, tgt)
        if pattern is None:
            return text
        lookup = {s.lower(): t for s, t in self.terms(src, tgt)}
        return pattern.sub(lambda m: lookup[m.group(0).lower()], text)

    def expected(self, text: str, src: str, tgt: str) -> list[str]:
        """Target terms a translation of `text` must contain."""
        pattern = self._pattern(src, tgt)
        if pattern is None:
            return []
        lookup = {s.lower(): t for s, t in self.terms(src, tgt)}
        return list(dict.fromkeys(lookup[m.group(0).lower()] for m in pattern.finditer(text)))

    def enforce(self, output: str, src: str, tgt: str) -> str:
        """A term the model left in the source language is swapped in place, and a target
        term written in another case ("IFLYtek") takes the glossary's spelling."""
        output = self.apply(output, src, tgt)
        targets = sorted({t for _, t in self.terms(src, tgt)}, key=len, reverse=True)
        if not targets:
            return output
        spelling = {t.lower(): t for t in targets}
        pattern = re.compile("|".join(_term_regex(t) for t in targets), re.IGNORECASE)
        return pattern.sub(lambda m: spelling[m.group(0).lower()], output)

    def missing(self, text: str, output: str, src: str, tgt: str) -> list[str]:
        return [t for t in self.expected(text, src, tgt) if t not in output]


def _term_regex(term: str) -> str:
    escaped = re.escape(term)
    if re.search(r"[A-Za-z0-9]", term):
        # Latin terms match whole words only: "AI" must not hit "said"
        return rf"(?<![A-Za-z0-9]){escaped}(?![A-Za-z0-9])"
    return escaped
