"""Fallback voice for any language espeak-ng knows, from espeakng-loader (its own data).

Robotic but tiny and instant; word events give per-word timings. Called through ctypes with
the synchronous output mode: audio and events arrive in a callback during espeak_Synth.
"""

from __future__ import annotations

import ctypes
import threading

import numpy as np

from ..errors import ModelError, TingshuoError
from .base import Phone, Speech, Unit

_REQ = "espeakng-loader==0.2.4"
_SYNCHRONOUS = 2
_CHARS_UTF8 = 1
_EVENT_WORD = 1
_EVENT_END = 5
_EVENT_MSG_TERMINATED = 6


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_char * 8),
    ]


_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)
_lib = None
_lib_lock = threading.Lock()  # espeak-ng is one global engine per process


def _library():
    global _lib
    if _lib is None:
        try:
            import espeakng_loader
        except ImportError as e:
            raise ModelError(f"the fallback voice needs espeak-ng: pip install {_REQ}") from e
        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        rate = lib.espeak_Initialize(_SYNCHRONOUS, 500, espeakng_loader.get_data_path().encode(), 0)
        if rate <= 0:
            raise ModelError(f"espeak-ng failed to start: reinstall {_REQ}")
        lib.sample_rate = rate
        _lib = lib
    return _lib


class EspeakVoice:
    timings = "word"

    def __init__(self, lang: str) -> None:
        self.lib = _library()
        self.lang = lang
        self.name = f"espeak-ng:{lang}"
        self.languages = frozenset({lang})
        self.sample_rate = self.lib.sample_rate
        with _lib_lock:
            if self.lib.espeak_SetVoiceByName(lang.encode()) != 0:
                raise TingshuoError(f"espeak-ng has no voice for language {lang!r}")

    def synthesize(self, sentence: str) -> Speech:
        if not sentence.strip():
            raise TingshuoError("nothing to say: the line is empty")
        samples: list[np.ndarray] = []
        words: list[tuple[int, int, float]] = []  # text position, length, start seconds

        def collect(wav, count, events) -> int:
            if count > 0:
                samples.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
            i = 0
            while events[i].type != 0:
                event = events[i]
                if event.type == _EVENT_WORD:
                    words.append((event.text_position, event.length, event.audio_position / 1e3))
                i += 1
            return 0

        callback = _CALLBACK(collect)  # kept alive for the call
        data = sentence.encode("utf-8")
        with _lib_lock:
            self.lib.espeak_SetVoiceByName(self.lang.encode())
            self.lib.espeak_SetSynthCallback(callback)
            self.lib.espeak_Synth(
                ctypes.c_char_p(data), len(data) + 1, 0, 1, 0, _CHARS_UTF8, None, None
            )
        if not samples:
            raise TingshuoError(f"espeak-ng said nothing for {sentence!r}")
        audio = np.concatenate(samples).astype(np.float32) / 32768.0
        duration = audio.size / self.sample_rate
        raw = data
        units: list[Unit] = []
        for k, (position, length, start) in enumerate(words):
            end = words[k + 1][2] if k + 1 < len(words) else duration
            # positions count characters from 1
            text = sentence[position - 1 : position - 1 + length] if position > 0 else ""
            text = text or raw.decode("utf-8", "replace")
            units.append(Unit(text, start, max(end, start), (Phone(text, start, max(end, start)),)))
        return Speech(sentence, self.lang, self.name, self.sample_rate, audio, units)
