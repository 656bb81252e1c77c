"""The log-likelihood core on llama.cpp: how likely is each continuation after its context?

Only the positions that predict continuation tokens ask llama.cpp for logits (a 262k-word
vocabulary makes every logits row 1 MB), the context of an item is evaluated once and its KV
cache reused for each of its continuations, and requests are sorted so that a prefix shared
with the previous request (few-shot examples, one paragraph with several questions) stays in
the cache. Log-softmax runs in numpy, several rows split across the cores, and a context's last
row is normalised once however many choices follow it.

Reuse never changes a number: llama.cpp's CPU kernels round differently for different batch
shapes (on Gemma 3 270M Q4_K_M the same token's log-probability moves by up to 0.5 nats between
a 1-token and an 8-token batch), so a context is always decoded in chunks aligned to absolute
positions (multiples of n_batch) and a shared prefix is reused only at those boundaries. An
item's score is then a function of the item alone, whatever else is in the run or its order.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from kollama.engines.llamacpp.context import DecodeContext
from kollama.errors import KollamaError

#: most positions whose logits one llama_decode call returns (bounds the logits buffer)
MAX_OUTPUTS_PER_DECODE = 64


@dataclass(frozen=True)
class Request:
    """Score `continuation` after `context` (token ids; the context already holds any BOS)."""

    context: tuple[int, ...]
    continuation: tuple[int, ...]


@dataclass(frozen=True)
class Result:
    logprob: float
    n_tokens: int
    is_greedy: bool


def _normalise_rows(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    peak_at = logits.argmax(axis=-1)
    peak = np.take_along_axis(logits, peak_at[..., None], axis=-1)
    shifted = np.subtract(logits, peak)
    np.exp(shifted, out=shifted)  # float32 exp and pairwise sum: 262k terms stay exact to ~1e-7
    return np.log(shifted.sum(axis=-1).astype(np.float64)) + peak[..., 0].astype(np.float64), peak_at


@lru_cache(maxsize=1)
def _row_workers() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="kollama-logsoftmax")


def row_statistics(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """log sum exp of each row of a 2-D array (float64) and each row's argmax. Several rows are split
    across the cores (numpy releases the GIL): it runs between decodes, while llama.cpp's threads wait."""
    workers = os.cpu_count() or 1
    if logits.ndim != 2 or len(logits) < 2 * workers:
        return _normalise_rows(logits)
    parts = list(_row_workers().map(_normalise_rows, np.array_split(logits, workers)))
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def log_normaliser(logits: np.ndarray) -> np.ndarray:
    """log sum exp of each row (the last axis), in float64: subtract it from a logit to get a log-probability."""
    return row_statistics(logits)[0]


