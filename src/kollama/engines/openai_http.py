"""Any OpenAI-compatible server (vLLM, llama-server, llama_cpp.server, hosted APIs): the scale-out path.

With `?tokenizer=REF` naming a local model that shares the server's vocabulary, the `script`
lock is sent as `logit_bias` bans (vLLM and llama-server honour it); answers are still
checked, and retried in the rare case a byte-level token slipped through. Without a
tokenizer, or for `strict` (whose bans change with context), the lock detects and retries.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from functools import cached_property

from kollama.engines.base import Engine, GenerationParams, Messages, StreamStats
from kollama.errors import BackendUnavailable, KollamaError, ModelNotFound
from kollama.korean.lock import LockMode
from kollama.models.reference import ModelRef

BAN_BIAS = -100  # the most negative bias the OpenAI API accepts; llama-server and vLLM treat it as a ban


class OpenAIEngine(Engine):
    concurrent = True  # the client is thread-safe; the server (vLLM...) batches concurrent requests itself

    def __init__(self, ref: ModelRef, timeout: float = 600.0):
        super().__init__(ref)
        from openai import OpenAI

        self.client = OpenAI(base_url=ref.url, api_key=os.environ.get("OPENAI_API_KEY") or "sk-none",
                             timeout=timeout, max_retries=0)

    def locks_while_decoding(self, mode: LockMode) -> bool:
        return mode == LockMode.script and self.ref.tokenizer is not None

    @cached_property
    def _tokenizer(self):
        from kollama.engines.llamacpp import Tokenizer
        from kollama.models.reference import resolve

        tokenizer_ref = resolve(self.ref.tokenizer)
        if tokenizer_ref.path is None:
            raise KollamaError(f"tokenizer={self.ref.tokenizer} must be a local GGUF model")
        return Tokenizer.vocab_only(tokenizer_ref.path)

    def _logit_bias(self, lang: str) -> dict[str, int]:
        from kollama.engines.llamacpp import masks_for

        masks = masks_for(self._tokenizer.vocabulary, lang)
        allowed = masks.script.copy()
        allowed[masks.continuation_ids] = True  # they may be needed to finish a Hangul syllable
        return {str(int(tid)): BAN_BIAS for tid in (~allowed).nonzero()[0]}

    def tokenize(self, text: str, add_bos: bool = False) -> list[int]:
        if self.ref.tokenizer is None:
            return super().tokenize(text, add_bos)
        return self._tokenizer.tokenize(text, add_bos=add_bos)

    def detokenize(self, tokens: list[int]) -> str:
        if self.ref.tokenizer is None:
            return super().detokenize(tokens)
        return self._tokenizer.detokenize(tokens)

    def _stream(self, request: str | Messages, params: GenerationParams) -> Generator[str, None, StreamStats]:
        import openai

        args = dict(model=self.ref.name, temperature=params.temperature, top_p=params.top_p,
                    max_tokens=params.max_tokens, stream=True)
        if params.seed is not None:
            args["seed"] = params.seed
        if params.stop:
            args["stop"] = params.stop
        if self.locks_while_decoding(params.lock):
            args["logit_bias"] = self._logit_bias(params.lang)
        finish, pieces, usage = "stop", 0, None
        try:
            if isinstance(request, str):
                stream = self.client.completions.create(prompt=request, **args)
            else:
                stream = self.client.chat.completions.create(messages=request, **args)
            with stream:
                for chunk in stream:
                    usage = getattr(chunk, "usage", None) or usage
                    if not chunk.choices:
                        continue
                    choice = chunk.choices[0]
                    text = choice.text if isinstance(request, str) else (choice.delta.content or "")
                    finish = choice.finish_reason or finish
                    if text:
                        pieces += 1
                        yield text
        except openai.APIConnectionError as exc:
            raise BackendUnavailable(f"cannot reach {self.ref.url}", hint="is the server running? check the URL") from exc
        except openai.NotFoundError as exc:
            raise ModelNotFound(f"{self.ref.url} does not serve model '{self.ref.name}'",
                                hint="list its models at GET /v1/models") from exc
        except openai.APIStatusError as exc:
            failed = BackendUnavailable if exc.status_code >= 500 else KollamaError  # its failure, or our request
            raise failed(f"{self.ref.url} answered {exc.status_code}: {exc.message}") from exc
        prompt_tokens = getattr(usage, "prompt_tokens", 0) or 0
        completion_tokens = getattr(usage, "completion_tokens", 0) or pieces
        return StreamStats(prompt_tokens, completion_tokens, finish)
