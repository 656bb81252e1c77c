"""The harness's multiple-choice metrics: acc, acc_norm (log-likelihood per character of the
choice) and corpus-level macro-F1 (sklearn's `f1_score(average="macro")`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def predictions(loglikelihoods: Sequence[float], choices: Sequence[str]) -> tuple[int, int]:
    """(pred, pred_norm): argmax of log-likelihoods, and of log-likelihood / len(choice)."""
    lls = np.asarray(loglikelihoods, dtype=np.float64)
    lengths = np.array([float(len(c)) for c in choices])
    return int(np.argmax(lls)), int(np.argmax(lls / lengths))


def macro_f1(golds: Sequence[int], preds: Sequence[int]) -> float:
    """Unweighted mean F1 over every label seen in golds or preds (sklearn's macro average)."""
    labels = sorted(set(golds) | set(preds))
    g, p = np.asarray(golds), np.asarray(preds)
    scores = []
    for label in labels:
        tp = float(np.sum((p == label) & (g == label)))
        fp = float(np.sum((p == label) & (g != label)))
        fn = float(np.sum((p != label) & (g == label)))
        denom = 2 * tp + fp + fn
        scores.append(2 * tp / denom if denom else 0.0)
    return float(np.mean(scores)) if scores else 0.0


def stderr_of_mean(values: Sequence[float]) -> float:
    """Sample standard error, as the harness prints beside acc."""
    if len(values) < 2:
        return 0.0
    return float(np.std(values, ddof=1) / np.sqrt(len(values)))
