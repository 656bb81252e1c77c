"""Every error class says how each edge reports it: an exit code for the CLI, an HTTP status for the server."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from kollama.errors import BackendUnavailable, KollamaError, ModelNotFound, ModelUnloaded
from kollama.serve.errors import install_error_handlers

CASES = [(KollamaError("bad"), 400), (ModelNotFound("no such model"), 404),
         (BackendUnavailable("upstream down"), 502), (ModelUnloaded("unloaded"), 503)]


@pytest.fixture(scope="module")
def client() -> TestClient:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/v1/raise/{index}")
    @app.get("/api/raise/{index}")
    def raise_it(index: int) -> None:
        raise CASES[index][0]

    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize("index", range(len(CASES)))
def test_the_server_answers_each_error_with_its_class_status(client, index):
    error, status = CASES[index]
    assert error.http_status == status and error.exit_code >= 1
    for route in ("/v1", "/api"):  # OpenAI's and Ollama's error shapes
        response = client.get(f"{route}/raise/{index}")
        assert response.status_code == status
        body = response.json()["error"]
        assert str(error) in (body["message"] if route == "/v1" else body)


def test_client_mistakes_are_4xx_and_server_side_failures_5xx():
    assert all(400 <= e.http_status < 500 for e, _ in CASES if type(e) in (KollamaError, ModelNotFound))
    assert all(e.http_status >= 500 for e, _ in CASES if type(e) in (BackendUnavailable, ModelUnloaded))
