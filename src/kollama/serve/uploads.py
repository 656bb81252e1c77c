"""Uploaded documents: stored safely (fresh folder per upload, sanitised name, size and type checked),
ingested in a background thread, status kept for `GET /v1/rag/documents/{id}`."""

from __future__ import annotations

import re
import threading
import time
import unicodedata
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kollama.serve.errors import ApiError

PDF_MAGIC = b"%PDF-"
UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")


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
    status: str = "queued"  # queued | ingesting | done | failed
    error: str | None = None
    pages: int | None = None
    chunks: int | None = None
    created: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("path")
        return out


class UploadRegistry:
    def __init__(self, root: Path, collection: str, qdrant_url: str | None = None):
        self.root = root
        self.collection = collection
        self.qdrant_url = qdrant_url
        self._uploads: dict[str, Upload] = {}
        self._lock = threading.Lock()

    def store(self, filename: str | None, data: bytes) -> Upload:
        if not data.startswith(PDF_MAGIC):
            raise ApiError(415, "only PDF files can be uploaded (the file does not start with %PDF-)", param="file")
        ident = uuid.uuid4().hex
        folder = (self.root / ident).resolve()
        if self.root.resolve() not in folder.parents:  # cannot happen with a uuid; belt and braces
            raise ApiError(400, "bad upload path")
        folder.mkdir(parents=True)
        path = folder / safe_filename(filename)
        path.write_bytes(data)
        upload = Upload(ident, path.name, str(path), len(data))
        with self._lock:
            self._uploads[ident] = upload
        threading.Thread(target=self._ingest, args=(upload,), name=f"ingest-{ident[:8]}", daemon=True).start()
        return upload

    def _ingest(self, upload: Upload) -> None:
        from kollama.rag import api

        upload.status = "ingesting"
        try:
            report = api.add([upload.path], collection=self.collection, qdrant_url=self.qdrant_url)
            result = report["files"][0]
            if result.get("error"):
                upload.status, upload.error = "failed", str(result["error"])
            else:
                upload.status, upload.pages, upload.chunks = "done", result.get("pages"), result.get("chunks")
        except Exception as exc:  # reported through the status route, never lost
            upload.status, upload.error = "failed", str(exc)

    def get(self, ident: str) -> Upload:
        upload = self._uploads.get(ident) if UPLOAD_ID.match(ident) else None
        if upload is None:
            raise ApiError(404, f"no uploaded document '{ident}'")
        return upload

    def all(self) -> list[Upload]:
        with self._lock:
            return sorted(self._uploads.values(), key=lambda u: -u.created)

    def by_filename(self, name: str) -> Upload | None:
        for upload in self.all():
            if upload.filename == name:
                return upload
        return None
