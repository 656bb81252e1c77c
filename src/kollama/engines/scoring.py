"""Scoring, whatever the backend: what a request and its result are, what a scorer offers, and the one
log-softmax.

`eval`, `score`, serve's echo log-probabilities and `tune`'s export check ask an engine for a `Scorer`
(`Engine.scorer()`) and speak in these types, so none of them needs to know which backend computed the
numbers. The log-softmax runs in numpy on logits any backend hands over: the llama.cpp scorer and sampler,
and the PyTorch side of `kollama tune export --verify`, normalise rows with the same code.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor


@dataclass(frozen=True)
class Request:
    """Score `continuation` after `context` (token ids; the context already holds any BOS)."""

    context: tuple[int, ...]
    continuation: tuple[int, ...]


@dataclass(frozen=True)
class Result:
    logprob: float
    n_tokens: int
    is_greedy: bool


class Scorer(Protocol):
    """Log-likelihoods from a loaded model (`Engine.scorer()`); `close` frees what it holds."""

    n_ctx: int

    def loglikelihood(self, requests: Sequence[Request],
                      progress: Callable[[int], None] | None = None) -> list[Result]:
        """Sum of continuation log-probabilities per request, in the order given."""

    def token_logprobs(self, tokens: Sequence[int], window: int | None = None,
                       progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Log-probability of tokens[1:], each given what precedes it (a sliding window past `window`)."""

    def prompt_logprobs(self, tokens: Sequence[int], top: int = 0) -> list[tuple[float, list[tuple[int, float]]]]:
        """For each of tokens[1:]: its log-probability and the `top` likeliest (token id, log-probability)."""

    def close(self) -> None:
        """Free the scorer's decoding state."""


def _normalise_rows(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    peak_at = logits.argmax(axis=-1)
    peak = np.take_along_axis(logits, peak_at[..., None], axis=-1)
    shifted = np.subtract(logits, peak)
    np.exp(shifted, out=shifted)  # float32 exp and pairwise sum: 262k terms stay exact to ~1e-7
    return np.log(shifted.sum(axis=-1).astype(np.float64)) + peak[..., 0].astype(np.float64), peak_at


@lru_cache(maxsize=1)
def _row_workers() -> ThreadPoolExecutor:
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="kollama-logsoftmax")


def row_statistics(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """log sum exp of each row of a 2-D array (float64) and each row's argmax. Several rows are split
    across the cores (numpy releases the GIL): it runs between decodes, while the backend's threads wait."""
    workers = os.cpu_count() or 1
    if logits.ndim != 2 or len(logits) < 2 * workers:
        return _normalise_rows(logits)
    parts = list(_row_workers().map(_normalise_rows, np.array_split(logits, workers)))
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def log_normaliser(logits: np.ndarray) -> np.ndarray:
    """log sum exp of each row (the last axis), in float64: subtract it from a logit to get a log-probability."""
    return row_statistics(logits)[0]


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Log-probabilities over the last axis, computed in float64 (whole rows, for comparing two models)."""
    logits = np.asarray(logits, dtype=np.float64)
    return logits - log_normaliser(logits)[..., None]


def log_softmax_at(logits: np.ndarray, targets: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Log-probability of `targets[i]` under row i of `logits`, and whether it is the row's argmax."""
    log_z, peak_at = row_statistics(logits)
    idx = np.arange(len(targets))
    target_arr = np.asarray(targets)
    return logits[idx, target_arr].astype(np.float64) - log_z, peak_at == target_arr
