"""The log-likelihood core on llama.cpp: how likely is each continuation after its context?

The numbers are llama-cpp-python's own: a request scores what `Llama(..., logits_all=True)` gives
after `eval(context + continuation)`. That takes care, because llama.cpp's CPU kernels round
differently for different batch shapes. Repacked quantised weights (Q4_K, Q6_K, Q8_0, ... on x86)
multiply a batch's rows in blocks of 16, then blocks of 4, then one at a time, each block kind with
its own activation quantiser and its own summation order, and which kind a row gets depends on its
index in the batch. On Gemma 3 270M Q4_K_M one token moves by up to 0.45 nats with that, and a
15-token sentence by 0.42. So a request is decoded in `eval`'s batches (chunks of n_batch from
position 0, the whole sequence, its last token included) with one freedom that keeps every row's
block kind: a chunk may be cut where a multiple of ROW_GROUP rows of it lie before the cut and at
least MIN_TAIL_ROWS after it (a shorter last batch rounds differently again; measured).

That freedom is what keeps scoring fast: an item's context is decoded once, up to the last such
cut before its end, and each continuation decodes only the few context tokens after that cut and
itself; a prefix shared with the previous request (few-shot examples, one paragraph with several
questions) stays in the cache at the same cuts. Only the positions that predict continuation
tokens ask llama.cpp for logits (a 262k-word vocabulary makes every row 1 MB), and log-softmax
runs in numpy, several rows split across the cores. A request's score is a function of the
request alone, whatever else is in the run or its order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np

from kollama.engines.llamacpp.context import DecodeContext
from kollama.engines.scoring import Request, Result, log_normaliser, log_softmax, log_softmax_at
from kollama.errors import KollamaError

#: most positions whose logits one llama_decode call returns (bounds the logits buffer); a batch
#: with more is cut at multiples of this many rows (a multiple of ROW_GROUP)
MAX_OUTPUTS_PER_DECODE = 64
#: rows that repacked weights multiply as one block: cutting a chunk after a multiple of this many
#: rows leaves every row in the block kind that `eval`'s whole chunk gives it
ROW_GROUP = 16
#: rows a cut leaves at least after it: a batch of 4 to 7 rows rounds its rows unlike the same rows
#: at the end of a longer batch (measured on Gemma 3: up to 0.12 nats on one token); 8 and more do not
MIN_TAIL_ROWS = 8


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

    def _batches(self, base: int, n: int, outputs: range) -> Iterator[tuple[int, int]]:
        """Where to cut tokens [0, n) appended at position `base` into llama_decode calls: at every
        multiple of n_batch (`eval`'s chunks), and, in a chunk with more than MAX_OUTPUTS_PER_DECODE
        logits rows, at multiples of that many positions, never leaving fewer than MIN_TAIL_ROWS rows
        after a cut."""
        step = MAX_OUTPUTS_PER_DECODE
        lo = 0
        while lo < n:
            end = min(n, (base + lo) // self.n_batch * self.n_batch + self.n_batch - base)
            if len(range(max(lo, outputs.start), min(end, outputs.stop))) <= step:
                yield lo, end
            else:
                while lo < end:
                    hi = min(end, (base + lo) // step * step + step - base)
                    if end - hi < MIN_TAIL_ROWS:
                        hi = end
                    yield lo, hi
                    lo = hi
            lo = end

    def _decode_blocks(self, tokens: Sequence[int], outputs: range) -> Iterator[tuple[int, np.ndarray]]:
        """Append `tokens` to sequence 0, the indices in `outputs` asking for logits. After each
        llama_decode that returns some: the index (into `tokens`) of its first logits row and the rows
        (a copy). Which rows ask for logits changes no number (llama.cpp runs the last layer's
        feed-forward on those rows only, and that was measured not to move them)."""
        base = len(self._cached)
        if base % ROW_GROUP:
            raise ValueError("a batch starts after whole row groups")
        context = self._context
        for lo, hi in self._batches(base, len(tokens), outputs):
            for k in range(lo, hi):
                context.add(tokens[k], base + k, 0, k in outputs)
            try:
                context.decode()
            except KollamaError:
                self._reset()
                raise
            self._cached.extend(tokens[lo:hi])
            first, last = max(lo, outputs.start), min(hi, outputs.stop)
            if first < last:
                yield first, np.stack([context.logits(k - lo) for k in range(first, last)])

    def _decode(self, tokens: Sequence[int], outputs: range = range(0)) -> np.ndarray:
        """Append `tokens` to sequence 0; the logits rows of the indices in `outputs`."""
        blocks = [rows for _, rows in self._decode_blocks(tokens, outputs)]
        return np.concatenate(blocks) if blocks else np.empty((0, self.n_vocab), dtype=np.float32)

    # --- public API ------------------------------------------------------------------------------
    def loglikelihood(self, requests: Sequence[Request],
                      progress: Callable[[int], None] | None = None) -> list[Result]:
        """Sum of continuation log-probabilities per request (in the order given): what
        llama-cpp-python's `Llama(logits_all=True)` gives after `eval(context + continuation)`.

        Each distinct context is decoded once up to its last row-group cut (see the module's
        docstring), a shared prefix kept in the cache at such cuts; each continuation then decodes the
        context's last few tokens and itself, in one batch.
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
        return self._loglikelihood_by_context(requests, progress)

    def _loglikelihood_by_context(self, requests: Sequence[Request],
                                  progress: Callable[[int], None] | None = None) -> list[Result]:
        order = sorted(range(len(requests)), key=lambda i: (requests[i].context, requests[i].continuation))
        groups: list[list[int]] = []
        for i in order:
            if groups and requests[groups[-1][0]].context == requests[i].context:
                groups[-1].append(i)
            else:
                groups.append([i])
        results: list[Result | None] = [None] * len(requests)
        self._reset()
        try:
            for group in groups:
                context = requests[group[0]].context
                n = len(context)
                shortest = min(len(requests[i].continuation) for i in group)
                # the cut: whole row groups, before the context's last token (whose row predicts the
                # first continuation token) and MIN_TAIL_ROWS before the shortest request's end
                cut = max(0, min(n - 1, n + shortest - MIN_TAIL_ROWS)) // ROW_GROUP * ROW_GROUP
                keep = min(common_prefix(self._cached, context), cut) // ROW_GROUP * ROW_GROUP
                self._truncate(keep)
                if cut > keep:
                    self._decode(context[keep:cut])
                first = n - 1 - cut  # the row of the context's last token predicts cont[0]
                for i in group:
                    cont = requests[i].continuation
                    self._truncate(cut)
                    tail = context[cut:] + cont  # the last token too: `eval` decodes it in this batch
                    rows = self._decode(tail, range(first, len(tail) - 1))
                    lp, greedy = log_softmax_at(rows, cont)
                    results[i] = Result(float(lp.sum()), len(cont), bool(greedy.all()))
                    if progress:
                        progress(1)
        finally:
            self._reset()
        return results  # type: ignore[return-value]

    def token_logprobs(self, tokens: Sequence[int], window: int | None = None,
                       progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Log-probability of tokens[1:], each given what precedes it (`Llama.eval(tokens)`'s numbers
        when the text fits the context); texts longer than the context are scored with a sliding
        window (each window keeps half of the previous one as context)."""
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
                first = scored - start - 1  # the row in `piece` that predicts the first token to score
                self._truncate(0)
                for k0, rows in self._decode_blocks(piece, range(first, len(piece) - 1)):
                    lp, _ = log_softmax_at(rows, piece[k0 + 1:k0 + 1 + len(rows)])  # row k predicts piece[k + 1]
                    out[start + k0:start + k0 + len(rows)] = lp
                if progress:
                    progress(end - scored)
                scored = end
        finally:
            self._reset()
        return out

    def prompt_logprobs(self, tokens: Sequence[int], top: int = 0) -> list[tuple[float, list[tuple[int, float]]]]:
        """For each of tokens[1:]: its log-probability given what precedes it, and the `top` likeliest
        tokens at that position (OpenAI's echo log-probabilities). Decoded in the same batches as
        `token_logprobs`, so the numbers are `kollama score`'s (and `Llama.eval(tokens)`'s)."""
        if len(tokens) > self.n_ctx:
            raise KollamaError(f"the prompt is {len(tokens)} tokens, the context holds {self.n_ctx}",
                               hint="shorten the prompt or raise --ctx")
        out: list[tuple[float, list[tuple[int, float]]]] = []
        self._reset()
        try:
            for k0, rows in self._decode_blocks(list(tokens), range(len(tokens) - 1)):
                log_z = log_normaliser(rows)
                for k, row, z in zip(range(k0, k0 + len(rows)), rows, log_z):
                    best: list[tuple[int, float]] = []
                    if top:
                        ids = np.argpartition(-row, top)[:top]
                        ids = ids[np.argsort(-row[ids])]
                        best = [(int(i), float(row[i] - z)) for i in ids]
                    out.append((float(row[tokens[k + 1]] - z), best))
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
            out.append(log_softmax(context.logits(indices[-1])))
    finally:
        context.close()
        llm.close()
    return out
