"""RAG over HTTP: /v1/rag/search, /v1/rag/ask (the `rag` package's JSON shapes) and PDF uploads."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Literal

from fastapi import APIRouter, FastAPI, File, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse
from pydantic import Field

from kollama.config import subdir
from kollama.logs import log_response
from kollama.rag.options import SEARCH_K, SEARCH_MODE, RagAskOptions
from kollama.serve.errors import OPENAI_ERRORS, ApiError
from kollama.serve.schemas import LockName, Loose
from kollama.serve.state import ServerState, state_of
from kollama.serve.uploads import UploadRegistry

import kollama.rag.api  # noqa: F401  (fails here, not per request, when RAG is not installed)

router = APIRouter(prefix="/v1/rag", tags=["RAG"], responses={
    **OPENAI_ERRORS, 409: {"description": "no documents yet"}, 415: {"description": "not a PDF"}})


class SearchRequest(Loose):
    query: str = Field(min_length=1, max_length=2000, pattern=r"\S", description="keywords or a question (not blank)")
    k: int = Field(default=SEARCH_K, ge=1, le=50)
    mode: Literal["hybrid", "dense", "bm25"] = SEARCH_MODE


class AskRequest(Loose):
    # RagAskOptions' fields a client may set, with its defaults (the bounds are the server's own)
    question: str = Field(min_length=1, max_length=2000, pattern=r"\S", description="the question (not blank)")
    model: str | None = Field(default=None, min_length=1, max_length=256)  # None: the first served model
    k: int = Field(default=RagAskOptions.k, ge=1, le=20)
    extractive: bool = RagAskOptions.extractive
    lock: LockName = LockName(RagAskOptions.lock)
    max_tokens: int = Field(default=RagAskOptions.max_tokens, ge=1, le=1024)
    seed: int = Field(default=RagAskOptions.seed, ge=0, le=2**31)

    def options(self, model: str, collection: str, qdrant_url: str | None, max_tokens: int) -> RagAskOptions:
        """The request as the options `kollama rag ask` builds, within the server's `max_tokens`."""
        return RagAskOptions(model=model, k=self.k, extractive=self.extractive, lock=self.lock.value,
                             max_tokens=min(self.max_tokens, max_tokens), seed=self.seed, collection=collection,
                             qdrant_url=qdrant_url)


def _registry(request: Request) -> UploadRegistry:
    return state_of(request).documents


async def _require_documents(collection: str, qdrant_url: str | None) -> None:
    from kollama.rag import api

    listing = await asyncio.to_thread(api.documents, collection, qdrant_url=qdrant_url)
    if not listing.get("chunks"):
        raise ApiError(409, f"collection '{collection}' has no documents yet: upload a PDF first",
                       code="empty_collection")


@router.post("/search", summary="Hybrid (dense + Kiwi BM25) search over the collection")
async def search(body: SearchRequest, request: Request) -> dict[str, Any]:
    from kollama.rag import api

    state = state_of(request)
    return await asyncio.to_thread(api.search, body.query, body.k, body.mode, state.options.collection,
                                   qdrant_url=state.options.qdrant_url)


def _link_citations(answer: dict[str, Any], registry: UploadRegistry) -> dict[str, Any]:
    """Give each citation a link to the cited page of the uploaded PDF, when the server holds it."""
    for citation in answer.get("citations", []):
        upload = registry.by_filename(citation.get("doc", ""))
        if upload is not None:
            citation["url"] = f"/v1/rag/documents/{upload.id}/file#page={citation.get('page', 1)}"
    return answer


@router.post("/ask", summary="Answer from the documents with page citations")
async def ask(body: AskRequest, request: Request) -> dict[str, Any]:
    from kollama.rag import api

    state = state_of(request)
    collection = state.options.collection
    qdrant_url = state.options.qdrant_url
    await _require_documents(collection, qdrant_url)
    model = body.model or next(iter(state.options.models), RagAskOptions.model)
    options = body.options(model, collection, qdrant_url, state.options.max_tokens)
    if options.extractive:
        answer = await asyncio.to_thread(api.ask, body.question, options)
        return _link_citations(answer, state.documents)
    await state.limiter.acquire()
    started = time.perf_counter()
    try:
        entry = await state.pool.acquire(model)
        try:
            def run() -> dict[str, Any]:
                with entry.lock:
                    return api.ask(body.question, options, engine=entry.engine,
                                   on_response=log_response if state.options.log else None)  # --no-log holds for RAG too

            answer = await asyncio.get_running_loop().run_in_executor(entry.worker, run)
        finally:
            await asyncio.to_thread(state.pool.release, entry)
    finally:
        state.limiter.release(time.perf_counter() - started)
    return _link_citations(answer, state.documents)


@router.post("/documents", status_code=202, summary="Upload a PDF; it is ingested in the background",
             responses={200: {"description": "the same content was uploaded before: that document"},
                        422: {"description": "the PDF cannot be opened (corrupt or encrypted)"}})
async def upload(request: Request, file: UploadFile = File(description="a PDF file")) -> JSONResponse:
    state = state_of(request)
    limit = state.options.max_upload_bytes
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise ApiError(413, f"the file is larger than {limit} bytes", param="file")
    item, new = await asyncio.to_thread(state.documents.store, file.filename, data)
    body = {**item.to_json(), "duplicate": not new}
    return JSONResponse(body, status_code=202 if new else 200, headers={"Location": f"/v1/rag/documents/{item.id}"})


@router.delete("/documents/{ident}", summary="Remove an uploaded document, its chunks and its file",
               responses={409: {"description": "still being ingested"}})
async def delete_document(ident: str, request: Request) -> dict[str, Any]:
    upload = await asyncio.to_thread(_registry(request).delete, ident)
    return {"id": upload.id, "filename": upload.filename, "deleted": True}


@router.get("/documents", summary="Uploaded documents and their ingest status")
async def list_documents(request: Request) -> dict[str, Any]:
    return {"documents": [u.to_json() for u in _registry(request).all()]}


@router.get("/documents/{ident}", summary="One upload's ingest status")
async def document_status(ident: str, request: Request) -> dict[str, Any]:
    return _registry(request).get(ident).to_json()


@router.get("/documents/{ident}/file", summary="The uploaded PDF (citations link here with #page=N)",
            responses={200: {"description": "the PDF", "content": {"application/pdf": {}}}})
async def document_file(ident: str, request: Request) -> FileResponse:
    upload = _registry(request).get(ident)
    return FileResponse(upload.path, media_type="application/pdf", filename=upload.filename,
                        content_disposition_type="inline")


def open_store(collection: str, qdrant_url: str | None) -> None:
    """Open the collection now, so a store another process holds fails the server's start with one line
    instead of a healthy server whose every RAG call fails."""
    from kollama.errors import KollamaError
    from kollama.rag import api

    try:
        api.documents(collection, qdrant_url=qdrant_url)
    except KollamaError as exc:
        if "in use" not in str(exc):
            raise
        raise KollamaError(f"the RAG collection '{collection}' is in use by another kollama process (another "
                           "`kollama serve` or `kollama rag` on the same KOLLAMA_HOME)",
                           hint="stop it, or start this server with --collection OTHER, --qdrant-url URL (a Qdrant "
                                "server many processes share) or --no-rag") from None


def install(app: FastAPI, state: ServerState) -> None:
    if state.options.check_rag:
        open_store(state.options.collection, state.options.qdrant_url)
    state.documents = UploadRegistry(subdir("uploads"), state.options.collection, state.options.qdrant_url)
    if state.options.check_rag:
        state.documents.recover()
    app.include_router(router)
