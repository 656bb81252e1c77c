"""OpenAI-compatible routes: /v1/chat/completions, /v1/completions, /v1/embeddings, /v1/models.

Answers carry an extra `kollama` object (lock, enforcement, retries, timing) that OpenAI clients ignore.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse

from kollama.engines import Engine, Generation, Response
from kollama.serve import logprobs
from kollama.serve.answers import Answer, start_answer
from kollama.serve.embeddings import E5_NAMES, Embedder, encode_vector
from kollama.serve.errors import OPENAI_ERRORS, ApiError
from kollama.serve.schemas import (ChatCompletionRequest, CompletionRequest, ContentPart, EmbeddingRequest,
                                   KollamaExtras)
from kollama.serve.state import ServerState, generation_params, state_of

router = APIRouter(prefix="/v1", responses=OPENAI_ERRORS, tags=["OpenAI-compatible"])

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
STREAMS = {200: {"description": "one JSON object, or server-sent events when stream=true",
                 "content": {"application/json": {}, "text/event-stream": {}}}}


def kollama_extras(body: KollamaExtras) -> tuple[str | None, str | None]:
    """`lock` and `lang` from the top level or from `extra_body` (both spellings clients use)."""
    extra = body.extra_body
    return body.lock or (extra.lock if extra else None), body.lang or (extra.lang if extra else None)


def _text(content: str | list[ContentPart] | None) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    return "".join(part.text for part in content)


def _params(state: ServerState, body: ChatCompletionRequest | CompletionRequest, max_tokens: int | None):
    if Embedder.serves(body.model):
        raise ApiError(404, f"'{body.model}' is an embedding model, not a chat model: use /v1/embeddings", code="model_not_found", param="model")
    lock, lang = kollama_extras(body)
    return generation_params(state, temperature=body.temperature, top_p=body.top_p, max_tokens=max_tokens,
                             seed=body.seed, stop=body.stop, lock=lock, lang=lang,
                             top_logprobs=body.wanted_logprobs())


def _usage(response: Response | None) -> dict[str, int]:
    prompt = response.prompt_tokens if response else 0
    completion = response.completion_tokens if response else 0
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _kollama(response: Response | None) -> dict[str, Any] | None:
    if response is None:
        return None
    return {k: v for k, v in response.to_json().items() if k not in ("text", "model")}


def _finish(response: Response | None) -> str:
    reason = response.finish_reason if response else "stop"
    return reason if reason in ("stop", "length") else "stop"


def _sse(data: dict[str, Any]) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


async def _stream(answer: Answer, chunk: Callable[..., dict[str, Any]], include_usage: bool) -> AsyncIterator[str]:
    """SSE events: pieces as they come, then the finish reason, usage if asked, [DONE].

    If the client goes away Starlette cancels this generator and the `finally` stops the model.
    """
    try:
        yield _sse(chunk(first=True))
        async for piece in answer.pieces():
            yield _sse(chunk(piece=piece))
        yield _sse(chunk(done=answer.response))
        if include_usage:
            yield _sse(chunk(usage=answer.response))
        yield "data: [DONE]\n\n"
    except Exception as exc:  # the backend failed mid-answer: say so in the stream, the status is already 200
        yield _sse({"error": {"message": str(exc), "type": "server_error", "param": None, "code": None}})
        yield "data: [DONE]\n\n"
    finally:
        answer.cancel()


def _client_gone() -> JSONResponse:
    return JSONResponse({"error": {"message": "client closed the request", "type": "invalid_request_error",
                                   "param": None, "code": "client_closed"}}, status_code=499)


async def _answer(request: Request, body: ChatCompletionRequest | CompletionRequest, make: Callable[[Engine], Generation]) -> Answer:
    state = state_of(request)
    return await start_answer(state.pool, state.limiter, body.model, None, make, request, log=state.options.log)


async def _reply(request: Request, body: Any, answer: Answer, chunk: Callable[..., dict[str, Any]],
                 whole: Callable[[Response], dict[str, Any]]):
    """SSE chunks as the answer streams, or one JSON object once it is done."""
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        return StreamingResponse(_stream(answer, chunk, include_usage), media_type="text/event-stream",
                                 headers=SSE_HEADERS)
    response = await answer.collect(request)
    if response is None:
        return _client_gone()
    return whole(response)


@router.post("/chat/completions", summary="Chat completion (streaming SSE or one JSON)", responses=STREAMS)
async def chat_completions(body: ChatCompletionRequest, request: Request):
    state = state_of(request)
    params = _params(state, body, body.max_completion_tokens or body.max_tokens)
    roles = {"developer": "system", "tool": "user"}
    messages = [{"role": roles.get(m.role, m.role), "content": _text(m.content)} for m in body.messages]
    answer = await _answer(request, body, lambda engine: engine.chat(messages, params))
    ident, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())

    def chunk(first: bool = False, piece: str | None = None, done: Response | None = None,
              usage: Response | None = None) -> dict[str, Any]:
        base: dict[str, Any] = {"id": ident, "object": "chat.completion.chunk", "created": created,
                                "model": body.model, "system_fingerprint": None}
        if usage is not None:
            return {**base, "choices": [], "usage": _usage(usage)}
        if first:
            delta: dict[str, Any] = {"role": "assistant", "content": ""}
        elif piece is not None:
            delta = {"content": piece}
        else:
            delta = {}
        wanted = piece is not None and params.top_logprobs is not None
        choice = {"index": 0, "delta": delta, "logprobs": logprobs.openai_chat(logprobs.of_piece(piece)) if wanted else None,
                  "finish_reason": _finish(done) if not first and piece is None else None}
        out = {**base, "choices": [choice]}
        if not first and piece is None:
            out["kollama"] = _kollama(done)
        return out

    def whole(response: Response) -> dict[str, Any]:
        return {
            "id": ident, "object": "chat.completion", "created": created, "model": body.model,
            "system_fingerprint": None,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": response.text, "refusal": None},
                         "logprobs": logprobs.openai_chat(response.logprobs) if response.logprobs is not None else None,
                         "finish_reason": _finish(response)}],
            "usage": _usage(response),
            "kollama": _kollama(response),
        }

    return await _reply(request, body, answer, chunk, whole)


@router.post("/completions", summary="Text completion of a raw prompt (no chat template)", responses=STREAMS)
async def completions(body: CompletionRequest, request: Request):
    state = state_of(request)
    params = _params(state, body, body.max_tokens)
    prompt = body.prompt if isinstance(body.prompt, str) else body.prompt[0]
    answer = await _answer(request, body, lambda engine: engine.complete(prompt, params))
    ident, created = f"cmpl-{uuid.uuid4().hex[:24]}", int(time.time())
    offset = [len(prompt) if body.echo else 0]  # characters streamed so far: each chunk's text_offset starts there

    def chunk(first: bool = False, piece: str | None = None, done: Response | None = None,
              usage: Response | None = None) -> dict[str, Any]:
        base: dict[str, Any] = {"id": ident, "object": "text_completion", "created": created, "model": body.model}
        if usage is not None:
            return {**base, "choices": [], "usage": _usage(usage)}
        text = prompt if first and body.echo else (piece or "")
        finished = not first and piece is None
        lp = None
        if piece is not None and params.top_logprobs is not None:
            lp = logprobs.openai_completion(logprobs.of_piece(piece), offset[0])
            offset[0] += len(piece)
        out = {**base, "choices": [{"index": 0, "text": text, "logprobs": lp,
                                    "finish_reason": _finish(done) if finished else None}]}
        if finished:
            out["kollama"] = _kollama(done)
        return out

    def whole(response: Response) -> dict[str, Any]:
        return {
            "id": ident, "object": "text_completion", "created": created, "model": body.model,
            "choices": [{"index": 0, "text": (prompt if body.echo else "") + response.text,
                         "logprobs": (logprobs.openai_completion(response.logprobs, len(prompt) if body.echo else 0)
                                      if response.logprobs is not None else None),
                         "finish_reason": _finish(response)}],
            "usage": _usage(response),
            "kollama": _kollama(response),
        }

    return await _reply(request, body, answer, chunk, whole)


@router.post("/embeddings", summary="Embeddings from multilingual-e5-small (384 dimensions)")
async def embeddings(body: EmbeddingRequest, request: Request):
    state = state_of(request)
    if not Embedder.serves(body.model):
        raise ApiError(404, f"'{body.model}' is not an embedding model: use {E5_NAMES[0]}", code="model_not_found",
                       param="model")
    texts = Embedder.texts(body.input)
    await state.limiter.acquire()
    started = time.perf_counter()
    try:
        vectors, tokens = await asyncio.to_thread(state.embedder.embed, texts, body.input_type)
    finally:
        state.limiter.release(time.perf_counter() - started)
    return {
        "object": "list", "model": body.model,
        "data": [{"object": "embedding", "index": i, "embedding": encode_vector(v, body.encoding_format)}
                 for i, v in enumerate(vectors)],
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def _model_card(name: str, created: int) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": created, "owned_by": "kollama"}


@router.get("/models", summary="Models this server offers")
async def list_models(request: Request):
    state = state_of(request)
    created = int(state.started)
    names = list(state.pool.offered) + [E5_NAMES[0]]
    return {"object": "list", "data": [_model_card(n, created) for n in names]}


@router.get("/models/{model:path}", summary="One model")
async def get_model(model: str, request: Request):
    state = state_of(request)
    if Embedder.serves(model):
        return _model_card(E5_NAMES[0], int(state.started))
    return _model_card(state.pool.find(model).name, int(state.started))
