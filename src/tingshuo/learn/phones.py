"""Initial and final of a short reading, judged by scoring the expected syllable against its
neighbours through the recognizer, rather than by free recognition.

Whisper rarely writes a lone 0.3-second syllable, and when it does, its language model
chooses among homophones. Here the reading is encoded once and Whisper's decoder takes one
step per syllable of the prompt (the prompt's own characters before it as the prefix),
which gives the probability of every token that could come next. The tokens that are one
Chinese character (about 900 simplified ones in Whisper's vocabulary, covering about 340 of the 426
toneless syllables)
are summed per syllable they can be read as (pypinyin, every reading), so a syllable's
score is the probability that the next character is read so, in any tone. Each score is
divided by `PRIOR_WEIGHT` times the same probability on silence (Whisper's own liking for
一, 的, 是 is taken out). Then the initial passes unless a syllable with the same final and
another initial scores `MARGIN` nats higher than the expected one (妈 mā against 八 bā, 发 fā,
他 tā …), and the final likewise against the same initial with another final (妈 against 摸 mō,
猫 māo, 们 mén …). A syllable with no one-token character is not judged (None).

On native isolated syllables this passes about 85-90 % of initials and finals and flags
about 70 % of prompts that change one of them: Whisper base, which is what ships, hears
single syllables only so well (`python -m benchmarks.assess_tones` measures it).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import numpy as np
from pypinyin import Style, pinyin

from .sandhi import Syllable, split_syllable, valid_syllables

log = logging.getLogger(__name__)

MARGIN = 2.5  # nats a neighbour must beat the expected syllable by to fail it
PRIOR_WEIGHT = 0.5  # how much of the silence prior is taken out
_PAD_FRAMES = 100  # encoder window: the audio and 1 s of padding
_LOCK = threading.Lock()


@dataclass(frozen=True)
class PhoneVerdict:
    initial_ok: bool | None
    final_ok: bool | None
    heard: str | None  # toneless pinyin reported as heard (the failing neighbour, else own)
    heard_char: str | None  # its likeliest character
    margin: float  # expected minus best neighbour (nats, after the prior)


@dataclass(frozen=True)
class _Vocabulary:
    syllables: list[str]
    index: dict[str, int]
    rows: np.ndarray  # token ids ...
    cols: np.ndarray  # ... and the syllable each can be read as
    best_char: dict[str, list[tuple[int, str]]]  # syllable -> (token, character)
    by_final: dict[str, list[str]]
    by_initial: dict[str, list[str]]


_VOCABULARIES: dict[int, _Vocabulary] = {}


def _vocabulary(tokenizer) -> _Vocabulary:
    """One-token Chinese characters of the recognizer's vocabulary, by syllable."""
    from .align import _t2s

    t2s = _t2s()
    valid = set(valid_syllables())
    token_syllables: dict[int, set[str]] = {}
    chars: dict[str, list[tuple[int, str]]] = {}
    for cp in range(0x4E00, 0x9FA6):
        ch = chr(cp)
        ids = tokenizer.encode(ch)
        if len(ids) != 1 or t2s.convert(ch) != ch:  # one token, simplified only
            continue
        readings = pinyin(ch, style=Style.NORMAL, heteronym=True)[0]
        found = {r.replace("ü", "v") for r in readings} & valid
        if found:
            token_syllables.setdefault(ids[0], set()).update(found)
            for p in found:
                chars.setdefault(p, []).append((ids[0], ch))
    syllables = sorted(chars)
    index = {p: i for i, p in enumerate(syllables)}
    pairs = [(t, index[p]) for t, ps in token_syllables.items() for p in ps]
    by_final: dict[str, list[str]] = {}
    by_initial: dict[str, list[str]] = {}
    for p in syllables:
        i, f = split_syllable(p)
        by_final.setdefault(f, []).append(p)
        by_initial.setdefault(i, []).append(p)
    return _Vocabulary(
        syllables,
        index,
        np.array([t for t, _ in pairs]),
        np.array([c for _, c in pairs]),
        chars,
        by_final,
        by_initial,
    )


def neighbours(syl: Syllable, vocab: _Vocabulary | None = None) -> tuple[list[str], list[str]]:
    """Syllables with the same final and another initial; same initial, another final."""
    if vocab is None:
        by_final: dict[str, list[str]] = {}
        by_initial: dict[str, list[str]] = {}
        for p in sorted(valid_syllables()):
            i, f = split_syllable(p)
            by_final.setdefault(f, []).append(p)
            by_initial.setdefault(i, []).append(p)
    else:
        by_final, by_initial = vocab.by_final, vocab.by_initial
    same_final = [p for p in by_final.get(syl.final, []) if p != syl.pinyin]
    same_initial = [p for p in by_initial.get(syl.initial, []) if p != syl.pinyin]
    return same_final, same_initial


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    m = float(logits.max())
    return logits - m - np.log(np.exp(logits - m).sum())


