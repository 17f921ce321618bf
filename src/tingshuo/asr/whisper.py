"""Whisper through faster-whisper (CTranslate2 on the CPU)."""

from __future__ import annotations

import logging
import os
import re
import threading
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import ModelError, TingshuoError
from ..settings import Settings
from .base import AUTO_LANGUAGES, Hypothesis, Request
from .homophones import homophone_fixer
from .loops import cut_to, loops, said_twice, too_long
from .text import tidy

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
_FULL_FRAMES = 3000  # Whisper's 30 s window, in 10 ms feature frames
_DRAFT_PAD_FRAMES = 300  # silence after a draft's audio: less makes Whisper loop
_MAX_TOKENS = 224  # half of Whisper's 448: the other half is the prompt
# a decode that looped is decoded again with repeats penalised, and no sequence of this
# many tokens said twice
_LOOP_PENALTY = 1.3
_LOOP_NGRAM = 6

# An initial prompt in punctuated Simplified Chinese makes Whisper punctuate and write
# Simplified characters; without it short utterances often come out unpunctuated Traditional.
_PROMPTS = {"zh": "以下是普通话的句子。"}

# What Whisper writes for silence or noise after training on subtitled video.
_HALLUCINATIONS = re.compile(
    r"(请不吝点赞|订阅.*转发|字幕由|字幕制作|明镜与点点|Amara\.org|优优独播剧场|"
    r"thank(s| you) for watching|subscribe to)",
    re.IGNORECASE,
)


