"""Continuous batching on llama.cpp: many answers decoded together, one token each per step.

On a CPU one decode step of 16 sequences costs little more than a step of one (the weights are
read once for all of them), so a server answering 16 clients at once should not answer them one
after another. A `BatchScheduler` owns a second llama.cpp context with one KV stream per
sequence slot and one long-lived thread that runs the loop:

    admit waiting requests into free slots -> one llama_decode with the next token of every
    active sequence (and prompt chunks of new ones) -> per sequence: lock mask, sample, hand the
    token to its reader -> free the slots that finished

Each slot keeps the keys and values of its last request when it finishes, and a new request takes
the free slot whose cached tokens share the longest prefix with its prompt (the system prompt and
chat template, the earlier turns of a conversation, a repeated question): only the rest of the
prompt is evaluated. On a CPU, prompt evaluation costs as much per token as batched decoding, so
this is where most of a chat server's time goes.

Sampling is llama.cpp's own sampler chain, built like llama-cpp-python's (penalties, top-k,
top-p, min-p, temperature, seeded draw; greedy at temperature 0). The language lock writes -inf
into the logits row before sampling, as the single-sequence engine's logits processor does.

Rounding in llama.cpp's CPU kernels depends on the batch shape, so with other requests in the
same step, or a prompt prefix evaluated by an earlier request, a greedy answer can differ from the
single-sequence engine's at near-ties; the lock's guarantee does not depend on it.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field

import numpy as np

from kollama.engines.base import GenerationParams, Messages, StreamStats, TokenLogprob, TokenPiece
from kollama.engines.llama_cpp import LlamaCppEngine
from kollama.errors import KollamaError
from kollama.evaluate.loglikelihood import common_prefix, log_normaliser
from kollama.korean.language_lock import LockMasks, LockMode, LockState, request_texts
from kollama.models.reference import ModelRef

MIN_P = 0.05  # llama-cpp-python's default for create_completion
PENALTY_LAST_N = 64  # llama-cpp-python's last_n_tokens_size
MAX_TOP_LOGPROBS = 20


@dataclass
class _Job:
    """One request: what to decode, and where its tokens go."""

    prompt: list[int]
    params: GenerationParams
    max_tokens: int
    masks: LockMasks | None
    top_logprobs: int | None  # None: no log-probabilities; 0: the chosen token's only
    context: tuple[str, str] = ("", "")  # (prompt, system): words `strict` lets the answer repeat
    events: queue.SimpleQueue = field(default_factory=queue.SimpleQueue)
    cancelled: threading.Event = field(default_factory=threading.Event)


@dataclass
class _Slot:
    seq: int
    job: _Job
    sampler: object
    lock: LockState | None
    fed: int = 0  # prompt tokens already in the KV cache
    last: int | None = None  # sampled token not yet fed back
    generated: int = 0

    @property
    def position(self) -> int:
        return self.fed + self.generated - (1 if self.last is not None else 0)


class BatchScheduler:
    """A second llama.cpp context on the engine's model, decoding up to `n_parallel` sequences at once."""

    def __init__(self, llm, n_parallel: int, n_ctx_per_seq: int):
        import llama_cpp

        self._lib = llama_cpp
        self.n_parallel = n_parallel
        self.n_vocab = llm.n_vocab()
        self._vocab = llm._model.vocab
        params = llama_cpp.llama_context_params.from_buffer_copy(llm.context_params)  # same threads, types
        params.n_ctx = n_ctx_per_seq * n_parallel
        params.n_seq_max = n_parallel
        params.kv_unified = False  # a KV stream per sequence: attention never scans the others' cells
        self.n_batch = params.n_batch
        self._ctx = llama_cpp.llama_init_from_model(llm._model.model, params)
        if not self._ctx:
            raise KollamaError(f"llama.cpp could not make a context for {n_parallel} parallel sequences",
                               hint="lower --parallel or --ctx")
        self.n_ctx_per_seq = llama_cpp.llama_n_ctx_seq(self._ctx)
        self._mem = llama_cpp.llama_get_memory(self._ctx)
        self._batch = llama_cpp.llama_batch_init(self.n_batch, 0, 1)
        self._waiting: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._slots: dict[int, _Slot] = {}
        self._cached: list[list[int]] = [[] for _ in range(n_parallel)]  # tokens in each sequence's KV
        self.reused_tokens = 0  # prompt tokens not evaluated thanks to a cached prefix
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name="batch-decoder", daemon=True)
        self._thread.start()

    # --- called from request threads ----------------------------------------------------------
    @property
    def active(self) -> int:
        """Sequences being decoded now."""
        return len(self._slots)

    def submit(self, job: _Job) -> _Job:
        if self._stopping:
            raise KollamaError("the model is being unloaded", hint="send the request again")
        self._waiting.put(job)
        return job

    def close(self) -> None:
        if self._stopping:
            return
        self._stopping = True
        self._waiting.put(None)
        self._thread.join()
        self._lib.llama_batch_free(self._batch)
        self._lib.llama_free(self._ctx)

    # --- the decoding thread ----------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stopping:
            if not self._admit():
                break
            if not self._slots:
                continue
            try:
                self._step()
            except Exception as exc:  # never leave a reader waiting forever
                for slot in list(self._slots.values()):
                    self._finish(slot, error=exc)
        gone = KollamaError("the model was unloaded", hint="send the request again")
        for slot in list(self._slots.values()):
            self._finish(slot, error=gone)
        while True:  # requests still waiting for a slot get the same answer
            try:
                job = self._waiting.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                job.events.put(("error", gone))

    def _admit(self) -> bool:
        """Move waiting jobs into free slots; block while there is nothing to do. False: stop."""
        while len(self._slots) < self.n_parallel:
            try:
                job = self._waiting.get(block=not self._slots)
            except queue.Empty:
                return True
            if job is None:
                return False
            if job.cancelled.is_set():
                job.events.put(("end", "stop"))
                continue
            seq, keep = self._best_slot(job.prompt)
            self._lib.llama_memory_seq_rm(self._mem, seq, keep, -1)
            del self._cached[seq][keep:]
            self.reused_tokens += keep
            self._slots[seq] = _Slot(seq, job, self._sampler(job.params),
                                     LockState(job.masks, job.params.lock, prompt=job.context[0],
                                               system=job.context[1]) if job.masks is not None else None,
                                     fed=keep)
        return True

    def _best_slot(self, prompt: list[int]) -> tuple[int, int]:
        """The free sequence whose cached tokens share the longest prefix with `prompt`, and how many
        of them to keep (never the whole prompt: its last token must be evaluated for the logits)."""
        free = [i for i in range(self.n_parallel) if i not in self._slots]
        shared = {i: min(common_prefix(self._cached[i], prompt), len(prompt) - 1) for i in free}
        seq = max(free, key=lambda i: (shared[i], -len(self._cached[i])))
        return seq, shared[seq]

    def _sampler(self, p: GenerationParams):
        lib = self._lib
        chain = lib.llama_sampler_chain_init(lib.llama_sampler_chain_default_params())
        add = lambda s: lib.llama_sampler_chain_add(chain, s)  # noqa: E731
        add(lib.llama_sampler_init_penalties(self.n_vocab, PENALTY_LAST_N, p.repeat_penalty, 0.0, 0.0))
        if p.temperature <= 0:
            add(lib.llama_sampler_init_greedy())
        else:
            add(lib.llama_sampler_init_top_k(p.top_k))
            add(lib.llama_sampler_init_top_p(p.top_p, 1))
            add(lib.llama_sampler_init_min_p(MIN_P, 1))
            add(lib.llama_sampler_init_temp(p.temperature))
            add(lib.llama_sampler_init_dist(p.seed if p.seed is not None else 0xFFFFFFFF))
        return chain

    def _step(self) -> None:
        b = self._batch
        n = 0
        outputs: list[tuple[_Slot, int]] = []

        def put(token: int, pos: int, seq: int, logits: bool) -> None:
            nonlocal n
            b.token[n], b.pos[n], b.n_seq_id[n], b.logits[n] = token, pos, 1, int(logits)
            b.seq_id[n][0] = seq
            n += 1

        for slot in list(self._slots.values()):
            if slot.job.cancelled.is_set():
                self._finish(slot, reason="stop")
            elif slot.last is not None:  # decoding: its next token
                outputs.append((slot, n))
                put(slot.last, slot.position, slot.seq, True)
                self._cached[slot.seq].append(slot.last)
                slot.last = None
        for slot in self._slots.values():  # prefill new prompts with what room is left
            prompt = slot.job.prompt
            take = min(self.n_batch - n, len(prompt) - slot.fed)
            if slot.generated or take <= 0:
                continue
            for i in range(slot.fed, slot.fed + take):
                last = i == len(prompt) - 1
                if last:
                    outputs.append((slot, n))
                put(prompt[i], i, slot.seq, last)
            self._cached[slot.seq].extend(prompt[slot.fed:slot.fed + take])
            slot.fed += take
        if n == 0:
            return
        b.n_tokens = n
        rc = self._lib.llama_decode(self._ctx, b)
        if rc != 0:
            raise KollamaError(f"llama.cpp could not decode a batch of {n} tokens (llama_decode returned {rc})",
                               hint="lower --parallel or --ctx")
        for slot, index in outputs:
            self._sample(slot, index)

    def _sample(self, slot: _Slot, index: int) -> None:
        lib, job = self._lib, slot.job
        row = np.ctypeslib.as_array(lib.llama_get_logits_ith(self._ctx, index), shape=(self.n_vocab,))
        if slot.lock is not None:
            slot.lock.apply(row)
        logprob = None
        if job.top_logprobs is not None:
            log_z = float(log_normaliser(row))
        token = lib.llama_sampler_sample(slot.sampler, self._ctx, index)
        if job.top_logprobs is not None:
            top: list[tuple[int, float]] = []
            if job.top_logprobs:
                best = np.argpartition(-row, job.top_logprobs)[: job.top_logprobs]
                best = best[np.argsort(-row[best])]
                top = [(int(t), float(row[t]) - log_z) for t in best]
            logprob = (float(row[token]) - log_z, top)
        if lib.llama_vocab_is_eog(self._vocab, token):
            self._finish(slot, reason="stop")
            return
        if slot.lock is not None:
            slot.lock.feed(token)
        slot.generated += 1
        job.events.put(("token", token, logprob))
        if slot.generated >= job.max_tokens or slot.fed + slot.generated >= self.n_ctx_per_seq:
            self._finish(slot, reason="length")
        else:
            slot.last = token

    def _finish(self, slot: _Slot, reason: str = "stop", error: Exception | None = None) -> None:
        """Free the slot; its keys and values stay for the next prompt with the same beginning."""
        self._slots.pop(slot.seq, None)
        if error is not None:  # after a failed decode the cache may not hold what we think
            self._lib.llama_memory_seq_rm(self._mem, slot.seq, -1, -1)
            self._cached[slot.seq] = []
        self._lib.llama_sampler_free(slot.sampler)
        slot.job.events.put(("error", error) if error is not None else ("end", reason))


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


