"""Where a translation that is still being written can be cut, so that its first words are
spoken while the rest is written (an interpreter does not wait for the end of a sentence).

Model-free and deterministic: every server that follows a room's events cuts its lines the
same way. A translation arrives as a growing text (the translator's drafts, a few times a
second) and then complete. `cut` says how many of its tokens can be spoken now; `remainder`
says what the complete translation adds to what was spoken from the drafts (a draft's words
are sometimes changed at the end: numbers put right, a glossary term enforced).

Tokens are words for languages written with spaces and clauses for Chinese and Japanese (a
piece of Chinese is cut only where the translation itself puts a clause mark).
"""

from __future__ import annotations

import difflib
import re

CLAUSE_MARKS = ",;:.!?，；：。！？、"
# a clause shorter than this waits for the next one: tiny pieces sound choppy
MIN_WORDS = 3
MIN_CHARS = 4  # the same for Chinese
# a clause this long without a mark yet: cut before a word that starts a phrase
LONG_WORDS = 6
# a line's first piece is cut sooner: the listener is waiting for the voice to start
FIRST_MIN_WORDS = 2  # a clause
FIRST_LONG_WORDS = 2  # before a phrase
FIRST_ANY_WORDS = 4  # anywhere
PHRASE_STARTERS = frozenset(
    "and but or so which that who whom whose where when while because although though "
    "to in on at for with from by of as after before since if than into about through "
    "during under over between including".split()
)
_CLAUSES = re.compile(rf"[^{CLAUSE_MARKS}]+[{CLAUSE_MARKS}]*|[{CLAUSE_MARKS}]+")
_WORD = re.compile(r"[^\w']+")


def spaced(lang: str) -> bool:
    return lang.split("-")[0] not in {"zh", "ja", "yue"}


def tokens(text: str, lang: str) -> list[str]:
    if spaced(lang):
        return text.split()
    return [t for t in (m.group().strip() for m in _CLAUSES.finditer(text)) if t]


def join(toks: list[str], lang: str) -> str:
    return (" " if spaced(lang) else "").join(toks)


def _key(token: str) -> str:
    return _WORD.sub("", token.lower())


def same_start(toks: list[str], said: list[str]) -> bool:
    """Whether the translation written so far still begins with what was spoken."""
    return len(toks) >= len(said) and all(
        _key(a) == _key(b) for a, b in zip(toks, said, strict=False)
    )


def cut(so_far: str, said: int, lang: str) -> int:
    """How many tokens of `so_far` (a translation still being written) may be spoken, given
    that its first `said` tokens were. The last token may still grow, so it is never cut
    after; a piece ends at a clause mark, or, in a long clause without one, before a word
    that starts a phrase. A line's first piece is cut sooner (its first four words, at
    most), since the listener waits for it."""
    toks = tokens(so_far, lang)
    complete = len(toks) - 1
    first = said == 0
    best = said
    for j in range(said, complete):
        if toks[j][-1] in CLAUSE_MARKS and _long_enough(toks[said : j + 1], lang, first):
            best = j + 1
    if best == said and spaced(lang):
        for j in range(said + (FIRST_LONG_WORDS if first else LONG_WORDS), complete):
            if _key(toks[j]) in PHRASE_STARTERS:
                best = j
        if best == said and first and complete >= FIRST_ANY_WORDS:
            best = complete
    return best


def _long_enough(piece: list[str], lang: str, first: bool) -> bool:
    if spaced(lang):
        return len(piece) >= (FIRST_MIN_WORDS if first else MIN_WORDS)
    return sum(len(t) for t in piece) >= MIN_CHARS


def remainder(final: str, said: list[str], lang: str) -> str:
    """What is left to say of the complete translation `final` once `said` (tokens of its
    drafts) was spoken: where the drafts and the final text agree, the words after them;
    where the final text changed them, the words after the part that matches them best."""
    toks = tokens(final, lang)
    if not said:
        return join(toks, lang)
    if same_start(toks, said):
        return join(toks[len(said) :], lang)
    want = [_key(t) for t in said]
    keys = [_key(t) for t in toks]
    best, where = -1.0, 0
    for i in range(len(keys) + 1):
        ratio = difflib.SequenceMatcher(None, keys[:i], want, autojunk=False).ratio()
        if ratio > best:
            best, where = ratio, i
    return join(toks[where:], lang)