class WhisperRecognizer:
    name = "whisper"
    streaming = False

    def __init__(self, model_dir: Path, settings: Settings) -> None:
        # CTranslate2's OpenMP threads otherwise spin on a busy 2-core machine
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        from faster_whisper import WhisperModel

        if not (model_dir / "model.bin").is_file() or not (model_dir / "tokenizer.json").is_file():
            # without tokenizer.json faster-whisper would try to download one
            raise ModelError(
                f"{model_dir} is not a faster-whisper model folder "
                "(it needs model.bin and tokenizer.json)"
            )
        try:
            self._model = WhisperModel(
                str(model_dir),
                device="cpu",
                compute_type=settings.asr_compute_type,
                cpu_threads=settings.asr_threads,
            )
        except (RuntimeError, ValueError) as e:
            raise ModelError(f"cannot load the Whisper model in {model_dir}: {e}") from e
        self.model_dir = model_dir
        self.languages = frozenset(self._model.supported_languages)
        self.multilingual = self._model.model.is_multilingual
        self._beam = settings.asr_beam_size
        self._draft_beam = settings.asr_partial_beam_size
        self._live_beam = settings.asr_live_beam_size
        self._lm_weight = settings.asr_lm_weight
        self._cache_dir = settings.cache_dir
        self._fix_homophones = settings.asr_fix_homophones
        self._live_pad_frames = round(settings.asr_live_final_pad_s * 100)
        if self._fix_homophones:
            # the dictionary and its pinyin index load while the first utterance is heard
            threading.Thread(target=homophone_fixer, args=(self._cache_dir,), daemon=True).start()

    def check_language(self, lang: str | None) -> None:
        if lang is None:
            if not self.multilingual:
                raise TingshuoError(
                    f"the model in {self.model_dir.name} is English-only: use --lang en"
                )
            return
        if lang not in self.languages:
            raise TingshuoError(
                f"unknown language {lang!r}: use zh, en or auto (or another Whisper language code)"
            )
        if not self.multilingual and lang != "en":
            raise TingshuoError(
                f"the model in {self.model_dir.name} is English-only: use --lang en"
            )

    def detect_language(self, audio: np.ndarray, among: Sequence[str] = AUTO_LANGUAGES) -> str:
        if not self.multilingual:
            return "en"
        _, _, probs = self._model.detect_language(audio)
        scores = dict(probs)
        return max(among, key=lambda code: scores.get(code, 0.0))

    # Previous captions are not passed as a prompt: on short audio Whisper then repeats them.
    def _prompt(self, lang: str) -> str | None:
        return _PROMPTS.get(lang)

    def _keep(self, text: str, lang: str) -> bool:
        text = text.strip()
        return bool(text) and not _HALLUCINATIONS.search(text) and text != _PROMPTS.get(lang)

    def recognize(self, request: Request) -> Hypothesis:
        """A Mandarin final carries its beam's other readings (`Hypothesis.alternatives`),
        for the same cost: a second pass (`asr/second_pass.py`) chooses among them."""
        lang = request.lang or self.detect_language(request.audio)
        speech = request.speech_s
        if speech is None:
            speech = request.audio.size / SAMPLE_RATE
        beam: list[str] = []
        if request.draft:
            text = self._draft(request.audio, lang, request.hotwords)
        else:
            pad = self._live_pad_frames if request.live else 0
            text = self._final_beam(request.audio, lang, request.hotwords, pad, beam, speech)
        # no caption says more than the speech it covers had time for
        text = cut_to(tidy(text, lang, final=not request.draft), lang, speech)
        if lang == "zh" and not request.draft and self._fix_homophones:
            text = homophone_fixer(self._cache_dir).fix(text, request.hotwords)
        readings: list[str] = []
        for written in beam:
            tidied = tidy(written, lang, final=True)
            if too_long(tidied, lang, speech):
                continue
            readings.append(tidied)
            if lang == "zh" and self._fix_homophones:
                readings.append(homophone_fixer(self._cache_dir).fix(tidied, request.hotwords))
        alternatives = tuple(t for t in dict.fromkeys(readings) if t and t != text)
        return Hypothesis(text, lang, alternatives)

    def _final_beam(
        self,
        audio: np.ndarray,
        lang: str,
        hotwords: Sequence[str],
        pad: int = 0,
        hypotheses: list[str] | None = None,
        speech_s: float | None = None,
    ) -> str:
        """A final from one beam decode, its hypotheses kept for a second pass. Mandarin's are
        rescored with a word-frequency model (see lexicon.py): CER 12.2 % → 11.1 % on 349
        AISHELL sentences, for about a millisecond. `pad`: frames of silence after the audio
        on a shortened window, as live finals decode (0: Whisper's 30 s one).
        `hypotheses`: if given, receives the ones it chose among (those kept).
        A decode that loops, or says more than `speech_s` seconds of speech can hold, is
        decoded again with repeats penalised. Nothing is sampled: the same audio always
        gives the same text."""
        from .lexicon import word_model

        tokenizer = self._tokenizer(lang)
        # live Mandarin finals narrow the beam to keep time; English ones decode short enough
        beam = self._live_beam if pad and lang == "zh" else self._beam
        prompt = self._prompt_tokens(tokenizer, lang, hotwords)

        def decode(**options) -> tuple[list[str], object]:
            result = self._generate(
                audio,
                prompt,
                shortened=pad > 0,
                pad_frames=pad,
                silence=True,
                # a beam can run on to the length limit, saying it all again: no one says
                # more than about 10 characters (or 4 words) a second
                max_length=min(_MAX_TOKENS, 24 + 12 * audio.size // SAMPLE_RATE),
                beam_size=beam,
                num_hypotheses=beam,
                return_scores=True,
                **options,
            )
            texts = [
                tokenizer.decode([t for t in ids if t < tokenizer.eot])
                for ids in result.sequences_ids
            ]
            if pad:
                # a shortened window now and then makes Whisper say the utterance twice over
                texts = [said_twice(t) for t in texts]
            return texts, result

        texts, result = decode()
        # faster-whisper's own test for silence: likely no speech, and nothing sure said
        if result.no_speech_prob > 0.6 and result.scores[0] < -1.0:
            return ""
        if _looped(texts[0], lang, speech_s):
            again, result = decode(
                repetition_penalty=_LOOP_PENALTY, no_repeat_ngram_size=_LOOP_NGRAM
            )
            log.info("a decode looped (%r…): decoded again (%r…)", texts[0][:40], again[0][:40])
            texts = again
        if hypotheses is not None:
            hypotheses.extend(t for t in texts if self._keep(t, lang))
        if lang == "zh" and self._lm_weight > 0:
            words = word_model()
            terms = [w.strip() for w in hotwords]
            best = max(
                zip(texts, result.scores, strict=True),
                key=lambda ts: ts[1] + self._lm_weight * words.per_char(ts[0], terms),
            )[0]
        else:
            best = texts[0]
        return best if self._keep(best, lang) else ""

    def _tokenizer(self, lang: str):
        from faster_whisper.tokenizer import Tokenizer

        return Tokenizer(self._model.hf_tokenizer, True, task="transcribe", language=lang)

    def _prompt_tokens(self, tokenizer, lang: str, hotwords: Sequence[str]) -> list[int]:
        """The prompt faster-whisper builds: hot words, then the initial prompt."""
        prompt: list[int] = []
        words = _join_hotwords(hotwords, lang)
        if words:
            prompt += tokenizer.encode(" " + words)
        if self._prompt(lang):
            prompt += tokenizer.encode(" " + self._prompt(lang))
        before = [tokenizer.sot_prev, *prompt] if prompt else []
        return [*before, *tokenizer.sot_sequence, tokenizer.no_timestamps]

    def _window(
        self,
        audio: np.ndarray,
        shortened: bool,
        pad_frames: int = _DRAFT_PAD_FRAMES,
        silence: bool = False,
    ) -> tuple[np.ndarray, int]:
        """Log-mel features padded to Whisper's 30 s window, or (`shortened`) to the audio
        and `pad_frames` of padding; and how many frames hold the audio. `silence`: the
        padding is the features of silent audio (what Whisper saw in training after speech)
        rather than zero features, which on a short window made it say a final twice."""
        n = -(-audio.size // 160)  # frames that hold the audio (10 ms hop)
        if silence and shortened:
            audio = np.concatenate([audio, np.zeros(pad_frames * 160, dtype=np.float32)])
        features = self._model.feature_extractor(audio)
        n = min(n, features.shape[1])
        frames = _FULL_FRAMES
        if shortened:
            frames = min(frames, -(-(n + pad_frames) // 100) * 100)
        padded = np.zeros((features.shape[0], frames), dtype=np.float32)
        have = min(features.shape[1], frames)
        padded[:, :have] = features[:, :have]
        return padded, min(n, frames)

    def _generate(
        self,
        audio: np.ndarray,
        prompt: list[int],
        shortened: bool,
        pad_frames: int = _DRAFT_PAD_FRAMES,
        silence: bool = False,
        **options,
    ):
        """One CTranslate2 decode of the utterance. `max_length` counts the tokens it may write:
        CTranslate2 counts the prompt in its limit, so hot words must not eat into it."""
        import ctranslate2

        padded, _ = self._window(audio, shortened, pad_frames, silence=silence)
        writes = options.pop("max_length", _MAX_TOKENS)
        options["max_length"] = min(len(prompt) + writes, 2 * _MAX_TOKENS)
        return self._model.model.generate(
            ctranslate2.StorageView.from_array(padded[None]),
            [prompt],
            suppress_blank=True,
            suppress_tokens=[-1],
            return_no_speech_prob=True,
            **options,
        )[0]

    def timed_words(self, audio: np.ndarray, lang: str, max_tokens: int) -> tuple[list[dict], str]:
        """A beam decode on the shortened window, with a time for every word (faster-whisper's
        cross-attention alignment; a Mandarin 'word' is about a character): what
        pronunciation assessment aligns syllables with. `max_tokens` caps a decode that
        loops on speech in another language."""
        tokenizer = self._tokenizer(lang)
        padded, frames = self._window(audio, shortened=True)
        encoded = self._model.encode(padded)
        prompt = self._prompt_tokens(tokenizer, lang, ())
        result = self._model.model.generate(
            encoded,
            [prompt],
            beam_size=self._beam,
            max_length=len(prompt) + max_tokens,
            suppress_blank=True,
            suppress_tokens=[-1],
        )[0]
        tokens = [t for t in result.sequences_ids[0] if t < tokenizer.eot]
        if not tokens:
            return [], ""
        words = self._model.find_alignment(tokenizer, [tokens], encoded, frames)[0]
        return words, tokenizer.decode(tokens)

    def _draft(self, audio: np.ndarray, lang: str, hotwords: Sequence[str]) -> str:
        """A quick greedy decode of a partial utterance on a shortened encoder window.

        Whisper always pads to 30 s; the encoder over 30 s costs ~10x one over a few
        seconds. Greedy decoding on the audio plus a few seconds of padding reads almost as
        well (CER 14.8 % vs 14.4 % on 40 AISHELL sentences) and is what a draft needs.
        """
        tokenizer = self._tokenizer(lang)
        result = self._generate(
            audio,
            self._prompt_tokens(tokenizer, lang, hotwords),
            shortened=True,
            beam_size=self._draft_beam,
        )
        if result.no_speech_prob > 0.6:
            return ""
        text = tokenizer.decode([t for t in result.sequences_ids[0] if t < tokenizer.eot])
        # a shortened window occasionally makes Whisper loop: its loop is cut out (tidy) and
        # the draft cut to what the audio can hold (recognize)
        return text if self._keep(text, lang) else ""


def _looped(text: str, lang: str, speech_s: float | None) -> bool:
    """A decode gone round in circles: a phrase repeated, a symbol held, more words than
    the speech had time for, or (Whisper's own test) text that compresses too well."""
    return loops(text) or too_long(text, lang, speech_s) or _compression_ratio(text) > 2.4


def _compression_ratio(text: str) -> float:
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


def _join_hotwords(words: Sequence[str], lang: str) -> str | None:
    words = [w.strip() for w in words if w.strip()]
    if not words:
        return None
    # spaces, not 、: a list punctuated in the prompt makes Whisper punctuate the caption so
    return " ".join(words)
