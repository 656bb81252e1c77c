"""`rag eval`: retrieval quality for every mode side by side, plus an HTML report.

A question with a `page` counts as found at rank r when the r-th distinct (document, page) retrieved is
its page. A question with an `answer` (an exact passage, for HWP/HWPX, which has no pages) counts as
found at rank r when the r-th chunk retrieved from its document contains that passage (spacing ignored).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

from kollama.errors import KollamaError
from kollama.korean.morphology import nfc
from kollama.progress import Progress, Steps, no_progress
from kollama.rag.embedder import Embedder
from kollama.rag.retrieve import search
from kollama.rag.sparse import kiwi_terms
from kollama.rag.store import Store

EVAL_MODES = {"bm25-whitespace": "bm25_ws", "bm25-kiwi": "bm25", "dense": "dense", "hybrid": "hybrid"}
DEPTH = 10  # pages ranked per question (nDCG@10)


def load_qa(path: Path) -> list[dict]:
    if not path.is_file():
        raise KollamaError(f"no such file: '{path}'", hint="pass a JSONL file of {\"question\", \"doc\", \"page\"}")
    items = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            parsed = {"question": str(item["question"]), "doc": str(item["doc"])}
            if "answer" in item and str(item["answer"]).strip():
                parsed["answer"] = str(item["answer"])
            else:
                parsed["page"] = int(item["page"])
            items.append(parsed)
        except (ValueError, KeyError, TypeError):
            raise KollamaError(f"{path.name} line {number}: expected {{\"question\", \"doc\", \"page\"}} "
                               f"or {{\"question\", \"doc\", \"answer\"}}") from None
    if not items:
        raise KollamaError(f"{path.name} has no questions")
    return items


def _squash(text: str) -> str:
    return "".join(nfc(text).split())


def rank_of(item: dict, hits: list) -> tuple[int | None, list[str]]:
    """The 1-based rank at which `item` is found in `hits`, and the top three results as labels."""
    if "answer" in item:
        passage = _squash(item["answer"])
        ranked = hits[:DEPTH]
        rank = next((n for n, hit in enumerate(ranked, start=1) if hit.doc == item["doc"] and passage in _squash(hit.text)),
                    None)
        return rank, [hit.citation for hit in ranked[:3]]
    pages = list(dict.fromkeys((hit.doc, hit.page) for hit in hits))[:DEPTH]
    gold = (item["doc"], item["page"])
    return (pages.index(gold) + 1 if gold in pages else None), [f"{d} p.{p}" for d, p in pages[:3]]


def metrics(ranks: list[int | None], k: int) -> dict:
    n = len(ranks)
    return {
        "recall@1": round(sum(1 for r in ranks if r == 1) / n, 4),
        f"recall@{k}": round(sum(1 for r in ranks if r is not None and r <= k) / n, 4),
        "mrr": round(sum(1 / r for r in ranks if r) / n, 4),
        "ndcg@10": round(sum(1 / math.log2(r + 1) for r in ranks if r and r <= 10) / n, 4),
    }


def evaluate(store: Store, embedder: Embedder, qa: list[dict], k: int = 5, progress: Progress = no_progress) -> dict:
    if store.count_points() == 0:
        raise KollamaError(f"collection '{store.location.collection}' is empty", hint="add documents with `kollama rag add`")
    kiwi_terms("모델을 미리 불러온다")  # loading Kiwi and e5 is not query time
    embedder.embed_query("워밍업")
    per_question = [{"question": q["question"], "doc": q["doc"], "page": q.get("page"), "answer": q.get("answer"),
                     "modes": {}} for q in qa]
    modes = {}
    queries = Steps(progress, len(qa) * len(EVAL_MODES), "evaluating")
    for label, mode in EVAL_MODES.items():
        ranks, seconds = [], []
        for item, row in zip(qa, per_question):
            start = time.perf_counter()
            hits = search(store, embedder, item["question"], k=DEPTH * 3, mode=mode)
            seconds.append(time.perf_counter() - start)
            rank, top = rank_of(item, hits)
            ranks.append(rank)
            row["modes"][label] = {"rank": rank, "top": top}
            queries.step()
        modes[label] = metrics(ranks, k) | {"ms_per_query": round(1000 * sum(seconds) / len(seconds), 1)}
    return {"n": len(qa), **{key: value for key, value in modes["hybrid"].items() if key != "ms_per_query"},
            "k": k, "modes": modes, "per_question": per_question}


def write_html(report: dict, path: Path) -> Path:
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("kollama.rag", "templates"), autoescape=select_autoescape())
    path.write_text(env.get_template("eval.html").render(report=report), encoding="utf-8")
    return path
