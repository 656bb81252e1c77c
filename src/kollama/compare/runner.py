"""Orchestrates a comparison: every model answers every prompt N times per lock mode.

Cached answers are reused; each new answer is cached the moment it exists, so Ctrl-C or a crashed
backend loses nothing. A model that breaks gets its remaining cells marked failed with the error,
and the other models still run.

A local model decodes `--parallel` answers together (the scheduler of kollama.engines.llamacpp):
all of a model's missing answers enter the scheduler at once, in plan order, so the same command
from an empty cache gives the same answers. They are not bit-for-bit the answers `--parallel 1`
gives: llama.cpp rounds differently for different batch shapes, which moves logits by a few
hundredths and, at near-ties, the sampled token. `--parallel 1` answers exactly as `kollama run`.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kollama.compare.cache import AnswerCache, answer_key
from kollama.compare.checks import run_checks
from kollama.compare.metrics import korean_aware_verdict, summarise
from kollama.compare.options import CompareOptions, with_answer_language
from kollama.compare.result import CompareResult
from kollama.compare.suites import Suite, SuitePrompt, load_suite
from kollama.engines import Engine, Generation, GenerationParams, load_engine
from kollama.errors import BackendUnavailable, KollamaError, ModelNotFound
from kollama.korean.fidelity import fidelity_report
from kollama.korean.lock import LockMode
from kollama.models.reference import ModelRef, resolve
from kollama.progress import Progress, no_progress

SLOT_CONTEXT_ROUND = 256

EngineFactory = Callable[[ModelRef, "int | None", int], Engine]


@dataclass
class Cell:
    """One answer to produce: a model, a prompt, a lock mode and a trial."""

    model: ModelRef
    identity: str
    prompt: SuitePrompt
    lock: LockMode
    trial: int
    params: GenerationParams
    key: str


def _load(options: CompareOptions) -> tuple[Suite, list[LockMode], list[ModelRef]]:
    """What the options name: the lock modes, the suite (read from its file), the model references."""
    locks = options.lock_modes()
    suite = with_answer_language(load_suite(options.suite), options.lang)
    refs = [resolve(model) for model in options.models]
    return suite, locks, refs


def plan_cells(suite: Suite, locks: list[LockMode], refs: list[ModelRef], options: CompareOptions) -> list[Cell]:
    """Every (model, lock, prompt, trial); trial t uses seed `--seed + t`."""
    cells = []
    for ref in refs:
        identity = ref.identity()
        for lock in locks:
            for prompt in suite.prompts:
                for trial in range(options.trials):
                    params = GenerationParams(temperature=options.temperature, seed=options.seed + trial,
                                              max_tokens=options.max_tokens, lock=lock, lang=prompt.lang)
                    key_params = {k: (v.value if isinstance(v, LockMode) else v) for k, v in asdict(params).items()
                                  if not (k == "grammar" and v is None)}  # keys from before grammar existed
                    key = answer_key(identity, prompt.messages(), key_params)
                    cells.append(Cell(ref, identity, prompt, lock, trial, params, key))
    return cells


def assess(prompt: SuitePrompt, text: str, failed: bool = False) -> dict[str, Any]:
    """What an answer's text says: fidelity, checks (all failed for a failed cell), LCB and Korean-aware verdicts."""
    fidelity = fidelity_report(text, prompt.lang, prompt=prompt.prompt)
    checks = run_checks(text, prompt.checks, prompt.lang, fidelity)
    if failed:
        checks = {name: False for name in checks}
    return {"text": text, "fidelity": fidelity.to_json(), "checks": checks,
            "lcb": fidelity.lcb, "korean_aware": korean_aware_verdict(fidelity)}


