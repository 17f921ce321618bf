"""Script following: where a caption is a stretch of the script, show the script's writing.

A `Script` is a room's prepared texts in reading order, cut into passages (a sentence, or a
line an organizer translated). `Follower.follow` aligns what was recognized to it by sound
(toneless pinyin, with the commonest confusions merged) and by word, with a local alignment
(Smith–Waterman) in a few windows: near where the speaker was, and wherever two or more
syllable pairs of the caption occur in the script (a jump back, a skipped page, a repeat).

Where a stretch aligns confidently, the caption shows the script's own characters, digits
and punctuation for exactly the units that were said. Never what was not said: a script unit
counts as said only where a recognized unit lies against it (one or two dropped by the
recognizer at a passage's start or end count too, where they match the script's in
number); a skipped sentence or phrase, the unspoken end of a shortened one and the next
line are left out. A stretch said twice in one caption (the recognizer's loop) is shown
once. What does not align (an ad-lib) is shown as
recognized. A caption that is whole passages and nothing else gets their prepared
translations.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from .sounds import Unit, fuzzy, units

EXACT, CLOSE, OTHER, GAP = 2.0, 1.0, -1.5, -1.2
SAME_WRITING = 0.25  # more for the same character too: among homophones, the one written
MIN_MATCHED = 4  # sounds that must agree before a stretch counts as the script's
MIN_AGREEMENT = 0.65  # of the recognized sounds in the stretch
EDGE = (
    3  # misheard units at a passage's start or end, taken as the script's when they match in number
)
FAR_MATCHED = 8  # a stretch away from the speaker (a jump) needs this many sounds to agree
FAR_AGREEMENT = 0.8
NEAR = 60  # sounds ahead of the speaker where the script is looked for first
_SENTENCE_END = set("。！？!?；;….")
_OPENING = set("“‘《「『（([")


@dataclass(frozen=True)
class Passage:
    """A sentence or line of a prepared text; `translations`: any the organizer gave."""

    text: str
    text_id: int | None = None
    translations: dict[str, str] = field(default_factory=dict)


class Script:
    """A room's prepared texts of one language, compiled for following."""

    def __init__(self, passages: Sequence[Passage], lang: str) -> None:
        self.lang = lang
        self.passages = list(passages)
        sep = "" if lang == "zh" else " "
        pieces: list[str] = []
        self.passage_start: list[int] = []  # char offset of each passage in `text`
        offset = 0
        for p in self.passages:
            self.passage_start.append(offset)
            pieces.append(p.text + "\n")
            offset += len(p.text) + 1
        self.text = "".join(pieces)
        self._sep = sep
        self.units: list[Unit] = []
        self.unit_passage: list[int] = []
        self.passage_units: list[tuple[int, int]] = []
        for i, p in enumerate(self.passages):
            first = len(self.units)
            for u in units(p.text):
                start = self.passage_start[i]
                self.units.append(Unit(u.start + start, u.end + start, u.sounds))
                self.unit_passage.append(i)
            self.passage_units.append((first, len(self.units)))
        # one sound per position: (unit index, sound)
        self.sounds: list[str] = []
        self.sound_unit: list[int] = []
        self.writing: list[str] = []  # what each sound's unit is written as
        for k, u in enumerate(self.units):
            for s in u.sounds:
                self.sounds.append(s)
                self.sound_unit.append(k)
                self.writing.append(self.text[u.start : u.end])
        self.unit_sound: list[int] = []  # the first sound of each unit
        for j, k in enumerate(self.sound_unit):
            if k == len(self.unit_sound):
                self.unit_sound.append(j)
        self.fuzzy = [fuzzy(s) for s in self.sounds]
        self.index: dict[tuple[str, str], list[int]] = {}
        for j in range(len(self.fuzzy) - 1):
            self.index.setdefault((self.fuzzy[j], self.fuzzy[j + 1]), []).append(j)

    def __len__(self) -> int:
        return len(self.sounds)

    def passage_at(self, sound: int) -> int:
        """The passage a sound position lies in (the last one past the end)."""
        if not self.sound_unit:
            return 0
        sound = min(max(sound, 0), len(self.sound_unit) - 1)
        return self.unit_passage[self.sound_unit[sound]]

    def passage_sound(self, passage: int) -> int:
        """The first sound position of a passage."""
        first, _ = self.passage_units[passage]
        for j, k in enumerate(self.sound_unit):
            if k >= first:
                return j
        return len(self.sounds)


