"""results.json and a self-contained report.html: inline CSS and SVG, no network needed to open it.

The HTML shows bar charts per metric and model x lock, then each prompt with the models' answers
side by side, foreign spans coloured by script (the same colours as `kollama fidelity`) and failed
checks marked.
"""

from __future__ import annotations

import html
import json
from importlib import resources
from typing import TYPE_CHECKING, Any

from kollama.korean.fidelity import SCRIPT_COLOURS
from kollama.korean.morphology import nfc

if TYPE_CHECKING:
    from kollama.compare.result import CompareResult
    from kollama.compare.suites import Suite

# rich colour names (SCRIPT_COLOURS) as CSS colours readable as a highlight
_CSS = {"red": "#f8b4b4", "magenta": "#f5b3f0", "yellow": "#fde68a", "cyan": "#a5f3fc", "blue": "#bfdbfe",
        "green": "#bbf7d0", "bright_red": "#fca5a5", "bright_yellow": "#fef08a", "white": "#e5e7eb"}
_BAR_COLOURS = ["#2563eb", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#0ea5e9", "#84cc16", "#ec4899"]

# (label, path into a group's "overall" metrics, is a rate in [0, 1])
CHART_METRICS: list[tuple[str, tuple[str, ...], bool]] = [
    ("Language fidelity", ("fidelity_rate",), True),
    ("Check pass rate", ("check_pass_rate",), True),
    ("Naturalness (log-prob per character, reference model)", ("naturalness",), False),
    ("pass^N (all trials pass)", ("consistency", "pass_hat_n"), True),
    ("pass@N (some trial passes)", ("consistency", "pass_at_n"), True),
    ("Language stability", ("consistency", "language_stability"), True),
    ("LCB LPR", ("lcb", "lpr"), True),
    ("LCB WPR", ("lcb", "wpr"), True),
    ("LCB LCPR", ("lcb", "lcpr"), True),
    ("Korean-aware LCPR", ("korean_aware", "lcpr"), True),
    ("Code-switch words / 100 words", ("code_switch_per_100_words",), False),
    ("Tokens per second", ("speed", "tokens_per_second_mean"), False),
    ("Time to first token (s)", ("speed", "ttft_mean"), False),
]


def script_colour(script: str) -> str:
    return _CSS.get(SCRIPT_COLOURS.get(script, "white"), _CSS["white"])


def highlight(text: str, foreign: list[dict[str, Any]]) -> str:
    """HTML of an answer with each foreign span wrapped in a <mark> coloured by its script."""
    text = nfc(text)
    out, pos = [], 0
    for span in sorted(foreign, key=lambda s: s["start"]):
        if span["start"] < pos:
            continue
        out.append(html.escape(text[pos:span["start"]]))
        out.append(f'<mark class="foreign {span["kind"]}" data-script="{html.escape(span["script"])}" '
                   f'style="background:{script_colour(span["script"])}" title="{html.escape(span["script"])} · '
                   f'{span["kind"]}">{html.escape(text[span["start"]:span["end"]])}</mark>')
        pos = span["end"]
    out.append(html.escape(text[pos:]))
    return "".join(out)


def _get(metrics: dict[str, Any], path: tuple[str, ...]) -> float | None:
    value: Any = metrics
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value if isinstance(value, (int, float)) else None


def bar_chart(title: str, bars: list[tuple[str, float | None]], rate: bool) -> str:
    """A horizontal bar chart as inline SVG; rates on a 0-100% axis, other values scaled to the largest."""
    row, label_w, bar_w = 26, 220, 360
    height = 30 + row * len(bars)
    top = 1.0 if rate else max([v for _, v in bars if v is not None] or [1.0]) or 1.0
    parts = [f'<svg class="chart" role="img" aria-label="{html.escape(title)}" width="{label_w + bar_w + 80}" '
             f'height="{height}" xmlns="http://www.w3.org/2000/svg">',
             f'<text x="0" y="16" class="chart-title">{html.escape(title)}</text>']
    for i, (label, value) in enumerate(bars):
        y = 26 + i * row
        parts.append(f'<text x="0" y="{y + 15}" class="bar-label">{html.escape(label)}</text>')
        if value is None:
            parts.append(f'<text x="{label_w}" y="{y + 15}" class="bar-value">n/a</text>')
            continue
        width = max(1.0, bar_w * value / top)
        shown = f"{value:.0%}" if rate else f"{value:.2f}"
        parts.append(f'<rect class="bar" x="{label_w}" y="{y + 3}" width="{width:.1f}" height="{row - 8}" '
                     f'fill="{_BAR_COLOURS[i % len(_BAR_COLOURS)]}" data-value="{value:.4f}"/>')
        parts.append(f'<text x="{label_w + width + 6:.1f}" y="{y + 15}" class="bar-value">{shown}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _charts(groups: list[dict[str, Any]]) -> list[str]:
    labels = [f"{g['model']} · {g['lock']}" for g in groups]
    return [bar_chart(title, [(label, _get(g["overall"], path)) for label, g in zip(labels, groups, strict=True)], rate)
            for title, path, rate in CHART_METRICS]


def _fmt(value: Any, rate: bool = True) -> str:
    if value is None:
        return "n/a"
    return f"{value:.0%}" if rate else f"{value:.2f}"


def render_html(result: CompareResult, suite: Suite) -> str:
    from jinja2 import Environment, select_autoescape

    template_text = resources.files("kollama.compare").joinpath("templates/report.html.j2").read_text("utf-8")
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    env.filters["fmt"] = _fmt
    env.filters["as_json"] = lambda value: json.dumps(value, ensure_ascii=False)
    summary = result.summary
    groups = summary["groups"]
    columns = [(g["model"], g["lock"]) for g in groups]
    cells: dict[str, dict[tuple[str, str], list[dict[str, Any]]]] = {}
    for answer in result.answers:
        entry = dict(answer)
        entry["html"] = highlight(answer["text"], answer["fidelity"]["foreign"])
        entry["failed_checks"] = [name for name, ok in answer["checks"].items() if not ok]
        cells.setdefault(answer["prompt_id"], {}).setdefault((answer["model"], answer["lock"]), []).append(entry)
    legend = sorted({s["script"] for a in result.answers for s in a["fidelity"]["foreign"]})
    return env.from_string(template_text).render(
        summary=summary, groups=groups, columns=columns, charts=_charts(groups), prompts=suite.prompts,
        cells=cells, legend=[(script, script_colour(script)) for script in legend],
    )


def write_outputs(result: CompareResult, suite: Suite) -> None:
    out = result.out
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(
        json.dumps({"summary": result.summary, "answers": result.answers}, ensure_ascii=False, indent=1),
        encoding="utf-8")
    (out / "report.html").write_text(render_html(result, suite), encoding="utf-8")
