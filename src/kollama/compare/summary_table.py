"""The terminal view of a finished comparison and of the built-in suites."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from kollama.compare.runner import CompareResult


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def print_summary(result: CompareResult) -> None:
    console = Console(highlight=False)
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


def print_suites(rows: list[dict[str, Any]]) -> None:
    table = Table("suite", "prompts", "languages", "categories", "description")
    for row in rows:
        table.add_row(row["name"], str(row["prompts"]), ", ".join(row["languages"]), ", ".join(row["categories"]),
                      row["description"])
    Console(highlight=False).print(table)
