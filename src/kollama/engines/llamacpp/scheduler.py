"""The one decode path on llama.cpp: requests decoded together, one token each per step.

On a CPU one decode step of 16 sequences costs little more than a step of one (the weights are
read once for all of them). A `BatchScheduler` owns a llama.cpp context with one KV stream per
sequence slot and one long-lived thread that runs the loop:

    admit waiting jobs into free slots -> one llama_decode with the next token of every active
    sequence (and prompt chunks of new ones) -> per slot: Sampler (lock, chain, logprobs) ->
    TextAssembler (UTF-8, stop strings) -> token count -> events to the reader -> free finished slots

`kollama run` is this scheduler with one slot; `compare --parallel N`, `eval` and `serve` use N.
Everything that decides an answer (sampling, stop strings, the lock, counting) runs in this
thread, so the loop's schedule depends only on the jobs and their tokens, never on when a reader
looks: jobs submitted together (`submit(*jobs)`) are admitted in order, and the same jobs give the
same answers run after run.

Prefix reuse: a slot keeps the keys and values of its last request, and a new job takes the free
slot whose cached tokens share the longest prefix with its prompt. With `exact=True` only whole
`n_batch` chunks are reused, so a prompt is always evaluated in the same chunks as from an empty
cache (llama.cpp's CPU kernels round differently for different batch shapes): a one-slot engine
then answers exactly as a fresh one. Servers use `exact=False` and reuse every shared token.
A job whose prompt shares a prefix (at least MIN_SHARED_PREFIX tokens) with a job already in a slot
follows it: it waits until that slot has evaluated the prefix, copies those keys and values and
evaluates only the rest (compare's trials and locks of one prompt, n answers to one request). Which
job follows which depends only on the order of admission, so answers stay reproducible.

Riding: jobs that differ only in their lock (compare's `--lock off,script` cells of one prompt and
trial: same prompt, seed and settings) need not be decoded twice. The first becomes the leader; each
later one rides on it, holding a slot but adding nothing to the batch. At every step a rider samples
with its own sampler (its lock, its chain with the same seed) from the leader's logits row; while it
draws the leader's token it simply takes it, and the step cost it one sampling instead of one decode.
The first time it draws another token (its lock banned something the draw would have hit), it copies
the leader's keys and values and goes on alone. A rider's answer is thus exactly what its own
sampler draws from the logits of its own text: riding changes no answer, only what it costs.

Batch shape moves logits slightly: with other sequences in the same step a greedy answer can
differ from the one-slot answer at near-ties (measured: a few tenths of a nat); the lock's
guarantee does not depend on it.

Extension points for the server: `GenerationParams.grammar` (GBNF) constrains a job through
llama.cpp's grammar sampler; n answers to one request are n jobs submitted together with seeds
`derive_seed(seed, i)`.
"""

from __future__ import annotations

import collections
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from kollama.engines.base import GenerationParams
from kollama.engines.llamacpp.context import DecodeContext
from kollama.engines.llamacpp.sampler import LockHook, Sampled, Sampler, TextAssembler
from kollama.engines.llamacpp.scorer import common_prefix
from kollama.errors import KollamaError, ModelUnloaded
from kollama.korean.lock import LockMode

#: a shorter shared prefix is cheaper to evaluate again than to copy (llama.cpp copies a whole KV stream)
MIN_SHARED_PREFIX = 16


@dataclass
class Job:
    """One request: prompt ids, how to sample, where to stop, and where its output goes.

    Events on `events`: ("text", str, [Sampled]) pieces of the answer (with the log-probabilities of
    the tokens they came from, when asked); then ("end", finish_reason, completion_tokens) or
    ("error", exception).
    """

    prompt: list[int]
    params: GenerationParams
    max_tokens: int
    stops: list[str] = field(default_factory=list)
    lock: LockHook | None = None
    events: queue.SimpleQueue = field(default_factory=queue.SimpleQueue)
    cancelled: threading.Event = field(default_factory=threading.Event)
    admitted_at: float | None = None  # perf_counter times, set by the decoding thread
    first_text_at: float | None = None
    ended_at: float | None = None

    @property
    def seconds(self) -> float | None:
        """From admission into a slot to the end (time waiting for a free slot is not the answer's)."""
        return None if self.admitted_at is None or self.ended_at is None else self.ended_at - self.admitted_at

    @property
    def ttft(self) -> float | None:
        return None if self.admitted_at is None or self.first_text_at is None else self.first_text_at - self.admitted_at

    def stream(self) -> Iterator[tuple]:
        """The events until the job ends; an error event is raised here."""
        while True:
            event = self.events.get()
            if event[0] == "error":
                raise event[1]
            yield event
            if event[0] == "end":
                return


