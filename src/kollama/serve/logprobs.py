"""Token log-probabilities in the shapes clients parse: OpenAI chat (`content` entries with bytes),
OpenAI legacy completions (parallel lists), and Ollama (a `logprobs` list on each line)."""

from __future__ import annotations

from typing import Any

from kollama.engines import TokenLogprob


def of_piece(piece: str) -> list[TokenLogprob]:
    """The log-probabilities a streamed piece carries (none for engines or requests without them)."""
    return getattr(piece, "logprobs", None) or []


def _text(token: bytes) -> str:
    return token.decode("utf-8", errors="replace")


def _entry(token: bytes, logprob: float) -> dict[str, Any]:
    return {"token": _text(token), "logprob": round(logprob, 6), "bytes": list(token)}


def ollama(entries: list[TokenLogprob]) -> list[dict[str, Any]]:
    """One object per token: text, log-probability, bytes and the likeliest alternatives."""
    return [{**_entry(e.token, e.logprob), "top_logprobs": [_entry(t, lp) for t, lp in e.top]} for e in entries]


def openai_chat(entries: list[TokenLogprob]) -> dict[str, Any]:
    return {"content": ollama(entries), "refusal": None}  # the same per-token objects as Ollama's


def openai_completion(entries: list[TokenLogprob], offset: int = 0) -> dict[str, Any]:
    """`offset`: characters of text before these tokens (the echoed prompt, earlier chunks)."""
    text_offset = []
    for e in entries:
        text_offset.append(offset)
        offset += len(e.token.decode("utf-8", errors="ignore"))
    return {"tokens": [_text(e.token) for e in entries],
            "token_logprobs": [round(e.logprob, 6) for e in entries],
            "top_logprobs": [{_text(t): round(lp, 6) for t, lp in e.top} for e in entries],
            "text_offset": text_offset}

