"""`kollama tune report`: base vs tuned, measured by `kollama compare` and `kollama eval`.

The tuned model is run from its exported GGUF through the same llama.cpp engine as the base, so
the comparison measures what a user of `kollama run` will see. Compare answers held-out Korean
prompts (lock off, greedy) and writes its own HTML report under DIR/compare/; eval scores the
built-in grammar and spelling pairs. Answers are cached, so a second report is quick.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kollama.compare.naturalness import DEFAULT_REFERENCE
from kollama.models.reference import resolve
from kollama.progress import Progress, no_progress
from kollama.tune.defaults import BAKE_IN_TEMPERATURES, PROMPT_LIMIT, REPORT_MAX_TOKENS
from kollama.tune.sft import read_run

HELDOUT = Path(__file__).resolve().parents[1] / "data" / "tune" / "ko_heldout.jsonl"
EVAL_TASKS = ("ko_grammar", "ko_spelling")
COMPARE_METRICS = (("fidelity_rate", "Korean fidelity pass"), ("language_rate", "answers in Korean"),
                   ("check_pass_rate", "check pass rate"))


def tuned_gguf(run_dir: Path, progress: Progress = no_progress) -> Path:
    """The run's exported f16 GGUF, exporting it first if needed."""
    from kollama.tune.export import export_run

    path = run_dir / "tuned-f16.gguf"
    if not path.is_file():
        export_run(run_dir, path, quant="f16", progress=progress)
    return path


def _compare(base: str, tuned: str, suite: str, max_tokens: int, out: Path, progress: Progress,
             on_record: Callable[[dict[str, Any]], None] | None) -> dict[str, dict[str, Any]]:
    from kollama.compare.runner import CompareOptions, run_compare

    result = run_compare(CompareOptions(models=[base, tuned], suite=suite, trials=1, locks="off", temperature=0.0,
                                        max_tokens=max_tokens, out=out), progress=progress, on_record=on_record)
    by_model = {group["model"]: group["overall"] for group in result.summary["groups"]}
    return {role: by_model[resolve(model).ref] for role, model in (("base", base), ("tuned", tuned))}


def _accuracy(model: str, tasks: tuple[str, ...], limit: int | None, progress: Progress) -> dict[str, float]:
    from kollama.evaluate.runner import EvalOptions, run_eval

    _, runs, _ = run_eval(EvalOptions(model=model, tasks=list(tasks), limit=limit), progress)
    return {run.task.name: run.results["acc"] for run in runs}


