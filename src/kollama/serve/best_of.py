"""Several answers to one request: `n` answers returned, `best_of` answers decoded and the n with the highest
mean token log-probability returned (OpenAI's `best_of`), with the server's `--max-n` cap on both.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

from kollama.engines import Engine, Generation, GenerationParams, Response
from kollama.serve.errors import ApiError
from kollama.serve.schemas import ChatCompletionRequest, CompletionRequest
from kollama.serve.state import ServerState


def answer_count(state: ServerState, n: int | None) -> int:
    """The `n` asked for (default 1), refused with a 400 above the server's --max-n."""
    n = n or 1
    if n > state.options.max_n:
        raise ApiError(400, f"n: at most {state.options.max_n} answers per request on this server (--max-n)",
                       param="n")
    return n


def decoded_count(state: ServerState, body: ChatCompletionRequest | CompletionRequest, n: int) -> int:
    """How many answers to decode for the n returned: `best_of` (at least n, at most --max-n), else n."""
    if body.best_of is None or body.best_of == n:
        return n
    if body.best_of < n:
        raise ApiError(400, f"best_of ({body.best_of}) must be at least n ({n})", param="best_of")
    if body.best_of > state.options.max_n:
        raise ApiError(400, f"best_of: at most {state.options.max_n} answers per request on this server (--max-n)",
                       param="best_of")
    if body.stream:
        raise ApiError(400, "best_of cannot be streamed: the best answers are known once all are done; "
                            "leave out stream or best_of", param="best_of")
    return body.best_of


def with_scores(params: GenerationParams, decoded: int, n: int) -> GenerationParams:
    """With best_of, every answer carries its tokens' log-probabilities (to rank them)."""
    return replace(params, top_logprobs=0) if decoded > n and params.top_logprobs is None else params


def rankable(make: Callable[[Engine], Generation], decoded: int, n: int) -> Callable[[Engine], Generation]:
    """Refuse best_of on a backend that gives no log-probabilities (nothing to rank by) with a 400."""
    if decoded == n:
        return make

    def checked(engine: Engine) -> Generation:
        if not engine.supports_logprobs:
            raise ApiError(400, f"best_of: {engine.name} gives no token log-probabilities to rank answers by; "
                                "leave out best_of, or use a local GGUF model", param="best_of")
        return make(engine)

    return checked


def mean_logprob(response: Response) -> float:
    """The answer's mean token log-probability (after the lock's mask): best_of's ranking. An empty answer
    ranks last."""
    values = [t.logprob for t in response.logprobs or []]
    return sum(values) / len(values) if values else -math.inf


def best(responses: list[Response], n: int, keep_logprobs: bool) -> list[Response]:
    """The n answers with the highest mean log-probability, best first (ties: the lower seed first)."""
    if len(responses) == n:
        return responses
    chosen = sorted(responses, key=mean_logprob, reverse=True)[:n]
    if not keep_logprobs:
        for response in chosen:
            response.logprobs = None
    return chosen