def can_ride(job: Job, leader: Job) -> bool:
    """Would `job` draw exactly `leader`'s tokens from the same logits, but for its lock? Same prompt, seed
    and every other setting; log-probabilities may differ (the rider computes its own)."""
    p, q = job.params, leader.params
    if p.seed is None and p.temperature > 0:  # two random seeds part at the first draw
        return False
    return (job.prompt == leader.prompt and job.max_tokens == leader.max_tokens and job.stops == leader.stops
            and replace(p, lock=LockMode.off, lock_scope=None, top_logprobs=None)
            == replace(q, lock=LockMode.off, lock_scope=None, top_logprobs=None))


@dataclass
class _Slot:
    seq: int
    job: Job
    sampler: Sampler
    text: TextAssembler
    fed: int = 0  # prompt tokens already in the KV cache
    last: int | None = None  # sampled token not yet fed back
    generated: int = 0
    pending: list[Sampled] = field(default_factory=list)  # log-probabilities not yet sent with text
    leader: _Slot | None = None  # a slot evaluating the prompt prefix this one will copy
    share: int = 0  # how many prompt tokens to copy from the leader
    riding: _Slot | None = None  # the slot whose logits this one samples from while it draws the same tokens
    riders: list[_Slot] = field(default_factory=list)

    @property
    def position(self) -> int:
        return self.fed + self.generated - (1 if self.last is not None else 0)