def tune_report(run_dir: str | Path, suite: str | Path | None = None, max_tokens: int = REPORT_MAX_TOKENS,
                tuned: str | Path | None = None, tasks: tuple[str, ...] = EVAL_TASKS,
                limit: int | None = None, progress: Progress = no_progress,
                on_record: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Compare and eval, base vs tuned; written to DIR/compare_report.json (and DIR/compare/report.html).
    `progress` and `on_record` are compare's (`run_compare`), then eval's."""
    run_dir = Path(run_dir)
    run = read_run(run_dir)
    tuned_path = str(Path(tuned) if tuned else tuned_gguf(run_dir))
    suite_name = str(suite) if suite else str(HELDOUT)
    compared = _compare(run["base"], tuned_path, suite_name, max_tokens, run_dir / "compare", progress, on_record)
    accuracy = {role: _accuracy(model, tasks, limit, progress)
                for role, model in (("base", run["base"]), ("tuned", tuned_path))}
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


# --- side by side: base, smoothed and ORPO models (`kollama tune report --model LABEL=MODEL ...`) -------------

NATURALNESS_REFERENCE = DEFAULT_REFERENCE  # compare's reference model


def model_file(ref: str, progress: Progress = no_progress) -> str:
    """A tune run directory stands for its exported f16 GGUF; anything else is a model reference."""
    from kollama.tune.sft import RUN_FILE

    path = Path(ref)
    if path.is_dir() and (path / RUN_FILE).is_file():
        return str(tuned_gguf(path, progress))
    return ref


def bake_in_prompts(files: list[Path], limit: int | None, lang: str = "ko") -> list[str]:
    """ko-basic's prompts in `lang`, then the `prompt` field of each JSONL file (first `limit` of each)."""
    from kollama.compare.suites import load_suite
    from kollama.errors import KollamaError
    from kollama.json_records import read_json_records

    prompts = [p.prompt for p in load_suite("ko-basic").prompts if p.lang == lang]
    for path in files:
        if not Path(path).is_file():
            raise KollamaError(f"prompt file not found: {path}", hint="pass a JSONL file with a 'prompt' field")
        found = [str(r.fields["prompt"]) for r in read_json_records(path) if r.fields.get("prompt")]
        if not found:
            raise KollamaError(f"{path} has no records with a 'prompt' field")
        prompts += found[:limit]
    return prompts


def answer_fidelity(model: str, prompts: list[str], temperature: float, max_tokens: int, lang: str = "ko",
                    seed: int = 0, reference: str | None = None, progress: Progress = no_progress) -> dict[str, Any]:
    """Lock-off answers: fidelity pass rate, foreign-script intrusion rate, intrusions per script, and (with a
    `reference` model) naturalness, compare's mean log-probability per character: a model pushed off foreign
    scripts could still write worse Korean, and fidelity alone would not show it."""
    from collections import Counter

    from kollama.engines import GenerationParams, load_engine
    from kollama.errors import KollamaError, PromptTooLong
    from kollama.korean.fidelity import fidelity_report
    from kollama.korean.lock import LockMode

    engine = load_engine(model)
    params = GenerationParams(temperature=temperature, max_tokens=max_tokens, lock=LockMode.off, lang=lang, seed=seed)
    passed = intruded = malformed = 0
    scripts: Counter = Counter()
    answers: list[dict[str, Any]] = []
    too_long: list[int] = []
    note = f"{Path(model).name} t={temperature}"
    try:
        progress(0, len(prompts), note)
        for index, prompt in enumerate(prompts):
            try:
                answer = engine.chat([{"role": "user", "content": prompt}], params).result().text
            except PromptTooLong:  # e.g. a long LCB text to summarise, in a small model's context
                too_long.append(index)
                progress(index + 1, len(prompts), note)
                continue
            answers.append({"text": answer})
            report = fidelity_report(answer, lang, prompt=prompt)
            passed += report.passed
            intruding = report.scripts_intruding()
            intruded += bool(intruding)
            broken = report.malformed()
            malformed += bool(broken)
            scripts.update(intruding.keys())
            answers[-1].update(prompt=index, passed=report.passed, scripts=sorted(intruding), malformed=broken)
            progress(index + 1, len(prompts), note)
    finally:
        engine.close()
    n = len(answers)
    if not n:
        raise KollamaError(f"no prompt fits {model}'s context", hint="use shorter prompts")
    row: dict[str, Any] = {"answers": n, "fidelity": round(passed / n, 4), "intrusion_rate": round(intruded / n, 4),
                           "intruded": intruded, "intrusions_by_script": dict(scripts.most_common()),
                           "malformed_answers": malformed, "skipped_too_long": too_long}
    if reference:
        row.update(answer_naturalness(answers, reference, progress))
    row["samples"] = answers  # per answer: text, prompt index, verdict, scripts (traces every figure to its inputs)
    return row


def answer_naturalness(answers: list[dict[str, Any]], reference: str,
                       progress: Progress = no_progress) -> dict[str, Any]:
    """Mean naturalness of the answers under `reference` (compare's metric), or the reason it is missing."""
    from kollama.compare.naturalness import score_answers

    error = score_answers(answers, reference, progress)
    scores = [a["naturalness"] for a in answers if a.get("naturalness") is not None]
    if error or not scores:
        return {"naturalness": None, "naturalness_error": error or "no answer to score"}
    return {"naturalness": round(sum(scores) / len(scores), 4)}


def bake_in_report(models: dict[str, str], prompt_files: list[Path] | None = None, prompt_limit: int | None = PROMPT_LIMIT,
                   temperatures: tuple[float, ...] = BAKE_IN_TEMPERATURES, max_tokens: int = REPORT_MAX_TOKENS,
                   tasks: tuple[str, ...] = EVAL_TASKS, limit: int | None = None,
                   out: Path | None = None, reference: str | None = NATURALNESS_REFERENCE,
                   progress: Progress = no_progress) -> dict[str, Any]:
    """Fidelity v2 with the lock off at each temperature, intrusion rate, naturalness under `reference` (None:
    not scored) and eval accuracy, per model."""
    prompts = bake_in_prompts(list(prompt_files or []), prompt_limit)
    files = {label: model_file(ref, progress) for label, ref in models.items()}
    rows: dict[str, Any] = {}
    for label, model in files.items():
        rows[label] = {"model": model,
                       "fidelity": {str(t): answer_fidelity(model, prompts, t, max_tokens, reference=reference,
                                                            progress=progress)
                                    for t in temperatures},
                       "accuracy": _accuracy(model, tasks, limit, progress)}
    report = {"prompts": len(prompts), "prompt_files": [str(p) for p in prompt_files or []], "lock": "off",
              "temperatures": list(temperatures), "max_tokens": max_tokens, "tasks": list(tasks), "models": rows,
              "naturalness": {"reference_model": reference, "unit": "mean log-probability per character"}
              if reference else None}
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
        report["out"] = str(out)
    return report
