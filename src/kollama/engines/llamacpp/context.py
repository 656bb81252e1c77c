"""A llama.cpp context seen as what the scheduler and the scorer need: a batch to fill with
(token, position, sequence, wants logits), one `llama_decode`, logits rows as numpy views, and
the KV cache of each sequence to trim or clear."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kollama.errors import KollamaError


class DecodeContext:
    """A batch buffer on a llama.cpp context (the model's own, or a new one with several sequences)."""

    def __init__(self, llm, ctx, n_batch: int, owns_context: bool, seqs_per_token: int = 1):
        import llama_cpp

        self._lib = llama_cpp
        self._llm = llm
        self.ctx = ctx
        self._owns = owns_context
        self.n_batch = n_batch
        self.n_vocab = llm.n_vocab()
        self._mem = llama_cpp.llama_get_memory(ctx)
        self._batch = llama_cpp.llama_batch_init(n_batch, 0, seqs_per_token)
        self.n = 0  # tokens in the batch being filled

    @classmethod
    def of_model(cls, llm) -> DecodeContext:
        """The loaded model's own context (one sequence, the model's n_ctx)."""
        return cls(llm, llm._ctx.ctx, llm.n_batch, owns_context=False)

    @classmethod
    def with_sequences(cls, llm, n_seq: int, n_ctx_per_seq: int, shared: bool = False) -> DecodeContext:
        """A second context on the same weights: `n_seq` sequences, each with its own KV stream; or,
        `shared`, one KV cache of `n_ctx_per_seq` cells for all of them, where one token may belong to
        several sequences (a context evaluated once for each of its continuations)."""
        import llama_cpp

        from kollama.engines.llamacpp.model import quiet_stderr

        params = llama_cpp.llama_context_params.from_buffer_copy(llm.context_params)  # same threads, types
        params.n_ctx = n_ctx_per_seq if shared else n_ctx_per_seq * n_seq
        params.n_seq_max = n_seq
        params.kv_unified = shared  # else a KV stream per sequence: attention never scans the others' cells
        with quiet_stderr():  # llama.cpp logs the KV cache layout
            ctx = llama_cpp.llama_init_from_model(llm._model.model, params)
        if not ctx:
            raise KollamaError(f"llama.cpp could not make a context for {n_seq} parallel sequences",
                               hint="lower --parallel or --ctx")
        return cls(llm, ctx, params.n_batch, owns_context=True, seqs_per_token=n_seq if shared else 1)

    @property
    def n_ctx_per_seq(self) -> int:
        return self._lib.llama_n_ctx_seq(self.ctx)

    def close(self) -> None:
        if self._batch is None:
            return
        self._lib.llama_batch_free(self._batch)
        self._batch = None
        if self._owns:
            self._lib.llama_free(self.ctx)
        elif self._llm._ctx.ctx is not None:  # the model's own context, unless the model was closed first
            self._lib.llama_memory_clear(self._mem, True)  # let it forget what we put there
            self._llm.reset()

    # --- the batch ---------------------------------------------------------------------------------
    @property
    def room(self) -> int:
        return self.n_batch - self.n

    def add(self, token: int, pos: int, seq: int | Sequence[int], logits: bool) -> int:
        """Put one token in the batch (in one sequence, or several of a shared cache); returns its
        index (where its logits row will be)."""
        b, i = self._batch, self.n
        seqs = (seq,) if isinstance(seq, int) else seq
        b.token[i], b.pos[i], b.n_seq_id[i], b.logits[i] = token, pos, len(seqs), int(logits)
        for k, s in enumerate(seqs):
            b.seq_id[i][k] = s
        self.n += 1
        return i

    def decode(self) -> None:
        """Evaluate the batch and empty it; its logits rows stay readable until the next decode."""
        n, self.n = self.n, 0
        if n == 0:
            return
        self._batch.n_tokens = n
        rc = self._lib.llama_decode(self.ctx, self._batch)
        if rc != 0:
            raise KollamaError(f"llama.cpp could not decode a batch of {n} tokens (llama_decode returned {rc})",
                               hint="lower --parallel, or raise --ctx")

    def logits(self, index: int) -> np.ndarray:
        """The logits row of batch position `index`: a view into llama.cpp's buffer (writable)."""
        return np.ctypeslib.as_array(self._lib.llama_get_logits_ith(self.ctx, index), shape=(self.n_vocab,))

    # --- the KV cache --------------------------------------------------------------------------------
    def forget(self, seq: int, start: int = 0) -> None:
        """Drop sequence `seq`'s cached keys and values from position `start` on."""
        self._lib.llama_memory_seq_rm(self._mem, seq, start, -1)

    def clear(self) -> None:
        self._lib.llama_memory_clear(self._mem, True)

    def copy_prefix(self, src: int, dst: int, n: int) -> None:
        """Give sequence `dst` the first `n` cached positions of sequence `src` (a prompt prefix
        evaluated once for several answers). llama.cpp copies between KV streams only whole, so the
        stream is copied (at the next decode) and `dst` trimmed to `n`."""
        self._lib.llama_memory_seq_rm(self._mem, dst, -1, -1)
        self._lib.llama_memory_seq_cp(self._mem, src, dst, -1, -1)
        self._lib.llama_memory_seq_rm(self._mem, dst, n, -1)

    def set_threads(self, n_threads: int | None) -> None:
        """On a busy machine fewer llama.cpp threads are much faster (they spin-wait); None: the model's own."""
        params = self._llm.context_params
        n, n_batch = (n_threads, n_threads) if n_threads else (params.n_threads, params.n_threads_batch)
        self._lib.llama_set_n_threads(self.ctx, n, n_batch)
