"""The first thing every request meets: host check, API key, body size (a plain ASGI middleware, so
it runs before any body is parsed).

Headers are read through Starlette's `HTTPConnection` and rewritten through `MutableHeaders`; the Bearer
token is split as FastAPI's `HTTPBearer` splits it. The host and origin rules are kollama's own: Starlette's
`TrustedHostMiddleware` matches names from a list (and cuts an IPv6 host at its first colon), where this
server accepts any loopback address and answers in the error shape of the route that was called.
"""

from __future__ import annotations

import hmac

from fastapi.security.utils import get_authorization_scheme_param
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kollama.serve.errors import error_response
from kollama.serve.options import is_loopback

OPEN_PATHS = ("/health",)
UPLOAD_PATHS = ("/v1/rag/documents",)


def _is_static(path: str) -> bool:
    """The web page is static files with no data in them; the page sends the key on every API call."""
    return path == "/" or path == "/favicon.ico" or path.startswith("/static/")


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int):
        super().__init__(413, f"request body larger than {limit} bytes")


class Guard:
    def __init__(self, app: ASGIApp, api_key: str | None, max_body: int, max_upload: int, loopback_only: bool):
        self.app = app
        self.api_key = api_key.encode() if api_key else None
        self.max_body = max_body
        self.max_upload = max_upload
        self.loopback_only = loopback_only

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        headers = HTTPConnection(scope).headers
        problem = self._refuse(path, headers)
        if problem is not None:
            status, message, extra = problem
            await error_response(path, status, message, headers=extra)(scope, receive, send)
            return
        if path.startswith("/api/") and "json" not in headers.get("content-type", "json"):
            # Ollama parses any body as JSON (its docs use `curl -d` without a content type)
            scope = {**scope}
            MutableHeaders(scope=scope)["content-type"] = "application/json"
        limit = self.max_upload if path.startswith(UPLOAD_PATHS) else self.max_body
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await error_response(path, 413, f"request body larger than {limit} bytes")(scope, receive, send)
            return
        await self.app(scope, self._counting(receive, limit), send)

    def _refuse(self, path: str, headers: Headers) -> tuple[int, str, dict[str, str] | None] | None:
        if self.loopback_only:
            host = headers.get("host", "")
            hostname = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
            if host and not is_loopback(hostname):
                return 403, f"host '{host}' is not this loopback server (DNS rebinding?)", None
        origin = headers.get("origin")
        if origin and origin.split("://", 1)[-1] != headers.get("host"):
            # a page on another site driving this server from a visitor's browser
            return 403, f"cross-origin request from {origin} refused", None
        if self.api_key is None or path in OPEN_PATHS or _is_static(path):
            return None
        scheme, token = get_authorization_scheme_param(headers.get("authorization"))
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), self.api_key):
            return 401, "missing or wrong API key: send 'Authorization: Bearer KEY'", {"WWW-Authenticate": "Bearer"}
        return None

    @staticmethod
    def _counting(receive: Receive, limit: int) -> Receive:
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        return counted
