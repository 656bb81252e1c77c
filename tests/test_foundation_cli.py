"""The CLI as a person uses it: help, version, one-shot JSON, the interactive chat, logs."""

from __future__ import annotations

import json
import os
import sys

import pexpect
import pytest

from support.cli import run_cli


@pytest.mark.slow
def test_help_lists_every_command_with_a_description():
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("run", "models", "fidelity", "logs"):
        assert command in result.stdout


@pytest.mark.slow
def test_version():
    result = run_cli("--version")
    assert result.returncode == 0 and result.stdout.startswith("kollama ")


@pytest.mark.slow
def test_run_json_has_the_documented_fields_and_is_logged():
    result = run_cli("run", "gemma3", "서울은 어떤 도시인가요?", "--temperature", "0", "--max-tokens", "12", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert {"model", "text", "prompt_tokens", "completion_tokens", "seconds", "tokens_per_second", "lock"} <= set(data)
    assert data["model"] == "gemma3" and data["lock"] == "gated" and data["completion_tokens"] > 0  # Korean's default
    logs = json.loads(run_cli("logs", "-n", "1", "--json").stdout)
    assert logs[-1]["model"] == "gemma3" and logs[-1]["response"] == data["text"]
    assert "서울은 어떤 도시인가요?" in logs[-1]["prompt"] and logs[-1]["lock"] == "gated"


@pytest.mark.slow
def test_same_seed_same_answer():
    args = ("run", "smollm2", "Tell me about Seoul.", "--seed", "42", "--max-tokens", "24", "--lock", "off", "--json")
    first, second = run_cli(*args), run_cli(*args)
    assert json.loads(first.stdout)["text"] == json.loads(second.stdout)["text"]


@pytest.mark.slow
def test_prompt_from_standard_input():
    result = run_cli("run", "gemma3", "-", "--max-tokens", "8", "--json", input="안녕하세요")
    assert result.returncode == 0 and json.loads(result.stdout)["prompt_tokens"] > 0


@pytest.mark.slow
def test_interactive_chat_with_slash_commands():
    child = pexpect.spawn(sys.executable, ["-m", "kollama", "run", "smollm2", "--max-tokens", "12", "--seed", "1"],
                          env=dict(os.environ), encoding="utf-8", timeout=300)
    try:
        child.expect("lock gated")
        child.expect(">>> ")
        child.sendline("/lock strict")
        child.expect("lock: strict")
        child.expect(">>> ")
        child.sendline("/system 너는 친절한 한국어 비서야.")
        child.expect("system prompt set")
        child.expect(">>> ")
        child.sendline("안녕?")
        child.expect(">>> ")
        answer = child.before
        assert any("\uac00" <= ch <= "\ud7a3" for ch in answer.replace("안녕?", "")), answer
        child.sendline("/clear")
        child.expect("conversation cleared")
        child.expect(">>> ")
        child.sendline("/bye")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0


def test_engine_token_logprobs_prefer_the_grammatical_sentence(gemma3):
    good = gemma3.token_logprobs("나는 어제 버스를 탔다.")
    bad = gemma3.token_logprobs("나는 어제 버스를 태운다.")
    assert good and all(lp <= 0 for _, lp in good)
    assert "".join(tok for tok, _ in good).strip() == "나는 어제 버스를 탔다."  # BOS first: every token scored
    assert sum(lp for _, lp in good) > sum(lp for _, lp in bad)
