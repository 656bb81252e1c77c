"""What every route shares: options, the model pool, the limiter, the embedder; and turning a
request's sampling fields into kollama's GenerationParams in one place."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.responses import Response as HttpResponse

from kollama.engines import GenerationParams
from kollama.engines.base import derive_seed  # noqa: F401  (the routes import it from here)
from kollama.korean.answer_language import AUTO, LanguageDecision, infer_answer_language
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
    lang = lang or defaults.lang
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


def decide_language(lang: str | None, messages: list[tuple[str, str]]) -> LanguageDecision | None:
    """For a request's `lang: "auto"`: the answer language its (role, text) messages ask for; None otherwise.
    The last user message is the prompt, system (and developer) messages the system prompt, the turns
    before it the conversation."""
    if lang != AUTO:
        return None
    system = "\n".join(text for role, text in messages if role in ("system", "developer") and text) or None
    turns = [(role, text) for role, text in messages if role in ("user", "assistant")]
    last = max((i for i, (role, _) in enumerate(turns) if role == "user"), default=None)
    prompt = turns[last][1] if last is not None else ""
    history = [{"role": role, "content": text} for role, text in turns[:last or 0]]
    return infer_answer_language(prompt, system=system, history=history)


def with_language(reply: Any, decision: LanguageDecision | None) -> Any:
    """The decision on the reply, where every client can see it: `X-Kollama-Lang` and `X-Kollama-Lang-Reason`
    (percent-encoded: headers are Latin-1) on JSON and streamed replies alike."""
    if decision is None:
        return reply
    from urllib.parse import quote

    headers = {"X-Kollama-Lang": decision.lang, "X-Kollama-Lang-Reason": quote(decision.reason, safe=" ,;:()'/")}
    if isinstance(reply, HttpResponse):
        reply.headers.update(headers)
        return reply
    return JSONResponse(reply, headers=headers)