class BatchedLlamaCppEngine(LlamaCppEngine):
    """The llama.cpp engine for servers: concurrent requests share decode steps."""

    concurrent = True
    supports_logprobs = True

    def __init__(self, ref: ModelRef, n_ctx: int | None = None, n_threads: int | None = None, parallel: int = 4):
        super().__init__(ref, n_ctx=n_ctx, n_threads=n_threads)
        self.parallel = max(1, parallel)
        self._scheduler: BatchScheduler | None = None
        self._setup = threading.Lock()

    def close(self) -> None:
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            scheduler.close()
        super().close()

    def lock_masks(self, lang: str) -> LockMasks:
        with self._setup:  # readers on several threads: build the masks once
            return super().lock_masks(lang)

    @property
    def scheduler(self) -> BatchScheduler:
        with self._setup:
            if self._scheduler is None:
                if self.llm is None:
                    raise KollamaError("the model was unloaded", hint="send the request again")
                self.vocabulary  # noqa: B018  (token bytes for the readers, built once here)
                self._scheduler = BatchScheduler(self.llm, self.parallel, self.n_ctx)
            return self._scheduler

    def _stream(self, request: str | Messages, params: GenerationParams) -> Generator[str, None, StreamStats]:
        tokens, stops = self._prompt_tokens(request)
        masks = self.lock_masks(params.lang) if params.lock != LockMode.off else None
        top = params.top_logprobs
        job = _Job(tokens, params, min(params.max_tokens, self.n_ctx - len(tokens)), masks,
                   None if top is None else min(max(top, 0), MAX_TOP_LOGPROBS), request_texts(request))
        self.scheduler.submit(job)
        text = TextAssembler(list(params.stop) + stops)
        pieces = self.vocabulary.pieces
        generated, finish, pending = 0, "stop", []
        try:
            for kind, *payload in _events(job):
                if kind == "error":
                    raise payload[0]
                if kind == "end":
                    finish = payload[0]
                    break
                token, logprob = payload
                generated += 1
                if logprob is not None:
                    pending.append(self._token_logprob(token, *logprob))
                piece = text.feed(pieces[token])
                if piece or (text.stopped and pending):
                    yield TokenPiece(piece, pending) if pending else piece
                    pending = []
                if text.stopped:
                    finish = "stop"
                    break
            tail = text.flush()
            if tail or pending:
                yield TokenPiece(tail, pending) if pending else tail
        finally:
            job.cancelled.set()
        return StreamStats(len(tokens), generated, finish)

    def _token_logprob(self, token: int, logprob: float, top: list[tuple[int, float]]) -> TokenLogprob:
        piece = self.vocabulary.pieces
        return TokenLogprob(piece[token], logprob, [(piece[t], lp) for t, lp in top], id=token)


def _events(job: _Job) -> Iterator[tuple]:
    while True:
        event = job.events.get()
        yield event
        if event[0] != "token":
            return
