"""llama.cpp in-process: the default engine, and the only one that can apply the lock at every
decoding step.

One decode path: every answer goes through a `BatchScheduler` (one slot for `kollama run`, N for
`compare --parallel N` and `serve`), so sampling, stop strings, the lock, log-probabilities and
token counts are the same code whatever the caller.
"""

from __future__ import annotations

import threading
from collections.abc import Generator, Iterator, Sequence
from functools import cached_property

import numpy as np

from kollama.config import subdir
from kollama.engines.base import Engine, Generation, GenerationParams, Messages, StreamStats, TokenLogprob, TokenPiece
from kollama.engines.llamacpp.context import DecodeContext
from kollama.engines.llamacpp.model import load_llama
from kollama.engines.llamacpp.sampler import Sampled
from kollama.engines.llamacpp.scheduler import BatchScheduler, Job
from kollama.engines.llamacpp.scorer import LlamaCppScorer
from kollama.engines.llamacpp.tokenizer import Tokenizer
from kollama.errors import KollamaError, ModelUnloaded, PromptTooLong
from kollama.korean.lock import LockMasks, LockMode, LockState, Vocabulary, build_masks, request_texts
from kollama.models.gguf_file import GGUFInfo, read_gguf_info
from kollama.models.reference import ModelRef

DEFAULT_CTX = 4096


def masks_for(vocab: Vocabulary, lang: str) -> LockMasks:
    """The lock's masks for a vocabulary, cached on disk in the data directory."""
    return build_masks(vocab, lang, cache_dir=subdir("cache") / "masks")


