"""`kollama eval`: KoBEST tasks as lm-evaluation-harness defines them, task files as data,
the data formats users have, few-shot prompts, metrics and the output files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from support.cli import run_cli
from evaluate_reference import HARNESS_KOBEST, direct_logprob, harness_encode_pair

from kollama.evaluate.data import load_docs
from kollama.engines.llamacpp import LlamaCppScorer
from kollama.evaluate.metrics import macro_f1
from kollama.evaluate.runner import EvalOptions, evaluate_task
from kollama.evaluate.tasks import list_tasks, load_task

KOBEST = Path(__file__).parent / "data" / "kobest"
TASK_FILES = {"kobest_boolq": "boolq", "kobest_copa": "copa", "kobest_hellaswag": "hellaswag",
              "kobest_sentineg": "sentineg", "kobest_wic": "wic"}


@pytest.fixture(scope="module")
def scorer(gemma3):
    s = LlamaCppScorer(gemma3, n_threads=1)
    yield s
    s.close()


def _run(gemma3, scorer, task: str, data: Path, **kw):
    return evaluate_task(gemma3, scorer, load_task(task), EvalOptions(model="gemma3", tasks=[task], data=str(data), **kw))


@pytest.mark.parametrize("task", sorted(TASK_FILES))
def test_kobest_loglikelihoods_equal_harness_reference(gemma3, scorer, task):
    data = KOBEST / f"{TASK_FILES[task]}.jsonl"
    run = _run(gemma3, scorer, task, data, limit=3)
    docs = [json.loads(line) for line in data.read_text(encoding="utf-8").splitlines()][:3]
    assert len(run.samples) == 3
    for sample, doc in zip(run.samples, docs):
        context, choices, gold = HARNESS_KOBEST[task](doc)
        assert sample["context"] == context and sample["choices"] == choices and sample["target"] == gold
        for choice, ll in zip(choices, sample["loglikelihoods"]):
            ctx, cont = harness_encode_pair(gemma3, context, " " + choice)  # target_delimiter " "
            assert ll == pytest.approx(direct_logprob(gemma3, ctx, cont, one_batch=True), abs=1e-3)
        assert sample["pred"] == max(range(len(choices)), key=lambda i: sample["loglikelihoods"][i])


@pytest.mark.slow
def test_kobest_metrics_match_definitions(gemma3, scorer):
    from sklearn.metrics import f1_score

    run = _run(gemma3, scorer, "kobest_hellaswag", KOBEST / "hellaswag.jsonl")
    golds = [s["target"] for s in run.samples]
    preds = [s["pred"] for s in run.samples]
    assert run.results["acc"] == pytest.approx(sum(g == p for g, p in zip(golds, preds)) / len(golds))
    assert run.results["f1"] == pytest.approx(f1_score(golds, preds, average="macro"))
    norm = [max(range(4), key=lambda i: s["loglikelihoods"][i] / len(s["choices"][i])) for s in run.samples]
    assert run.results["acc_norm"] == pytest.approx(sum(g == p for g, p in zip(golds, norm)) / len(golds))


def test_macro_f1_equals_sklearn():
    from sklearn.metrics import f1_score

    golds = [0, 1, 1, 0, 2, 2, 1, 0, 0, 1]
    preds = [0, 1, 0, 0, 1, 2, 1, 1, 0, 0]
    assert macro_f1(golds, preds) == pytest.approx(f1_score(golds, preds, average="macro"))
    assert macro_f1([1, 1, 1], [0, 0, 0]) == pytest.approx(f1_score([1, 1, 1], [0, 0, 0], average="macro"))


def test_data_formats_read_the_same_items(tmp_path, gemma3, scorer):
    rows = [json.loads(line) for line in (KOBEST / "copa.jsonl").read_text(encoding="utf-8").splitlines()]
    with (tmp_path / "copa.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    import pyarrow as pa
    import pyarrow.parquet as pq
    from datasets import Dataset, DatasetDict

    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "copa.parquet")
    DatasetDict({"test": Dataset.from_list(rows), "train": Dataset.from_list(rows[:2])}).save_to_disk(str(tmp_path / "copa_ds"))
    expected = _run(gemma3, scorer, "kobest_copa", KOBEST / "copa.jsonl", limit=2).samples
    for source in ("copa.csv", "copa.parquet", "copa_ds"):
        docs = load_docs(tmp_path / source)
        assert len(docs) == len(rows)  # the save_to_disk directory's test split
        got = _run(gemma3, scorer, "kobest_copa", tmp_path / source, limit=2).samples
        assert [s["loglikelihoods"] for s in got] == [s["loglikelihoods"] for s in expected]


def test_fewshot_prompt_follows_harness_layout(gemma3, scorer):
    run = _run(gemma3, scorer, "kobest_sentineg", KOBEST / "sentineg.jsonl", limit=2, num_fewshot=2)
    docs = [json.loads(line) for line in (KOBEST / "sentineg.jsonl").read_text(encoding="utf-8").splitlines()]
    for sample, doc in zip(run.samples, docs):
        shots = sample["context"].split("\n\n")
        assert len(shots) == 3 and shots[-1] == f"문장: {doc['sentence']} 긍부정:"
        for shot in shots[:2]:
            assert shot.endswith(" 부정") or shot.endswith(" 긍정")
            assert doc["sentence"] not in shot  # never the item itself
            solved = next(d for d in docs if f"문장: {d['sentence']} 긍부정:" == shot.rsplit(" ", 1)[0])
            assert shot.rsplit(" ", 1)[1] == ["부정", "긍정"][solved["label"]]


def test_builtin_korean_tasks_are_data_and_big_enough():
    tasks = {row["task"]: row for row in list_tasks()}
    assert {"ko_grammar", "ko_spelling", "kobest_boolq", "kobest_copa", "kobest_hellaswag",
            "kobest_sentineg", "kobest_wic"} <= set(tasks)
    grammar = load_docs(Path(tasks["ko_grammar"]["data"]))
    spelling = load_docs(Path(tasks["ko_spelling"]["data"]))
    assert len(grammar) >= 150 and len(spelling) >= 100
    assert {d.fields["phenomenon"] for d in grammar} == {"particle", "tense", "honorific", "classifier", "irregular"}
    rules = {d.fields["rule"] for d in spelling}
    assert {"되/돼", "안/않", "웬/왠", "며칠", "금세", "로서/로써", "설레다"} <= rules
    assert all(d.fields["good"] != d.fields["bad"] for d in grammar + spelling)


@pytest.mark.slow
def test_cli_eval_json_files_and_html(tmp_path):
    out = tmp_path / "out"
    proc = run_cli("eval", "gemma3", "--task", "kobest_copa", "--data", str(KOBEST / "copa.jsonl"),
                   "--out", str(out), "--json", "--threads", "1")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    res = data["results"]["kobest_copa"]
    assert set(res) >= {"acc", "f1"} and 0.0 <= res["acc"] <= 1.0
    samples = data["samples"]["kobest_copa"]
    assert len(samples) == 8
    assert set(samples[0]) >= {"doc_id", "target", "pred", "loglikelihoods"}
    assert res["acc"] == pytest.approx(sum(s["pred"] == s["target"] for s in samples) / 8)
    saved = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert saved["results"]["kobest_copa"]["acc"] == res["acc"]
    lines = (out / "samples_kobest_copa.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["loglikelihoods"] for line in lines] == [s["loglikelihoods"] for s in samples]
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "kobest_copa" in page and "왜냐하면" in page and "<script" not in page and "http" not in page


@pytest.mark.slow
def test_user_task_yaml_without_code(tmp_path, kollama_home):
    tasks = kollama_home / "tasks"
    tasks.mkdir(exist_ok=True)
    (tasks / "ko_capital.jsonl").write_text(
        '{"q": "대한민국의 수도는", "a": "서울", "b": "부산"}\n{"q": "일본의 수도는", "a": "도쿄", "b": "오사카"}\n',
        encoding="utf-8")
    (tasks / "ko_capital.yaml").write_text(
        'task: ko_capital\nsummary: capitals\ndata: ko_capital.jsonl\ndoc_to_text: "{{q}}"\n'
        'doc_to_choice: ["{{a}}", "{{b}}"]\ndoc_to_target: "{{a}}"\nmetrics: [acc]\n', encoding="utf-8")
    listed = run_cli("eval", "--list-tasks", "--json")
    assert listed.returncode == 0, listed.stderr
    assert "ko_capital" in {row["task"] for row in json.loads(listed.stdout)}
    proc = run_cli("eval", "gemma3", "--task", "ko_capital", "--json", "--threads", "1")
    assert proc.returncode == 0, proc.stderr
    samples = json.loads(proc.stdout)["samples"]["ko_capital"]
    assert [s["target"] for s in samples] == [0, 0] and len(samples[0]["loglikelihoods"]) == 2
