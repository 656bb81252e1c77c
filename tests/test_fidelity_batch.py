"""`kollama fidelity --file`: one JSON object per input line in order with the input's fields kept, a summary per
group, malformed lines reported as file:line and skipped; the rich table without --json."""

from __future__ import annotations

import json

import pytest

from conftest import run_cli

pytestmark = pytest.mark.slow  # each case starts kollama as a process

ROWS = [
    {"id": 1, "model": "a", "completion": "서울은 한국의 수도이고 인구가 아주 많은 도시입니다.", "prompt": "서울은?"},
    {"id": 2, "model": "a", "completion": "이 model은 정말 좋은 training 결과를 보여 줍니다.", "prompt": "모델은?"},
    {"id": 3, "model": "b", "completion": "Sure, here is the answer you asked for in English.", "prompt": "답해 줘"},
    {"id": 4, "model": "b", "completion": "Python은 배우기 쉬운 언어라서 처음 배우기에 좋습니다.", "prompt": "Python 어때?"},
]


def write(tmp_path, lines: list[str]):
    path = tmp_path / "answers.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_json_lines_in_order_with_fields_kept_then_a_summary_per_group(tmp_path):
    path = write(tmp_path, [json.dumps(r, ensure_ascii=False) for r in ROWS])
    result = run_cli("fidelity", "--file", str(path), "--prompt-field", "prompt", "--group-by", "model", "--json")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    judged, summary = lines[:-1], lines[-1]
    assert [r["id"] for r in judged] == [1, 2, 3, 4]
    assert all(r["completion"] == row["completion"] and r["model"] == row["model"] for r, row in zip(judged, ROWS))
    assert [r["fidelity"]["pass"] for r in judged] == [True, False, False, True]  # 4: `Python` is the prompt's word
    assert judged[1]["fidelity"]["kinds"] == {"code_switch": 2}
    groups = {g["group"]: g for g in summary["summary"]}
    assert set(groups) == {"a", "b", "all"}
    assert groups["a"]["answers"] == 2 and groups["a"]["pass_rate"] == 0.5
    assert groups["b"]["kinds"] == {"wrong_language_line": 1}
    assert groups["all"]["lpr"] is not None and set(groups["all"]) >= {"wpr", "lcpr", "lcb_skipped"}
    assert summary["skipped_lines"] == []


def test_malformed_lines_are_reported_as_file_and_line_and_the_rest_is_judged(tmp_path):
    good = json.dumps(ROWS[0], ensure_ascii=False)
    path = write(tmp_path, [good, "{not json", "[1, 2]", json.dumps({"completion": 5}), json.dumps({"text": "x"}), good])
    result = run_cli("fidelity", "--file", str(path), "--json")
    assert result.returncode == 1
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 3 and lines[0]["fidelity"]["pass"] and lines[1]["fidelity"]["pass"]
    assert lines[2]["skipped_lines"] == [f"{path}:{n}: {m}" for n, m in [
        (2, lines[2]["skipped_lines"][0].split(": ", 1)[1]), (3, "expected a JSON object, got list"),
        (4, "field 'completion' is int, not text"), (5, "no field 'completion' (choose the answer's field with --field)")]]
    assert f"{path}:2: not valid JSON" in result.stderr and "Traceback" not in result.stderr


def test_field_option_and_rich_table_without_json(tmp_path):
    path = write(tmp_path, [json.dumps({"m": r["model"], "answer": r["completion"]}, ensure_ascii=False) for r in ROWS])
    result = run_cli("fidelity", "--file", str(path), "--field", "answer", "--group-by", "m")
    assert result.returncode == 0, result.stderr
    assert "summary" in result.stdout and "LPR" in result.stdout and "failing answers" in result.stdout
    assert "wrong_language_line" in result.stdout


def test_missing_file_and_text_with_file_are_one_line_and_non_zero(tmp_path):
    result = run_cli("fidelity", "--file", str(tmp_path / "nope.jsonl"), "--json")
    assert result.returncode == 1
    assert result.stderr.strip().startswith("error: file not found") and len(result.stderr.strip().splitlines()) == 1
    both = run_cli("fidelity", "안녕하세요", "--file", str(tmp_path / "nope.jsonl"))
    assert both.returncode == 1 and both.stderr.strip().splitlines() == [
        "error: give a TEXT or --file, not both (kollama fidelity --file answers.jsonl)"]


def test_worker_processes_give_the_same_lines_in_the_same_order(tmp_path):
    rows = [json.dumps({"n": i, **ROWS[i % len(ROWS)]}, ensure_ascii=False) for i in range(450)]  # 3 chunks
    path = write(tmp_path, rows[:300] + ["{bad"] + rows[300:])
    one = run_cli("fidelity", "--file", str(path), "--prompt-field", "prompt", "--json")
    two = run_cli("fidelity", "--file", str(path), "--prompt-field", "prompt", "--json", "--jobs", "2")
    assert one.returncode == two.returncode == 1
    assert one.stdout == two.stdout
    assert [json.loads(line)["n"] for line in two.stdout.splitlines()[:-1]] == list(range(450))
    assert json.loads(two.stdout.splitlines()[-1])["skipped_lines"] == [f"{path}:301: " + json.loads(
        one.stdout.splitlines()[-1])["skipped_lines"][0].split(": ", 1)[1]]


def test_lang_auto_judges_each_answer_against_the_language_its_prompt_asks_for(tmp_path):
    rows = [{"prompt": "What does 눈치 mean in Korean culture?", "completion": "Nunchi is the art of reading the room."},
            {"prompt": "이 function의 return value가 왜 None이야?", "completion": "값을 반환하지 않으면 None이 됩니다."},
            {"prompt": "한국어로 답해 주세요: what is kimchi?", "completion": "Kimchi is fermented napa cabbage."}]
    path = write(tmp_path, [json.dumps(r, ensure_ascii=False) for r in rows])
    result = run_cli("fidelity", "--file", str(path), "--lang", "auto", "--prompt-field", "prompt", "--json")
    assert result.returncode == 0, result.stderr
    judged = [json.loads(line)["fidelity"] for line in result.stdout.splitlines()[:-1]]
    assert [(r["lang"], r["pass"]) for r in judged] == [("en", True), ("ko", True), ("ko", False)]
    assert all(r["lang_reason"] for r in judged)
    missing = run_cli("fidelity", "--file", str(path), "--lang", "auto")
    assert missing.returncode != 0 and "--prompt-field" in missing.stderr and "Traceback" not in missing.stderr