class BatchScheduler:
    """A llama.cpp context on a loaded model, decoding up to `n_parallel` sequences at once."""

    def __init__(self, llm, tokenizer, n_parallel: int, n_ctx_per_seq: int, exact: bool = True):
        self.n_parallel = n_parallel
        self.exact = exact
        self._tok = tokenizer
        self._context = DecodeContext.with_sequences(llm, n_parallel, n_ctx_per_seq)
        self.n_ctx_per_seq = self._context.n_ctx_per_seq
        self.n_batch = self._context.n_batch
        self._waiting: collections.deque[Job] = collections.deque()
        self._wake = threading.Condition()
        self._slots: dict[int, _Slot] = {}
        self._cached: list[list[int]] = [[] for _ in range(n_parallel)]  # tokens in each sequence's KV
        self.reused_tokens = 0  # prompt tokens not evaluated thanks to a cached prefix
        self.ridden_tokens = 0  # answer tokens drawn from another answer's logits instead of their own decode
        self.steps = 0  # llama_decode calls
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name="batch-decoder", daemon=True)
        self._thread.start()

    # --- called from request threads ----------------------------------------------------------
    @property
    def active(self) -> int:
        """Sequences being decoded now."""
        return len(self._slots)

    def submit(self, *jobs: Job) -> None:
        """Queue jobs; jobs submitted in one call enter the loop together, in this order."""
        with self._wake:
            if self._stopping:
                raise ModelUnloaded("the model is being unloaded", hint="send the request again")
            self._waiting.extend(jobs)
            self._wake.notify()

    def close(self) -> None:
        with self._wake:
            if self._stopping:
                return
            self._stopping = True
            self._wake.notify()
        self._thread.join()
        self._context.close()

    # --- the decoding thread ----------------------------------------------------------------------
    def _loop(self) -> None:
        while self._admit():
            try:
                self._step()
            except Exception as exc:  # never leave a reader waiting forever
                for slot in list(self._slots.values()):
                    self._finish(slot, error=exc)
        gone = ModelUnloaded("the model was unloaded", hint="send the request again")
        for slot in list(self._slots.values()):
            self._finish(slot, error=gone)
        with self._wake:  # jobs still waiting for a slot get the same answer
            waiting, self._waiting = list(self._waiting), collections.deque()
        for job in waiting:
            job.events.put(("error", gone))

    def _admit(self) -> bool:
        """Move waiting jobs into free slots, in order; block while there is nothing to do. False: stop."""
        with self._wake:
            while not self._stopping and not self._slots and not self._waiting:
                self._wake.wait()
            if self._stopping:
                return False
            while len(self._slots) < self.n_parallel and self._waiting:
                group = self._ride_group()
                if len(self._slots) + group > self.n_parallel and self._slots:
                    break  # a job and the jobs that would ride on it enter together, when there is room for all
                for _ in range(min(group, self.n_parallel - len(self._slots))):
                    job = self._waiting.popleft()
                    if job.cancelled.is_set():
                        job.events.put(("end", "stop", 0))
                        continue
                    self._start(job)
        return True

    def _ride_group(self) -> int:
        """How many waiting jobs, from the first, enter together: the first and those right behind it that
        could ride on it (1 when that many could never be in the slots at once)."""
        first, n = self._waiting[0], 1
        while n < len(self._waiting) and can_ride(self._waiting[n], first):
            n += 1
        return n if n <= self.n_parallel else 1

    def _start(self, job: Job) -> None:
        try:
            sampler = Sampler(self._tok, job.params, job.lock, job.params.top_logprobs)
        except KollamaError as exc:
            job.events.put(("error", exc))
            return
        job.admitted_at = time.perf_counter()
        seq, keep = self._best_slot(job.prompt)
        self._context.forget(seq, keep)
        del self._cached[seq][keep:]
        ride = self._ride_on(job)
        if ride is not None:  # its prompt is in the leader's cache: nothing to evaluate until it leaves
            slot = _Slot(seq, job, sampler, TextAssembler(job.stops), fed=len(job.prompt), riding=ride)
            ride.riders.append(slot)
        else:
            self.reused_tokens += keep
            slot = _Slot(seq, job, sampler, TextAssembler(job.stops), fed=keep)
            slot.leader, slot.share = self._leader_for(job.prompt, keep)
        self._slots[seq] = slot

    def _ride_on(self, job: Job) -> _Slot | None:
        """An active slot that has not drawn a token yet, with the same prompt and everything that decides
        an answer the same except the lock (and log-probabilities): the new job can ride on it."""
        for other in self._slots.values():
            if other.riding is None and other.generated == 0 and can_ride(job, other.job):  # nothing drawn yet
                return other
        return None

    def _leader_for(self, prompt: list[int], keep: int) -> tuple[_Slot | None, int]:
        """The active slot whose prompt shares the longest prefix with `prompt`, if that beats what
        the new slot already holds by at least MIN_SHARED_PREFIX tokens."""
        best, share = None, keep + MIN_SHARED_PREFIX - 1
        for other in self._slots.values():
            if other.riding is not None:  # holds no keys and values of its own
                continue
            n = min(common_prefix(other.job.prompt, prompt), len(prompt) - 1)
            if n > share:
                best, share = other, n
        return (best, share) if best is not None else (None, 0)

    def _best_slot(self, prompt: list[int]) -> tuple[int, int]:
        """The free sequence whose cached tokens share the longest prefix with `prompt`, and how many
        of them to keep (never the whole prompt: its last token must be evaluated for the logits)."""
        free = [i for i in range(self.n_parallel) if i not in self._slots]
        shared = {i: min(common_prefix(self._cached[i], prompt), len(prompt) - 1) for i in free}
        if self.exact:
            shared = {i: n // self.n_batch * self.n_batch for i, n in shared.items()}
        seq = max(free, key=lambda i: (shared[i], -len(self._cached[i]), -i))
        return seq, shared[seq]

    def _step(self) -> None:
        context = self._context
        outputs: list[tuple[_Slot, int]] = []
        for slot in list(self._slots.values()):
            if slot.job.cancelled.is_set():
                self._finish(slot, reason="stop")
            elif slot.riding is not None:  # takes its leader's logits: nothing of its own to decode
                continue
            elif slot.last is not None:  # decoding: its next token
                outputs.append((slot, context.add(slot.last, slot.position, slot.seq, True)))
                self._cached[slot.seq].append(slot.last)
                slot.last = None
        evaluated = {seq: slot.fed for seq, slot in self._slots.items()}  # prompt tokens already decoded
        for slot in self._slots.values():  # prefill new prompts with what room is left
            prompt = slot.job.prompt
            if slot.riding is not None:
                continue
            if slot.leader is not None and not self._follow(slot, evaluated):
                continue  # its leader has not evaluated the shared prefix yet
            take = min(context.room, len(prompt) - slot.fed)
            if slot.generated or take <= 0:
                continue
            for i in range(slot.fed, slot.fed + take):
                index = context.add(prompt[i], i, slot.seq, i == len(prompt) - 1)
                if i == len(prompt) - 1:
                    outputs.append((slot, index))
            self._cached[slot.seq].extend(prompt[slot.fed:slot.fed + take])
            slot.fed += take
        if context.n == 0:
            return
        context.decode()
        self.steps += 1
        for slot, index in outputs:
            if slot.riders:
                self._sample_with_riders(slot, index)
            else:
                self._advance(slot, slot.sampler.sample(context, index))

    def _sample_with_riders(self, slot: _Slot, index: int) -> None:
        """The leader and each rider draw from the same logits row (restored before each, as a lock
        writes into it). A rider that drew another token leaves with a copy of the leader's cache."""
        context = self._context
        row = context.logits(index)
        raw = row.copy()
        sampled = slot.sampler.sample(context, index)
        drawn = []
        for rider in list(slot.riders):
            row[:] = raw
            drawn.append((rider, rider.sampler.sample(context, index)))
        for rider, own in drawn:  # riders first: the leader's cache still holds exactly what they share
            if own.token == sampled.token:
                if not self._tok.is_eog(own.token):  # an end drawn together is not an answer token
                    self.ridden_tokens += 1
            else:
                self._leave(rider)
            self._advance(rider, own)
        self._advance(slot, sampled)

    def _leave(self, rider: _Slot) -> None:
        """The rider goes on alone: the leader's keys and values (its prompt and the tokens they shared)
        are copied into the rider's own sequence."""
        leader = rider.riding
        leader.riders.remove(rider)
        rider.riding = None
        n = leader.position
        self._context.copy_prefix(leader.seq, rider.seq, n)
        self._cached[rider.seq] = self._cached[leader.seq][:n]
        rider.fed = min(rider.fed, n)  # a leader that stopped before its prompt was in: the rider evaluates the rest

    def _follow(self, slot: _Slot, evaluated: dict[int, int]) -> bool:
        """Copy the shared prefix from the leader once it is evaluated; False while it is not.
        A leader that ended first (cancelled, failed) leaves the slot to evaluate its prompt alone."""
        leader = slot.leader
        if self._slots.get(leader.seq) is not leader:
            slot.leader = None
            return True
        if evaluated[leader.seq] < slot.share:
            return False
        self._context.copy_prefix(leader.seq, slot.seq, slot.share)
        self._cached[slot.seq] = slot.job.prompt[:slot.share]
        self.reused_tokens += slot.share - slot.fed
        slot.fed, slot.leader = slot.share, None
        return True

    def _advance(self, slot: _Slot, sampled: Sampled) -> None:
        """One sampled token: end of generation, or text (cut at a stop string), counted against the cap."""
        job, token = slot.job, sampled.token
        if self._tok.is_eog(token):
            self._finish(slot, reason="stop")
            return
        slot.sampler.feed(token)
        slot.generated += 1
        if sampled.logprob is not None:
            slot.pending.append(sampled)
        piece = slot.text.feed(self._tok.piece(token))
        if piece or (slot.text.stopped and slot.pending):
            if job.first_text_at is None:
                job.first_text_at = time.perf_counter()
            job.events.put(("text", piece, slot.pending))
            slot.pending = []
        if slot.text.stopped:
            self._finish(slot, reason="stop")
        elif slot.generated >= job.max_tokens or slot.fed + slot.generated >= self.n_ctx_per_seq:
            self._finish(slot, reason="length")
        else:
            slot.last = token

    def _finish(self, slot: _Slot, reason: str = "stop", error: Exception | None = None) -> None:
        """Free the slot; its keys and values stay for the next prompt with the same beginning. Its riders
        go on alone (a cancelled leader's riders still want their answers)."""
        self._slots.pop(slot.seq, None)
        slot.sampler.close()
        if slot.riding is not None:
            slot.riding.riders.remove(slot)
            slot.riding = None
        for rider in list(slot.riders):
            if error is None:
                self._leave(rider)
            else:  # the failed step ends them too (the loop finishes every slot)
                rider.riding = None
        slot.riders = []
        if error is not None:  # after a failed decode the cache may not hold what we think
            self._context.forget(slot.seq)
            self._cached[slot.seq] = []
            slot.job.events.put(("error", error))
            return
        slot.job.ended_at = time.perf_counter()
        tail = slot.text.flush()
        if tail or slot.pending:
            slot.job.events.put(("text", tail, slot.pending))
        slot.job.events.put(("end", reason, slot.generated))
