"""Token budgets on any engine that can tokenize: does a prompt fit, and what fits in N tokens.

Used by run, compare and rag (RAG packs retrieved passages into what the context leaves)."""

from __future__ import annotations


def count_tokens(engine, text: str, add_bos: bool | None = None) -> int:
    """Tokens `text` takes in the engine's vocabulary (with BOS when the model adds one)."""
    if add_bos is None:
        add_bos = bool(getattr(getattr(engine, "tokenizer", None), "adds_bos", False))
    return len(engine.tokenize(text, add_bos=add_bos))


def fits_context(engine, text: str, reserve: int = 0) -> bool:
    """Whether `text` plus `reserve` tokens (room for the answer) fits the engine's context."""
    return count_tokens(engine, text) + reserve <= engine.context_length


def truncate_to_budget(engine, text: str, budget: int) -> str:
    """The longest prefix of `text` (cut at a token boundary) that takes at most `budget` tokens."""
    tokens = engine.tokenize(text, add_bos=False)
    if len(tokens) <= budget:
        return text
    return engine.detokenize(tokens[:max(budget, 0)])
