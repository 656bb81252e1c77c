"""OpenAI-compatible routes: /v1/chat/completions, /v1/completions, /v1/embeddings, /v1/models.

Answers carry an extra `kollama` object (lock, enforcement, retries, timing) that OpenAI clients ignore.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
import uuid
from dataclasses import replace
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse

from kollama.engines import Engine, Generation, Response, TokenLogprob
from kollama.serve import logprobs
from kollama.serve.answers import Answer, collect_all, start_answer, start_answers
from kollama.serve.best_of import answer_count, best, decoded_count, rankable, with_scores
from kollama.serve.completions import Prompt, ScoredPrompt, prompt_list, read_prompt, score_prompt
from kollama.serve.embeddings import E5_NAMES, Embedder, encode_vector
from kollama.serve.errors import OPENAI_ERRORS, ApiError
from kollama.serve.schemas import (MAX_PROMPTS, ChatCompletionRequest, CompletionRequest, ContentPart,
                                   EmbeddingRequest, KollamaExtras, NamedToolChoice)
from kollama.serve.structured import (Plan, Structured, Turn, conversation, json_object, parse_tool_calls, plan,
                                      schema_grammar, with_grammar)
from kollama.korean.answer_language import LanguageDecision
from kollama.serve.state import (ServerState, decide_language, derive_seed, generation_params, state_of,
                                 with_language)

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


def _params(state: ServerState, body: ChatCompletionRequest | CompletionRequest, max_tokens: int | None,
            decision: LanguageDecision | None = None):
    if Embedder.serves(body.model):
        raise ApiError(404, f"'{body.model}' is an embedding model, not a chat model: use /v1/embeddings", code="model_not_found", param="model")
    lock, lang = kollama_extras(body)
    lang = decision.lang if decision else lang
    return generation_params(state, temperature=body.temperature, top_p=body.top_p, max_tokens=max_tokens,
                             seed=body.seed, stop=body.stop, lock=lock, lang=lang,
                             top_logprobs=body.wanted_logprobs())


def _usage(response: Response | None) -> dict[str, int]:
    prompt = response.prompt_tokens if response else 0
    completion = response.completion_tokens if response else 0
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _kollama(response: Response | None, decision: LanguageDecision | None = None) -> dict[str, Any] | None:
    if response is None:
        return None
    out = {k: v for k, v in response.to_json().items() if k not in ("text", "model")}
    return {**out, **decision.to_json()} if decision else out


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


def _structured_format(body: ChatCompletionRequest) -> Structured | None:
    """The response_format as a grammar (None: free text)."""
    fmt = body.response_format
    if fmt is None or fmt.type == "text":
        return None
    if fmt.type == "json_object":
        if fmt.object_schema is not None:
            return schema_grammar(fmt.object_schema, "response_format.schema")
        return json_object("response_format")
    if fmt.json_schema is None or fmt.json_schema.json_schema is None:
        raise ApiError(400, "response_format.json_schema.schema is required for type json_schema",
                       param="response_format")
    return schema_grammar(fmt.json_schema.json_schema, "response_format.json_schema.schema")


def _turns(body: ChatCompletionRequest) -> list[Turn]:
    """The chat as neutral turns: calls with their arguments parsed, each tool result naming its tool."""
    called: dict[str, str] = {}
    turns: list[Turn] = []
    for m in body.messages:
        content = _text(m.content)
        if m.role == "tool":
            turns.append(Turn("tool", content, tool=called.get(m.tool_call_id or "", m.name or "the tool"),
                              call_id=m.tool_call_id))
            continue
        calls = []
        for call in (m.tool_calls or []) if m.role == "assistant" else []:
            called[call.id or ""] = call.function.name
            try:
                arguments = json.loads(call.function.arguments or "{}")
            except ValueError:
                arguments = call.function.arguments
            calls.append((call.id, call.function.name, arguments))
        turns.append(Turn("system" if m.role == "developer" else m.role, content, calls))
    return turns


def _tool_calls(plan: Plan, text: str) -> list[dict[str, Any]] | None:
    """The answer's tool calls in OpenAI's shape, or None when it is a plain answer."""
    if plan.tool_mode == "none":
        return None
    calls = parse_tool_calls(text, plan.names)
    if not calls:
        return None
    return [{"id": f"call_{uuid.uuid4().hex[:24]}", "type": "function",
             "function": {"name": c["name"], "arguments": json.dumps(c["arguments"], ensure_ascii=False)}}
            for c in calls]


@router.post("/chat/completions", summary="Chat completion (streaming SSE or one JSON)", responses=STREAMS)
async def chat_completions(body: ChatCompletionRequest, request: Request):
    state = state_of(request)
    n = answer_count(state, body.n)
    decoded = decoded_count(state, body, n)
    tools = [t.function.model_dump() for t in body.tools or []]
    choice = body.tool_choice.function.model_dump() if isinstance(body.tool_choice, NamedToolChoice) else body.tool_choice
    the_plan = plan(tools, choice, _structured_format(body))
    decision = decide_language(kollama_extras(body)[1], [(m.role, _text(m.content)) for m in body.messages])
    base_params = with_grammar(_params(state, body, body.max_completion_tokens or body.max_tokens, decision),
                               the_plan.structured)
    wants_logprobs = base_params.top_logprobs is not None
    base_params = with_scores(base_params, decoded, n)
    turns = _turns(body)

    def make(index: int) -> Callable[[Engine], Generation]:
        params = replace(base_params, seed=derive_seed(base_params.seed, index))
        return rankable(lambda engine: engine.chat(conversation(turns, the_plan, engine.tool_format), params),
                       decoded, n)

    answers = await start_answers(state.pool, state.limiter, body.model, [make(i) for i in range(decoded)], request,
                                  log=state.options.log)
    ident, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())
    base: dict[str, Any] = {"id": ident, "object": "chat.completion.chunk", "created": created,
                            "model": body.model, "system_fingerprint": None}
    buffered = the_plan.tool_mode != "none"  # tool calls are parsed from the whole answer

    def finish_reason(response: Response | None, calls: list | None) -> str:
        return "tool_calls" if calls else _finish(response)

    def message(response: Response) -> tuple[dict[str, Any], list | None]:
        calls = _tool_calls(the_plan, response.text)
        out: dict[str, Any] = {"role": "assistant", "content": None if calls else response.text, "refusal": None}
        if calls:
            out["tool_calls"] = calls
        return out, calls

    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)

        async def events() -> AsyncIterator[str]:
            responses = []
            try:
                for index, answer in enumerate(answers):
                    yield _sse({**base, "choices": [{"index": index, "delta": {"role": "assistant", "content": ""},
                                                     "logprobs": None, "finish_reason": None}]})
                    if buffered:
                        async for _ in answer.pieces():
                            pass
                        done = answer.response
                        msg, calls = message(done)
                        delta = {"tool_calls": [{**c, "index": i} for i, c in enumerate(calls)]} if calls else \
                            {"content": done.text}
                        yield _sse({**base, "choices": [{"index": index, "delta": delta, "logprobs": None,
                                                         "finish_reason": None}]})
                    else:
                        calls = None
                        async for piece in answer.pieces():
                            lp = logprobs.openai_chat(logprobs.of_piece(piece)) \
                                if base_params.top_logprobs is not None else None
                            yield _sse({**base, "choices": [{"index": index, "delta": {"content": piece},
                                                             "logprobs": lp, "finish_reason": None}]})
                        done = answer.response
                    responses.append(done)
                    yield _sse({**base, "choices": [{"index": index, "delta": {}, "logprobs": None,
                                                     "finish_reason": finish_reason(done, calls)}],
                                "kollama": _kollama(done, decision)})
                if include_usage:
                    yield _sse({**base, "choices": [], "usage": _usage_of(responses)})
                yield "data: [DONE]\n\n"
            except Exception as exc:  # the backend failed mid-answer: say so in the stream, the status is already 200
                yield _sse({"error": {"message": str(exc), "type": "server_error", "param": None, "code": None}})
                yield "data: [DONE]\n\n"
            finally:
                for answer in answers:
                    answer.cancel()

        return with_language(StreamingResponse(events(), media_type="text/event-stream", headers=SSE_HEADERS),
                             decision)

    responses = await collect_all(answers, request)
    if responses is None:
        return _client_gone()
    usage = _usage_of(responses)  # every decoded answer's tokens, as OpenAI counts best_of
    responses = best(responses, n, wants_logprobs)
    choices = []
    for index, response in enumerate(responses):
        msg, calls = message(response)
        choices.append({"index": index, "message": msg,
                        "logprobs": logprobs.openai_chat(response.logprobs) if response.logprobs is not None else None,
                        "finish_reason": finish_reason(response, calls)})
    return with_language({"id": ident, "object": "chat.completion", "created": created, "model": body.model,
                          "system_fingerprint": None, "choices": choices, "usage": usage,
                          "kollama": _kollama(responses[0], decision)}, decision)


def _usage_of(responses: list[Response]) -> dict[str, int]:
    """One prompt, n answers: the prompt counted once, every answer's tokens."""
    prompt = responses[0].prompt_tokens if responses else 0
    completion = sum(r.completion_tokens for r in responses)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


