"""What a GGUF file gives without a loaded engine, and the grammars the local sampler follows.

llama.cpp reads the files and converts the schemas; callers get backend-neutral results (a `Tokenizer`,
numpy rows, GBNF text), so `tune`, `eval`, `tokens` and the server never import the backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from kollama.engines.tokenizer import Tokenizer


def load_tokenizer(path: str | Path) -> Tokenizer:
    """A GGUF's tokenizer without its weights (loads in about a second, even for large models);
    close it when done."""
    from kollama.engines.llamacpp.tokenizer import Tokenizer as LlamaCppTokenizer

    return LlamaCppTokenizer.vocab_only(path)


def next_token_logprobs(path: str | Path, sequences: Sequence[Sequence[int]]) -> list[np.ndarray]:
    """Log-probabilities over the whole vocabulary after each token sequence, from a GGUF file
    (how `kollama tune` checks an exported model against the one it trained)."""
    from kollama.engines.llamacpp.scorer import next_token_logprobs as from_gguf

    return from_gguf(str(path), sequences)


def json_schema_grammar(schema_json: str) -> str:
    """A GBNF grammar (for `GenerationParams.grammar`) that only JSON matching the schema can follow;
    raises ValueError (and friends) for what the converter cannot express."""
    from kollama.engines.llamacpp.sampler import json_schema_grammar as convert

    return convert(schema_json)
