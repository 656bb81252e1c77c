"""How tokens come out: one interface, several backends. `load_engine` picks one for a ModelRef."""

from __future__ import annotations

from kollama.engines.base import Chat, Engine, Generation, GenerationParams, Response, TokenLogprob, TokenPiece
from kollama.models.reference import ModelRef, resolve


def load_engine(model: str | ModelRef, n_ctx: int | None = None, parallel: int | None = None,
                exact: bool | None = None) -> Engine:
    """The engine for a model reference: llama.cpp for local files, HTTP clients for servers.

    `parallel` (local models): decode up to that many answers together. `exact`: reuse cached prompt
    prefixes only where that cannot change an answer (default: yes for one slot, no for servers' several).
    """
    ref = resolve(model) if isinstance(model, str) else model
    if ref.kind == "gguf":
        from kollama.engines.llamacpp import LlamaCppEngine

        return LlamaCppEngine(ref, n_ctx=n_ctx, parallel=parallel or 1,
                              exact=exact if exact is not None else not parallel)
    if ref.kind == "openai":
        from kollama.engines.openai_http import OpenAIEngine

        return OpenAIEngine(ref)
    if ref.kind == "ollama-server":
        from kollama.engines.ollama_http import OllamaEngine

        return OllamaEngine(ref)
    raise ValueError(f"no engine for model kind {ref.kind}")


__all__ = ["Chat", "Engine", "Generation", "GenerationParams", "Response", "TokenLogprob", "TokenPiece", "load_engine"]
