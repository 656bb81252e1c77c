"""`kollama tune report`: base vs tuned, measured by `kollama compare` and `kollama eval`.

The tuned model is run from its exported GGUF through the same llama.cpp engine as the base, so
the comparison measures what a user of `kollama run` will see. Compare answers held-out Korean
prompts (lock off, greedy) and writes its own HTML report under DIR/compare/; eval scores the
built-in grammar and spelling pairs. Answers are cached, so a second report is quick.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kollama.models.reference import resolve
from kollama.tune.sft import read_run

HELDOUT = Path(__file__).resolve().parents[1] / "data" / "tune" / "ko_heldout.jsonl"
EVAL_TASKS = ("ko_grammar", "ko_spelling")
COMPARE_METRICS = (("fidelity_rate", "Korean fidelity pass"), ("language_rate", "answers in Korean"),
                   ("check_pass_rate", "check pass rate"))


def tuned_gguf(run_dir: Path) -> Path:
    """The run's exported f16 GGUF, exporting it first if needed."""
    from kollama.tune.export import export_run

    path = run_dir / "tuned-f16.gguf"
    if not path.is_file():
        export_run(run_dir, path, quant="f16")
    return path


def _compare(base: str, tuned: str, suite: str, max_tokens: int, out: Path) -> dict[str, dict[str, Any]]:
    from kollama.compare.runner import CompareOptions, run_compare

    result = run_compare(CompareOptions(models=[base, tuned], suite=suite, trials=1, locks="off", temperature=0.0,
                                        max_tokens=max_tokens, out=out))
    by_model = {group["model"]: group["overall"] for group in result.summary["groups"]}
    return {role: by_model[resolve(model).ref] for role, model in (("base", base), ("tuned", tuned))}


def _accuracy(model: str, tasks: tuple[str, ...], limit: int | None) -> dict[str, float]:
    from kollama.console import ProgressBar
    from kollama.evaluate.runner import EvalOptions, run_eval

    with ProgressBar(transient=True) as progress:
        _, runs, _ = run_eval(EvalOptions(model=model, tasks=list(tasks), limit=limit), progress)
    return {run.task.name: run.results["acc"] for run in runs}


def tune_report(run_dir: str | Path, suite: str | Path | None = None, max_tokens: int = 96,
                tuned: str | Path | None = None, tasks: tuple[str, ...] = EVAL_TASKS,
                limit: int | None = None) -> dict[str, Any]:
    """Compare and eval, base vs tuned; written to DIR/compare_report.json (and DIR/compare/report.html)."""
    run_dir = Path(run_dir)
    run = read_run(run_dir)
    tuned_path = str(Path(tuned) if tuned else tuned_gguf(run_dir))
    suite_name = str(suite) if suite else str(HELDOUT)
    compared = _compare(run["base"], tuned_path, suite_name, max_tokens, run_dir / "compare")
    accuracy = {role: _accuracy(model, tasks, limit) for role, model in (("base", run["base"]), ("tuned", tuned_path))}
    training = {}
    train_report = run_dir / "train_report.json"
    if train_report.is_file():
        figures = json.loads(train_report.read_text())
        training = {k: figures.get(k) for k in ("steps", "first_loss", "last_loss", "seconds", "evals")}
    rows = [(label, compared["base"][key], compared["tuned"][key]) for key, label in COMPARE_METRICS]
    rows += [(f"{task} accuracy", accuracy["base"][task], accuracy["tuned"][task]) for task in tasks]
    report = {"run": str(run_dir), "base_model": run["base"], "tuned_model": tuned_path, "suite": suite_name,
              "prompts": compared["base"]["answers"], "compare_report": str(run_dir / "compare" / "report.html"),
              "metrics": [{"metric": label, "base": b, "tuned": t,
                           "change": round(t - b, 4) if b is not None and t is not None else None}
                          for label, b, t in rows],
              "compare": compared, "accuracy": accuracy, "training": training}
    (run_dir / "compare_report.json").write_text(json.dumps(report, ensure_ascii=False, indent=2))
    return report


def print_report(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"base vs tuned: {report['prompts']} held-out prompts (lock off), eval tasks")
    for column, justify in (("metric", "left"), ("base", "right"), ("tuned", "right"), ("change", "right")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for row in report["metrics"]:
        fmt = (lambda v: "–" if v is None else f"{v:.0%}")  # noqa: E731
        change = "–" if row["change"] is None else f"{row['change']:+.0%}"
        table.add_row(row["metric"], fmt(row["base"]), fmt(row["tuned"]), change)
    training = report.get("training") or {}
    if training.get("first_loss") is not None:
        table.add_row("train loss", f"{training['first_loss']:.3f}", f"{training['last_loss']:.3f}",
                      f"{training['last_loss'] - training['first_loss']:+.3f}")
    console = Console()
    console.print(table)
    console.print(f"answers side by side: {report['compare_report']}")
