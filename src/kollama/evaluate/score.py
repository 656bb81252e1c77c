"""`kollama score`: the probability a model gives whole sentences (ranked within a group), and
the perplexity of a text file with a sliding window."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kollama.errors import KollamaError
from kollama.evaluate.encoding import raw_sentence_request, sentence_request
from kollama.engines.scoring import Request, Scorer
from kollama.progress import Progress, Steps, no_progress


@dataclass
class Group:
    sentences: list[str]
    logprob: list[float]
    tokens: list[int]
    #: with `raw_reference`: llama-cpp-python's number for the tokenizer's own tokens, and how many it scores
    raw_logprob: list[float] | None = None
    raw_tokens: list[int] | None = None

    @property
    def best(self) -> int:
        return max(range(len(self.logprob)), key=lambda i: self.logprob[i])

    def to_json(self) -> dict[str, Any]:
        return {"sentences": self.sentences, "logprob": [round(x, 6) for x in self.logprob], "tokens": self.tokens,
                "avg_logprob": [round(lp / n, 6) if n else 0.0 for lp, n in zip(self.logprob, self.tokens)],
                "best": self.best,
                **({} if self.raw_logprob is None else
                   {"raw_logprob": [round(x, 6) for x in self.raw_logprob], "raw_tokens": self.raw_tokens})}


def read_groups(path: str | Path) -> list[list[str]]:
    """A TSV (or any file with tabs): each line is a group of alternatives. Otherwise one
    sentence per line, all ranked against each other."""
    p = Path(path)
    if not p.is_file():
        raise KollamaError(f"file not found: {p}", hint="pass --file with one sentence per line or a TSV of alternatives")
    lines = [line.rstrip("\r\n") for line in p.read_text(encoding="utf-8-sig").splitlines()]
    lines = [line for line in lines if line.strip()]
    if not lines:
        raise KollamaError(f"{p} is empty", hint="write one sentence per line, or tab-separated alternatives")
    if p.suffix.lower() == ".tsv" or any("\t" in line for line in lines):
        groups = []
        for n, line in enumerate(lines, start=1):
            cells = [c.strip() for c in line.split("\t") if c.strip()]
            groups.append(cells)
        return groups
    return [[line.strip() for line in lines]]


def score_groups(engine, groups: list[list[str]], progress: Progress = no_progress, threads: int | None = None,
                 raw_reference: bool = False) -> list[Group]:
    """Each sentence's log-probability after BOS; sentences longer than the context use a sliding window.
    `raw_reference` adds what llama-cpp-python gives for the tokenizer's own tokens (docs/scoring.md): the same
    number on a model whose tokenizer adds BOS, the sentence without its first token on one that does not."""
    sentences = [s for g in groups for s in g]
    requests = [sentence_request(engine, s) for s in sentences]
    if any(not r.continuation for r in requests):
        raise KollamaError("an empty sentence cannot be scored", hint="remove empty cells or lines")
    raw: list[Request | None] = []
    if raw_reference and not engine.tokenizer.adds_bos:
        raw = [raw_sentence_request(engine, s) for s in sentences]
    scorer = engine.scorer(n_threads=threads)
    try:
        todo = requests + [r for r in raw if r is not None]
        scores = _score_requests(engine, scorer, todo, Steps(progress, len(todo), "scoring").step)
    finally:
        scorer.close()
    own, extra = scores[:len(requests)], iter(scores[len(requests):])
    if raw_reference and not raw:
        raw_scores, raw_tokens = own, [len(r.continuation) for r in requests]
    elif raw_reference:
        raw_scores = [next(extra) if r is not None else 0.0 for r in raw]
        raw_tokens = [len(r.continuation) if r is not None else 0 for r in raw]
    out, k = [], 0
    for g in groups:
        n = len(g)
        group = Group(g, own[k:k + n], [len(requests[k + j].continuation) for j in range(n)])
        if raw_reference:
            group.raw_logprob, group.raw_tokens = raw_scores[k:k + n], raw_tokens[k:k + n]
        out.append(group)
        k += n
    return out


def _score_requests(engine, scorer: Scorer, requests: list[Request], step: Callable[[int], None]) -> list[float]:
    """Log-likelihoods of whole requests; one longer than the context is scored with a sliding window."""
    fits = [i for i, r in enumerate(requests) if len(r.context) + len(r.continuation) <= engine.n_ctx]
    scores: dict[int, float] = {}
    for i, res in zip(fits, scorer.loglikelihood([requests[i] for i in fits], progress=step)):
        scores[i] = res.logprob
    for i, r in enumerate(requests):
        if i not in scores:
            tokens = list(r.context + r.continuation)
            scores[i] = float(scorer.token_logprobs(tokens)[len(r.context) - 1:].sum())
            step(1)
    return [scores[i] for i in range(len(requests))]


def perplexity(engine, text: str, window: int | None = None, progress: Progress = no_progress,
               threads: int | None = None) -> dict[str, Any]:
    """Perplexity of a text: exp of the mean negative log-likelihood per token, with a sliding
    window (half of each window is context for the next) when the text exceeds the context."""
    text = text.strip()
    if not text:
        raise KollamaError("the text is empty", hint="pass a non-empty --file")
    req: Request = sentence_request(engine, text)
    tokens = list(req.context + req.continuation)
    scorer = engine.scorer(n_threads=threads)
    try:
        lps = scorer.token_logprobs(tokens, window=window, progress=Steps(progress, len(tokens) - 1, "perplexity").step)
    finally:
        scorer.close()
    nll = -float(lps.sum())
    n = len(lps)
    return {"model": engine.name, "tokens": n, "chars": len(text), "logprob": round(-nll, 6),
            "perplexity": round(math.exp(nll / n), 6), "bits_per_byte": round(nll / math.log(2) / len(text.encode("utf-8")), 6),
            "window": min(window or engine.n_ctx, engine.n_ctx)}
