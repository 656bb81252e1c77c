"""`kollama tokens`: what a text costs in each model's vocabulary (the budget helpers that check a
prompt fits are in `kollama.engines.budget`).

The Korean tokenisation gap is the point: Gemma's 262k vocabulary spends about 0.6 tokens per
Hangul syllable, SmolLM2's byte-level BPE about 2, so the same context window holds three times
less Korean text."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from kollama.errors import KollamaError


@dataclass
class TokenStats:
    model: str
    vocab_size: int
    tokens: int
    chars: int
    bytes: int
    chars_per_token: float
    bytes_per_token: float
    hangul_per_token: float
    byte_fallback_share: float
    context: int
    context_fill: float

    def to_json(self) -> dict[str, Any]:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def vocab_only_tokenizer(model: str):
    """A local model's tokenizer without its weights (kollama.engines.Tokenizer), named and
    with its GGUF facts attached."""
    from kollama.engines import load_tokenizer
    from kollama.models import resolve
    from kollama.models.gguf_file import read_gguf_info

    ref = resolve(model)
    if ref.kind != "gguf" or ref.path is None:
        raise KollamaError(f"{model} is served over HTTP; its tokenizer is not available locally",
                           hint="count tokens with a local GGUF model (a built-in name, FILE.gguf or ollama:NAME)")
    tok = load_tokenizer(ref.path)
    tok.name = ref.ref
    tok.info = read_gguf_info(ref.path)
    return tok


def token_stats(tok, text: str, context: int | None = None) -> TokenStats:
    ids = tok.tokenize(text, special=False)  # a user's "<s>" is text, not a control token
    n = len(ids)
    hangul = sum(1 for ch in text if "\uac00" <= ch <= "\ud7a3")
    context = context or tok.info.context_length
    n_bytes = len(text.encode("utf-8"))
    return TokenStats(
        model=tok.name, vocab_size=tok.info.vocab_size, tokens=n, chars=len(text), bytes=n_bytes,
        chars_per_token=len(text) / n if n else 0.0, bytes_per_token=n_bytes / n if n else 0.0,
        hangul_per_token=hangul / n if n else 0.0,
        byte_fallback_share=sum(tok.is_byte_token(t) for t in ids) / n if n else 0.0,
        context=context, context_fill=n / context if context else 0.0,
    )


def compare_tokens(models: list[str], text: str, context: int | None = None) -> list[TokenStats]:
    if not text:
        raise KollamaError("no text to count", hint="pass TEXT, --file F or pipe text in")
    out = []
    for model in models:
        tok = vocab_only_tokenizer(model)
        try:
            out.append(token_stats(tok, text, context))
        finally:
            tok.close()
    return out
