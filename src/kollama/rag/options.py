"""What the `kollama rag` commands (and the /v1/rag routes) are asked to do, with every default written once:
`rag ask`'s validated dataclass and the search, evaluation and ingest defaults. The CLI's flags, the server's
request schemas and `kollama.rag.api`'s functions read them from here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kollama.errors import KollamaError
from kollama.korean.lock import parse_lock
from kollama.rag.store import DEFAULT_COLLECTION

SEARCH_K = 5  # chunks `rag search` returns
SEARCH_MODE = "hybrid"  # dense + Kiwi BM25, fused by RRF (or dense, bm25)
RECALL_K = 5  # `rag eval`'s cut-off for recall@k
OCR_MODE = "auto"  # OCR the pages without usable text (or always, never)


@dataclass
class RagAskOptions:
    model: str = "gemma3"  # writes the answer (the server's first served model when it has one)
    k: int = 5  # chunks to retrieve
    extractive: bool = False  # no generation: quote the best sentences
    lock: str = "script"
    max_tokens: int = 128
    seed: int = 0
    collection: str = DEFAULT_COLLECTION
    store: str | Path | None = None  # folder holding the collections (None: $KOLLAMA_HOME/rag)
    qdrant_url: str | None = None  # a Qdrant server or cluster instead of the embedded store

    def __post_init__(self) -> None:
        if self.extractive:
            return  # nothing is generated, so the generation settings are not used
        if self.max_tokens < 1:
            raise KollamaError("--max-tokens must be at least 1")
        parse_lock(self.lock)
