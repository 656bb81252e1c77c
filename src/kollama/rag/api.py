"""The plain-function surface of `kollama rag`, shared by the CLI and the HTTP server; every function
returns JSON-ready data.

Embedded Qdrant allows one client per folder, so open stores are cached per process and each call
holds that store's lock.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kollama.errors import KollamaError
from kollama.progress import Progress, no_progress
from kollama.rag.options import OCR_MODE, RECALL_K, SEARCH_K, SEARCH_MODE, RagAskOptions
from kollama.rag.store import DEFAULT_COLLECTION, Store, StoreLocation

if TYPE_CHECKING:
    from kollama.engines import Response

_stores: dict[tuple, tuple[Store, threading.Lock]] = {}
_stores_lock = threading.Lock()


@contextmanager
def opened(collection: str = DEFAULT_COLLECTION, store: str | Path | None = None, qdrant_url: str | None = None):
    """The (cached) store for a collection, locked for the duration of the call, with the embedder that
    wrote it (or the default one for a new collection)."""
    from kollama.rag.embedder import embedder_for

    location = StoreLocation(collection, Path(store).resolve() if store else None, qdrant_url)
    key = (location.collection, str(location.store_dir), location.qdrant_url)
    with _stores_lock:
        if key not in _stores:
            _stores[key] = (Store(location), threading.Lock())
        opened_store, lock = _stores[key]
    with lock:
        yield opened_store, embedder_for(opened_store.embedder_name())


def close_all() -> None:
    with _stores_lock:
        for opened_store, _ in _stores.values():
            opened_store.close()
        _stores.clear()


atexit.register(close_all)  # embedded Qdrant complains when closed during interpreter shutdown


def add(paths: Iterable[str | Path], collection: str = DEFAULT_COLLECTION, store: str | Path | None = None,
        qdrant_url: str | None = None, ocr: str = OCR_MODE, progress: Progress = no_progress,
        file_progress: Progress = no_progress) -> dict:
    """Ingest files/folders/globs. Returns `{"collection", "seconds", "files": [{"file", "status", "pages",
    "chunks", "ocr_pages", "seconds", "error"}]}`; failed files carry an `error` and do not stop the others.
    `progress` counts the files, `file_progress` follows the one under way (`Ingester`)."""
    import time

    from kollama.rag.ingest import Ingester, IngestReport, expand_paths

    files = expand_paths(paths)
    start = time.perf_counter()
    with opened(collection, store, qdrant_url) as (st, embedder):
        ingester = Ingester(st, embedder, ocr_mode=ocr, progress=file_progress)
        results = []
        progress(0, len(files), "files")
        for done, path in enumerate(files, start=1):
            results.append(ingester.add_file(path))
            progress(done, len(files), "files")
    return IngestReport(collection, results, time.perf_counter() - start).to_json()


def remove(names: Iterable[str], collection: str = DEFAULT_COLLECTION, store: str | Path | None = None,
           qdrant_url: str | None = None) -> dict:
    from kollama.rag.ingest import remove_documents

    with opened(collection, store, qdrant_url) as (st, _):
        return {"collection": collection, "removed": remove_documents(st, list(names))}


def documents(collection: str = DEFAULT_COLLECTION, store: str | Path | None = None,
              qdrant_url: str | None = None) -> dict:
    with opened(collection, store, qdrant_url) as (st, _):
        docs = st.documents()
        return {"collection": collection, "documents": docs, "chunks": st.count_points()}


def search(query: str, k: int = SEARCH_K, mode: str = SEARCH_MODE, collection: str = DEFAULT_COLLECTION,
           store: str | Path | None = None, qdrant_url: str | None = None) -> dict:
    """`{"query", "mode", "hits": [{"chunk_id", "score", "doc", "title", "page", "heading", "text", "citation"}]}`"""
    from kollama.rag import retrieve

    with opened(collection, store, qdrant_url) as (st, embedder):
        hits = retrieve.search(st, embedder, query, k=k, mode=mode)
    return {"query": query, "mode": mode, "collection": collection, "hits": [hit.to_json() for hit in hits]}


def ask(question: str, options: RagAskOptions | None = None, *, engine=None,
        on_response: Callable[[Response], None] | None = None, **settings: Any) -> dict:
    """Answer from the documents with page citations. `{"question", "answer", "mode", "relevant",
    "citations": [{"doc", "title", "page", "chunk_id", "citation"}], "chunks": [...], "model", "response"}`.
    `options` (default: RagAskOptions()) with any of its fields overridden by `settings` (model=, k=, ...).
    Pass a loaded `engine` to reuse it (the server does). `on_response` receives the model's
    response (the CLI and the server log it there, unless --no-log); nothing is logged here."""
    from kollama.rag import retrieve
    from kollama.rag.answer import DONT_KNOW, Answer, extractive_answer, relevant_hits

    options = replace(options or RagAskOptions(), **settings)
    with opened(options.collection, options.store, options.qdrant_url) as (st, embedder):
        if st.count_points() == 0:
            raise KollamaError(f"collection '{options.collection}' is empty, so there is nothing to answer from",
                               hint="add documents first: kollama rag add FILE.pdf")
        hits = retrieve.search(st, embedder, question, k=options.k, mode="hybrid")
    relevant = relevant_hits(question, hits)
    if not relevant:
        return Answer(question, DONT_KNOW, "none", [], hits, relevant=False).to_json()
    if options.extractive:
        text, citations = extractive_answer(question, relevant)
        return Answer(question, text, "extractive", citations, relevant).to_json()
    return _generate(question, relevant, options, engine, on_response).to_json()


ANSWER_STOPS = ["\n\n", "###", "질문:", "문서:"]  # base models otherwise go on to write the next document


def _generate(question, hits, options: RagAskOptions, engine, on_response=None):
    from kollama.engines import GenerationParams, load_engine
    from kollama.engines.budget import count_tokens as engine_tokens
    from kollama.korean.lock import parse_lock
    from kollama.rag.answer import Answer, attach_citations, build_messages

    max_tokens = options.max_tokens
    params = GenerationParams(temperature=0.0, seed=options.seed, max_tokens=max_tokens,
                              lock=parse_lock(options.lock), lang="ko", stop=ANSWER_STOPS)
    own = engine is None
    engine = engine or load_engine(options.model)
    try:
        def count_tokens(text: str) -> int:
            try:
                return engine_tokens(engine, text, add_bos=False)
            except NotImplementedError:  # HTTP engines cannot tokenize locally
                return len(text) // 2 + 1  # a safe over-estimate for Korean on most tokenizers

        budget = engine.context_length - max_tokens
        messages, used = build_messages(question, hits, count_tokens, budget)
        if not used:
            raise KollamaError(f"the model's context ({engine.context_length} tokens) is too small for any passage",
                               hint="use a model with a larger context, lower --max-tokens, or --extractive")
        response = engine.chat(messages, params).result()
        if on_response is not None:
            on_response(response)
        text, citations = attach_citations(response.text.strip(), used)
        return Answer(question, text, "generative", citations, used, model=engine.name, response=response.to_json())
    finally:
        if own:
            engine.close()


def doctor(path: str | Path) -> dict:
    """`{"file", "pages": [{"page", "chars", "needs_ocr", "issues"}], "metadata", "criteria"}`"""
    from kollama.rag.doctor import diagnose

    return diagnose(Path(path))


def evaluate(qa_path: str | Path, k: int = RECALL_K, html: str | Path | None = None, collection: str = DEFAULT_COLLECTION,
             store: str | Path | None = None, qdrant_url: str | None = None,
             progress: Progress = no_progress) -> dict:
    """`{"n", "recall@1", "recall@k", "mrr", "ndcg@10", "modes": {...}, "per_question": [...]}`; hybrid on top.
    `progress` counts the queries run."""
    from kollama.rag import evaluate as ev

    qa = ev.load_qa(Path(qa_path))
    with opened(collection, store, qdrant_url) as (st, embedder):
        report = ev.evaluate(st, embedder, qa, k=k, progress=progress)
    if html:
        report["html"] = str(ev.write_html(report, Path(html)))
    return report
