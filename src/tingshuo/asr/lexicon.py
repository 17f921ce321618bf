"""A word-frequency language model for choosing among Whisper's Mandarin hypotheses.

Whisper base knows Mandarin sounds better than Mandarin words: most of its errors on AISHELL
are homophones (内音 for 内因, 防援 for 房源) while the right word is often among its other
beam hypotheses. jieba's dictionary (about 350,000 words with corpus frequencies, MIT) gives
each hypothesis the log-probability of its best segmentation into known words; the final is
the hypothesis with the best Whisper score plus a weighted share of that, per character.
"""

from __future__ import annotations

import importlib.util
import math
import threading
from collections.abc import Collection, Iterable
from pathlib import Path

from ..errors import ModelError

_MAX_WORD = 8  # longer dictionary entries are rare idioms; they do not change a choice
_HOTWORD_FREQ = 50_000  # as common as a everyday word: a session's terms must not lose


class WordModel:
    def __init__(self, freq: dict[str, int]) -> None:
        self._freq = freq
        self._log_total = math.log(sum(freq.values()))

    @classmethod
    def from_jieba(cls) -> WordModel:
        freq: dict[str, int] = {}
        with jieba_dictionary().open(encoding="utf-8") as f:
            for line in f:
                parts = line.split(" ")
                if len(parts) >= 2 and len(parts[0]) <= _MAX_WORD:
                    freq[parts[0]] = int(parts[1])
        return cls(freq)

    def words(self) -> Iterable[str]:
        return self._freq.keys()

    def known(self, word: str) -> bool:
        return word in self._freq

    def word_logprob(self, word: str, extra: Collection[str] = ()) -> float:
        """Log-probability of one word; unknown words count as seen once, `extra` as common."""
        f = _HOTWORD_FREQ if word in extra else self._freq.get(word, 0)
        return math.log(f or 1) - self._log_total

    def logprob(self, text: str, extra: Iterable[str] = ()) -> float:
        """Log-probability of the best split of `text` (Han characters only) into words."""
        chars = "".join(ch for ch in text if "\u4e00" <= ch <= "\u9fff")
        if not chars:
            return 0.0
        extra_words = {w for w in extra if w}
        n = len(chars)
        best = [0.0] + [-math.inf] * n
        for end in range(1, n + 1):
            for start in range(max(0, end - _MAX_WORD), end):
                word = chars[start:end]
                if end - start > 1 and word not in extra_words and word not in self._freq:
                    continue
                score = best[start] + self.word_logprob(word, extra_words)
                if score > best[end]:
                    best[end] = score
        return best[n]

    def per_char(self, text: str, extra: Iterable[str] = ()) -> float:
        n = sum("\u4e00" <= ch <= "\u9fff" for ch in text)
        return self.logprob(text, extra) / n if n else 0.0


def jieba_dictionary() -> Path:
    """jieba's dict.txt, found without importing jieba (which imports the deprecated
    pkg_resources and warns)."""
    spec = importlib.util.find_spec("jieba")
    if spec is None or spec.origin is None:
        raise ModelError("jieba is not installed: pip install 'jieba==0.42.1'")
    return Path(spec.origin).parent / "dict.txt"


_shared: WordModel | None = None
_lock = threading.Lock()


def word_model() -> WordModel:
    """The dictionary, read once per process (about a second) on the first Mandarin final."""
    global _shared
    with _lock:
        if _shared is None:
            _shared = WordModel.from_jieba()
        return _shared
