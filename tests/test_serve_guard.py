"""The guard in front of every route, in process (no server, no model): DNS rebinding and cross-origin
requests refused, the API key checked the way Bearer auth is, open paths and the static page left open,
bodies capped by their declared and their real length, and Ollama routes reading any body as JSON."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from kollama.serve.errors import install_error_handlers
from kollama.serve.guard import Guard

KEY = "sk-guard-test-0123456789"


async def _echo(request: Request) -> JSONResponse:
    body = await request.body()
    return JSONResponse({"content_type": request.headers.get("content-type"), "length": len(body),
                         "content_types": len(request.headers.getlist("content-type"))})


def _client(api_key: str | None = None, loopback_only: bool = True) -> httpx.AsyncClient:
    inner = FastAPI()
    install_error_handlers(inner)
    for path in ("/v1/chat/completions", "/api/chat", "/health", "/", "/static/app.js", "/v1/rag/documents"):
        inner.router.routes.append(Route(path, _echo, methods=["GET", "POST"]))
    app = Guard(inner, api_key=api_key, max_body=100, max_upload=1000, loopback_only=loopback_only)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:11435")


async def _status(client: httpx.AsyncClient, path: str = "/v1/chat/completions", method: str = "POST",
                  **kwargs) -> tuple[int, dict]:
    response = await client.request(method, path, **kwargs)
    return response.status_code, response.json()


@pytest.mark.parametrize("host, allowed", [
    ("127.0.0.1:11435", True), ("localhost", True), ("[::1]:8080", True), ("LOCALHOST:1", True),
    ("evil.example:80", False), ("evil.example", False), ("127.0.0.1.evil.example", False), ("[::2]:80", False),
])
def test_a_loopback_server_answers_only_to_its_own_host_names(host, allowed):
    async def go() -> None:
        async with _client() as client:
            status, body = await _status(client, headers={"Host": host}, content=b"{}")
        assert (status == 200) == allowed, body
        if not allowed:
            assert status == 403 and body["error"]["message"] == f"host '{host}' is not this loopback server (DNS rebinding?)"
        async with _client(loopback_only=False) as client:
            assert (await _status(client, headers={"Host": host}, content=b"{}"))[0] == 200

    asyncio.run(go())


def test_a_page_on_another_site_is_refused_and_the_servers_own_page_is_not():
    async def go() -> None:
        async with _client() as client:
            status, body = await _status(client, "/api/chat", headers={"Origin": "https://evil.example"})
            assert status == 403 and body == {"error": "cross-origin request from https://evil.example refused"}
            assert (await _status(client, headers={"Origin": "http://127.0.0.1:11435"}, content=b"{}"))[0] == 200
            assert (await _status(client, headers={"Origin": "http://127.0.0.1:9"}, content=b"{}"))[0] == 403

    asyncio.run(go())


@pytest.mark.parametrize("authorization, allowed", [
    (None, False), ("", False), (KEY, False), (f"Bearer {KEY}", True), (f"bearer {KEY}", True),
    (f"BEARER   {KEY}  ", True), (f"Bearer {KEY}x", False), ("Bearer wrong-key-000", False), (f"Basic {KEY}", False),
    (f"Bearer{KEY}", False),
])
def test_the_api_key_is_a_bearer_token(authorization, allowed):
    async def go() -> None:
        headers = {"Authorization": authorization} if authorization is not None else {}
        async with _client(api_key=KEY, loopback_only=False) as client:
            status, body = await _status(client, headers=headers, content=b"{}")
            assert (status == 200) == allowed, body
            if not allowed:
                response = await client.post("/api/chat", headers=headers, content=b"{}")
                assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
                assert response.json() == {"error": "missing or wrong API key: send 'Authorization: Bearer KEY'"}
            for open_path in ("/health", "/", "/static/app.js"):
                assert (await _status(client, open_path, "GET"))[0] == 200

    asyncio.run(go())


def test_bodies_are_capped_by_their_declared_and_their_real_length():
    async def go() -> None:
        async with _client() as client:
            assert (await _status(client, content=b"x" * 100))[0] == 200
            status, body = await _status(client, content=b"x" * 101)
            assert status == 413 and body["error"]["message"] == "request body larger than 100 bytes"
            assert (await _status(client, "/v1/rag/documents", content=b"x" * 1000))[0] == 200
            assert (await _status(client, "/v1/rag/documents", content=b"x" * 1001))[0] == 413
            assert (await _status(client, headers={"Content-Length": "12x"}, content=b"{}"))[0] == 413

            async def chunks():
                for _ in range(3):
                    yield b"x" * 60

            status, body = await _status(client, "/api/chat", content=chunks())  # no Content-Length: counted
            assert status == 413 and body == {"error": "request body larger than 100 bytes"}

    asyncio.run(go())


def test_ollama_routes_read_any_body_as_json():
    async def go() -> None:
        async with _client() as client:
            _, body = await _status(client, "/api/chat", content=b"{}", headers={"Content-Type": "text/plain"})
            assert body == {"content_type": "application/json", "length": 2, "content_types": 1}
            _, body = await _status(client, content=b"{}", headers={"Content-Type": "text/plain"})
            assert body["content_type"] == "text/plain"
            _, body = await _status(client, "/api/chat", content=b"{}")
            assert body["content_type"] is None

    asyncio.run(go())
