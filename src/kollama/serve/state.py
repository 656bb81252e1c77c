"""What every route shares: options, the model pool, the limiter, the embedder; and turning a
request's sampling fields into kollama's GenerationParams in one place."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from kollama.engines import GenerationParams
from kollama.engines.base import derive_seed  # noqa: F401  (the routes import it from here)
from kollama.korean.lock import parse_lock
from kollama.korean.scripts import language
from kollama.serve.embeddings import Embedder
from kollama.serve.limiter import Limiter
from kollama.serve.options import ServeOptions
from kollama.serve.pool import ModelPool


@dataclass
class ServerState:
    options: ServeOptions
    pool: ModelPool
    limiter: Limiter
    embedder: Embedder = field(default_factory=Embedder)
    started: float = field(default_factory=time.time)
    documents: Any = None  # the RAG upload registry, when RAG is available


def state_of(request: Request) -> ServerState:
    return request.app.state.kollama


def generation_params(state: ServerState, *, temperature: float | None, top_p: float | None, max_tokens: int | None,
                      seed: int | None, stop: str | list[str] | None, lock: str | None, lang: str | None,
                      top_k: int | None = None, repeat_penalty: float | None = None,
                      top_logprobs: int | None = None) -> GenerationParams:
    """Request fields -> GenerationParams: defaults filled, max_tokens capped by the server, lang checked."""
    defaults = GenerationParams()
    cap = state.options.max_tokens
    stops = [stop] if isinstance(stop, str) else list(stop or [])
    lang = lang or "ko"
    language(lang)  # an unknown language is a 400 with the list of known ones
    return GenerationParams(
        temperature=defaults.temperature if temperature is None else temperature,
        top_p=defaults.top_p if top_p is None else top_p,
        top_k=defaults.top_k if top_k is None else top_k,
        repeat_penalty=defaults.repeat_penalty if repeat_penalty is None else repeat_penalty,
        seed=None if seed is None or seed < 0 else seed,
        max_tokens=cap if max_tokens is None or max_tokens <= 0 else min(max_tokens, cap),
        stop=[s for s in stops if s],
        lock=parse_lock(lock or state.options.lock),
        lang=lang,
        top_logprobs=top_logprobs,
    )


