"""Every error class says how each edge reports it: an exit code for the CLI, an HTTP status for the server;
and the server's request bounds are GenerationParams' declared limits, not a second copy."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from kollama.engines.base import LIMITS, GenerationParams
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


def test_each_error_class_has_its_own_exit_code():
    codes = {type(e): e.exit_code for e, _ in CASES}
    assert codes == {KollamaError: 1, ModelNotFound: 3, BackendUnavailable: 4, ModelUnloaded: 5}


@pytest.mark.slow
def test_the_cli_exits_with_the_error_class_code_and_one_line():
    from support.cli import run_cli

    missing = run_cli("run", "no-such-model", "hi")
    assert missing.returncode == ModelNotFound.exit_code, missing.stderr
    down = run_cli("run", "openai:http://127.0.0.1:9/v1#m", "hi", "--lock", "off")  # port 9: nothing listens
    assert down.returncode == BackendUnavailable.exit_code, down.stderr
    bad = run_cli("run", "smollm2", "hi", "--temperature", "9")
    assert bad.returncode == KollamaError.exit_code, bad.stderr
    for result in (missing, down, bad):
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in result.stderr


# --- the server's request bounds come from GenerationParams' LIMITS --------------------------------------
BOUNDED = [  # (schema, field, the LIMITS entry it follows)
    ("ChatCompletionRequest", "temperature", "temperature"), ("ChatCompletionRequest", "top_p", "top_p"),
    ("ChatCompletionRequest", "max_tokens", "max_tokens"), ("ChatCompletionRequest", "max_completion_tokens", "max_tokens"),
    ("ChatCompletionRequest", "top_logprobs", "top_logprobs"), ("CompletionRequest", "temperature", "temperature"),
    ("CompletionRequest", "max_tokens", "max_tokens"), ("OllamaOptions", "temperature", "temperature"),
    ("OllamaOptions", "top_p", "top_p"), ("OllamaOptions", "top_k", "top_k"),
    ("OllamaOptions", "repeat_penalty", "repeat_penalty"), ("OllamaOptions", "num_predict", "max_tokens"),
    ("OllamaChatRequest", "top_logprobs", "top_logprobs"),
]


def _bounds(schema: str, name: str) -> dict:
    from kollama.serve import schemas

    model = getattr(schemas, schema)
    prop = model.model_json_schema()["properties"][name]
    return next(option for option in prop.get("anyOf", [prop]) if option.get("type") in ("number", "integer"))


@pytest.mark.parametrize("schema, name, limit", BOUNDED)
def test_request_bounds_are_the_declared_limits(schema, name, limit):
    low, high = LIMITS[limit]
    bounds = _bounds(schema, name)
    assert bounds["maximum"] == high
    special = {("CompletionRequest", "max_tokens"): 0, ("OllamaOptions", "num_predict"): -2}  # 0: score; -2: the cap
    if (schema, name) in special:
        assert bounds["minimum"] == special[(schema, name)]
    else:
        assert bounds.get("minimum", bounds.get("exclusiveMinimum")) == low


@pytest.mark.parametrize("name", ["temperature", "top_p", "top_k", "repeat_penalty"])
def test_the_server_refuses_exactly_what_generation_params_refuse(name):
    """Just over the limit: the schema refuses it (a 400) and so would GenerationParams; at the limit both accept."""
    from pydantic import ValidationError

    from kollama.serve.schemas import OllamaOptions

    low, high = LIMITS[name]
    OllamaOptions(**{name: high})
    GenerationParams(**{name: high})
    for bad in (high + 1, low - 1):
        with pytest.raises(ValidationError):
            OllamaOptions(**{name: bad})
        with pytest.raises(KollamaError):
            GenerationParams(**{name: bad})
    if name == "top_p":  # the lower limit itself keeps no token
        with pytest.raises(ValidationError):
            OllamaOptions(top_p=low)
        with pytest.raises(KollamaError):
            GenerationParams(top_p=low)
