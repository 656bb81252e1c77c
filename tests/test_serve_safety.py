"""`kollama serve` is safe by default: loopback unless a key is set, Bearer auth, 429 when full."""

from __future__ import annotations

import httpx
import ollama
import openai
import pytest
from support.cli import run_cli
from serve_server import Server, free_port

pytestmark = pytest.mark.slow  # starts kollama serve

KEY = "test-key-0123456789"


@pytest.fixture(scope="module")
def keyed(tmp_path_factory):
    log = tmp_path_factory.mktemp("serve") / "keyed.log"
    with Server("--model", "smollm2", "--max-tokens", "64", "--no-log", env={"KOLLAMA_API_KEY": KEY}, log=log) as s:
        yield s


def test_refuses_a_network_address_without_a_key():
    result = run_cli("serve", "--host", "0.0.0.0", "--port", str(free_port()), env={"KOLLAMA_API_KEY": ""})
    assert result.returncode == 1
    assert "--api-key" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_bad_options_are_one_line_errors():
    # exit codes as the README's table gives them: 3 for an unknown model, 1 for other bad input
    for args, words, code in [(["--model", "no-such-model"], "unknown model", 3), (["--lock", "maybe"], "lock", 1),
                              (["--api-key", "short"], "too short", 1)]:
        result = run_cli("serve", "--port", str(free_port()), *args, env={"KOLLAMA_API_KEY": ""})
        assert result.returncode == code and words in result.stderr and "Traceback" not in result.stderr


def test_every_route_but_health_needs_the_key(keyed):
    assert httpx.get(keyed.url + "/health").status_code == 200
    for method, path in [("GET", "/v1/models"), ("POST", "/v1/chat/completions"), ("GET", "/api/tags"),
                         ("POST", "/api/chat"), ("GET", "/openapi.json"), ("GET", "/v1/reports")]:
        for auth in (None, "Bearer wrong-key-000", KEY):  # the last: the key without "Bearer"
            headers = {"Authorization": auth} if auth else {}
            response = httpx.request(method, keyed.url + path, headers=headers, content="{}")
            assert response.status_code == 401, (path, auth)
            error = response.json()["error"]
            assert "API key" in (error if path.startswith("/api/") else error["message"])


def test_official_clients_work_with_the_key(keyed):
    oai = openai.OpenAI(base_url=keyed.url + "/v1", api_key=KEY, max_retries=0)
    answer = oai.chat.completions.create(model="smollm2", messages=[{"role": "user", "content": "안녕"}], max_tokens=3)
    assert answer.choices[0].message.content
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=keyed.url + "/v1", api_key="wrong-key-000", max_retries=0).models.list()
    oll = ollama.Client(host=keyed.url, headers={"Authorization": f"Bearer {KEY}"})
    assert oll.chat(model="smollm2", messages=[{"role": "user", "content": "안녕"}], options={"num_predict": 3}).done
    with pytest.raises(ollama.ResponseError) as caught:
        ollama.Client(host=keyed.url).list()
    assert caught.value.status_code == 401


def test_web_page_is_served_without_a_cdn(keyed):
    page = httpx.get(keyed.url + "/")
    assert page.status_code == 200 and "kollama" in page.text
    for asset in ("/static/app.js", "/static/style.css"):
        response = httpx.get(keyed.url + asset)
        assert response.status_code == 200
    combined = page.text + httpx.get(keyed.url + "/static/app.js").text
    assert "http://" not in combined and "https://" not in combined and "cdn" not in combined.lower()
