"""llama.cpp in-process through llama-cpp-python: the default engine, and the only one that
can apply the lock at every decoding step."""

from __future__ import annotations

import contextlib
import ctypes
import os
from collections.abc import Generator, Iterator
from functools import cached_property

import numpy as np

from kollama.config import subdir
from kollama.engines.base import Engine, GenerationParams, Messages, StreamStats
from kollama.engines.chat_format import render_chat
from kollama.errors import KollamaError
from kollama.korean.language_lock import LockMasks, LockMode, LockProcessor, Vocabulary, build_masks, request_texts
from kollama.models.gguf_file import CorruptModel, GGUFInfo, read_gguf_info
from kollama.models.reference import ModelRef

DEFAULT_CTX = 4096


@contextlib.contextmanager
def _quiet_stderr():
    """llama.cpp prints load logs to fd 2 even with verbose=False; keep the terminal clean."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def load_llama(path: str, n_ctx: int, **kwargs):
    """Load a GGUF with llama-cpp-python, turning its load failures into one clear line."""
    from llama_cpp import Llama

    try:
        with _quiet_stderr():
            return Llama(model_path=path, n_ctx=n_ctx, n_threads=kwargs.pop("n_threads", os.cpu_count()),
                         verbose=False, **kwargs)
    except ValueError as exc:
        raise CorruptModel(f"llama.cpp could not load {path} ({exc})",
                           hint="the file may be corrupt or its architecture unsupported by this llama.cpp") from exc


def vocabulary_of(llm) -> Vocabulary:
    """Raw bytes of every token (special tokens render as empty) and the end-of-generation ids."""
    import llama_cpp

    vocab = llm._model.vocab
    buf = ctypes.create_string_buffer(256)
    pieces: list[bytes] = []
    eog: set[int] = set()
    for tid in range(llm.n_vocab()):
        n = llama_cpp.llama_token_to_piece(vocab, tid, buf, len(buf), 0, False)
        pieces.append(buf.raw[:n] if n > 0 else b"")
        if llama_cpp.llama_vocab_is_eog(vocab, tid):
            eog.add(tid)
    return Vocabulary(pieces, frozenset(eog))


def masks_for(vocab: Vocabulary, lang: str) -> LockMasks:
    return build_masks(vocab, lang, cache_dir=subdir("cache") / "masks")


class LlamaCppEngine(Engine):
    def locks_while_decoding(self, mode: LockMode) -> bool:
        return True

    def __init__(self, ref: ModelRef, n_ctx: int | None = None, n_threads: int | None = None):
        super().__init__(ref)
        assert ref.path is not None
        self.info: GGUFInfo = read_gguf_info(ref.path)
        if n_ctx is not None and n_ctx > self.info.context_length:
            raise KollamaError(
                f"--ctx {n_ctx} is larger than {ref.ref} supports ({self.info.context_length} tokens)",
                hint=f"use --ctx {self.info.context_length} or less",
            )
        self.n_ctx = n_ctx or min(DEFAULT_CTX, self.info.context_length)
        self.llm = load_llama(str(ref.path), self.n_ctx, n_threads=n_threads or os.cpu_count())
        self._masks: dict[str, LockMasks] = {}

    @property
    def context_length(self) -> int:
        return self.n_ctx

    def close(self) -> None:
        llm, self.llm = getattr(self, "llm", None), None
        if llm is not None:
            llm.close()

    # --- tokens ---------------------------------------------------------------------------
    def tokenize(self, text: str, add_bos: bool = False) -> list[int]:
        return self.llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True)

    def detokenize(self, tokens: list[int]) -> str:
        return self.llm.detokenize(tokens).decode("utf-8", errors="replace")

    def token_logprobs(self, text: str) -> list[tuple[str, float]]:
        """Scored with the eval scorer (batch API, sliding window past the context); BOS first when the
        model has one, so every token of `text` gets a probability."""
        from kollama.evaluate.loglikelihood import LlamaCppScorer

        tokens = self.tokenize(text, add_bos=self.info.add_bos_token)
        scorer = LlamaCppScorer(self)
        try:
            logprobs = scorer.token_logprobs(tokens)
        finally:
            scorer.close()
        return [(self.detokenize([t]), float(lp)) for t, lp in zip(tokens[1:], logprobs)]

    @cached_property
    def vocabulary(self) -> Vocabulary:
        return vocabulary_of(self.llm)

    def lock_masks(self, lang: str) -> LockMasks:
        if lang not in self._masks:
            self._masks[lang] = masks_for(self.vocabulary, lang)
        return self._masks[lang]

    def replay_logits(self, request: str | Messages, answer: list[int]) -> Iterator[np.ndarray]:
        """The model's logits before each token of `answer`, given the prompt (teacher forcing):
        what `kollama lock check` shows `gated` at every step."""
        import llama_cpp

        tokens, _ = self._prompt_tokens(request)
        if len(tokens) + len(answer) > self.n_ctx:
            raise KollamaError(f"prompt and answer are {len(tokens) + len(answer)} tokens, the context holds "
                               f"{self.n_ctx}", hint="raise --ctx or check a shorter answer")
        self.llm.reset()
        self.llm.eval(tokens)
        n_vocab = self.llm.n_vocab()
        for token in answer:
            row = llama_cpp.llama_get_logits_ith(self.llm._ctx.ctx, -1)
            yield np.ctypeslib.as_array(row, shape=(n_vocab,)).copy()
            self.llm.eval([token])

    # --- prompts ----------------------------------------------------------------------------
    def render(self, messages: Messages) -> tuple[str, list[str]]:
        """The chat as the model's own template renders it, and the template's stop strings."""
        return render_chat(self.llm.metadata, messages, self._token_text(self.llm.token_bos()),
                           self._token_text(self.llm.token_eos()))

    def _token_text(self, token: int) -> str:
        if token < 0:
            return ""
        return self.llm._model.token_get_text(token)

    def _prompt_tokens(self, request: str | Messages) -> tuple[list[int], list[str]]:
        if isinstance(request, str):
            text, stops = request, []
        else:
            text, stops = self.render(request)
        add_bos = self.info.add_bos_token
        bos_text = self._token_text(self.llm.token_bos())
        if bos_text and text.startswith(bos_text):
            add_bos = False  # the template already wrote it
        tokens = self.tokenize(text, add_bos=add_bos)
        if not tokens:  # llama.cpp asserts on an empty batch
            raise KollamaError("the prompt is empty", hint="give the model some text to continue")
        if len(tokens) >= self.n_ctx:
            raise KollamaError(
                f"the prompt is {len(tokens)} tokens, the context holds {self.n_ctx}",
                hint="shorten the prompt or raise --ctx",
            )
        return tokens, stops

    def _stream(self, request: str | Messages, params: GenerationParams) -> Generator[str, None, StreamStats]:
        from llama_cpp import LogitsProcessorList

        tokens, stops = self._prompt_tokens(request)
        processors = None
        if params.lock != LockMode.off:
            prompt, system = request_texts(request)  # `strict` lets the answer repeat their words
            processors = LogitsProcessorList([LockProcessor(self.lock_masks(params.lang), params.lock,
                                                            prompt=prompt, system=system)])
        max_tokens = min(params.max_tokens, self.n_ctx - len(tokens))
        # Reusing a cached prompt prefix evaluates the prompt in different batches, which shifts
        # logits slightly and changes greedy answers; the same request must give the same answer.
        self.llm.reset()
        stream = self.llm.create_completion(
            tokens,
            max_tokens=max_tokens,
            temperature=params.temperature,
            top_p=params.top_p,
            top_k=params.top_k,
            repeat_penalty=params.repeat_penalty,
            seed=params.seed if params.seed is not None else -1,
            stop=list(params.stop) + stops,
            stream=True,
            logits_processor=processors,
        )
        finish = "stop"
        generated = 0
        try:
            for chunk in stream:
                choice = chunk["choices"][0]
                generated += 1
                if choice.get("finish_reason"):
                    finish = choice["finish_reason"]
                if choice["text"]:
                    yield choice["text"]
        finally:
            stream.close()
        completion_tokens = max(0, self.llm.n_tokens - len(tokens)) + (1 if finish == "length" else 0)
        if finish == "length":  # whether the last token was evaluated varies (split UTF-8 pieces): it is exactly the cap
            completion_tokens = max_tokens
        return StreamStats(len(tokens), completion_tokens or generated, finish)
