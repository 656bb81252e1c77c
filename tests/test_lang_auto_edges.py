"""`--lang auto` where users meet it: `kollama run --json`, `fidelity`, `lock check`, and a request's
`lang: "auto"` on the server (the decision in `X-Kollama-Lang` and in kollama's JSON fields)."""

from __future__ import annotations

import json
from urllib.parse import unquote

import httpx
import pytest
from serve_server import Server

from support.cli import run_cli

ENGLISH = "What does 눈치 mean in Korean culture?"
KOREAN = "이 function의 return value가 왜 None이야?"


@pytest.mark.slow
@pytest.mark.parametrize("prompt, lang, lock", [(ENGLISH, "en", "script"), (KOREAN, "ko", "gated")])
def test_run_json_carries_the_decision_and_the_lock_follows_it(prompt, lang, lock):
    result = run_cli("run", "smollm2", prompt, "--lang", "auto", "--max-tokens", "4", "--temperature", "0",
                     "--json", "--no-log")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["lang"] == lang and data["lang_reason"] and data["lang_ambiguous"] is False
    assert data["lock"] == lock  # the default lock of the decided language: never Korean's for English


@pytest.mark.slow
def test_an_explicit_lang_still_wins_and_is_reported():
    result = run_cli("run", "smollm2", ENGLISH, "--lang", "ko", "--max-tokens", "2", "--json", "--no-log")
    data = json.loads(result.stdout)
    assert data["lang"] == "ko" and data["lock"] == "gated" and "user" in data["lang_reason"]


@pytest.mark.slow
@pytest.mark.parametrize("args", [("run", "smollm2", "hi", "--lang", "xx"),
                                  ("fidelity", "hello", "--lang", "xx"),
                                  ("lock", "check", "hello", "--lang", "english")])
def test_an_unknown_lang_is_one_line_naming_auto(args):
    result = run_cli(*args)
    assert result.returncode == 1
    assert "unknown language" in result.stderr and "auto" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_fidelity_auto_judges_against_the_language_the_prompt_asks_for():
    answer = "Nunchi is the art of sensing what others think and feel."
    auto = run_cli("fidelity", answer, "--lang", "auto", "--prompt", ENGLISH, "--json")
    assert auto.returncode == 0, auto.stderr
    data = json.loads(auto.stdout)
    assert data["lang"] == "en" and data["lang_reason"] and data["pass"] is True
    assert run_cli("fidelity", answer, "--prompt", ENGLISH).returncode == 2  # judged as Korean, it fails
    missing = run_cli("fidelity", answer, "--lang", "auto")
    assert missing.returncode == 1 and "--prompt" in missing.stderr and "Traceback" not in missing.stderr


@pytest.mark.slow
def test_lock_check_auto_does_not_ban_an_english_answer_to_an_english_question():
    answer = "Nunchi means reading the room."
    auto = run_cli("lock", "check", answer, "--lock", "gated", "--lang", "auto", "--prompt", ENGLISH, "--json")
    assert auto.returncode == 0, auto.stderr
    data = json.loads(auto.stdout)
    assert data["lang"] == "en" and data["lang_reason"] and not data["banned"]
    korean = run_cli("lock", "check", answer, "--lock", "strict", "--lang", "auto", "--prompt", KOREAN, "--json")
    assert json.loads(korean.stdout)["lang"] == "ko" and korean.returncode == 2  # Korean expected: English banned


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    log = tmp_path_factory.mktemp("serve") / "server.log"
    with Server("--model", "smollm2", "--max-tokens", "16", "--no-log", "--no-rag", log=log) as s:
        yield s


def _post(server, path: str, body: dict) -> httpx.Response:
    return httpx.post(server.url + path, json=body, timeout=120)


def _decision(response: httpx.Response) -> tuple[str, str]:
    return response.headers["x-kollama-lang"], unquote(response.headers["x-kollama-lang-reason"])


def test_openai_chat_with_lang_auto(server):
    body = {"model": "smollm2", "max_tokens": 3, "temperature": 0, "lang": "auto",
            "messages": [{"role": "user", "content": ENGLISH}]}
    whole = _post(server, "/v1/chat/completions", body)
    assert whole.status_code == 200, whole.text
    assert _decision(whole)[0] == "en" and whole.json()["kollama"]["lang"] == "en"
    assert whole.json()["kollama"]["lang_reason"] == _decision(whole)[1]
    streamed = _post(server, "/v1/chat/completions", {**body, "stream": True})
    assert streamed.status_code == 200 and _decision(streamed)[0] == "en"
    system = {**body, "lang": None, "extra_body": {"lang": "auto"},
              "messages": [{"role": "system", "content": "Always answer in Korean."}, body["messages"][0]]}
    assert _decision(_post(server, "/v1/chat/completions", system))[0] == "ko"
    plain = _post(server, "/v1/chat/completions", {**body, "lang": "en"})
    assert "x-kollama-lang" not in plain.headers  # only a request that asks for auto is told


def test_ollama_chat_and_generate_with_lang_auto(server):
    chat = _post(server, "/api/chat", {"model": "smollm2", "stream": False, "options": {"lang": "auto", "num_predict": 3},
                                       "messages": [{"role": "user", "content": KOREAN}]})
    assert chat.status_code == 200, chat.text
    assert _decision(chat)[0] == "ko" and chat.json()["kollama"]["lang"] == "ko"
    generate = _post(server, "/api/generate", {"model": "smollm2", "prompt": "Translate into English: 오늘 회의 취소됐어요",
                                               "lang": "auto", "stream": False, "options": {"num_predict": 3}})
    assert generate.status_code == 200 and _decision(generate)[0] == "en"


def test_lang_auto_mistakes_are_4xx(server):
    bad = _post(server, "/v1/chat/completions", {"model": "smollm2", "lang": "automatic",
                                                 "messages": [{"role": "user", "content": "hi"}]})
    assert bad.status_code == 400
    no_prompt = _post(server, "/v1/fidelity", {"text": "hello", "lang": "auto"})
    assert no_prompt.status_code == 400 and "prompt" in no_prompt.text
    judged = _post(server, "/v1/fidelity", {"text": "Nunchi is reading the room.", "lang": "auto", "prompt": ENGLISH})
    assert judged.status_code == 200 and judged.json()["lang"] == "en" and judged.json()["pass"] is True


def test_the_chat_shows_each_decision_and_lang_changes_it():
    import os
    import sys

    import pexpect

    child = pexpect.spawn(sys.executable, ["-m", "kollama", "run", "smollm2", "--lang", "auto", "--max-tokens", "3",
                                           "--no-log"], env=dict(os.environ), encoding="utf-8", timeout=300)
    try:
        child.expect("lang auto")
        child.expect(">>> ")
        child.sendline(ENGLISH)
        child.expect("lang en · English supplies the grammar")
        child.expect(">>> ")
        child.sendline(KOREAN)
        child.expect("lang ko · Korean supplies the grammar")
        child.expect(">>> ")
        child.sendline("/lang xx")
        child.expect("unknown language 'xx'")
        child.sendline("/bye")
        child.expect(pexpect.EOF)
    finally:
        child.close()
