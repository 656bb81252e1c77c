"""`kollama eval`: render a task's items into requests, score them all in one pass through the
log-likelihood core, and aggregate the harness's metrics."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from kollama.evaluate.data import Doc, load_docs
from kollama.evaluate.encoding import encode_pair
from kollama.engines.scoring import Request, Scorer
from kollama.evaluate.metrics import macro_f1, predictions, stderr_of_mean
from kollama.evaluate.options import EvalOptions
from kollama.evaluate.tasks import FewshotSampler, Task, load_task, task_docs
from kollama.progress import Progress, Steps, no_progress


@dataclass
class TaskRun:
    task: Task
    results: dict[str, float]
    samples: list[dict[str, Any]]
    seconds: dict[str, float] = field(default_factory=dict)


def data_for(options: EvalOptions, task: Task) -> str | None:
    if isinstance(options.data, dict):
        return options.data.get(task.name)
    return options.data


def pair_data(tasks: list[str], data: list[str]) -> str | dict[str, str] | None:
    """--data values: one PATH for all tasks, one PATH per --task in order, or TASK=PATH."""
    from kollama.errors import KollamaError

    if not data:
        return None
    named = dict(d.split("=", 1) for d in data if "=" in d and d.split("=", 1)[0] in tasks)
    plain = [d for d in data if not ("=" in d and d.split("=", 1)[0] in tasks)]
    if not plain:
        return named
    if len(plain) == 1 and not named:
        return plain[0]
    if len(plain) == len(tasks) and not named:
        return dict(zip(tasks, plain))
    raise KollamaError(f"{len(data)} --data values for {len(tasks)} tasks",
                       hint="give one --data for all tasks, one per --task in the same order, or TASK=PATH")


def build_requests(engine, task: Task, docs, fewshot_pool, same_split: bool, num_fewshot: int):
    """Per item: its context string, choices, gold index, and one Request per choice."""
    sampler = FewshotSampler(fewshot_pool, same_split)
    items = []
    for doc_id, doc in enumerate(docs):
        context, continuations = task.requests(doc, sampler.sample(doc, num_fewshot))
        reqs = [encode_pair(engine, context, cont) for cont in continuations]
        items.append({"doc_id": doc_id, "doc": doc, "context": context, "continuations": continuations,
                      "choices": task.choices(doc), "target": task.target(doc), "requests": reqs})
    return items


def score_items(task: Task, items: list[dict], lls: list[list[float]], greedy: list[list[bool]]) -> TaskRun:
    samples, acc, acc_norm, golds, preds = [], [], [], [], []
    for item, item_lls, item_greedy in zip(items, lls, greedy):
        pred, pred_norm = predictions(item_lls, item["choices"])
        gold = item["target"]
        sample = {"doc_id": item["doc_id"], "target": gold, "pred": pred,
                  "loglikelihoods": [round(x, 6) for x in item_lls], "is_greedy": item_greedy,
                  "acc": float(pred == gold)}
        if "acc_norm" in task.metrics:
            sample["pred_norm"] = pred_norm
            sample["acc_norm"] = float(pred_norm == gold)
            acc_norm.append(sample["acc_norm"])
        sample["context"] = item["context"]
        sample["choices"] = item["choices"]
        samples.append(sample)
        acc.append(sample["acc"])
        golds.append(gold)
        preds.append(pred)
    results: dict[str, float] = {"n": len(samples)}
    if "acc" in task.metrics:
        results["acc"] = sum(acc) / len(acc)
        results["acc_stderr"] = stderr_of_mean(acc)
    if "acc_norm" in task.metrics:
        results["acc_norm"] = sum(acc_norm) / len(acc_norm)
        results["acc_norm_stderr"] = stderr_of_mean(acc_norm)
    if "f1" in task.metrics:
        results["f1"] = macro_f1(golds, preds)
    return TaskRun(task, results, samples)


def evaluate_task(engine, scorer: Scorer, task: Task, options: EvalOptions, progress: Progress = no_progress,
                  docs: list[Doc] | None = None) -> TaskRun:
    if docs is None:
        _, docs = task_docs(task, data_for(options, task), options.split)
    same_split = task.fewshot_data is None
    pool = docs if same_split else load_docs(task.fewshot_data)
    if options.limit:
        docs = docs[: options.limit]
    t0 = time.perf_counter()
    items = build_requests(engine, task, docs, pool, same_split, options.num_fewshot)
    flat: list[Request] = [r for item in items for r in item["requests"]]
    t1 = time.perf_counter()
    results = scorer.loglikelihood(flat, progress=Steps(progress, len(flat), task.name).step)
    t2 = time.perf_counter()
    lls, greedy, k = [], [], 0
    for item in items:
        n = len(item["requests"])
        lls.append([r.logprob for r in results[k:k + n]])
        greedy.append([r.is_greedy for r in results[k:k + n]])
        k += n
    run = score_items(task, items, lls, greedy)
    run.seconds = {"prepare": t1 - t0, "scoring": t2 - t1, "requests": len(flat)}
    return run


def run_eval(options: EvalOptions, progress: Progress = no_progress) -> tuple[str, list[TaskRun], float]:
    """Load the model once, evaluate every task; returns (model name, runs, model load seconds).
    Tasks and data are read and checked first, so a bad file fails before the model loads."""
    from kollama.engines import load_engine
    from kollama.errors import KollamaError

    tasks = [load_task(name) for name in options.tasks]
    docs = [task_docs(task, data_for(options, task), options.split)[1] for task in tasks]
    t0 = time.perf_counter()
    engine = load_engine(options.model, n_ctx=options.ctx)
    if not engine.supports_scoring:
        raise KollamaError(f"{options.model} is served over HTTP; log-likelihoods need a local GGUF model",
                           hint="use a .gguf file, a built-in model or ollama:NAME")
    load_seconds = time.perf_counter() - t0
    scorer = engine.scorer(n_threads=options.threads)
    try:
        runs = [evaluate_task(engine, scorer, task, options, progress, task_docs_)
                for task, task_docs_ in zip(tasks, docs)]
    finally:
        scorer.close()
        engine.close()
    return engine.name, runs, load_seconds
