"""The `kollama compare` command: parse options, run the comparison, print where the report is."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from kollama.compare.options import CompareOptions


def compare(
    models: Annotated[Optional[list[str]], typer.Argument(
        help="Models: smollm2, gemma3, FILE.gguf, ollama:NAME, openai:URL#MODEL, ollama-server:NAME")] = None,
    suite: Annotated[str, typer.Option(
        help="Built-in suite name (see --list-suites) or a .yaml/.jsonl file.")] = CompareOptions.suite,
    trials: Annotated[int, typer.Option(help="Answers per prompt (seeds --seed, --seed+1, ...).")] = CompareOptions.trials,
    lock: Annotated[str, typer.Option(help="Lock modes to compare, comma-separated: off, script, strict, gated.")] = CompareOptions.locks,
    temperature: Annotated[float, typer.Option(help="Sampling temperature.")] = CompareOptions.temperature,
    lang: Annotated[Optional[str], typer.Option(
        help="Expected answer language for every prompt (default: each prompt's own), or auto: decided from each prompt.")] = CompareOptions.lang,
    seed: Annotated[int, typer.Option(help="Seed of the first trial.")] = CompareOptions.seed,
    max_tokens: Annotated[int, typer.Option("--max-tokens", help="Most tokens per answer.")] = CompareOptions.max_tokens,
    ctx: Annotated[Optional[int], typer.Option(help="Context window in tokens for local models.")] = CompareOptions.ctx,
    out: Annotated[Path, typer.Option(help="Folder for results.json and report.html.")] = CompareOptions.out,
    parallel: Annotated[int, typer.Option(
        "--parallel", help="Answers a local model decodes together (deterministic; 1 = one at a time, as `kollama run`).")] = CompareOptions.parallel,
    no_cache: Annotated[bool, typer.Option(
        "--no-cache", help="Generate every answer again (still stores them).")] = False,
    reference_model: Annotated[str, typer.Option(
        "--reference-model", help="Model that scores naturalness (log-probability per character).")] = CompareOptions.reference_model,
    no_naturalness: Annotated[bool, typer.Option(
        "--no-naturalness", help="Skip the naturalness score (no reference model is loaded).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary JSON to standard output.")] = False,
    list_suites: Annotated[bool, typer.Option("--list-suites", help="List the built-in suites and exit.")] = False,
) -> None:
    """Compare models on a prompt suite: several trials each, language fidelity, checks, speed; an HTML report."""
    from kollama.console import print_json
    from kollama.errors import KollamaError

    if list_suites:
        from kollama.compare.summary_table import print_suites
        from kollama.compare.suites import suite_summaries

        rows = suite_summaries()
        print_json(rows) if as_json else print_suites(rows)
        return
    if not models:
        raise KollamaError("no models to compare", hint="e.g. kollama compare smollm2 gemma3 --suite ko-basic")
    from kollama.compare.runner import run_compare
    from kollama.compare.summary_table import print_summary

    options = CompareOptions(models=list(models), suite=suite, trials=trials, locks=lock, temperature=temperature,
                             seed=seed, max_tokens=max_tokens, ctx=ctx, out=out, use_cache=not no_cache,
                             parallel=parallel, naturalness=not no_naturalness, reference_model=reference_model,
                             lang=lang)
    result = run_compare(options)
    if as_json:
        print_json(result.summary)
    else:
        print_summary(result)


def register(app: typer.Typer) -> None:
    """Add `kollama compare` to the main command."""
    app.command("compare")(compare)
