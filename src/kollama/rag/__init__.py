"""`kollama rag`: ask questions over Korean PDFs with page citations.

Pipeline: documents (PDF pages, OCR where needed) -> chunking (Kiwi sentences) -> store (Qdrant dense +
BM25 sparse vectors, SQLite state) -> retrieve (hybrid RRF) -> answer (cited). `kollama.rag.api` is the
plain-function surface used by the CLI and the HTTP server.
"""