def analyse(cell: Cell, response: dict[str, Any] | None, error: str | None, cached: bool) -> dict[str, Any]:
    """The per-answer record of results.json: the text, its fidelity, checks, LCB verdicts, speed."""
    response = response or {}
    return {
        "model": cell.model.ref, "prompt_id": cell.prompt.id, "category": cell.prompt.category,
        "lang": cell.prompt.lang, "lang_reason": cell.prompt.lang_reason, "trial": cell.trial, "seed": cell.params.seed, "lock": cell.lock.value,
        **assess(cell.prompt, response.get("text", ""), failed=bool(error)),
        "ttft": response.get("ttft"), "seconds": response.get("seconds"),
        "tokens_per_second": response.get("tokens_per_second"),
        "prompt_tokens": response.get("prompt_tokens"), "completion_tokens": response.get("completion_tokens"),
        "finish_reason": response.get("finish_reason"), "lock_enforcement": response.get("lock_enforcement"),
        "retries": response.get("retries"), "cached": cached, "error": error, "_key": cell.key,
    }


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


Tally = Callable[[dict[str, Any], str], None]  # one more answer record, and what it was


def run_compare(options: CompareOptions, engine_factory: EngineFactory | None = None,
                on_answer: Callable[[Engine, dict[str, Any]], None] | None = None,
                progress: Progress = no_progress,
                on_record: Callable[[dict[str, Any]], None] | None = None) -> CompareResult:
    """Run (or resume) a comparison and write results.json and report.html into `options.out`.

    `progress` counts the answers (each note says whose answer came: model, lock, prompt), then the
    naturalness scores; `on_record` sees each answer's record as it comes (cached, new or failed), for
    running figures."""
    from kollama.compare.report import write_outputs

    suite, locks, refs = _load(options)
    factory = engine_factory or (lambda ref, ctx, parallel: load_engine(ref, n_ctx=ctx, parallel=parallel, exact=True))
    cells = plan_cells(suite, locks, refs, options)
    cache = AnswerCache()
    started = time.perf_counter()
    records: list[dict[str, Any]] = []
    result = CompareResult(summary={}, answers=records, out=Path(options.out))
    group_info: dict[tuple[str, str], dict[str, Any]] = {}
    progress(0, len(cells), "compare")

    def tally(record: dict[str, Any], note: str) -> None:
        if on_record is not None:
            on_record(record)
        progress(len(records), len(cells), note)

    try:
        for ref in refs:
            mine = [c for c in cells if c.model is ref]
            info = _run_model(ref, mine, options, cache, factory, tally, records, result, on_answer)
            for lock in locks:
                group_info[(ref.ref, lock.value)] = info
    finally:
        cache.close()
    order = {c.key: i for i, c in enumerate(cells)}
    records.sort(key=lambda r: order[r.pop("_key")])
    generation_seconds = time.perf_counter() - started
    naturalness_error = None
    if options.naturalness:
        from kollama.compare.naturalness import score_answers

        naturalness_error = score_answers(records, options.reference_model, progress)
    result.summary = {
        "suite": suite.name, "suite_path": suite.path, "prompts": len(suite.prompts),
        "categories": suite.categories, "models": [r.ref for r in refs], "locks": [m.value for m in locks],
        "trials": options.trials, "temperature": options.temperature, "seed": options.seed,
        "max_tokens": options.max_tokens, "answers": len(records), "generated": result.generated,
        "cached": result.cached, "failed": result.failed, "errors": result.errors,
        "wall_seconds": round(time.perf_counter() - started, 3), "peak_rss_mb": round(_peak_rss_mb(), 1),
        "phase_seconds": {"generation": round(generation_seconds, 3),
                          "naturalness": round(time.perf_counter() - started - generation_seconds, 3)},
        "naturalness": ({"reference_model": options.reference_model, "unit": "mean log-probability per character",
                         "error": naturalness_error} if options.naturalness else None),
        "groups": summarise(records, group_info),
    }
    write_outputs(result, suite)
    return result


