"""`kollama compare` end to end on the built-in models: results traced to answers, the cache, a backend
that breaks mid-run, resuming, and the HTML report rendered in headless Chromium."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest
from support.cli import run_cli

from kollama.compare.runner import CompareOptions, run_compare
from kollama.engines import load_engine
from kollama.korean.fidelity import fidelity_report

pytestmark = pytest.mark.slow  # whole comparisons of two models, each a kollama process

SUITE = """description: tiny suite for tests
prompts:
  - id: capital
    category: fact
    prompt: 대한민국의 수도는 어디인가요?
    checks: {contains: 서울}
  - id: english
    category: english
    lang: en
    prompt: "Answer in English: what is the capital of France?"
    checks: {contains: Paris}
"""
ARGS = dict(trials=2, locks="off", max_tokens=12, seed=7)


@pytest.fixture(scope="module")
def suite_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("suite") / "tiny.yaml"
    path.write_text(SUITE, encoding="utf-8")
    return path


class Counting:
    """Loads real engines and counts how many are loaded; `on_answer` counts new generations."""

    def __init__(self, break_after: dict[str, int] | None = None, interrupt_after: int | None = None):
        self.loads: Counter = Counter()
        self.generated: Counter = Counter()
        self.break_after = break_after or {}
        self.interrupt_after = interrupt_after

    def load(self, ref, ctx, parallel):
        self.loads[ref.ref] += 1
        return load_engine(ref, n_ctx=ctx, parallel=parallel, exact=True)

    def on_answer(self, engine, record):
        if not record["error"]:
            self.generated[record["model"]] += 1
        if self.break_after.get(record["model"]) == self.generated[record["model"]]:
            engine.close()  # the backend goes away: every later request on it fails
        if self.interrupt_after is not None and sum(self.generated.values()) == self.interrupt_after:
            raise KeyboardInterrupt


@pytest.fixture(scope="module")
def first_run(suite_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    counting = Counting()
    result = run_compare(CompareOptions(models=["smollm2", "gemma3"], suite=str(suite_file), out=out, **ARGS),
                         engine_factory=counting.load, on_answer=counting.on_answer)
    return result, counting


def test_results_trace_to_answers(first_run):
    result, counting = first_run
    assert counting.generated == {"smollm2": 4, "gemma3": 4}
    data = json.loads((result.out / "results.json").read_text(encoding="utf-8"))
    answers = data["answers"]
    assert len(answers) == 8 and data["summary"]["generated"] == 8
    assert {(a["model"], a["prompt_id"], a["trial"], a["seed"]) for a in answers} == {
        (m, p, t, 7 + t) for m in ("smollm2", "gemma3") for p in ("capital", "english") for t in (0, 1)}
    for a in answers:
        assert {"model", "prompt_id", "trial", "seed", "lock", "text", "fidelity", "checks", "ttft", "seconds",
                "tokens_per_second"} <= set(a)
        assert a["text"] and a["completion_tokens"] >= 1 and a["error"] is None
        # each answer's fidelity is the foundation's report of its text, and its checks follow from it
        assert a["fidelity"] == fidelity_report(a["text"], a["lang"], prompt=_prompt_of(a)).to_json()
        expected_word = "서울" if a["prompt_id"] == "capital" else "paris"
        assert a["checks"]["contains"] == (expected_word in a["text"].lower())
    for group in data["summary"]["groups"]:
        mine = [a for a in answers if a["model"] == group["model"]]
        overall = group["overall"]
        assert overall["fidelity_rate"] == sum(a["fidelity"]["pass"] for a in mine) / len(mine)
        scripts = Counter(s for a in mine for s in {f["script"] for f in a["fidelity"]["foreign"]
                                                     if f["kind"] == "script"})
        assert overall["intrusion_rate"] == {s: n / len(mine) for s, n in scripts.items()}
        checks = [ok for a in mine for ok in a["checks"].values()]
        assert overall["check_pass_rate"] == sum(checks) / len(checks)
        assert overall["speed"]["completion_tokens"] == sum(a["completion_tokens"] for a in mine)
        assert set(group["categories"]) == {"fact", "english"}
        assert group["peak_rss_mb"] > 50


def _prompt_of(answer):
    return {"capital": "대한민국의 수도는 어디인가요?",
            "english": "Answer in English: what is the capital of France?"}[answer["prompt_id"]]


def test_second_identical_run_generates_nothing(first_run, suite_file, tmp_path):
    result, _ = first_run
    counting = Counting()
    again = run_compare(CompareOptions(models=["smollm2", "gemma3"], suite=str(suite_file), out=tmp_path, **ARGS),
                        engine_factory=counting.load, on_answer=counting.on_answer)
    assert sum(counting.loads.values()) == 0 and sum(counting.generated.values()) == 0
    assert again.summary["generated"] == 0 and again.summary["cached"] == 8
    assert [a["text"] for a in again.answers] == [a["text"] for a in result.answers]


def test_broken_backend_fails_its_cells_others_finish_then_resume(suite_file, tmp_path):
    """The engine is closed after smollm2's first answer. Answers already decoded by then are kept
    (one at a time, the next one has usually started); the rest fail with the error, and a re-run
    generates exactly those."""
    options = CompareOptions(models=["smollm2", "gemma3"], suite=str(suite_file), out=tmp_path,
                             **{**ARGS, "seed": 100, "trials": 1, "max_tokens": 64, "parallel": 1})
    breaking = Counting(break_after={"smollm2": 1})
    result = run_compare(options, engine_factory=breaking.load, on_answer=breaking.on_answer)
    smol = [a for a in result.answers if a["model"] == "smollm2"]
    failed = [a for a in smol if a["error"]]
    assert not smol[0]["error"] and len(failed) <= 1
    for a in failed:
        assert a["checks"] and not any(a["checks"].values())
        assert a["error"].startswith("ModelUnloaded: the model was unloaded")
    assert result.summary["failed"] == len(failed) and ("smollm2" in result.summary["errors"]) == bool(failed)
    assert all(not a["error"] for a in result.answers if a["model"] == "gemma3")
    assert breaking.generated == {"smollm2": 2 - len(failed), "gemma3": 2}
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert ("failed: ModelUnloaded" in html) == bool(failed)

    resumed = Counting()
    again = run_compare(options, engine_factory=resumed.load, on_answer=resumed.on_answer)
    assert resumed.generated == ({"smollm2": 1} if failed else {})
    assert dict(resumed.loads) == ({"smollm2": 1} if failed else {})
    assert again.summary["failed"] == 0 and again.summary["cached"] == 4 - len(failed)


def test_interrupted_run_keeps_answers_and_resumes(suite_file, tmp_path):
    options = CompareOptions(models=["gemma3"], suite=str(suite_file), out=tmp_path,
                             **{**ARGS, "seed": 200, "trials": 1})
    with pytest.raises(KeyboardInterrupt):
        run_compare(options, engine_factory=Counting().load, on_answer=Counting(interrupt_after=1).on_answer)
    resumed = Counting()
    again = run_compare(options, engine_factory=resumed.load, on_answer=resumed.on_answer)
    assert again.summary["cached"] == 1 and resumed.generated == {"gemma3": 1}


def test_cli_json_summary_and_report(first_run, suite_file, tmp_path):
    proc = run_cli("compare", "smollm2", "gemma3", "--suite", str(suite_file), "--trials", "2",
                   "--max-tokens", "12", "--seed", "7", "--out", str(tmp_path), "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["generated"] == 0 and summary["cached"] == 8  # same cache as the first run
    assert [(g["model"], g["lock"]) for g in summary["groups"]] == [("smollm2", "off"), ("gemma3", "off")]
    assert (tmp_path / "report.html").exists()


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian chromium (apt-get install -y chromium)")
def test_report_renders_in_headless_chromium(first_run, tmp_path):
    from playwright.sync_api import sync_playwright

    result, _ = first_run
    report = result.out / "report.html"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=shutil.which("chromium"),
                                     args=["--headless", "--no-sandbox", "--disable-gpu",
                                           "--disable-background-networking"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        requests: list[str] = []
        page.on("request", lambda request: requests.append(request.url))
        page.goto(report.as_uri())
        shot = tmp_path / "report.png"
        page.screenshot(path=str(shot), full_page=True)
        charts = page.locator("#charts svg.chart")
        assert charts.count() >= 8
        bars = page.locator("#charts svg.chart rect.bar")
        assert bars.count() >= 2 and bars.first.bounding_box()["width"] > 0
        assert page.locator("#summary-table tr").count() == 3
        sections = page.locator("section.prompt")
        assert sections.count() == 2
        columns = sections.first.locator(".side-by-side .column")
        assert columns.count() == 2
        boxes = [columns.nth(i).bounding_box() for i in range(2)]
        assert boxes[0]["x"] + boxes[0]["width"] <= boxes[1]["x"] + 1 and abs(boxes[0]["y"] - boxes[1]["y"]) < 2
        assert page.locator(".answer").count() == 8
        failed = sum(1 for a in result.answers for ok in a["checks"].values() if not ok)
        assert page.locator(".badge.check-fail[data-check]").count() == failed
        marks = sum(len(a["fidelity"]["foreign"]) for a in result.answers)
        assert page.locator("mark.foreign").count() == marks
        browser.close()
    assert all(url.startswith("file://") for url in requests)  # self-contained: nothing from the network
    assert shot.stat().st_size > 10_000
