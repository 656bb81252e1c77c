"""Search one collection: dense (e5), BM25 over Kiwi morphemes, or both fused by RRF in one Qdrant query."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from kollama.errors import KollamaError
from kollama.korean.morphology import nfc
from kollama.rag import sparse
from kollama.rag.embedder import Embedder
from kollama.rag.store import DENSE, Store

MODES = ("hybrid", "dense", "bm25", "bm25_ws")
PREFETCH = 40  # candidates each retriever hands to the fusion
RRF_K = 2  # Qdrant's default constant: the top ranks of each retriever count most
RRF_WEIGHTS = [1.0, 1.5]
TOC_SLACK = 10  # extra candidates fetched so that content can replace table-of-contents hits  # dense, Kiwi BM25: exact Korean morphemes and model codes are the stronger signal here
FORM_WEIGHT = 0.4  # a blank form's score counts this much: below the content it would otherwise crowd out


@dataclass
class Hit:
    chunk_id: str
    score: float
    doc: str
    title: str
    page: int  # PDF page, or HWP/HWPX section
    heading: str
    text: str
    doc_id: str
    paragraph: int | None = None
    toc: bool = False
    paragraphs: list[int | None] | None = None  # HWP/HWPX: paragraph of each line of `text`
    form: bool = False  # from a blank form (collections written before forms were marked have none)

    @property
    def citation(self) -> str:
        return self.citation_at(None)

    def citation_at(self, line: int | None) -> str:
        """The citation of the whole chunk, or of one line of it (HWP paragraphs differ line by line)."""
        paragraph = self.paragraph
        if line is not None and self.paragraphs and 0 <= line < len(self.paragraphs):
            paragraph = self.paragraphs[line]
        if paragraph is not None:
            return f"[{self.title} §{self.page} ¶{paragraph}]"
        return f"[{self.title} p.{self.page}]"

    def to_json(self) -> dict:
        return asdict(self) | {"score": round(self.score, 4), "citation": self.citation}


def _sparse_query(name: str, query: str):
    from qdrant_client import models

    indices, values = sparse.query_vector(sparse.ANALYSERS[name](query))
    return models.SparseVector(indices=indices, values=values) if indices else None


def search(store: Store, embedder: Embedder | None, query: str, k: int = 5, mode: str = "hybrid") -> list[Hit]:
    """Top-k chunks; an empty list when the collection is empty or nothing matches."""
    from qdrant_client import models

    if mode not in MODES:
        raise KollamaError(f"unknown search mode '{mode}'", hint="use hybrid, dense or bm25")
    if k < 1:
        raise KollamaError("--k must be at least 1")
    query = nfc(query).strip()
    if not query:
        raise KollamaError("empty query", hint="pass a question or keywords")
    if not store.exists() or store.count_points() == 0:
        return []
    wanted, k = k, k + TOC_SLACK  # fetch a little more so content pages can move above TOC pages
    where = store.searchable_filter()
    if mode in ("bm25", "bm25_ws"):
        vector = _sparse_query(mode, query)
        if vector is None:
            return []
        result = store.qdrant.query_points(store.name, query=vector, using=mode, limit=k, query_filter=where, with_payload=True)
    else:
        dense = embedder.embed_query(query).tolist()
        if mode == "dense":
            result = store.qdrant.query_points(store.name, query=dense, using=DENSE, limit=k, query_filter=where,
                                               with_payload=True)
        else:
            prefetch = [models.Prefetch(query=dense, using=DENSE, limit=PREFETCH, filter=where)]
            vector = _sparse_query("bm25", query)
            weights = RRF_WEIGHTS[:1]
            if vector is not None:
                prefetch.append(models.Prefetch(query=vector, using="bm25", limit=PREFETCH, filter=where))
                weights = RRF_WEIGHTS
            fusion = models.RrfQuery(rrf=models.Rrf(k=RRF_K, weights=weights))
            result = store.qdrant.query_points(store.name, prefetch=prefetch, query=fusion, limit=k, with_payload=True)
    hits = [Hit(str(p.id), float(p.score), p.payload["doc"], p.payload["title"], int(p.payload["page"]),
                p.payload.get("heading", ""), p.payload["text"], p.payload["doc_id"], p.payload.get("paragraph"),
                bool(p.payload.get("toc", False)), p.payload.get("paragraphs"), bool(p.payload.get("form", False)))
            for p in result.points]
    if mode == "hybrid":
        hits = named_codes_first(query, hits)
    return content_first(hits, forms_lower=mode == "hybrid")[:wanted]


def _squashed(text: str) -> str:
    return re.sub(r"[\s_-]+", "", text.lower())


def named_codes_first(query: str, hits: list[Hit]) -> list[Hit]:
    """A question that names a model code ('AP-300', 'R1-Zero', 'V3') asks about that one: chunks whose
    title, heading or text carry every code of the question rank above those that do not (stable), when any
    does. Two manuals of sibling models differ mostly in the code, so e5 alone can put the sibling first."""
    codes = {_squashed(code) for code in sparse._CODE.findall(query)}
    if not codes:
        return hits
    naming = [all(code in _squashed(f"{hit.title} {hit.heading} {hit.text}") for code in codes) for hit in hits]
    if not any(naming):
        return hits
    return [hit for hit, named in zip(hits, naming) if named] + [hit for hit, named in zip(hits, naming) if not named]


def content_first(hits: list[Hit], forms_lower: bool = True) -> list[Hit]:
    """Table-of-contents chunks stay searchable but rank below every content chunk (stable otherwise):
    a TOC line repeats the article title, so it often outscores the article itself. Blank forms are
    demoted more gently, their score counting FORM_WEIGHT of its value: a dozen forms that each restate
    a project's name do not fill the top 5, but a form that alone answers (a deposit rate printed only
    in the form) still outscores weak content. Only fused (hybrid) scores are weighted: the single retrievers
    are shown as they are, for comparison."""
    if forms_lower and any(hit.form for hit in hits):
        for hit in hits:
            if hit.form:
                hit.score *= FORM_WEIGHT
        hits = sorted(hits, key=lambda hit: -hit.score)
    return [hit for hit in hits if not hit.toc] + [hit for hit in hits if hit.toc]