@dataclass
class Followed:
    text: str  # what the caption shows
    source: str | None = None  # "script" where any of it is the script's writing
    translations: dict[str, str] = field(default_factory=dict)  # prepared, when whole passages
    passages: list[int] = field(default_factory=list)  # the passages it said, in order
    end: int | None = None  # the script sound position after the last one said


@dataclass
class _Region:
    rec: tuple[int, int]  # recognized sounds [a, b)
    ops: list[tuple[int | None, int | None, float]]  # (rec sound, script sound, score)


class Follower:
    """Follows one speaker through a `Script`; `cursor` is where they are now."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.cursor = 0
        self._writing_heard: list[str] = []  # the caption being followed: each sound's writing

    def move_to(self, passage: int) -> None:
        """An operator's re-anchoring: the speaker is at the start of `passage` now."""
        self.cursor = self.script.passage_sound(min(max(passage, 0), len(self.script.passages)))

    def follow(self, text: str, commit: bool = False) -> Followed:
        """The caption as shown. `commit`: a final; the cursor moves past what it said."""
        script = self.script
        rec_units = units(text)
        sounds: list[str] = []
        owner: list[int] = []
        self._writing_heard: list[str] = []
        for k, u in enumerate(rec_units):
            sounds.extend(u.sounds)
            owner.extend([k] * len(u.sounds))
            self._writing_heard.extend([text[u.start : u.end]] * len(u.sounds))
        if not sounds or not len(script):
            return Followed(text)
        regions: list[_Region] = []
        if len(sounds) < MIN_MATCHED:
            short = self._next_words(sounds)
            if short is not None:
                regions.append(short)
        else:
            self._find(sounds, 0, len(sounds), regions)
        if not regions:
            return Followed(text)
        regions.sort(key=lambda r: r.rec[0])
        regions, dropped = self._once(regions)
        self._extend(regions, rec_units, owner)
        followed = self._compose(text, rec_units, owner, regions, dropped)
        if commit and followed.end is not None:
            self.cursor = followed.end
        return followed

    # -- finding where a stretch of sounds lies in the script

    def _next_words(self, sounds: list[str]) -> _Region | None:
        """A caption too short to be found anywhere (再次。) is the script's only where it is
        exactly what comes next."""
        script = self.script
        fz = [fuzzy(s) for s in sounds]
        for start in range(max(self.cursor, 0), min(self.cursor + 3, len(script))):
            stretch = script.fuzzy[start : start + len(fz)]
            if stretch == fz and sum(
                a == b for a, b in zip(sounds, script.sounds[start:], strict=False)
            ) * 2 >= len(sounds):
                ops = [(i, start + i, EXACT) for i in range(len(sounds))]
                return _Region((0, len(sounds)), ops)  # type: ignore[arg-type]
        return None

    def _find(self, sounds: list[str], a: int, b: int, regions: list[_Region]) -> None:
        if b - a < MIN_MATCHED:
            return
        best: tuple[float, _Region] | None = None
        for lo, hi in self._windows(sounds, a, b):
            region, score = self._align(sounds, a, b, lo, hi)
            if region is None:
                continue
            first_script = next(j for _, j, _ in region.ops if j is not None)
            if self.cursor - 4 <= first_script <= self.cursor + NEAR:
                score += 1.5  # where the speaker is expected: preferred among equals
            elif not _strong(region):
                continue  # a jump needs more to go on than a common phrase
            if best is None or score > best[0]:
                best = (score, region)
        if best is None:
            return
        region = best[1]
        regions.append(region)
        self._find(sounds, a, region.rec[0], regions)
        self._find(sounds, region.rec[1], b, regions)

    def _windows(self, sounds: list[str], a: int, b: int) -> list[tuple[int, int]]:
        """Script stretches worth aligning `sounds[a:b]` to: ahead of the cursor, and where
        its syllable pairs occur."""
        script = self.script
        n = b - a
        votes: Counter[int] = Counter()
        fz = [fuzzy(s) for s in sounds[a:b]]
        for k in range(n - 1):
            for j in script.index.get((fz[k], fz[k + 1]), ())[:200]:
                votes[(j - k) // 4] += 1
        starts = [self.cursor - 4]
        starts += [bucket * 4 for bucket, count in votes.most_common(4) if count >= 2]
        spans = sorted(
            (max(start - 6, 0), min(start + n + n // 2 + 10, len(script))) for start in starts
        )
        windows: list[tuple[int, int]] = []
        for lo, hi in spans:  # overlapping ones are aligned once, as one
            if windows and lo <= windows[-1][1]:
                windows[-1] = (windows[-1][0], max(hi, windows[-1][1]))
            elif hi - lo >= MIN_MATCHED:
                windows.append((lo, hi))
        return windows

    def _align(
        self, sounds: list[str], a: int, b: int, lo: int, hi: int
    ) -> tuple[_Region | None, float]:
        """The best local alignment of sounds[a:b] with script sounds [lo, hi)."""
        s_sound, s_fuzzy = self.script.sounds, self.script.fuzzy
        rec = sounds[a:b]
        rec_fz = [fuzzy(s) for s in rec]
        m, n = len(rec), hi - lo
        score = [[0.0] * (n + 1) for _ in range(m + 1)]
        move = [[0] * (n + 1) for _ in range(m + 1)]  # 1 diagonal, 2 up (rec only), 3 left
        top, top_at = 0.0, (0, 0)
        window = list(zip(s_sound[lo:hi], s_fuzzy[lo:hi], self.script.writing[lo:hi], strict=True))
        heard = self._writing_heard[a:b]
        for i in range(1, m + 1):
            r, rf, rw = rec[i - 1], rec_fz[i - 1], heard[i - 1]
            row, prev = score[i], score[i - 1]
            mrow = move[i]
            pairs = [
                (EXACT + SAME_WRITING * (w == rw)) if s == r else CLOSE if sf == rf else OTHER
                for s, sf, w in window
            ]
            for j in range(1, n + 1):
                diag = prev[j - 1] + pairs[j - 1]
                up = prev[j] + GAP
                left = row[j - 1] + GAP
                best = max(0.0, diag, up, left)
                row[j] = best
                mrow[j] = 0 if best == 0.0 else 1 if best == diag else 2 if best == up else 3
                if best > top:
                    top, top_at = best, (i, j)
        if top < EXACT * MIN_MATCHED * 0.75:
            return None, top
        i, j = top_at
        ops: list[tuple[int | None, int | None, float]] = []
        while i > 0 and j > 0 and move[i][j]:
            step = move[i][j]
            if step == 1:
                r, s = rec[i - 1], s_sound[lo + j - 1]
                pair = EXACT if s == r else CLOSE if s_fuzzy[lo + j - 1] == rec_fz[i - 1] else OTHER
                ops.append((a + i - 1, lo + j - 1, pair))
                i, j = i - 1, j - 1
            elif step == 2:
                ops.append((a + i - 1, None, GAP))
                i -= 1
            else:
                ops.append((None, lo + j - 1, GAP))
                j -= 1
        ops.reverse()
        rec_ops = [o for o in ops if o[0] is not None]
        matched = sum(1 for r, s, p in ops if r is not None and s is not None and p > 0)
        exact = sum(1 for r, s, p in ops if r is not None and s is not None and p == EXACT)
        if (
            matched < MIN_MATCHED
            or matched < MIN_AGREEMENT * len(rec_ops)
            or exact * 2 < len(rec_ops)
        ):
            return None, top
        first = rec_ops[0][0]
        last = rec_ops[-1][0]
        assert first is not None and last is not None
        return _Region((first, last + 1), ops), top

    def _once(self, regions: list[_Region]) -> tuple[list[_Region], list[tuple[int, int]]]:
        """Regions of one caption over the same script stretch: the recognizer said it twice
        (a loop), so it is shown once. Returns the regions kept and the recognized sound
        ranges dropped."""
        kept: list[_Region] = []
        dropped: list[tuple[int, int]] = []
        # the saying that covers more of the script is the one kept (a loop starts over)
        for region in sorted(regions, key=lambda r: -(_script_span(r)[1] - _script_span(r)[0])):
            lo, hi = _script_span(region)
            if any(lo < k_hi and k_lo < hi for k_lo, k_hi in map(_script_span, kept)):
                dropped.append(region.rec)
            else:
                kept.append(region)
        return sorted(kept, key=lambda r: r.rec[0]), dropped

    def _extend(self, regions: list[_Region], rec_units: list[Unit], owner: list[int]) -> None:
        """A region that stops short of its passage's start (or end) while the caption has as
        many units left before (after) it, at most EDGE: those are the passage's misheard
        first (last) words (近贷 for 信贷), and are taken as said."""
        script = self.script
        first_sound = {}
        for j, k in enumerate(owner):
            first_sound.setdefault(k, j)
        for n, region in enumerate(regions):
            said = [
                script.sound_unit[j] for r, j, _ in region.ops if r is not None and j is not None
            ]
            if not said:
                continue
            start_unit, end_unit = min(said), max(said)
            passage_first, _ = script.passage_units[script.unit_passage[start_unit]]
            _, passage_last = script.passage_units[script.unit_passage[end_unit]]
            # before: the caption's units between the previous region (or its start) and this
            before_lo = owner[regions[n - 1].rec[1] - 1] + 1 if n else 0
            rec_first = owner[region.rec[0]]
            missing = start_unit - passage_first
            if 0 < missing <= EDGE and rec_first - before_lo == missing:
                ops = [
                    (first_sound[before_lo + i], script.unit_sound[passage_first + i], OTHER)
                    for i in range(missing)
                ]
                region.ops[:0] = ops  # type: ignore[arg-type]
                region.rec = (first_sound[before_lo], region.rec[1])
            after_hi = owner[regions[n + 1].rec[0]] if n + 1 < len(regions) else len(rec_units)
            rec_last = owner[region.rec[1] - 1]
            missing = passage_last - 1 - end_unit
            if 0 < missing <= EDGE and after_hi - rec_last - 1 == missing:
                ops = [
                    (first_sound[rec_last + 1 + i], script.unit_sound[end_unit + 1 + i], OTHER)
                    for i in range(missing)
                ]
                region.ops.extend(ops)  # type: ignore[arg-type]
                last = rec_last + missing
                region.rec = (region.rec[0], max(j for j, k in enumerate(owner) if k == last) + 1)

    # -- what the caption shows

    def _compose(
        self,
        text: str,
        rec_units: list[Unit],
        owner: list[int],
        regions: list[_Region],
        dropped: Sequence[tuple[int, int]] = (),
    ) -> Followed:
        script = self.script
        # a stretch the recognizer said again, with the punctuation after it: once is enough
        cuts = []
        for a, b in dropped:
            start, end = rec_units[owner[a]].start, rec_units[owner[b - 1]].end
            while end < len(text) and not text[end].isalnum():
                end += 1
            cuts.append((start, end))
        out: list[str] = []
        at = 0  # in the recognized text
        said_passages: list[int] = []
        all_script = True
        end: int | None = None
        for region in regions:
            said = self._said_units(region)
            if not said:
                continue
            first_rec = rec_units[owner[region.rec[0]]]
            last_rec = rec_units[owner[region.rec[1] - 1]]
            before = text[at : first_rec.start]
            if any(
                u.start >= at and u.end <= first_rec.start and not _inside(u, cuts)
                for u in rec_units
            ):
                all_script = False
            out.append(_cut(before, at, cuts))
            out.append(self._writing(said, text, rec_units, owner, region))
            at = last_rec.end
            if script.text[script.units[said[-1]].end : script.units[said[-1]].end + 1] in (
                _SENTENCE_END
            ):
                while at < len(text) and text[at] in _SENTENCE_END | set("，,、 "):
                    at += 1  # the script's own ending was shown
            end = max(end or 0, max(j for _, j, _ in region.ops if j is not None) + 1)
            for k in said:
                p = script.unit_passage[k]
                if not said_passages or said_passages[-1] != p:
                    said_passages.append(p)
        if any(u.start >= at and not _inside(u, cuts) for u in rec_units):
            all_script = False
        out.append(_cut(text[at:], at, cuts))
        shown = "".join(out)
        if end is None:
            return Followed(text)
        translations: dict[str, str] = {}
        if all_script and said_passages and self._whole(said_passages, regions):
            langs = set.intersection(*(set(script.passages[p].translations) for p in said_passages))
            for lang in langs:
                joiner = "" if lang in ("zh", "ja") else " "
                translations[lang] = joiner.join(
                    script.passages[p].translations[lang] for p in said_passages
                ).strip()
        return Followed(shown, "script", translations, said_passages, end)

    def _said_units(self, region: _Region) -> list[int]:
        """Script units said in a region: those a recognized sound lies against; and a single
        one between two heard exactly (的, 有, 亿: a short word the recognizer dropped). Two or
        more with nothing against them may have been skipped: they are never shown."""
        script = self.script
        exact: set[int] = set()
        touched: set[int] = set()
        for r, s, score in region.ops:
            if r is not None and s is not None:
                touched.add(script.sound_unit[s])
                if score == EXACT:
                    exact.add(script.sound_unit[s])
        said = sorted(touched)
        filled = [
            k + 1
            for k, nxt in zip(said, said[1:], strict=False)
            if nxt == k + 2 and {k, nxt} <= exact
        ]
        return sorted(touched | set(filled))

    def _writing(
        self,
        said: list[int],
        said_text: str,
        rec_units: list[Unit],
        owner: list[int],
        region: _Region,
    ) -> str:
        """The script's writing of the said units; text between two of them that follow each
        other is the script's too; where units were skipped, only the punctuation that
        ended the last said one. Recognized runs of two or more units the script lacks (a
        word added in passing) are kept where they were said."""
        script, text = self.script, self.script.text
        inserted = self._inserted(said_text, rec_units, owner, region)
        parts: list[str] = []
        first = script.units[said[0]]
        lead = first.start
        while lead > 0 and text[lead - 1] in _OPENING:
            lead -= 1
        parts.append(text[lead : first.start])
        for n, k in enumerate(said):
            u = script.units[k]
            parts.append(text[u.start : u.end])
            nxt = said[n + 1] if n + 1 < len(said) else None
            gap_end = script.units[nxt].start if nxt is not None else len(text)
            between = text[u.end : gap_end]
            if nxt is not None and nxt == k + 1:
                between = between.replace("\n", script._sep)
            else:
                punct = re.match(r"[^\w\s]*", between.lstrip(" \t"))
                between = punct.group(0) if punct else ""
                if nxt is None and between and between[0] not in _SENTENCE_END:
                    between = ""  # a shortened sentence: its comma is not shown
                if nxt is not None and script.lang != "zh":
                    between += " "
            for after, words in inserted:
                if after == k:
                    between = (between or script._sep) + words + script._sep
            parts.append(between)
        return "".join(parts).rstrip("\n")

    def _inserted(
        self, said_text: str, rec_units: list[Unit], owner: list[int], region: _Region
    ) -> list[tuple[int, str]]:
        """Runs of recognized units with no script unit against them, after which script
        unit they were said."""
        script = self.script
        against: dict[int, int] = {}  # recognized unit -> script unit
        for r, s, _ in region.ops:
            if r is not None and s is not None:
                against.setdefault(owner[r], script.sound_unit[s])
        lo, hi = owner[region.rec[0]], owner[region.rec[1] - 1]
        runs: list[tuple[int, str]] = []
        k = lo
        last_script = None
        while k <= hi:
            if k in against:
                last_script = against[k]
                k += 1
                continue
            start = k
            while k <= hi and k not in against:
                k += 1
            if k - start >= 2 and last_script is not None:
                runs.append((last_script, said_text[rec_units[start].start : rec_units[k - 1].end]))
        return runs

    def _whole(self, passages: list[int], regions: list[_Region]) -> bool:
        """Whether the said units cover each of these passages all but a unit or two."""
        script = self.script
        said: set[int] = set()
        for region in regions:
            said.update(self._said_units(region))
        for p in passages:
            first, last = script.passage_units[p]
            size = last - first
            if first not in said and first + 1 not in said:
                return False
            if last - 1 not in said and last - 2 not in said:
                return False
            if sum(1 for k in range(first, last) if k in said) < size - max(1, size // 10):
                return False
        return True


def _script_span(region: _Region) -> tuple[int, int]:
    said = [j for r, j, _ in region.ops if r is not None and j is not None]
    return min(said), max(said) + 1


def _strong(region: _Region) -> bool:
    """Enough agreement to follow the speaker somewhere else in the script."""
    pairs = [p for r, s, p in region.ops if r is not None]
    matched = sum(1 for r, s, p in region.ops if r is not None and s is not None and p > 0)
    return matched >= FAR_MATCHED and matched >= FAR_AGREEMENT * len(pairs)


def _cut(piece: str, offset: int, cuts: Sequence[tuple[int, int]]) -> str:
    """`piece` (found at `offset` in the caption) without the caption's ranges `cuts`."""
    for start, end in sorted(cuts, reverse=True):
        lo, hi = max(start - offset, 0), min(end - offset, len(piece))
        if lo < hi:
            piece = piece[:lo] + piece[hi:]
    return piece


def _inside(unit: Unit, cuts: Sequence[tuple[int, int]]) -> bool:
    return any(start <= unit.start and unit.end <= end for start, end in cuts)
