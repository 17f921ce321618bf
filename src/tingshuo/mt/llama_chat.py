"""Chat turns on a llama.cpp model, written so that live captions cost only their new tokens.

Reading the prompt costs as much as writing the answer on a CPU, so the evaluated prompt is
kept: each conversation (one per room and direction) only grows, and a caption's call reads
just its own words. Several conversations share one model by swapping their key/value cache
in and out (a few MB each) instead of reading their history again. Tokens are streamed to a
callback as they come, and between tokens the call waits while `yield_to()` says that more
urgent work (recognition) wants the CPU.
"""

from __future__ import annotations

import ctypes
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

# prompt tokens read per step: small enough that recognition never waits long for a step
_PROMPT_STEP = 16
# conversations whose cache is kept aside while another one runs
_MAX_SAVED = 8
# the longest a call waits for recognition before going on anyway (it is at low priority)
_MAX_YIELD_S = 2.0


class Stopped(Exception):
    """The caller asked to abandon the reply (a newer job needs the model)."""


@dataclass
class CallStats:
    """What one call cost: the prompt tokens it had to read, and the tokens it wrote."""

    prompt_tokens: int = 0
    prompt_s: float = 0.0
    generated_tokens: int = 0
    generate_s: float = 0.0
    waited_s: float = 0.0  # time spent yielding to recognition
    first_token_s: float = 0.0  # from the call to its first generated token

    @classmethod
    def total(cls, calls: Sequence[CallStats]) -> CallStats:
        """Several calls (a translation and its repairs) as one; first token of the first."""
        return cls(
            sum(c.prompt_tokens for c in calls),
            sum(c.prompt_s for c in calls),
            sum(c.generated_tokens for c in calls),
            sum(c.generate_s for c in calls),
            sum(c.waited_s for c in calls),
            calls[0].first_token_s if calls else 0.0,
        )


@dataclass
class _Saved:
    tokens: list[int]
    state: Any  # ctypes buffer of one sequence's key/value cache
    size: int


