"""Homophone repair for Mandarin finals, the way a pinyin input method chooses characters.

Whisper base hears Mandarin syllables well and picks the wrong characters for them: 落石 for
落实, 楼是 for 楼市, 拖管人 for 托管人. Even after the beam is rescored (lexicon.py) the right word
is often in no hypothesis. So the final is read back as pinyin (in context, as the recognizer
wrote it), and any 2–4 character stretch may be replaced by a dictionary word that sounds the
same: the repaired text is the best split into words under jieba's word frequencies, where
each changed character costs `CHANGE_COST` nats and each changed tone `TONE_COST` more. Hot
words are candidates too, so a name the recognizer spelled by sound comes out right.

The costs were chosen on the first 200 AISHELL sentences (CER 9.3 → 7.6 %) and held on the
other 200 (12.6 → 11.0 %). The pinyin index of the dictionary takes seconds to build and is
kept in the cache folder.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
from collections.abc import Iterable, Sequence
from importlib.metadata import version
from pathlib import Path

from pypinyin import Style, lazy_pinyin

from .lexicon import WordModel, word_model

log = logging.getLogger(__name__)

CHANGE_COST = 1.0  # nats per character replaced
TONE_COST = 4.0  # nats per syllable whose tone differs from what was heard
_SPAN = (2, 4)  # lengths of dictionary words that may replace what was written
_MAX_HOTWORD = 8
_VERSION = 2  # of the index format; bump when _index changes

Key = tuple[str, ...]


def _syllables(text: str) -> list[str]:
    """Toned pinyin, one syllable per character, chosen in context (TONE3: zhong1; neutral 5)."""
    return lazy_pinyin(
        text, style=Style.TONE3, neutral_tone_with_five=True, errors=lambda s: ["?"] * len(s)
    )


@functools.lru_cache(maxsize=4096)
def _hot_key(word: str) -> Key:
    return tuple(_syllables(word))


def _toneless(key: Sequence[str]) -> Key:
    return tuple(s.rstrip("12345") for s in key)


def _is_han(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff"


def _index(words: WordModel) -> dict[str, str]:
    """Toneless pinyin ("luo shi") → its 2–4 character dictionary words with their tones
    ("落实:luo4 shi2|落石:luo4 shi2"): strings, not tuples, so it takes 60 MB instead of 290."""
    index: dict[str, list[str]] = {}
    for word in words.words():
        if _SPAN[0] <= len(word) <= _SPAN[1] and all(map(_is_han, word)):
            key = _syllables(word)
            index.setdefault(" ".join(_toneless(key)), []).append(f"{word}:{' '.join(key)}")
    return {sound: "|".join(entries) for sound, entries in index.items()}


def _same_sound(entry: str) -> list[tuple[str, Key]]:
    pairs = (item.split(":") for item in entry.split("|")) if entry else ()
    return [(word, tuple(key.split(" "))) for word, key in pairs]


def _tone_misses(key: Key, heard: Sequence[str]) -> int:
    """Syllables whose tone differs; a word's neutral tone (5) matches any tone heard."""
    return sum(a != b and not a.endswith("5") for a, b in zip(key, heard, strict=True))