def log_softmax_at(logits: np.ndarray, targets: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Log-probability of `targets[i]` under row i of `logits`, and whether it is the row's argmax."""
    log_z, peak_at = row_statistics(logits)
    idx = np.arange(len(targets))
    target_arr = np.asarray(targets)
    return logits[idx, target_arr].astype(np.float64) - log_z, peak_at == target_arr


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class LlamaCppScorer:
    """Scores token sequences with a loaded LlamaCppEngine, through llama.cpp's batch API on the
    model's own context (generation runs on the scheduler's context, so both can be used at once)."""

    def __init__(self, engine, n_threads: int | None = None):
        self.engine = engine
        self.n_ctx = engine.n_ctx
        self._context = DecodeContext.of_model(engine.llm)
        self.n_vocab = self._context.n_vocab
        self.n_batch = self._context.n_batch
        self._cached: list[int] = []  # tokens whose keys/values sit in sequence 0
        self._threads = n_threads
        if n_threads:
            self._context.set_threads(n_threads)

    def close(self) -> None:
        if self._context is not None:
            self._context.set_threads(None)  # give the engine its own thread count back
            self._context.close()
            self._context = None

    def __del__(self):  # the batch buffers are C memory
        try:
            self.close()
        except Exception:
            pass

    # --- the KV cache as a stack of tokens -----------------------------------------------------
    def _reset(self) -> None:
        self._context.clear()
        self._cached = []

    def _truncate(self, n: int) -> None:
        if n < len(self._cached):
            self._context.forget(0, n)
            del self._cached[n:]

    def _decode(self, tokens: Sequence[int], want_logits: Callable[[int], bool]) -> np.ndarray:
        """Append `tokens` to sequence 0; return the logits rows of the positions `want_logits` picks."""
        rows: list[np.ndarray] = []
        context = self._context
        start = 0
        while start < len(tokens):
            end = min(start + self.n_batch, len(tokens))
            outputs = [i for i in range(start, end) if want_logits(i)]
            if len(outputs) > MAX_OUTPUTS_PER_DECODE:
                end = outputs[MAX_OUTPUTS_PER_DECODE - 1] + 1
                outputs = outputs[:MAX_OUTPUTS_PER_DECODE]
            base = len(self._cached)
            index = {i: context.add(tokens[i], base + (i - start), 0, want_logits(i)) for i in range(start, end)}
            try:
                context.decode()
            except KollamaError:
                self._reset()
                raise
            self._cached.extend(tokens[start:end])
            rows.extend(context.logits(index[i]).copy() for i in outputs)
            start = end
        return np.stack(rows) if rows else np.empty((0, self.n_vocab), dtype=np.float32)

    # --- public API ------------------------------------------------------------------------------
    def loglikelihood(self, requests: Sequence[Request],
                      progress: Callable[[int], None] | None = None) -> list[Result]:
        """Sum of continuation log-probabilities per request (in the order given).

        Each distinct context is evaluated once (in chunks aligned to n_batch, a shared prefix kept
        in the cache) and each continuation after it: a request's score is a function of the request
        alone, exactly. (Several items in one decode would need several sequences in one KV cache; in
        this llama.cpp that moved SmolLM2's scores by up to 0.4 nats, whose kernels are otherwise
        exact, and a cache per sequence splits such a batch into small ones: no faster.)
        """
        for r in requests:
            if not r.context:
                raise ValueError("a request needs at least one context token (BOS for an empty context)")
            if not r.continuation:
                raise KollamaError("a continuation is empty (it has no tokens to score)",
                                   hint="check the task's choices and target delimiter")
            if len(r.context) + len(r.continuation) > self.n_ctx:
                raise KollamaError(
                    f"a request is {len(r.context) + len(r.continuation)} tokens, the context holds {self.n_ctx}",
                    hint="raise --ctx, shorten the text, or use `kollama score --perplexity` (sliding window)")
        return self._loglikelihood_in_chunks(requests, progress)

    def _loglikelihood_in_chunks(self, requests: Sequence[Request],
                                 progress: Callable[[int], None] | None = None) -> list[Result]:
        """Each context decoded in chunks aligned to n_batch (a shared prefix kept in the model's own
        context), then each continuation."""
        order = sorted(range(len(requests)), key=lambda i: (requests[i].context, requests[i].continuation))
        results: list[Result | None] = [None] * len(requests)
        self._reset()
        last_row: np.ndarray | None = None
        current_context: tuple[int, ...] | None = None
        try:
            for i in order:
                req = requests[i]
                if req.context != current_context:
                    chunk = self.n_batch
                    keep = min(common_prefix(self._cached, req.context), len(req.context) - 1)
                    keep = keep // chunk * chunk  # reuse whole aligned chunks only
                    self._truncate(keep)
                    tail = req.context[keep:]
                    last_row = self._decode(tail, lambda k, n=len(tail): k == n - 1)[0]
                    z, peak = row_statistics(last_row[None, :])  # once per context, not per choice
                    last_z, last_peak = float(z[0]), int(peak[0])
                    current_context = req.context
                else:
                    self._truncate(len(req.context))
                assert last_row is not None
                cont = req.continuation
                # logits after the context predict cont[0]; after cont[k] they predict cont[k+1]
                logprob, greedy = float(last_row[cont[0]]) - last_z, last_peak == cont[0]
                if len(cont) > 1:
                    lp, rows_greedy = log_softmax_at(self._decode(cont[:-1], lambda k: True), cont[1:])
                    logprob, greedy = logprob + float(lp.sum()), greedy and bool(rows_greedy.all())
                results[i] = Result(logprob, len(cont), bool(greedy))
                if progress:
                    progress(1)
        finally:
            self._reset()
        return results  # type: ignore[return-value]

    def token_logprobs(self, tokens: Sequence[int], window: int | None = None,
                       progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Log-probability of tokens[1:], each given what precedes it; texts longer than the
        context are scored with a sliding window (each window keeps half of the previous one as context)."""
        window = min(window or self.n_ctx, self.n_ctx)
        if window < 2:
            raise KollamaError("the scoring window must hold at least 2 tokens")
        out = np.empty(max(len(tokens) - 1, 0), dtype=np.float64)
        scored = 1  # tokens[0] is the first context token (BOS when the model has one)
        self._reset()
        try:
            while scored < len(tokens):
                start = 0 if scored == 1 else max(0, scored - window // 2)
                end = min(len(tokens), start + window)
                piece = tokens[start:end]
                first_target = scored - start  # index in `piece` of the first token to score
                self._truncate(0)
                logits = self._decode(piece[:-1], lambda k, f=first_target: k >= f - 1)
                lp, _ = log_softmax_at(logits, piece[first_target:])
                out[scored - 1:end - 1] = lp
                if progress:
                    progress(end - scored)
                scored = end
        finally:
            self._reset()
        return out

    def prompt_logprobs(self, tokens: Sequence[int], top: int = 0) -> list[tuple[float, list[tuple[int, float]]]]:
        """For each of tokens[1:]: its log-probability given what precedes it, and the `top` likeliest
        tokens at that position (OpenAI's echo log-probabilities). Decoded in the same batches as
        `token_logprobs`, so the numbers are `kollama score`'s."""
        if len(tokens) > self.n_ctx:
            raise KollamaError(f"the prompt is {len(tokens)} tokens, the context holds {self.n_ctx}",
                               hint="shorten the prompt or raise --ctx")
        out: list[tuple[float, list[tuple[int, float]]]] = []
        context = list(tokens[:-1])
        self._reset()
        try:
            for start in range(0, len(context), MAX_OUTPUTS_PER_DECODE):
                rows = self._decode(context[start:start + MAX_OUTPUTS_PER_DECODE], lambda k: True)
                log_z = log_normaliser(rows)
                targets = tokens[start + 1:start + 1 + len(rows)]
                for row, z, target in zip(rows, log_z, targets):
                    best: list[tuple[int, float]] = []
                    if top:
                        ids = np.argpartition(-row, top)[:top]
                        ids = ids[np.argsort(-row[ids])]
                        best = [(int(i), float(row[i] - z)) for i in ids]
                    out.append((float(row[target] - z), best))
        finally:
            self._reset()
        return out

def next_token_logprobs(path: str, sequences: Sequence[Sequence[int]]) -> list[np.ndarray]:
    """Log-probabilities over the whole vocabulary after each token sequence, from a GGUF file
    (how `kollama tune` checks an exported model against the one it trained)."""
    from kollama.engines.llamacpp.model import load_llama

    llm = load_llama(str(path), n_ctx=max(len(s) for s in sequences) + 8)
    context = DecodeContext.of_model(llm)
    out = []
    try:
        for seq in sequences:
            context.clear()
            for start in range(0, len(seq), context.n_batch):
                chunk = seq[start:start + context.n_batch]
                indices = [context.add(t, start + i, 0, start + i == len(seq) - 1) for i, t in enumerate(chunk)]
                context.decode()
            row = context.logits(indices[-1]).astype(np.float64)
            out.append(row - log_normaliser(row))
    finally:
        context.close()
        llm.close()
    return out
