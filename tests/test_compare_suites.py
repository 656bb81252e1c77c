"""Suites and checks of `kollama compare`: loading, validation errors with file and line, built-in suites."""

from __future__ import annotations

import pytest
from support.cli import run_cli

from kollama.compare.checks import run_checks
from kollama.compare.suites import load_suite
from kollama.errors import KollamaError
from kollama.korean.fidelity import fidelity_report
from kollama.korean.scripts import language


def test_ko_basic_covers_every_category_with_checks():
    suite = load_suite("ko-basic")
    assert len(suite.prompts) >= 40
    assert {"understand", "explain", "format-list", "format-sentence", "format-json", "translate-to-ko",
            "translate-from-ko", "english-request", "coding", "summary", "honorific", "fact"} <= set(suite.categories)
    assert all(p.checks for p in suite.prompts)
    assert {p.lang for p in suite.prompts if p.category in ("english-request", "translate-from-ko")} == {"en"}
    assert all("contains" in p.checks for p in suite.prompts if p.category == "fact")
    assert any(p.checks.get("json") for p in suite.prompts) and any(p.checks.get("lines") == 3 for p in suite.prompts)


def test_multilingual_expects_each_language_itself():
    suite = load_suite("multilingual")
    langs = [p.lang for p in suite.prompts]
    assert len(set(langs)) >= 14
    assert {"en", "es", "fr", "de", "it", "pt", "ru", "pl", "zh", "ja", "ko", "th", "hi", "ar", "sw"} <= set(langs)
    for prompt in suite.prompts:  # each prompt is itself written in the language it expects back
        assert fidelity_report(prompt.prompt, prompt.lang).dominant == prompt.lang, prompt.id
        language(prompt.lang)


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("name, text, expected", [
    ("syntax.yaml", 'prompts:\n  - id: a\n    prompt: "안녕\n    checks: {contains: x}\n', "YAML syntax error"),
    ("unknown.yaml",
     "prompts:\n  - id: a\n    prompt: 안녕\n    checks:\n      contains: 안녕\n      sentiment: good\n",
     ":6: unknown check 'sentiment'"),
    ("badvalue.yaml", "- id: a\n  prompt: 안녕\n  checks: {lines: three}\n", ":3: check 'lines' needs a whole number"),
    ("field.yaml", "- id: a\n  prompt: 안녕\n  expect: 서울\n", ":3: unknown field 'expect'"),
    ("nolang.yaml", "- id: a\n  prompt: 안녕\n  lang: xx\n", ":3: unknown language 'xx'"),
    ("dup.yaml", "- {id: a, prompt: x}\n- {id: a, prompt: y}\n", ":2: duplicate prompt id 'a'"),
    ("noprompt.yaml", "- {id: a}\n", ":1: prompt is missing 'prompt'"),
    ("broken.jsonl", '{"id": "a", "prompt": "x"}\n{"id": "b", "prompt": \n', ":2: invalid JSON"),
    ("badregex.jsonl", '{"id": "a", "prompt": "x", "checks": {"regex": "(["}}\n', ":1: check 'regex' needs a valid"),
])
def test_bad_suites_name_file_and_line(tmp_path, name, text, expected):
    path = _write(tmp_path, name, text)
    with pytest.raises(KollamaError) as err:
        load_suite(path)
    assert str(err.value).startswith(path)
    assert expected in str(err.value)


def test_yaml_syntax_error_points_at_the_line_where_it_starts(tmp_path):
    path = _write(tmp_path, "s.yaml", 'prompts:\n  - id: a\n    prompt: "안녕\n    checks: {contains: x}\n')
    with pytest.raises(KollamaError, match="started on line 3"):
        load_suite(path)


def test_checks_on_real_texts():
    text = "1. 경복궁\n2. 남산타워\n3. 북촌 한옥마을"
    report = fidelity_report(text, "ko")
    checks = {"lines": 3, "contains": "경복궁", "not_contains": ["도쿄"], "regex": r"(?m)^\s*1[.)]",
              "max_chars": 40, "min_chars": 5}
    assert run_checks(text, checks, "ko", report) == {name: True for name in [*checks, "lang"]}
    failed = run_checks(text, {"lines": 2, "contains": "부산", "json": True}, "en", report)
    assert failed == {"lines": False, "contains": False, "json": False, "lang": False}
    fenced = '```json\n{"name": "김민수", "age": 30}\n```'
    assert run_checks(fenced, {"json": True}, "ko", fidelity_report(fenced, "ko"))["json"] is True


@pytest.mark.slow
def test_cli_rejects_bad_inputs_in_one_line(tmp_path):
    bad = _write(tmp_path, "bad.yaml", "- id: a\n  prompt: x\n  checks: {sentiment: good}\n")
    for args, expected in [(["smollm2", "--trials", "0"], "--trials must be at least 1"),
                           (["smollm2", "--suite", bad], f"{bad}:3: unknown check 'sentiment'"),
                           (["smollm2", "--lock", "off,sideways"], "unknown lock mode"),
                           (["smollm2", "smollm2"], "listed twice")]:
        proc = run_cli("compare", *args, "--out", str(tmp_path / "out"))
        assert proc.returncode == 1, proc.stderr
        assert expected in proc.stderr
        assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_list_suites():
    proc = run_cli("compare", "--list-suites", "--json")
    assert proc.returncode == 0, proc.stderr
    import json

    rows = {row["name"]: row for row in json.loads(proc.stdout)}
    assert rows["ko-basic"]["prompts"] >= 40 and len(rows["multilingual"]["languages"]) >= 14
