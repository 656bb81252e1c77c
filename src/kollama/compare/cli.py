"""The `kollama compare` command: parse options, run the comparison with a live view, print the summary table
and where the report is."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from kollama.compare.options import CompareOptions

if TYPE_CHECKING:
    from rich.table import Table

    from kollama.compare.result import CompareResult


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
        from kollama.compare.suites import suite_summaries

        rows = suite_summaries()
        print_json(rows) if as_json else _print_suites(rows)
        return
    if not models:
        raise KollamaError("no models to compare", hint="e.g. kollama compare smollm2 gemma3 --suite ko-basic")
    from kollama.compare.runner import run_compare

    options = CompareOptions(models=list(models), suite=suite, trials=trials, locks=lock, temperature=temperature,
                             seed=seed, max_tokens=max_tokens, ctx=ctx, out=out, use_cache=not no_cache,
                             parallel=parallel, naturalness=not no_naturalness, reference_model=reference_model,
                             lang=lang)
    with LiveView() as view:
        result = run_compare(options, progress=view.report, on_record=view.add)
    if as_json:
        print_json(result.summary)
    else:
        _print_summary(result)


class LiveView:
    """The answers' bar with a table of running figures per model x lock under it (no refresh thread), then a
    bar for each piece of work after them (naturalness scores; `tune report`'s eval tasks); Ctrl-C while
    answers come says how to resume."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], dict[str, Any]] = {}
        self.generated = 0
        self._stack = ExitStack()  # the bars open now
        self._bar: Any = None
        self._task: Any = None
        self._later: Any = None  # the bars after the answers'

    def __enter__(self) -> LiveView:
        return self

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        self._stack.close()
        if kind is KeyboardInterrupt and self._later is None:
            from kollama.console import stderr

            stderr.print(f"[yellow]interrupted: {self.generated} new answers are cached; "
                         "run the same command again to resume[/yellow]")

    def report(self, done: int, total: int | None, note: str) -> None:
        """`kollama.progress.Progress`: the answers, then (a count that starts again) the naturalness scores."""
        from kollama.console import ProgressBar, ProgressBars

        if self._later is None and self._bar is not None and done == 0:
            self._stack.close()
            self._later = self._stack.enter_context(ProgressBars())
        if self._later is not None:
            self._later(done, total, note)
            return
        if self._bar is None:  # the plan is made: the answers start
            self._bar = self._stack.enter_context(ProgressBar(remaining=True, enabled=True, footer=self._render))
            self._task = self._bar.add_task(note, total=total)
        self._bar.update(self._task, completed=done, description=note)

    def add(self, record: dict[str, Any]) -> None:
        """One more answer record in the running figures."""
        row = self.rows.setdefault((record["model"], record["lock"]),
                                   {"n": 0, "failed": 0, "fid": 0, "checks": 0, "tps": 0.0})
        row["n"] += 1
        row["failed"] += bool(record["error"])
        row["fid"] += bool(record["fidelity"]["pass"]) and not record["error"]
        row["checks"] += all(record["checks"].values())
        row["tps"] += record["tokens_per_second"] or 0.0
        self.generated += not record["cached"] and not record["error"]

    def _render(self) -> Table:
        from rich.table import Table

        table = Table("model", "lock", "answers", "fidelity", "checks", "tok/s", "failed", title="kollama compare")
        for (model, lock), row in self.rows.items():
            ok = row["n"] - row["failed"]
            table.add_row(model, lock, str(row["n"]), f"{row['fid'] / ok:.0%}" if ok else "-",
                          f"{row['checks'] / row['n']:.0%}" if row["n"] else "-",
                          f"{row['tps'] / ok:.1f}" if ok else "-", str(row["failed"]))
        return table


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _print_summary(result: CompareResult) -> None:
    from rich.table import Table

    from kollama.console import stdout as console

    summary = result.summary
    table = Table("model", "lock", "fidelity", "checks", "natural", "pass^N", "pass@N", "LCPR", "KA-LCPR", "tok/s",
                  "failed",
                  title=f"kollama compare · {summary['suite']} · {summary['trials']} trials")
    for group in summary["groups"]:
        o = group["overall"]
        table.add_row(group["model"], group["lock"], _pct(o["fidelity_rate"]), _pct(o["check_pass_rate"]),
                      _num(o.get("naturalness")),
                      _pct(o["consistency"]["pass_hat_n"]), _pct(o["consistency"]["pass_at_n"]),
                      _pct(o["lcb"]["lcpr"]), _pct(o["korean_aware"]["lcpr"]),
                      _num(o["speed"]["tokens_per_second_mean"]), str(o["failed"]))
    console.print(table)
    for group in summary["groups"]:
        o = group["overall"]
        intrusions = ", ".join(f"{s} {r:.0%}" for s, r in o["intrusion_rate"].items()) or "none"
        console.print(f"{group['model']} · {group['lock']}: intrusions {intrusions}; code-switch "
                      f"{_num(o['code_switch_per_100_words'])}/100 words; stable "
                      f"{_pct(o['consistency']['language_stability'])}; TTFT {_num(o['speed']['ttft_mean'])} s; "
                      f"peak {_num(group.get('peak_rss_mb'))} MB")
    natural = summary.get("naturalness")
    if natural:
        console.print(f"natural: {natural['unit']} under {natural['reference_model']} (higher reads more fluently)"
                      + (f"; [red]{natural['error']}[/red]" if natural.get("error") else ""))
    for model, error in summary["errors"].items():
        console.print(f"[red]{model} failed:[/red] {error}")
    console.print(f"{summary['generated']} generated, {summary['cached']} from cache, {summary['failed']} failed "
                  f"in {summary['wall_seconds']:.1f} s")
    console.print(f"report: [bold]{(result.out / 'report.html').resolve()}[/bold]  "
                  f"(data: {(result.out / 'results.json').resolve()})")


def _print_suites(rows: list[dict[str, Any]]) -> None:
    from rich.table import Table

    from kollama.console import stdout as console

    table = Table("suite", "prompts", "languages", "categories", "description")
    for row in rows:
        table.add_row(row["name"], str(row["prompts"]), ", ".join(row["languages"]), ", ".join(row["categories"]),
                      row["description"])
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add `kollama compare` to the main command."""
    app.command("compare")(compare)
