"""How tokens come out: one interface, several backends. `load_engine` picks one for a ModelRef.

Callers outside this package use only what it exports (and `engines.scoring`, `engines.tokenizer`,
`engines.tool_calls`): the backends behind them are found in `engines.registry`.
"""

from __future__ import annotations

from kollama.engines import registry
from kollama.engines.base import Chat, Engine, Generation, GenerationParams, Response, TokenLogprob, TokenPiece
from kollama.engines.local import json_schema_grammar, load_tokenizer, next_token_logprobs
from kollama.engines.scoring import Request, Result, Scorer
from kollama.engines.tokenizer import Tokenizer
from kollama.models.reference import ModelRef, resolve


def load_engine(model: str | ModelRef, n_ctx: int | None = None, parallel: int | None = None,
                exact: bool | None = None) -> Engine:
    """The engine for a model reference: llama.cpp for local files, HTTP clients for servers, an installed
    plugin's engine for its kind.

    `parallel` (local models): decode up to that many answers together. `exact`: reuse cached prompt
    prefixes only where that cannot change an answer (default: yes for one slot, no for servers' several).
    """
    ref = resolve(model) if isinstance(model, str) else model
    return registry.load_engine(ref, n_ctx=n_ctx, parallel=parallel, exact=exact)


__all__ = ["Chat", "Engine", "Generation", "GenerationParams", "Request", "Response", "Result", "Scorer",
           "TokenLogprob", "TokenPiece", "Tokenizer", "json_schema_grammar", "load_engine", "load_tokenizer",
           "next_token_logprobs"]