class LlamaCppEngine(Engine):
    """A GGUF loaded in-process. `parallel`: answers decoded together (1 for a single stream);
    `exact`: reuse cached prompt prefixes only where that cannot change an answer (see scheduler)."""

    concurrent = True
    supports_logprobs = True
    supports_scoring = True

    def locks_while_decoding(self, mode: LockMode) -> bool:
        return True

    def __init__(self, ref: ModelRef, n_ctx: int | None = None, n_threads: int | None = None, parallel: int = 1,
                 exact: bool = True):
        super().__init__(ref)
        assert ref.path is not None
        self.info: GGUFInfo = read_gguf_info(ref.path)
        if n_ctx is not None and n_ctx > self.info.context_length:
            raise KollamaError(
                f"--ctx {n_ctx} is larger than {ref.ref} supports ({self.info.context_length} tokens)",
                hint=f"use --ctx {self.info.context_length} or less",
            )
        self.n_ctx = n_ctx or min(DEFAULT_CTX, self.info.context_length)
        self.parallel = max(1, parallel)
        self.exact = exact
        #: tokens of context per decoding slot (default: n_ctx); set before the first answer
        self.slot_context: int | None = None
        self.llm = load_llama(str(ref.path), self.n_ctx, n_threads=n_threads)
        self.tokenizer = Tokenizer(self.llm)
        self._masks: dict[str, LockMasks] = {}
        self._scheduler: BatchScheduler | None = None
        self._setup = threading.Lock()

    @property
    def context_length(self) -> int:
        return self.n_ctx

    def decode_stats(self) -> dict[str, int]:
        s = self._scheduler
        return {} if s is None else {"decode_steps": s.steps, "reused_prompt_tokens": s.reused_tokens,
                                     "ridden_tokens": s.ridden_tokens}

    def close(self) -> None:
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            scheduler.close()
        llm, self.llm = getattr(self, "llm", None), None
        if llm is not None:
            llm.close()

    @property
    def scheduler(self) -> BatchScheduler:
        with self._setup:
            if self._scheduler is None:
                if self.llm is None:
                    raise ModelUnloaded("the model was unloaded", hint="send the request again")
                self._scheduler = BatchScheduler(self.llm, self.tokenizer, self.parallel,
                                                 self.slot_context or self.n_ctx, self.exact)
            return self._scheduler

    # --- tokens ---------------------------------------------------------------------------
    def tokenize(self, text: str, add_bos: bool = False) -> list[int]:
        return self.tokenizer.tokenize(text, add_bos=add_bos)

    def detokenize(self, tokens: list[int]) -> str:
        return self.tokenizer.detokenize(tokens)

    def scorer(self, n_threads: int | None = None) -> LlamaCppScorer:
        """The log-likelihood scorer on the model's own context (generation keeps the scheduler's)."""
        return LlamaCppScorer(self, n_threads=n_threads)

    def token_logprobs(self, text: str) -> list[tuple[str, float]]:
        """Scored with the log-likelihood scorer (batch API, sliding window past the context); BOS first
        when the model has one, so every token of `text` gets a probability."""
        tokens = self.tokenizer.tokenize(text, add_bos=self.tokenizer.adds_bos)
        scorer = self.scorer()
        try:
            logprobs = scorer.token_logprobs(tokens)
        finally:
            scorer.close()
        return [(self.detokenize([t]), float(lp)) for t, lp in zip(tokens[1:], logprobs)]

    @cached_property
    def vocabulary(self) -> Vocabulary:
        return self.tokenizer.vocabulary

    def lock_masks(self, lang: str) -> LockMasks:
        with self._setup:  # readers on several threads: build the masks once
            if lang not in self._masks:
                self._masks[lang] = masks_for(self.vocabulary, lang)
            return self._masks[lang]

    def replay_logits(self, request: str | Messages, answer: list[int]) -> Iterator[np.ndarray]:
        """The model's logits before each token of `answer`, given the prompt (teacher forcing):
        what `kollama lock check` shows `gated` at every step. Uses the model's own context."""
        tokens, _ = self.prompt_tokens(request)
        if len(tokens) + len(answer) > self.n_ctx:
            raise KollamaError(f"prompt and answer are {len(tokens) + len(answer)} tokens, the context holds "
                               f"{self.n_ctx}", hint="raise --ctx or check a shorter answer")
        context = DecodeContext.of_model(self.llm)
        try:
            context.clear()
            last = -1
            for start in range(0, len(tokens), context.n_batch):
                for i, token in enumerate(tokens[start:start + context.n_batch]):
                    last = context.add(token, start + i, 0, start + i == len(tokens) - 1)
                context.decode()
            for position, token in enumerate(answer, start=len(tokens)):
                yield context.logits(last).copy()
                last = context.add(token, position, 0, True)
                context.decode()
        finally:
            context.close()

    # --- prompts ----------------------------------------------------------------------------
    @property
    def tool_format(self) -> str | None:
        return self.tokenizer.tool_format

    def render(self, messages: Messages) -> tuple[str, list[str]]:
        """The chat as the model's own template renders it (a `Chat`'s tools too, when the template shows
        tools), and the template's stop strings."""
        tools = getattr(messages, "tools", None) if self.tool_format else None
        return self.tokenizer.render(messages, tools=tools)

    def prompt_tokens(self, request: str | Messages) -> tuple[list[int], list[str]]:
        """A prompt's (or a chat's) ids under the BOS rule, and the stop strings its template adds."""
        text, stops = (request, []) if isinstance(request, str) else self.render(request)
        tokens = self.tokenizer.prompt(text)
        if not tokens:  # llama.cpp asserts on an empty batch
            raise KollamaError("the prompt is empty", hint="give the model some text to continue")
        if len(tokens) >= self.n_ctx:
            raise PromptTooLong(
                f"the prompt is {len(tokens)} tokens, the context holds {self.n_ctx}",
                hint="shorten the prompt or raise --ctx",
            )
        return tokens, stops

    # --- decoding -----------------------------------------------------------------------------
    def job(self, request: str | Messages, params: GenerationParams) -> Job:
        """What the scheduler needs for one answer (not yet submitted)."""
        tokens, stops = self.prompt_tokens(request)
        lock = None
        if params.lock != LockMode.off:
            prompt, system = request_texts(request)  # `strict` lets the answer repeat their words
            lock = LockState(self.lock_masks(params.lang), params.lock, prompt=prompt, system=system)
            if params.lock_scope == "json_values":
                from kollama.korean.json_scope import JsonValueLock

                lock = JsonValueLock(lock, self.vocabulary.pieces)
        return Job(tokens, params, max_tokens=min(params.max_tokens, self.n_ctx - len(tokens)),
                   stops=list(params.stop) + stops, lock=lock)

    def _stream(self, request: str | Messages, params: GenerationParams) -> Generator[str, None, StreamStats]:
        job = self.job(request, params)
        self.scheduler.submit(job)
        return (yield from self._pieces(job))

    def _pieces(self, job: Job) -> Generator[str, None, StreamStats]:
        """A submitted job's text pieces (with their tokens' log-probabilities); closing it cancels the job."""
        finish, generated = "stop", 0
        try:
            for kind, *payload in job.stream():
                if kind == "end":
                    finish, generated = payload
                    break
                text, sampled = payload
                yield TokenPiece(text, [self._token_logprob(s) for s in sampled]) if sampled else text
        finally:
            job.cancelled.set()
        # timed by the decoding thread: from the job's admission, not from when a reader looked
        return StreamStats(len(job.prompt), generated, finish, seconds=job.seconds, ttft=job.ttft)

    def _token_logprob(self, sampled: Sampled) -> TokenLogprob:
        piece = self.tokenizer.piece
        return TokenLogprob(piece(sampled.token), sampled.logprob,
                            [(piece(t), lp) for t, lp in sampled.top], id=sampled.token)

    def generate_many(self, requests: Sequence[tuple[str | Messages, GenerationParams]]) -> list[Generation]:
        """Answers decoded together: the jobs enter the scheduler at once, in this order, so the same
        requests give the same answers run after run. A request that cannot run fails alone."""
        jobs: list[Job] = []
        generations: list[Generation] = []
        for request, params in requests:
            try:
                job = self.job(request, params)
            except KollamaError as exc:
                generations.append(Generation(_failed(exc)))
                continue
            jobs.append(job)
            generations.append(Generation(self._decoded(request, params, self._pieces(job))))
        self.scheduler.submit(*jobs)
        return generations


def _failed(exc: Exception) -> Generator[str, None, None]:
    raise exc
    yield  # a generator that raises when read
