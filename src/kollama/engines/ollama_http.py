"""A running Ollama server (`ollama-server:NAME`, at `$OLLAMA_HOST`), through the official client.

Ollama exposes no token bans, so the lock here is detect-and-retry (see Engine._run).
"""

from __future__ import annotations

from collections.abc import Generator

from kollama.engines.base import Engine, GenerationParams, Messages, StreamStats
from kollama.errors import BackendUnavailable, KollamaError, ModelNotFound
from kollama.models.reference import ModelRef


class OllamaEngine(Engine):
    concurrent = True  # the client is thread-safe; the Ollama server queues or batches requests itself

    def __init__(self, ref: ModelRef, timeout: float = 600.0):
        super().__init__(ref)
        from ollama import Client

        self.client = Client(host=ref.url, timeout=timeout)

    def _options(self, params: GenerationParams) -> dict:
        options = {"temperature": params.temperature, "top_p": params.top_p, "top_k": params.top_k,
                   "repeat_penalty": params.repeat_penalty, "num_predict": params.max_tokens}
        if params.seed is not None:
            options["seed"] = params.seed
        if params.stop:
            options["stop"] = params.stop
        return options

    def _stream(self, request: str | Messages, params: GenerationParams) -> Generator[str, None, StreamStats]:
        import httpx
        import ollama

        options = self._options(params)
        last = None
        try:
            if isinstance(request, str):
                stream = self.client.generate(model=self.ref.name, prompt=request, options=options, stream=True)
            else:
                stream = self.client.chat(model=self.ref.name, messages=request, options=options, stream=True)
            for chunk in stream:
                last = chunk
                text = chunk.response if isinstance(request, str) else chunk.message.content
                if text:
                    yield text
        except (ConnectionError, httpx.ConnectError) as exc:
            raise BackendUnavailable(f"cannot reach the Ollama server at {self.ref.url}",
                                     hint="start it with 'ollama serve' or set OLLAMA_HOST") from exc
        except ollama.ResponseError as exc:
            if exc.status_code == 404:
                raise ModelNotFound(f"the Ollama server has no model '{self.ref.name}'",
                                    hint=f"pull it with 'ollama pull {self.ref.name}'") from exc
            failed = BackendUnavailable if exc.status_code >= 500 else KollamaError  # its failure, or our request
            raise failed(f"the Ollama server answered {exc.status_code}: {exc.error}") from exc
        if last is None:
            return StreamStats(0, 0, "stop")
        return StreamStats(last.prompt_eval_count or 0, last.eval_count or 0, last.done_reason or "stop")
