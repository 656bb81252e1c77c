"""`kollama tune report`: base vs tuned on held-out Korean prompts (lock off), plus the training figures.

The tuned model is run from its exported GGUF through the same llama.cpp engine as the base,
so the comparison measures what a user of `kollama run` will see.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kollama.engines import GenerationParams, load_engine
from kollama.errors import KollamaError
from kollama.korean.fidelity import fidelity_report
from kollama.korean.language_lock import LockMode
from kollama.tune.datasets import read_records
from kollama.tune.sft import read_run
from kollama.tune.trainer import stderr_console

HELDOUT = Path(__file__).resolve().parents[1] / "data" / "tune" / "ko_heldout.jsonl"


def load_prompts(path: Path) -> list[str]:
    prompts = []
    for number, record in read_records(path):
        text = record.get("prompt") or record.get("instruction")
        if not isinstance(text, str):
            raise KollamaError(f"{path}:{number}: missing field 'prompt'")
        prompts.append(text)
    return prompts


def score_model(model: str, prompts: list[str], max_tokens: int, label: str, progress, lang: str = "ko") -> dict[str, Any]:
    engine = load_engine(model)
    params = GenerationParams(temperature=0.0, max_tokens=max_tokens, lock=LockMode.off, seed=0, lang=lang)
    task = progress.add_task(label, total=len(prompts))
    answers = []
    for prompt in prompts:
        text = engine.chat([{"role": "user", "content": prompt}], params, log=False).result().text
        report = fidelity_report(text, lang, prompt=prompt)
        answers.append({"prompt": prompt, "answer": text, "pass": report.passed, "dominant": report.dominant,
                        "hangul_ratio": round(report.hangul_ratio, 3)})
        progress.advance(task)
    engine.close()
    n = len(answers)
    return {
        "model": model,
        "fidelity_pass_rate": round(sum(a["pass"] for a in answers) / n, 3),
        "korean_dominant_rate": round(sum(a["dominant"] == lang for a in answers) / n, 3),
        "mean_hangul_ratio": round(sum(a["hangul_ratio"] for a in answers) / n, 3),
        "answers": answers,
    }


def tuned_gguf(run_dir: Path) -> Path:
    """The run's exported f16 GGUF, exporting it first if needed."""
    from kollama.tune.export import export_run

    path = run_dir / "tuned-f16.gguf"
    if not path.is_file():
        export_run(run_dir, path, quant="f16")
    return path


def tune_report(run_dir: str | Path, prompts_file: str | Path | None = None, max_tokens: int = 96,
                tuned: str | Path | None = None) -> dict[str, Any]:
    """Language fidelity of base vs tuned on held-out prompts; written to DIR/compare_report.json."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    run_dir = Path(run_dir)
    run = read_run(run_dir)
    tuned_path = Path(tuned) if tuned else tuned_gguf(run_dir)
    prompts = load_prompts(Path(prompts_file) if prompts_file else HELDOUT)
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=stderr_console()) as progress:
        base = score_model(run["base"], prompts, max_tokens, "base", progress)
        after = score_model(str(tuned_path), prompts, max_tokens, "tuned", progress)
    training = {}
    train_report = run_dir / "train_report.json"
    if train_report.is_file():
        figures = json.loads(train_report.read_text())
        training = {k: figures.get(k) for k in ("steps", "first_loss", "last_loss", "seconds", "evals")}
    report = {"run": str(run_dir), "prompts": len(prompts), "base": base, "tuned": after, "training": training,
              "change": {k: round(after[k] - base[k], 3) for k in
                         ("fidelity_pass_rate", "korean_dominant_rate", "mean_hangul_ratio")}}
    (run_dir / "compare_report.json").write_text(json.dumps(report, ensure_ascii=False, indent=2))
    return report


def print_report(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"base vs tuned on {report['prompts']} held-out Korean prompts (lock off)")
    table.add_column("metric")
    table.add_column("base", justify="right")
    table.add_column("tuned", justify="right")
    table.add_column("change", justify="right")
    for key, label in (("fidelity_pass_rate", "Korean fidelity pass"), ("korean_dominant_rate", "Korean dominant"),
                       ("mean_hangul_ratio", "Hangul ratio")):
        table.add_row(label, f"{report['base'][key]:.0%}", f"{report['tuned'][key]:.0%}", f"{report['change'][key]:+.0%}")
    training = report.get("training") or {}
    if training.get("first_loss") is not None:
        table.add_row("train loss", f"{training['first_loss']:.3f}", f"{training['last_loss']:.3f}",
                      f"{training['last_loss'] - training['first_loss']:+.3f}")
    Console().print(table)