def _run_model(ref: ModelRef, cells: list[Cell], options: CompareOptions, cache: AnswerCache,
               factory: EngineFactory, tally: Tally, records: list[dict[str, Any]], result: CompareResult,
               on_answer: Callable[[Engine, dict[str, Any]], None] | None) -> dict[str, Any]:
    """All cells of one model: cached ones first, then generate the rest on one loaded engine."""
    pending: list[Cell] = []
    for cell in cells:
        hit = cache.get(cell.key) if options.use_cache else None
        if hit is None:
            pending.append(cell)
            continue
        record = analyse(cell, hit, None, cached=True)
        records.append(record)
        result.cached += 1
        tally(record, f"{ref.ref} (cached)")
    info: dict[str, Any] = {"model_identity": cells[0].identity if cells else None, "peak_rss_mb": None}
    if not pending:
        return info
    broken: str | None = None
    engine: Engine | None = None
    peak = 0.0
    try:
        try:
            engine = factory(ref, options.ctx, options.parallel)
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # a model that cannot load fails its cells, the others still run
            broken = _describe(exc)
        generations: list[Generation | None] = [None] * len(pending)
        if engine is not None:
            _fit_slots(engine, pending, options)
            generations = _generate_by_prompt(engine, pending)
        for cell, generation in zip(pending, generations):
            error = broken
            response = None
            if error is None and generation is not None:
                try:
                    response = generation.result().to_json()
                except (BackendUnavailable, ModelNotFound) as exc:  # the server is gone: so is the rest
                    broken = error = _describe(exc)
                except KollamaError as exc:  # this prompt cannot run (too long...): only this cell fails
                    error = _describe(exc)
                except KeyboardInterrupt:
                    raise
                except Exception as exc:  # the backend broke: the rest of this model fails with it
                    broken = error = _describe(exc)
            if response is not None:
                cache.put(cell.key, cell.identity, response)
                result.generated += 1
            else:
                result.failed += 1
                result.errors.setdefault(ref.ref, error or "failed")
            record = analyse(cell, response, error, cached=False)
            records.append(record)
            peak = max(peak, _rss_mb())
            tally(record, f"{ref.ref} · {cell.lock.value} · {cell.prompt.id}")
            if on_answer is not None and engine is not None:
                on_answer(engine, record)
    finally:
        if engine is not None:
            info["decoding"] = engine.decode_stats() or None
            engine.close()
    info["peak_rss_mb"] = round(peak, 1) if peak else None
    return info


def _generate_by_prompt(engine: Engine, cells: list[Cell]) -> list[Generation]:
    """Submit a prompt's cells next to each other, so that batched answers share the prompt's evaluation
    (see the scheduler's leaders), and a trial's locks side by side, so that the locked answers ride on
    the unlocked one (the scheduler's riders); results come back in plan order."""
    first: dict[str, int] = {}
    for cell in cells:
        first.setdefault(cell.prompt.id, len(first))
    order = sorted(range(len(cells)), key=lambda i: (first[cells[i].prompt.id], cells[i].trial))  # stable: locks
    submitted = engine.generate_many([(cells[i].prompt.messages(), cells[i].params) for i in order])
    generations: list[Generation] = [None] * len(cells)  # type: ignore[list-item]
    for generation, i in zip(submitted, order):
        generations[i] = generation
    return generations


def _fit_slots(engine: Engine, cells: list[Cell], options: CompareOptions) -> None:
    """Give each decoding slot the context the longest prompt and answer need, not the model's
    whole window (16 slots x 4096 tokens of KV cache would be most of a small machine's memory)."""
    if options.ctx is not None or not hasattr(engine, "slot_context"):
        return
    longest = 0
    for cell in cells:
        try:
            longest = max(longest, len(engine.prompt_tokens(cell.prompt.messages())[0]))
        except KollamaError:
            continue  # that cell fails on its own when it runs
    need = -(-(longest + options.max_tokens + 1) // SLOT_CONTEXT_ROUND) * SLOT_CONTEXT_ROUND
    engine.slot_context = min(engine.n_ctx, need)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
