"""Errors as clients expect them: OpenAI's `{"error": {...}}` under /v1, Ollama's `{"error": "..."}` under /api.

Every user mistake becomes a 4xx with a message; only a bug in kollama is a 500.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from kollama.errors import KollamaError, ModelNotFound

log = logging.getLogger("kollama.serve")

ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
               404: "not_found_error", 405: "invalid_request_error", 409: "invalid_request_error", 413: "invalid_request_error",
               415: "invalid_request_error", 422: "invalid_request_error", 429: "rate_limit_error", 503: "server_error"}


class ApiError(Exception):
    """A request the server answers with a 4xx (or 503) and a message."""

    def __init__(self, status: int, message: str, code: str | None = None, param: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.param = status, message, code, param
        self.headers = headers or {}


class ClientGone(Exception):
    """The client left while its request waited in the queue."""


class OpenAIErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class OpenAIError(BaseModel):
    error: OpenAIErrorDetail


class OllamaError(BaseModel):
    error: str


def _documented(model: type[BaseModel]) -> dict[int | str, dict[str, Any]]:
    statuses = {400: "bad request", 401: "missing or wrong API key", 403: "cross-origin or foreign Host refused",
                404: "unknown model or route",
                413: "request body too large", 429: "too busy; retry after the Retry-After seconds"}
    return {status: {"model": model, "description": text} for status, text in statuses.items()}


OPENAI_ERRORS = _documented(OpenAIError)
OLLAMA_ERRORS = _documented(OllamaError)


def error_response(path: str, status: int, message: str, code: str | None = None, param: str | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    """The error body in the dialect of the route that was called."""
    if path.startswith("/api/"):
        body: dict[str, Any] = {"error": message}
    else:
        body = {"error": {"message": message, "type": ERROR_TYPES.get(status, "server_error"),
                          "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


def _describe_validation(exc: RequestValidationError) -> tuple[str, str | None]:
    parts = []
    param = None
    for err in exc.errors()[:5]:
        if err.get("type") == "json_invalid":
            return f"the body is not valid JSON ({err.get('ctx', {}).get('error', 'parse error')})", None
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        where = ".".join(loc) or "body"
        param = param or where
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "invalid request: " + "; ".join(parts), param


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(request.url.path, exc.status, exc.message, exc.code, exc.param, exc.headers)

    @app.exception_handler(ModelNotFound)
    async def _model_not_found(request: Request, exc: ModelNotFound) -> JSONResponse:
        return error_response(request.url.path, 404, str(exc), "model_not_found", "model")

    @app.exception_handler(KollamaError)
    async def _kollama_error(request: Request, exc: KollamaError) -> JSONResponse:
        # each error class says its status: 400 a bad request, 502 upstream down, 503 model unloaded
        return error_response(request.url.path, exc.http_status, str(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        message, param = _describe_validation(exc)
        return error_response(request.url.path, 400, message, "invalid_request", param)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(request.url.path, exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(ClientGone)
    async def _gone(request: Request, exc: Exception) -> JSONResponse:
        return error_response(request.url.path, 499, "client closed the request")

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error on %s", request.url.path)
        return error_response(request.url.path, 500, f"internal error: {type(exc).__name__}")
