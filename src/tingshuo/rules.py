"""Correction rules, `wrong => right`: what an operator taught the captions once, applied
to every partial, final and the text that goes to the translator.

A list is applied in one pass, longest match first, so the result never depends on the
order rules were written in. A list must be idempotent (a caption already corrected stays as
it is): a rule whose result another rule would change again, or two rules that undo each
other, are refused with one line that says which. A rule whose right side contains its wrong
side (北京 => 北京市) leaves text that already reads the right side alone.
"""

from __future__ import annotations

import difflib
import logging
import re
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol

from .errors import TingshuoError

log = logging.getLogger(__name__)

MAX_RULES = 500
MAX_SIDE = 100
ARROW = "=>"


class RuleError(TingshuoError):
    """A rule list that cannot be used: one line saying which rule and why."""

    status = 422


@dataclass(frozen=True)
class Rule:
    wrong: str
    right: str

    def __str__(self) -> str:
        return f"{self.wrong} {ARROW} {self.right}"


def _word_like(text: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9 .'\-]*", text))


def parse_line(line: str) -> Rule | None:
    """One line of a rule list; None for a blank line or a `#` comment."""
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    if ARROW not in text:
        raise RuleError(f"“{text}” is not a rule: write it as 'wrong => right'")
    wrong, right = (side.strip() for side in text.split(ARROW, 1))
    if ARROW in right:
        raise RuleError(f"“{text}” has more than one '=>': one rule per line")
    return check_rule(wrong, right)


def check_rule(wrong: str, right: str) -> Rule:
    wrong, right = wrong.strip(), right.strip()
    shown = f"{wrong} {ARROW} {right}".strip()
    if not wrong:
        raise RuleError(f"“{shown}” has nothing on the left: say which words are wrong")
    if not right:
        raise RuleError(f"“{shown}” has nothing on the right: say what to write instead")
    if wrong == right:
        raise RuleError(f"“{shown}” changes nothing: its two sides are the same")
    if len(wrong) > MAX_SIDE or len(right) > MAX_SIDE:
        raise RuleError(f"“{shown[:40]}…” is too long: each side at most {MAX_SIDE} characters")
    if "\n" in wrong or "\n" in right:
        raise RuleError(f"“{shown}” spans lines: one rule per line")
    return Rule(wrong, right)


class Rules:
    """An ordered, checked list of rules (see the module doc)."""

    def __init__(self, rules: Iterable[Rule] = ()) -> None:
        self.rules: tuple[Rule, ...] = tuple(rules)
        if len(self.rules) > MAX_RULES:
            raise RuleError(f"{len(self.rules)} rules is too many: at most {MAX_RULES}")
        seen: dict[str, Rule] = {}
        for rule in self.rules:
            other = seen.get(rule.wrong)
            if other is not None and other.right != rule.right:
                raise RuleError(f"“{other}” and “{rule}” say two things for “{rule.wrong}”")
            seen[rule.wrong] = rule
        self.rules = tuple(seen.values())
        self._by_wrong = seen
        self._check_loops()

    @classmethod
    def parse(cls, text: str) -> Rules:
        """A list as people write it: 'wrong => right', one per line, `#` for comments."""
        return cls(r for r in map(parse_line, text.splitlines()) if r is not None)

    @classmethod
    def of(cls, pairs: Iterable[Sequence[str]]) -> Rules:
        return cls(check_rule(wrong, right) for wrong, right in pairs)

    def pairs(self) -> list[tuple[str, str]]:
        return [(r.wrong, r.right) for r in self.rules]

    def text(self) -> str:
        return "".join(f"{r}\n" for r in self.rules)

    def __bool__(self) -> bool:
        return bool(self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    def __add__(self, other: Rules) -> Rules:
        """`other`'s rules win where both have the same wrong side (a room's over the
        server's)."""
        mine = [r for r in self.rules if r.wrong not in other._by_wrong]
        return Rules([*mine, *other.rules])

    @property
    def hotwords(self) -> list[str]:
        """What the rules write: terms the recognizer should favour."""
        return list(dict.fromkeys(r.right for r in self.rules))

    @cached_property
    def _pattern(self) -> re.Pattern[str] | None:
        if not self.rules:
            return None
        parts = []
        for rule in sorted(self.rules, key=lambda r: -len(r.wrong)):
            part = re.escape(rule.wrong)
            if _word_like(rule.wrong):  # 'AI' is not the 'ai' in 'said'
                part = rf"(?<![A-Za-z0-9]){part}(?![A-Za-z0-9])"
            parts.append(part)
        return re.compile("|".join(parts))

    def apply(self, text: str) -> str:
        pattern = self._pattern
        if pattern is None or not text:
            return text
        out = []
        end = 0
        for match in pattern.finditer(text):
            rule = self._by_wrong[match.group()]
            if self._reads_right(text, match.start(), rule):
                continue
            out.append(text[end : match.start()])
            out.append(rule.right)
            end = match.end()
        if not out:
            return text
        out.append(text[end:])
        return "".join(out)

    @staticmethod
    def _reads_right(text: str, at: int, rule: Rule) -> bool:
        """The text around this match already reads the rule's right side (北京市 for
        北京 => 北京市)."""
        offset = rule.right.find(rule.wrong)
        while offset >= 0:
            start = at - offset
            if start >= 0 and text.startswith(rule.right, start):
                return True
            offset = rule.right.find(rule.wrong, offset + 1)
        return False

    def _check_loops(self) -> None:
        for rule in self.rules:
            after = self.apply(rule.right)
            if after == rule.right:
                continue
            culprit = next((r for r in self.rules if r is not rule and r.wrong in rule.right), None)
            if culprit is not None and culprit.right == rule.wrong:
                raise RuleError(f"“{rule}” and “{culprit}” would undo each other: keep one")
            if culprit is not None:
                raise RuleError(
                    f"“{rule}” would be changed again by “{culprit}”: write “{rule.wrong} "
                    f"{ARROW} {Rules([culprit]).apply(rule.right)}” instead"
                )
            raise RuleError(f"“{rule}” would change its own result again: {after}")


NO_RULES = Rules()


def suggest_rule(before: str, after: str) -> Rule | None:
    """An operator's correction that replaced one word or phrase: the rule that would make
    it by itself ('always replace X with Y'), or None when it did more than that. A single
    Chinese character is widened by a neighbour, so that the rule does not fire everywhere."""
    if not before or not after or before == after:
        return None
    ops = [op for op in difflib.SequenceMatcher(None, before, after, autojunk=False).get_opcodes()
           if op[0] != "equal"]  # fmt: skip
    if len(ops) != 1:
        return None
    _, i1, i2, j1, j2 = ops[0]

    def latin(c: str) -> bool:
        return c.isascii() and c.isalnum()

    edges = before[i1 - 1 : i1] + before[i2 : i2 + 1]
    words = any(latin(c) or c == " " for c in before[i1:i2] + after[j1:j2]) and any(
        map(latin, edges)
    )
    if not words and not (
        ops[0][0] == "replace"
        and any(c.isalnum() for c in before[i1:i2])
        and any(c.isalnum() for c in after[j1:j2])
    ):
        return None  # punctuation, or words added or dropped: not a rule to apply everywhere
    if words:
        # a change that touches a Latin word takes the whole word ("Open AI" => "OpenAI")
        while i1 > 0 and j1 > 0 and latin(before[i1 - 1]):
            i1, j1 = i1 - 1, j1 - 1
        while i2 < len(before) and j2 < len(after) and latin(before[i2]):
            i2, j2 = i2 + 1, j2 + 1
    while i2 - i1 < 2 and (i1 > 0 or i2 < len(before)):
        if i2 < len(before) and before[i2].isalnum():
            i2, j2 = i2 + 1, j2 + 1
        elif i1 > 0 and before[i1 - 1].isalnum():
            i1, j1 = i1 - 1, j1 - 1
        else:
            break
    wrong, right = before[i1:i2].strip(), after[j1:j2].strip()
    try:
        return check_rule(wrong, right)
    except RuleError:
        return None


class RuleSource(Protocol):
    def server_rules(self) -> list[tuple[str, str]]: ...

    def get_room(self, room_id: str) -> Any: ...


class RuleBook:
    """The rules in force, per room (the server's, then the room's over them), read from the
    store and kept for `ttl` seconds, so that a change made through any process reaches a
    live room within that time. The same Rules object comes back while nothing changed."""

    def __init__(self, store: RuleSource, ttl: float = 2.0) -> None:
        self.store = store
        self.ttl = ttl
        self._lock = threading.Lock()
        self._kept: dict[str | None, tuple[float, tuple, Rules]] = {}

    def invalidate(self) -> None:
        with self._lock:
            self._kept = {key: (0.0, pairs, rules) for key, (_, pairs, rules) in self._kept.items()}

    def for_room(self, room_id: str | None) -> Rules:
        with self._lock:
            kept = self._kept.get(room_id)
        if kept is not None and time.monotonic() - kept[0] < self.ttl:
            return kept[2]
        try:
            pairs = tuple(self.store.server_rules())
            if room_id is not None:
                room = self.store.get_room(room_id)
                pairs += tuple(room.rules if room is not None else ())
        except TingshuoError as e:  # the database is away: the rules known last stay
            log.warning("correction rules not read: %s", e)
            return kept[2] if kept is not None else NO_RULES
        if kept is not None and kept[1] == pairs:
            rules = kept[2]
        else:
            rules = combined(pairs, room_id)
        with self._lock:
            self._kept[room_id] = (time.monotonic(), pairs, rules)
        return rules


def combined(pairs: Sequence[Sequence[str]], room_id: str | None = None) -> Rules:
    """Server rules then room rules as one list (a room's rule wins over the server's for the
    same words). A stored list that no longer checks (edited behind tingshuo's back) is used
    without the rules that break it, with a warning."""
    rules = NO_RULES
    for wrong, right in pairs:
        try:
            rules = rules + Rules.of([(wrong, right)])
        except RuleError as e:
            log.warning("room %s: correction rule %s => %s left out: %s", room_id, wrong, right, e)
    return rules
