"""A model's tokenizer as a Hugging Face tokenizer folder, converted from its GGUF by transformers.

Tools that count tokens on the client side (lm-evaluation-harness's `local-completions` splits context
and continuation by token counts) need the served model's own tokenizer; kollama's models come as GGUF
files only, and transformers can build the tokenizer from a GGUF's vocabulary and merges. The export
checks the converted tokenizer against llama.cpp's on Korean and English text and says whether they agree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kollama.errors import KollamaError

CHECK_TEXT = ("한국어 문장을 토큰으로 나눕니다. 서울은 대한민국의 수도이다. "
              "The quick brown fox jumps over 13 lazy dogs.\n  두 칸 띄어쓰기,  그래서 왜냐하면!")


def export_tokenizer(model: str, out: Path) -> dict[str, Any]:
    """Write `model`'s tokenizer to `out`; returns what was written and whether it tokenizes like llama.cpp."""
    from kollama.models.reference import resolve

    ref = resolve(model)
    if ref.path is None:
        raise KollamaError(f"{model} is not a local GGUF file, so there is no tokenizer to convert",
                           hint="use a built-in model (smollm2, gemma3) or FILE.gguf")
    try:
        from transformers import AutoTokenizer
    except ImportError:
        raise KollamaError("exporting a tokenizer needs transformers", hint="pip install 'kollama[tune]'") from None
    if out.exists() and not out.is_dir():
        raise KollamaError(f"{out} is a file", hint="give a folder to write the tokenizer into")
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(ref.path.parent), gguf_file=ref.path.name)
    except (ValueError, KeyError, NotImplementedError) as exc:
        raise KollamaError(f"transformers cannot convert {ref.path.name}'s tokenizer ({exc})",
                           hint="this architecture's GGUF tokenizer is not supported by the installed transformers") from None
    out.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(str(out))
    return {"model": model, "dir": str(out), "class": type(tokenizer).__name__, "vocab_size": len(tokenizer),
            "matches_llama_cpp": _same_tokens(ref, tokenizer)}


def _same_tokens(ref, tokenizer) -> bool:
    """Whether the converted tokenizer splits CHECK_TEXT into the same ids as llama.cpp."""
    from kollama.engines import load_tokenizer

    llama = load_tokenizer(ref.path)
    try:
        ours = llama.tokenize(CHECK_TEXT, special=False)
    finally:
        llama.close()
    return list(ours) == list(tokenizer(CHECK_TEXT, add_special_tokens=False)["input_ids"])