@dataclass
class LlamaChat:
    """Chat completion over a `llama_cpp.Llama`, one conversation's cache at a time."""

    llm: Any
    # the most threads a step may use; fewer while `spare_core()` says the CPU is wanted
    threads: int = 1
    yield_to: Callable[[], bool] = field(default=lambda: False)
    spare_core: Callable[[], bool] = field(default=lambda: True)
    last: CallStats = field(default_factory=CallStats)

    def __post_init__(self) -> None:
        self._saved: OrderedDict[Hashable, _Saved] = OrderedDict()
        self._current: Hashable | None = None
        self._threads_now = self.threads
        special = {self.llm.token_eos()}
        for name in ("<|im_end|>", "<|endoftext|>"):
            ids = self.llm.tokenize(name.encode(), add_bos=False, special=True)
            if len(ids) == 1:
                special.add(ids[0])
        self._stop_ids = special

    # -- the key/value cache of conversations

    def _save_current(self) -> None:
        if self._current is None or self.llm.n_tokens == 0:
            return
        import llama_cpp

        ctx = self.llm._ctx.ctx
        size = llama_cpp.llama_state_seq_get_size(ctx, 0)
        buffer = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_seq_get_data(ctx, buffer, size, 0)
        tokens = [int(t) for t in self.llm.input_ids[: self.llm.n_tokens]]
        self._saved[self._current] = _Saved(tokens, buffer, int(written))
        self._saved.move_to_end(self._current)
        while len(self._saved) > _MAX_SAVED:
            self._saved.popitem(last=False)

    def _switch(self, key: Hashable | None) -> None:
        """Make `key`'s conversation the one in the model's cache."""
        if key == self._current and key is not None:
            return
        self._save_current()
        self._current = key
        saved = self._saved.pop(key, None) if key is not None else None
        if saved is None:
            return  # a new conversation: what it shares with the cache (the instruction) stays
        import llama_cpp

        ctx = self.llm._ctx.ctx
        self.llm._ctx.kv_cache_seq_rm(0, 0, -1)
        if llama_cpp.llama_state_seq_set_data(ctx, saved.state, saved.size, 0) == 0:
            log.warning("a conversation's cache could not be restored; it is read again")
            self.llm.n_tokens = 0
            return
        n = len(saved.tokens)
        self.llm.input_ids[:n] = saved.tokens
        self.llm.n_tokens = n
        self.llm._requires_eval = True

    def forget(self, key: Hashable) -> None:
        """A conversation that has ended (its session stopped)."""
        self._saved.pop(key, None)
        if self._current == key:
            self._current = None

    # -- one call

    def prompt_tokens(self, messages: Sequence[dict[str, str]], reply: bool = True) -> list[int]:
        """ChatML, as Qwen's template writes it; `reply`: open the assistant's turn."""
        text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
        if reply:
            text += "<|im_start|>assistant\n"
        return self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)

    def _wait_for_recognition(self) -> float:
        """Before each step: wait while a final waits for the recognizer, and use a second
        thread only while the recognizer is idle. Returns the seconds waited."""
        waited = 0.0
        if self.yield_to():
            started = time.monotonic()
            while self.yield_to() and time.monotonic() - started < _MAX_YIELD_S:
                time.sleep(0.01)
            waited = time.monotonic() - started
        if self.threads > 1:
            n = self.threads if self.spare_core() else 1
            if n != self._threads_now:
                import llama_cpp

                llama_cpp.llama_set_n_threads(self.llm._ctx.ctx, n, n)
                self._threads_now = n
        return waited

    def prefill(
        self,
        messages: Sequence[dict[str, str]],
        key: Hashable | None = None,
        open_end: bool = False,
    ) -> None:
        """Read the start of a coming call now, while the CPU is free: a conversation's
        instruction before its first caption, or (`open_end`) a caption's words known before
        it is final, its last message left open. The call then reads only what differs."""
        self._switch(key)
        tokens = self.prompt_tokens(messages, reply=False)
        if open_end:
            # without "<|im_end|>\n", and the last word, which may join what follows
            tokens = tokens[:-3]
        if tokens:
            self._read(tokens, CallStats(), whole=True)
        if key is None:
            self._current = None

    def _read(
        self,
        tokens: list[int],
        stats: CallStats,
        abandon: Callable[[], bool] | None = None,
        whole: bool = False,
    ) -> None:
        """Read the part of the prompt not already in the cache, in small steps, yielding to
        recognition between; all but its last token unless `whole` (generate reads that one,
        for the logits)."""
        llm = self.llm
        end = len(tokens) if whole else len(tokens) - 1
        same = 0
        for a, b in zip(llm.input_ids[: llm.n_tokens], tokens, strict=False):
            if a != b:
                break
            same += 1
        same = min(same, end)
        llm._ctx.kv_cache_seq_rm(0, same, -1)
        llm.n_tokens = same
        for i in range(same, end, _PROMPT_STEP):
            stats.waited_s += self._wait_for_recognition()
            if abandon is not None and abandon():
                raise Stopped
            llm.eval(tokens[i : min(i + _PROMPT_STEP, end)])
        stats.prompt_tokens = len(tokens) - same

    def chat(
        self,
        messages: Sequence[dict[str, str]],
        max_tokens: int,
        key: Hashable | None = None,
        on_text: Callable[[str], None] | None = None,
        stop: Sequence[str] = ("\n\n",),
        abandon: Callable[[], bool] | None = None,
    ) -> str:
        """The assistant's reply to `messages`, greedy. `key` names the conversation these
        messages continue (None: a one-off call, kept apart from every conversation)."""
        stats = CallStats()
        called = time.monotonic()
        self._switch(key)
        tokens = self.prompt_tokens(messages)
        llm = self.llm
        if len(tokens) + max_tokens > llm.n_ctx():
            raise ValueError(f"{len(tokens)} prompt tokens do not fit in {llm.n_ctx()}")
        started = time.monotonic()
        self._read(tokens, stats, abandon)
        out = bytearray()
        text = ""
        generated = 0
        for token in llm.generate(tokens, temp=0.0, top_k=1, top_p=1.0, min_p=0.0):
            if generated == 0:
                stats.first_token_s = time.monotonic() - called
                stats.prompt_s = time.monotonic() - started - stats.waited_s
                started = time.monotonic()
            if token in self._stop_ids:
                break
            generated += 1
            out += llm.detokenize([token])
            text = out.decode("utf-8", errors="ignore")
            cut = min((text.find(s) for s in stop if s in text), default=-1)
            if cut >= 0:
                text = text[:cut]
                break
            if on_text is not None:
                on_text(text)
            if generated >= max_tokens:
                break
            waited = self._wait_for_recognition()
            stats.waited_s += waited
            started += waited
            if abandon is not None and abandon():
                raise Stopped
        stats.generated_tokens = generated
        stats.generate_s = time.monotonic() - started
        self.last = stats
        if key is None:
            self._current = None  # the cache holds a one-off call now
        return text
