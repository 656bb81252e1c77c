"""Uploaded documents: stored safely (fresh folder per upload, sanitised name, size and type checked),
ingested in a background thread, listed from SQLite beside the files so the list (and the citation
links to each PDF) survive a restart.

- The same content uploaded again (same SHA-256 in the same collection) answers with the document
  already there instead of adding a copy that would crowd the search hits.
- A PDF that cannot be opened (corrupt, or password protected) is refused in the upload's own response.
- An ingest a killed server left unfinished is found at the next start: its partial chunks are
  removed and it is marked failed, with a message saying to upload it again.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import sqlite3
import threading
import time
import unicodedata
import uuid
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from kollama.errors import KollamaError
from kollama.serve.errors import ApiError

PDF_MAGIC = b"%PDF-"
UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")
INTERRUPTED = "the server stopped during this document's ingest; its partial chunks were removed: upload it again"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS uploads (
    id TEXT PRIMARY KEY, collection TEXT NOT NULL, filename TEXT NOT NULL, path TEXT NOT NULL, size INTEGER NOT NULL,
    sha256 TEXT NOT NULL, status TEXT NOT NULL, error TEXT, pages INTEGER, chunks INTEGER, created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS uploads_by_hash ON uploads (collection, sha256);
"""


def safe_filename(name: str | None) -> str:
    """The last path component, NFC, only letters/digits/._- (Hangul kept), never hidden, always .pdf."""
    base = unicodedata.normalize("NFC", (name or "").replace("\\", "/").rsplit("/", 1)[-1])
    cleaned = re.sub(r"[^\w.\-]+", "_", base, flags=re.UNICODE).strip("._")[:120] or "document"
    stem = cleaned[:-4] if cleaned.lower().endswith(".pdf") else cleaned
    return f"{stem or 'document'}.pdf"


@dataclass
class Upload:
    id: str
    filename: str
    path: str
    size: int
    sha256: str = ""
    status: str = "queued"  # queued | ingesting | done | failed
    error: str | None = None
    pages: int | None = None
    chunks: int | None = None
    created: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("path")
        out["url"] = f"/v1/rag/documents/{self.id}/file"
        return out


def check_pdf(data: bytes) -> int:
    """Pages of a PDF that opens; a 415/422 saying why when it does not (encrypted, corrupt)."""
    import pypdfium2 as pdfium

    if not data.startswith(PDF_MAGIC):
        raise ApiError(415, "only PDF files can be uploaded (the file does not start with %PDF-)", param="file")
    try:
        document = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise ApiError(422, "the PDF is encrypted (password protected): upload a copy without a password",
                           code="encrypted_pdf", param="file") from None
        raise ApiError(422, f"the PDF cannot be read ({exc}): it may be damaged or cut off; upload it again",
                       code="corrupt_pdf", param="file") from None
    try:
        pages = len(document)
    finally:
        document.close()
    if pages == 0:
        raise ApiError(422, "the PDF has no pages", code="empty_pdf", param="file")
    return pages


class UploadRegistry:
    def __init__(self, root: Path, collection: str, qdrant_url: str | None = None):
        self.root = root
        self.collection = collection
        self.qdrant_url = qdrant_url
        root.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(root / "uploads.sqlite", timeout=30, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    # --- rows ---------------------------------------------------------------------------------
    def _save(self, upload: Upload) -> None:
        row = {f.name: getattr(upload, f.name) for f in fields(Upload)}
        with self._lock, self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO uploads (id, collection, filename, path, size, sha256, status, error, pages,"
                " chunks, created) VALUES (:id, :collection, :filename, :path, :size, :sha256, :status, :error,"
                " :pages, :chunks, :created)", {**row, "collection": self.collection})

    def _rows(self, where: str = "", args: tuple = ()) -> list[Upload]:
        with self._lock:
            rows = self._db.execute(f"SELECT * FROM uploads WHERE collection = ? {where} ORDER BY created DESC",
                                    (self.collection, *args)).fetchall()
        names = {f.name for f in fields(Upload)}
        return [Upload(**{k: row[k] for k in row.keys() if k in names}) for row in rows]

    # --- what the routes call -------------------------------------------------------------------
    def recover(self) -> list[Upload]:
        """At start: ingests a killed server left unfinished lose their partial chunks and are marked failed."""
        from kollama.rag import api

        stuck = self._rows("AND status IN ('queued', 'ingesting')")
        for upload in stuck:
            try:
                api.remove([upload.path], collection=self.collection, qdrant_url=self.qdrant_url)
            except Exception:  # noqa: BLE001  (nothing of it reached the store)
                pass
            upload.status, upload.error = "failed", INTERRUPTED
            self._save(upload)
        return stuck

    def store(self, filename: str | None, data: bytes) -> tuple[Upload, bool]:
        """The upload, and whether it is new (False: the same content was already uploaded)."""
        pages = check_pdf(data)
        digest = hashlib.sha256(data).hexdigest()
        for existing in self._rows("AND sha256 = ? AND status != 'failed'", (digest,)):
            return existing, False
        ident = uuid.uuid4().hex
        folder = (self.root / ident).resolve()
        if self.root.resolve() not in folder.parents:  # cannot happen with a uuid; belt and braces
            raise ApiError(400, "bad upload path")
        folder.mkdir(parents=True)
        path = folder / safe_filename(filename)
        path.write_bytes(data)
        upload = Upload(ident, path.name, str(path), len(data), digest, pages=pages)
        self._save(upload)
        threading.Thread(target=self._ingest, args=(upload,), name=f"ingest-{ident[:8]}", daemon=True).start()
        return upload, True

    def _ingest(self, upload: Upload) -> None:
        from kollama.rag import api

        upload.status = "ingesting"
        self._save(upload)
        try:
            report = api.add([upload.path], collection=self.collection, qdrant_url=self.qdrant_url)
            result = report["files"][0]
            if result.get("error"):
                upload.status, upload.error = "failed", str(result["error"])
            else:
                upload.status, upload.pages, upload.chunks = "done", result.get("pages"), result.get("chunks")
        except Exception as exc:  # reported through the status route, never lost
            upload.status, upload.error = "failed", str(exc)
        self._save(upload)

    def get(self, ident: str) -> Upload:
        found = self._rows("AND id = ?", (ident,)) if UPLOAD_ID.match(ident) else []
        if not found:
            raise ApiError(404, f"no uploaded document '{ident}'")
        return found[0]

    def delete(self, ident: str) -> Upload:
        """Remove the document's chunks from the collection, its file and its row."""
        from kollama.rag import api

        upload = self.get(ident)
        if upload.status in ("queued", "ingesting"):
            raise ApiError(409, f"'{upload.filename}' is still being ingested: delete it once its status is done",
                           code="ingesting")
        if upload.status == "done":
            try:
                api.remove([upload.path], collection=self.collection, qdrant_url=self.qdrant_url)
            except KollamaError as exc:
                if "no document" not in str(exc):  # already removed with `kollama rag remove`: fine
                    raise
        with self._lock, self._db:
            self._db.execute("DELETE FROM uploads WHERE id = ?", (ident,))
        shutil.rmtree(Path(upload.path).parent, ignore_errors=True)
        return upload

    def all(self) -> list[Upload]:
        return self._rows()

    def by_filename(self, name: str) -> Upload | None:
        found = self._rows("AND filename = ? AND status = 'done'", (name,))
        return found[0] if found else None

    def close(self) -> None:
        self._db.close()