def _next_token(recognizer, encoded, prompt: list[int], eot: int) -> np.ndarray:
    """Log probabilities of the next text token after `prompt` (special tokens left out)."""
    result = recognizer._model.model.generate(
        encoded,
        [prompt],
        beam_size=1,
        max_length=len(prompt) + 1,
        return_logits_vocab=True,
        suppress_blank=False,
    )[0]
    logits = np.asarray(result.logits[0], dtype=np.float64).reshape(-1)[:eot]
    return _log_softmax(logits)


def _syllable_scores(vocab: _Vocabulary, logp: np.ndarray) -> np.ndarray:
    out = np.full(len(vocab.syllables), -np.inf)
    np.logaddexp.at(out, vocab.cols, logp[vocab.rows])
    return out


_PRIORS: dict[int, np.ndarray] = {}


def _prior(recognizer, vocab: _Vocabulary, prompt: list[int], eot: int) -> np.ndarray:
    """Syllable scores on one second of silence: what Whisper writes with nothing to hear."""
    key = id(recognizer)
    if key not in _PRIORS:
        features, _ = recognizer._window(np.zeros(16_000, np.float32), True, _PAD_FRAMES)
        encoded = recognizer._model.encode(features)
        _PRIORS[key] = _syllable_scores(vocab, _next_token(recognizer, encoded, prompt, eot))
    return _PRIORS[key]


def vocabulary(recognizer) -> _Vocabulary:
    """The recognizer's one-token characters by syllable (built once, about 0.5 s)."""
    key = id(recognizer._model)
    with _LOCK:
        if key not in _VOCABULARIES:
            _VOCABULARIES[key] = _vocabulary(recognizer._tokenizer("zh"))
        return _VOCABULARIES[key]


def judge(recognizer, audio: np.ndarray, expected: list[Syllable]) -> list[PhoneVerdict | None]:
    """Initial and final of each expected syllable of a short reading (see the module doc)."""
    tokenizer = recognizer._tokenizer("zh")
    vocab = vocabulary(recognizer)
    start = [*tokenizer.sot_sequence, tokenizer.no_timestamps]
    eot = tokenizer.eot
    with _LOCK:
        prior = _prior(recognizer, vocab, start, eot)
    features, _ = recognizer._window(audio, shortened=True, pad_frames=_PAD_FRAMES)
    encoded = recognizer._model.encode(features)
    written = [s.text if _is_han(s.text) else _likeliest_char(vocab, s.pinyin) for s in expected]
    out: list[PhoneVerdict | None] = []
    for i, syl in enumerate(expected):
        if syl.pinyin not in vocab.index:
            out.append(None)
            continue
        prefix = tokenizer.encode("".join(written[:i])) if i else []
        logp = _next_token(recognizer, encoded, start + prefix, eot)
        scores = _syllable_scores(vocab, logp) - PRIOR_WEIGHT * prior
        same_final, same_initial = neighbours(syl, vocab)
        own = float(scores[vocab.index[syl.pinyin]])
        by_i = max(same_final, key=lambda p: scores[vocab.index[p]], default=None)
        by_f = max(same_initial, key=lambda p: scores[vocab.index[p]], default=None)
        best_i = float(scores[vocab.index[by_i]]) if by_i else -np.inf
        best_f = float(scores[vocab.index[by_f]]) if by_f else -np.inf
        initial_ok = own >= best_i - MARGIN
        final_ok = own >= best_f - MARGIN
        if initial_ok and final_ok:
            heard = syl.pinyin
        elif not initial_ok and (final_ok or best_i >= best_f):
            heard = by_i
        else:
            heard = by_f
        char = max(vocab.best_char[heard], key=lambda tc: logp[tc[0]])[1] if heard else None
        out.append(PhoneVerdict(initial_ok, final_ok, heard, char, own - max(best_i, best_f)))
    return out


def _likeliest_char(vocab: _Vocabulary, pinyin: str) -> str:
    """A character for a syllable typed in pinyin (for the next syllables' prefix)."""
    chars = vocab.best_char.get(pinyin)
    return chars[0][1] if chars else ""


def _is_han(text: str) -> bool:
    return len(text) == 1 and "\u3400" <= text <= "\u9fff"
