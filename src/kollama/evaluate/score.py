"""`kollama score`: the probability a model gives whole sentences (ranked within a group), and
the perplexity of a text file with a sliding window."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kollama.errors import KollamaError
from kollama.evaluate.encoding import sentence_request
from kollama.engines.llamacpp import LlamaCppScorer, Request


@dataclass
class Group:
    sentences: list[str]
    logprob: list[float]
    tokens: list[int]

    @property
    def best(self) -> int:
        return max(range(len(self.logprob)), key=lambda i: self.logprob[i])

    def to_json(self) -> dict[str, Any]:
        return {"sentences": self.sentences, "logprob": [round(x, 6) for x in self.logprob], "tokens": self.tokens,
                "avg_logprob": [round(lp / n, 6) if n else 0.0 for lp, n in zip(self.logprob, self.tokens)],
                "best": self.best}


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


def score_groups(engine, groups: list[list[str]], progress=None, threads: int | None = None) -> list[Group]:
    """Each sentence's log-probability after BOS; sentences longer than the context use a sliding window."""
    scorer = LlamaCppScorer(engine, n_threads=threads)
    try:
        requests = [sentence_request(engine, s) for g in groups for s in g]
        for s, r in zip((s for g in groups for s in g), requests):
            if not r.continuation:
                raise KollamaError("an empty sentence cannot be scored", hint="remove empty cells or lines")
        fits = [i for i, r in enumerate(requests) if len(r.context) + len(r.continuation) <= engine.n_ctx]
        if progress:
            progress.begin("scoring", len(requests))
        scores: dict[int, float] = {}
        for i, res in zip(fits, scorer.loglikelihood([requests[i] for i in fits], progress=progress.step if progress else None)):
            scores[i] = res.logprob
        for i, r in enumerate(requests):
            if i not in scores:  # longer than the context: sliding window
                scores[i] = float(scorer.token_logprobs(list(r.context + r.continuation)).sum())
                if progress:
                    progress.step(1)
    finally:
        scorer.close()
    out, k = [], 0
    for g in groups:
        n = len(g)
        out.append(Group(g, [scores[k + j] for j in range(n)], [len(requests[k + j].continuation) for j in range(n)]))
        k += n
    return out


def perplexity(engine, text: str, window: int | None = None, progress=None, threads: int | None = None) -> dict[str, Any]:
    """Perplexity of a text: exp of the mean negative log-likelihood per token, with a sliding
    window (half of each window is context for the next) when the text exceeds the context."""
    text = text.strip()
    if not text:
        raise KollamaError("the text is empty", hint="pass a non-empty --file")
    req: Request = sentence_request(engine, text)
    tokens = list(req.context + req.continuation)
    scorer = LlamaCppScorer(engine, n_threads=threads)
    try:
        if progress:
            progress.begin("perplexity", len(tokens) - 1)
        lps = scorer.token_logprobs(tokens, window=window, progress=progress.step if progress else None)
    finally:
        scorer.close()
    nll = -float(lps.sum())
    n = len(lps)
    return {"model": engine.name, "tokens": n, "chars": len(text), "logprob": round(-nll, 6),
            "perplexity": round(math.exp(nll / n), 6), "bits_per_byte": round(nll / math.log(2) / len(text.encode("utf-8")), 6),
            "window": min(window or engine.n_ctx, engine.n_ctx)}


def print_groups(groups: list[Group]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for gi, g in enumerate(groups):
        table = Table(title=f"group {gi + 1}" if len(groups) > 1 else None)
        for col in ("rank", "logprob", "tokens", "avg", "sentence"):
            table.add_column(col, justify="left" if col == "sentence" else "right")
        order = sorted(range(len(g.sentences)), key=lambda i: -g.logprob[i])
        for rank, i in enumerate(order, start=1):
            table.add_row(str(rank), f"{g.logprob[i]:.3f}", str(g.tokens[i]),
                          f"{g.logprob[i] / g.tokens[i]:.3f}", g.sentences[i], style="bold" if rank == 1 else None)
        console.print(table)