async def _score(request: Request, body: CompletionRequest, prompts: list[Prompt], top: int | None) -> list[ScoredPrompt]:
    """Each prompt's tokens, and with `top` not None their unconstrained log-probabilities (echo)."""
    state = state_of(request)
    await state.limiter.acquire()
    started = time.perf_counter()
    try:
        entry = await state.pool.acquire(body.model)
        try:
            def run() -> list[ScoredPrompt]:
                with entry.lock:
                    read = [read_prompt(entry.engine, p) for p in prompts]
                    return read if top is None else [score_prompt(entry.engine, r, top) for r in read]

            return await asyncio.get_running_loop().run_in_executor(entry.worker, run)
        finally:
            await asyncio.to_thread(state.pool.release, entry)
    finally:
        state.limiter.release(time.perf_counter() - started)


def _scoring_kollama(response: Response | None, scored: bool) -> dict[str, Any]:
    """Which lock applied: the generation's, and none on the echoed prompt's scores."""
    out = _kollama(response) or {"lock": "off", "lock_enforcement": "none"}
    if scored:
        out["prompt_logprobs_lock"] = "off"
    return out


@router.post("/completions", summary="Text completion of raw prompts (no chat template); echo scores the prompt",
             responses=STREAMS)
async def completions(body: CompletionRequest, request: Request):
    state = state_of(request)
    prompts = prompt_list(body.prompt)
    if body.stream and len(prompts) > 1:
        raise ApiError(400, "stream one prompt at a time (or send several prompts without stream)", param="stream")
    generate = body.max_tokens is None or body.max_tokens > 0
    first = prompts[0] if prompts and isinstance(prompts[0], str) else ""
    decision = decide_language(kollama_extras(body)[1], [("user", first)])  # auto: from the first prompt
    params = _params(state, body, body.max_tokens, decision)
    n = answer_count(state, body.n)
    body_best_of = decoded_count(state, body, n)
    if body.stream and n > 1:
        raise ApiError(400, "stream one answer at a time (n=1), or leave out stream", param="n")
    if generate and body_best_of * len(prompts) > MAX_PROMPTS:
        raise ApiError(400, f"{len(prompts)} prompts x {body_best_of} answers is more than {MAX_PROMPTS} answers "
                            "in one request; send fewer prompts or ask for fewer answers", param="n")
    wants_echo_logprobs = body.echo and body.logprobs is not None
    read = await _score(request, body, prompts, body.logprobs if wants_echo_logprobs else None)
    ident, created = f"cmpl-{uuid.uuid4().hex[:24]}", int(time.time())
    base: dict[str, Any] = {"id": ident, "object": "text_completion", "created": created, "model": body.model}

    def echoed(prompt: ScoredPrompt) -> list[TokenLogprob]:
        return prompt.logprobs or [] if wants_echo_logprobs else []

    if not generate:  # scoring only: no generation, no lock
        choices = [{"index": i, "text": p.text if body.echo else "",
                    "logprobs": logprobs.openai_completion(echoed(p)) if body.logprobs is not None else None,
                    "finish_reason": "length"} for i, p in enumerate(read)]
        usage = sum(p.n_evaluated for p in read)
        out = {**base, "choices": choices, "usage": {"prompt_tokens": usage, "completion_tokens": 0,
                                                     "total_tokens": usage},
               "kollama": _scoring_kollama(None, wants_echo_logprobs)}
        if body.stream:
            return StreamingResponse(iter([_sse({**out, "usage": None}), "data: [DONE]\n\n"]),
                                     media_type="text/event-stream", headers=SSE_HEADERS)
        return out

    if body.stream:
        prompt = read[0]
        answer = await _answer(request, body, lambda engine: engine.complete(prompt.text, params))
        offset = [len(prompt.text) if body.echo else 0]  # characters streamed so far: each chunk's text_offset

        def chunk(first: bool = False, piece: str | None = None, done: Response | None = None,
                  usage: Response | None = None) -> dict[str, Any]:
            if usage is not None:
                return {**base, "choices": [], "usage": _usage(usage)}
            text = prompt.text if first and body.echo else (piece or "")
            finished = not first and piece is None
            lp = None
            if first and wants_echo_logprobs:
                lp = logprobs.openai_completion(echoed(prompt))
            elif piece is not None and params.top_logprobs is not None:
                lp = logprobs.openai_completion(logprobs.of_piece(piece), offset[0])
                offset[0] += len(piece)
            out = {**base, "choices": [{"index": 0, "text": text, "logprobs": lp,
                                        "finish_reason": _finish(done) if finished else None}]}
            if finished:
                out["kollama"] = _scoring_kollama(done, wants_echo_logprobs)
            return out

        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        return with_language(StreamingResponse(_stream(answer, chunk, include_usage), media_type="text/event-stream",
                                               headers=SSE_HEADERS), decision)

    scored_params = with_scores(params, body_best_of, n)

    def make(prompt: ScoredPrompt, index: int) -> Callable[[Engine], Generation]:
        each = replace(scored_params, seed=derive_seed(scored_params.seed, index))
        return rankable(lambda engine: engine.complete(prompt.text, each), body_best_of, n)

    answers = await start_answers(state.pool, state.limiter, body.model,
                                  [make(p, i) for p in read for i in range(body_best_of)], request,
                                  log=state.options.log)
    decoded_responses = await collect_all(answers, request)
    if decoded_responses is None:
        return _client_gone()
    prompt_tokens = sum(r.prompt_tokens for r in decoded_responses[::body_best_of])  # each prompt once
    completion_tokens = sum(r.completion_tokens for r in decoded_responses)
    responses = [r for k in range(len(read)) for r in best(
        decoded_responses[k * body_best_of:(k + 1) * body_best_of], n, params.top_logprobs is not None)]
    choices = []
    for i, response in enumerate(responses):  # OpenAI's order: each prompt's n answers in turn
        prompt = read[i // n]
        lp = None
        if body.logprobs is not None:
            generated = response.logprobs or []
            if not generated and response.finish_reason == "stop":
                # the answer ended at once: the end-of-text token still counts as the generated one
                # (clients that echo + generate one token drop the last entry), its probability unreported
                generated = [TokenLogprob(b"", math.nan, None)]
            lp = logprobs.openai_completion(echoed(prompt) + generated)
        choices.append({"index": i, "text": (prompt.text if body.echo else "") + response.text, "logprobs": lp,
                        "finish_reason": _finish(response)})
    return with_language({**base, "choices": choices,
                          "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                                    "total_tokens": prompt_tokens + completion_tokens},
                          "kollama": {**_scoring_kollama(responses[-1], wants_echo_logprobs),
                                      **(decision.to_json() if decision else {})}}, decision)


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