class HomophoneFixer:
    def __init__(self, words: WordModel, index: dict[str, str]) -> None:
        self._words = words
        self._index = index

    def fix(self, text: str, hotwords: Iterable[str] = ()) -> str:
        """`text` with each run of Han characters repaired; everything else as it was."""
        terms = {w.strip() for w in hotwords}
        hot = {
            w: _hot_key(w) for w in terms if 2 <= len(w) <= _MAX_HOTWORD and all(map(_is_han, w))
        }
        out: list[str] = []
        run: list[str] = []
        for ch in text:
            if _is_han(ch):
                run.append(ch)
                continue
            if run:
                out.append(self._fix_run("".join(run), hot))
                run = []
            out.append(ch)
        if run:
            out.append(self._fix_run("".join(run), hot))
        return "".join(out)

    def alternatives(
        self, text: str, hotwords: Iterable[str] = (), limit: int = 12, max_tone_misses: int = 1
    ) -> list[str]:
        """Same-sounding readings of `text`, each with one stretch of 2–4 Han characters (or a
        hot word's length) replaced by a dictionary word or hot word of the same sound: the
        likeliest `limit` by the same score as `fix` (word frequency less the cost of each
        changed character and tone), best first. Candidates for a second pass to judge in
        context; `text` itself is not among them."""
        terms = {w.strip() for w in hotwords}
        hot = {
            w: _hot_key(w) for w in terms if 2 <= len(w) <= _MAX_HOTWORD and all(map(_is_han, w))
        }
        heard = _syllables(text)
        if len(heard) != len(text):  # one syllable per character, or no alternatives
            return []
        found: dict[str, float] = {}
        for start in range(len(text)):
            for end in range(start + _SPAN[0], min(len(text), start + _MAX_HOTWORD) + 1):
                written = text[start:end]
                if not all(map(_is_han, written)):
                    break
                sound = _toneless(heard[start:end])
                sounds = [(w, k) for w, k in hot.items() if _toneless(k) == sound]
                if end - start <= _SPAN[1]:
                    sounds += _same_sound(self._index.get(" ".join(sound), ""))
                if not sounds:
                    continue
                before = self._words.logprob(written, terms)
                for word, key in sounds:
                    misses = _tone_misses(key, heard[start:end])
                    if word == written or misses > max_tone_misses:
                        continue
                    changed = sum(a != b for a, b in zip(word, written, strict=True))
                    cost = CHANGE_COST * changed + TONE_COST * misses
                    gain = self._words.word_logprob(word, terms) - cost - before
                    reading = text[:start] + word + text[end:]
                    if gain > found.get(reading, -math.inf):
                        found[reading] = gain
        return sorted(found, key=found.__getitem__, reverse=True)[:limit]

    def _fix_run(self, chars: str, hot: dict[str, Key]) -> str:
        heard = _syllables(chars)
        n = len(chars)
        best = [0.0] + [-math.inf] * n
        back: list[tuple[int, str]] = [(0, "")] * (n + 1)
        for end in range(1, n + 1):
            for start in range(max(0, end - _MAX_HOTWORD), end):
                written = chars[start:end]
                for word, score in self._candidates(written, heard[start:end], hot):
                    if best[start] + score > best[end]:
                        best[end] = best[start] + score
                        back[end] = (start, word)
        pieces = []
        end = n
        while end > 0:
            start, word = back[end]
            pieces.append(word)
            end = start
        return "".join(reversed(pieces))

    def _candidates(
        self, written: str, heard: Sequence[str], hot: dict[str, Key]
    ) -> Iterable[tuple[str, float]]:
        terms = hot.keys()
        if len(written) == 1 or written in hot or self._words.known(written):
            yield written, self._words.word_logprob(written, terms)
        sound = _toneless(heard)
        sounds = [(w, k) for w, k in hot.items() if _toneless(k) == sound]
        if _SPAN[0] <= len(written) <= _SPAN[1]:
            sounds += _same_sound(self._index.get(" ".join(sound), ""))
        for word, key in sounds:
            if word == written:
                continue
            changed = sum(a != b for a, b in zip(word, written, strict=True))
            cost = CHANGE_COST * changed + TONE_COST * _tone_misses(key, heard)
            yield word, self._words.word_logprob(word, terms) - cost


_shared: HomophoneFixer | None = None
_lock = threading.Lock()


def homophone_fixer(cache_dir: Path) -> HomophoneFixer:
    """The fixer, read once per process from the cache folder (built there the first time)."""
    global _shared
    with _lock:
        if _shared is None:
            _shared = HomophoneFixer(word_model(), _load_index(cache_dir))
        return _shared


def index_path(cache_dir: Path) -> Path:
    """Where the pinyin index of the dictionary is kept (built on first use)."""
    versions = f"jieba{version('jieba')}-pypinyin{version('pypinyin')}"
    return cache_dir / "lexicon" / f"homophones-v{_VERSION}-{versions}.tsv"


def _load_index(cache_dir: Path) -> dict[str, str]:
    path = index_path(cache_dir)
    try:
        with path.open(encoding="utf-8") as f:
            return dict(line.rstrip("\n").split("\t", 1) for line in f)
    except FileNotFoundError:
        pass
    except (OSError, ValueError) as e:
        log.warning("rebuilding the homophone index: %s is unreadable (%s)", path, e)
    log.info("building the homophone index of the word dictionary (once, about 15 s)")
    index = _index(word_model())
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        with partial.open("w", encoding="utf-8") as f:
            f.writelines(f"{sound}\t{entry}\n" for sound, entry in index.items())
        partial.replace(path)
    except OSError as e:  # a read-only or full cache still gets a working fixer
        log.warning("cannot keep the homophone index in %s: %s", path.parent, e)
    return index
