"""Token log-probabilities in the shapes clients parse: OpenAI chat (`content` entries with bytes),
OpenAI legacy completions (parallel lists), and Ollama (a `logprobs` list on each line).

JSON has no -Infinity (JS and Go parsers reject it): tokens the lock banned have log-probability -inf,
so they are left out of `top_logprobs` (they were never candidates), and a chosen token's
log-probability is never below FLOOR.
"""

from __future__ import annotations

import math
from typing import Any

from kollama.engines import TokenLogprob


def of_piece(piece: str) -> list[TokenLogprob]:
    """The log-probabilities a streamed piece carries (none for engines or requests without them)."""
    return getattr(piece, "logprobs", None) or []


def _text(token: bytes) -> str:
    return token.decode("utf-8", errors="replace")


FLOOR = -9999.0  # OpenAI's own stand-in for "no probability at all"


def finite(logprob: float) -> float:
    """A log-probability JSON can carry."""
    return round(logprob, 6) if math.isfinite(logprob) else FLOOR


def candidates(top: list[tuple[bytes, float]]) -> list[tuple[bytes, float]]:
    """The alternatives that could have been chosen: banned tokens (-inf) and NaNs left out."""
    return [(t, lp) for t, lp in top if math.isfinite(lp)]


def _entry(token: bytes, logprob: float) -> dict[str, Any]:
    return {"token": _text(token), "logprob": finite(logprob), "bytes": list(token)}


def ollama(entries: list[TokenLogprob]) -> list[dict[str, Any]]:
    """One object per token: text, log-probability, bytes and the likeliest alternatives."""
    return [{**_entry(e.token, e.logprob), "top_logprobs": [_entry(t, lp) for t, lp in candidates(e.top)]}
            for e in entries]


def openai_chat(entries: list[TokenLogprob]) -> dict[str, Any]:
    return {"content": ollama(entries), "refusal": None}  # the same per-token objects as Ollama's


def _key(token: bytes) -> str:
    """A token as OpenAI's completions name it: its text, or `bytes:\\xNN` for part of a UTF-8 character
    (so two different byte tokens never collide in a top_logprobs dict)."""
    try:
        return token.decode("utf-8")
    except UnicodeDecodeError:
        return "bytes:" + "".join(f"\\x{b:02x}" for b in token)


def openai_completion(entries: list[TokenLogprob | None], offset: int = 0) -> dict[str, Any]:
    """`offset`: characters of text before these tokens (the echoed prompt, earlier chunks). An entry of
    None is a token with no log-probability (an echoed prompt's first token): null, as OpenAI sends it."""
    text_offset = []
    for e in entries:
        text_offset.append(offset)
        offset += len(e.token.decode("utf-8", errors="ignore")) if e is not None else 0
    return {"tokens": [_key(e.token) if e is not None else "" for e in entries],
            "token_logprobs": [finite(e.logprob) if e is not None and e.top is not None else None for e in entries],
            "top_logprobs": [{_key(t): finite(lp) for t, lp in candidates(e.top)} if e is not None and e.top is not None
                             else None for e in entries],
            "text_offset": text_offset}
