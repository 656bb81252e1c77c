"""Choosing one request's next token from a logits row, and turning its tokens into text.

Per step, in this order (one place for each rule):

    logits row --lock_state.apply(row)--> forbidden tokens at -inf (the language lock)
              --> log-probabilities (after the lock, before temperature), when asked
              --> llama.cpp's sampler chain: [grammar] -> penalties -> top-k -> top-p -> min-p
                  -> temperature -> seeded draw (greedy at temperature 0), built like llama-cpp-python's
              --> lock_state.feed(token)

The lock hook is duck-typed: anything with `apply(logits_row: np.ndarray) -> None` (set banned
entries to -inf in place) and `feed(token_id: int) -> None` (follow the generated text) can steer
decoding. `GenerationParams.grammar` (GBNF text) adds llama.cpp's grammar sampler at the head of
the chain, so structured outputs and tool calls constrain the same single decode path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from kollama.engines.base import GenerationParams
from kollama.engines.scoring import log_normaliser
from kollama.errors import KollamaError

MIN_P = 0.05  # llama-cpp-python's default for create_completion
PENALTY_LAST_N = 64  # llama-cpp-python's last_n_tokens_size
MAX_TOP_LOGPROBS = 20
UNSEEDED = 0xFFFFFFFF  # llama.cpp's LLAMA_DEFAULT_SEED: a random seed


class LockHook(Protocol):
    """What the sampler asks of a lock (kollama.korean.lock.LockState implements it)."""

    def apply(self, logits_row: np.ndarray) -> None: ...

    def feed(self, token_id: int) -> None: ...


@dataclass
class Sampled:
    token: int
    logprob: float | None = None  # None unless log-probabilities were asked for
    top: list[tuple[int, float]] = field(default_factory=list)


def json_schema_grammar(schema_json: str) -> str:
    """A GBNF grammar (for `GenerationParams.grammar`) that only JSON matching the schema can follow;
    raises ValueError (and friends) for what the converter cannot express."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    return json_schema_to_gbnf(schema_json)


class Sampler:
    """One request's sampling state: the lock, llama.cpp's chain (with its penalty history and RNG)."""

    def __init__(self, tokenizer, params: GenerationParams, lock: LockHook | None = None,
                 top_logprobs: int | None = None):
        import llama_cpp

        self._lib = llama_cpp
        self.lock = lock
        self.top_logprobs = None if top_logprobs is None else min(max(top_logprobs, 0), MAX_TOP_LOGPROBS)
        self.chain = self._chain(tokenizer, params)

    def _chain(self, tokenizer, p: GenerationParams):
        lib = self._lib
        chain = lib.llama_sampler_chain_init(lib.llama_sampler_chain_default_params())
        add = lambda s: lib.llama_sampler_chain_add(chain, s)  # noqa: E731
        if p.grammar:
            grammar = lib.llama_sampler_init_grammar(tokenizer._vocab, p.grammar.encode("utf-8"), b"root")
            if not grammar:
                lib.llama_sampler_free(chain)
                raise KollamaError("llama.cpp could not parse the grammar", hint="give a GBNF grammar with a 'root' rule")
            add(grammar)
        add(lib.llama_sampler_init_penalties(tokenizer.n_vocab, PENALTY_LAST_N, p.repeat_penalty, 0.0, 0.0))
        if p.temperature <= 0:
            add(lib.llama_sampler_init_greedy())
        else:
            add(lib.llama_sampler_init_top_k(p.top_k))
            add(lib.llama_sampler_init_top_p(p.top_p, 1))
            add(lib.llama_sampler_init_min_p(MIN_P, 1))
            add(lib.llama_sampler_init_temp(p.temperature))
            add(lib.llama_sampler_init_dist(p.seed if p.seed is not None else UNSEEDED))
        return chain

    def sample(self, context, index: int) -> Sampled:
        """The next token from row `index` of the last decode of `context` (a DecodeContext)."""
        row = context.logits(index)
        if self.lock is not None:
            self.lock.apply(row)
        if self.top_logprobs is not None:
            log_z = float(log_normaliser(row))
        token = self._lib.llama_sampler_sample(self.chain, context.ctx, index)
        sampled = Sampled(token)
        if self.top_logprobs is not None:
            sampled.logprob = float(row[token]) - log_z
            if self.top_logprobs:
                best = np.argpartition(-row, self.top_logprobs)[: self.top_logprobs]
                best = best[np.argsort(-row[best])]
                sampled.top = [(int(t), float(row[t]) - log_z) for t in best]
        return sampled

    def feed(self, token: int) -> None:
        """The token was kept (not end-of-generation): the lock follows the text."""
        if self.lock is not None:
            self.lock.feed(token)

    def close(self) -> None:
        if self.chain is not None:
            self._lib.llama_sampler_free(self.chain)
            self.chain = None


class TextAssembler:
    """Token bytes -> text pieces: holds back unfinished UTF-8 characters and anything that may be
    the start of a stop string, and cuts the text where a stop string appears."""

    def __init__(self, stops: list[str]):
        self.stops = [s for s in stops if s]
        self._bytes = b""
        self._held = ""
        self.stopped = False

    def feed(self, data: bytes) -> str:
        self._bytes += data
        text = self._decode_complete()
        return self._release(text)

    def flush(self) -> str:
        # a character cut off by max_tokens is dropped, not shown as U+FFFD
        text = self._bytes.decode("utf-8", errors="ignore") if not self.stopped else ""
        self._bytes = b""
        out = "" if self.stopped else self._held + text
        self._held = ""
        return out

    def _decode_complete(self) -> str:
        data = self._bytes
        cut = len(data)
        for back in range(1, min(4, len(data)) + 1):  # an unfinished character at the end waits
            byte = data[-back]
            if byte & 0xC0 == 0x80:
                continue
            need = 2 if byte >> 5 == 0b110 else 3 if byte >> 4 == 0b1110 else 4 if byte >> 3 == 0b11110 else 1
            if need > back:
                cut = len(data) - back
            break
        self._bytes = data[cut:]
        return data[:cut].decode("utf-8", errors="replace")

    def _release(self, text: str) -> str:
        held = self._held + text
        if not self.stops:
            self._held = ""
            return held
        hits = [i for i in (held.find(s) for s in self.stops) if i >= 0]
        if hits:
            self.stopped = True
            self._held = ""
            return held[: min(hits)]
        keep = 0
        for stop in self.stops:
            for k in range(min(len(stop) - 1, len(held)), keep, -1):
                if held.endswith(stop[:k]):
                    keep = k
                    break
        self._held = held[len(held) - keep:] if keep else ""
        return held[: len(held) - keep]
