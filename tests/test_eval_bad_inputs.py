"""Bad inputs to eval, score and tokens: one clear line, non-zero exit, no traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support.cli import run_cli

pytestmark = pytest.mark.slow  # each case starts kollama as a process

KOBEST = Path(__file__).parent / "data" / "kobest"


def _fails(proc, *needles: str) -> str:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    line = proc.stderr.strip()
    for needle in needles:
        assert needle in line, line
    return line


def test_missing_field_names_field_and_line(tmp_path):
    rows = (KOBEST / "copa.jsonl").read_text(encoding="utf-8").splitlines()
    broken = json.loads(rows[2])
    del broken["alternative_2"]
    rows[2] = json.dumps(broken, ensure_ascii=False)
    data = tmp_path / "copa.jsonl"
    data.write_text("\n".join(rows) + "\n", encoding="utf-8")
    _fails(run_cli("eval", "gemma3", "--task", "kobest_copa", "--data", str(data)), "line 3", "alternative_2")


def test_missing_field_in_csv_names_line(tmp_path):
    (tmp_path / "wic.csv").write_text("word,context_1,label\n배,배가 고프다,0\n", encoding="utf-8")
    _fails(run_cli("eval", "gemma3", "--task", "kobest_wic", "--data", str(tmp_path / "wic.csv")),
           "line 2", "context_2")


def test_unknown_task_lists_the_way_out():
    _fails(run_cli("eval", "gemma3", "--task", "kobest_nope"), "unknown task 'kobest_nope'", "--list-tasks")


def test_kobest_without_data_says_pass_data():
    _fails(run_cli("eval", "gemma3", "--task", "kobest_boolq"), "--data", "paragraph")


def test_empty_files(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    _fails(run_cli("eval", "gemma3", "--task", "kobest_copa", "--data", str(empty)), "no items")
    blank = tmp_path / "blank.txt"
    blank.write_text("\n\n", encoding="utf-8")
    _fails(run_cli("score", "gemma3", "--file", str(blank)), "empty")
    _fails(run_cli("score", "gemma3", "--perplexity", "--file", str(blank)), "empty")


def test_invalid_json_line(tmp_path):
    data = tmp_path / "bad.jsonl"
    data.write_text('{"sentence": "좋다", "label": 1}\n{"sentence": \n', encoding="utf-8")
    _fails(run_cli("eval", "gemma3", "--task", "kobest_sentineg", "--data", str(data)), ":2:", "JSON")


def test_sentence_longer_than_context_uses_sliding_window():
    long = "나는 어제 친구와 함께 도서관에 가서 책을 읽었다. " * 20
    proc = run_cli("score", "gemma3", long, "짧은 문장이다.", "--ctx", "64", "--json", "--threads", "1")
    assert proc.returncode == 0, proc.stderr
    group = json.loads(proc.stdout)["groups"][0]
    assert group["tokens"][0] > 64 and group["logprob"][0] < group["logprob"][1] < 0


def test_eval_item_longer_than_context_is_a_clear_message(tmp_path):
    data = tmp_path / "long.jsonl"
    data.write_text(json.dumps({"sentence": "아주 긴 문장. " * 80, "label": 1}, ensure_ascii=False) + "\n", encoding="utf-8")
    _fails(run_cli("eval", "gemma3", "--task", "kobest_sentineg", "--data", str(data), "--ctx", "64"),
           "the context holds 64", "--ctx")


def test_no_text_and_http_models_for_tokens():
    _fails(run_cli("tokens", "gemma3", "", "--json"), "no text")
