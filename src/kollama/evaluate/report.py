"""Eval output in the shape lm-evaluation-harness users know: the JSON {results, samples} (the CLI prints
it as a table), and in --out: results.json, samples_<task>.jsonl and report.html."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from kollama.evaluate.runner import TaskRun

METRIC_ORDER = ("acc", "acc_norm", "f1")


def eval_payload(model: str, runs: list[TaskRun], config: dict[str, Any]) -> dict[str, Any]:
    return {
        "results": {r.task.name: {k: (round(v, 6) if isinstance(v, float) else v) for k, v in r.results.items()} for r in runs},
        "samples": {r.task.name: r.samples for r in runs},
        "config": {"model": model, **config},
        "timing": {r.task.name: {k: round(v, 4) for k, v in r.seconds.items()} for r in runs},
    }


def write_outputs(out: Path, payload: dict[str, Any]) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "results.json"]
    summary = {k: v for k, v in payload.items() if k != "samples"}
    written[0].write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
    for task, samples in payload["samples"].items():
        path = out / f"samples_{task}.jsonl"
        path.write_text("".join(json.dumps(s, ensure_ascii=False) + "\n" for s in samples), encoding="utf-8")
        written.append(path)
    report = out / "report.html"
    report.write_text(render_html(payload), encoding="utf-8")
    written.append(report)
    return written


def render_html(payload: dict[str, Any], max_samples: int = 200) -> str:
    """A self-contained page: the metrics table, then each task's items with their choices'
    log-likelihoods, the gold choice and the model's pick (wrong picks highlighted)."""
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(task)}</td><td>{res['n']}</td>" + "".join(
            f"<td>{res[m]:.4f}</td>" if m in res else "<td>–</td>" for m in METRIC_ORDER) + "</tr>"
        for task, res in payload["results"].items())
    sections = []
    for task, samples in payload["samples"].items():
        items = []
        for s in samples[:max_samples]:
            choices = "".join(
                f"<li class='{'gold' if i == s['target'] else ''} {'pick' if i == s['pred'] else ''}'>"
                f"<code>{ll:.3f}</code> {e(c)}</li>"
                for i, (c, ll) in enumerate(zip(s.get("choices", []), s["loglikelihoods"])))
            status = "ok" if s["pred"] == s["target"] else "miss"
            items.append(f"<div class='item {status}'><div class='ctx'>#{s['doc_id']} {e(s.get('context', ''))}</div>"
                         f"<ol start='0'>{choices}</ol></div>")
        more = f"<p>… {len(samples) - max_samples} more in samples_{e(task)}.jsonl</p>" if len(samples) > max_samples else ""
        sections.append(f"<h2>{e(task)}</h2>{''.join(items)}{more}")
    config = e(json.dumps(payload.get("config", {}), ensure_ascii=False))
    return f"""<!doctype html><html lang="ko"><head><meta charset="utf-8"><title>kollama eval</title>
<style>body{{font-family:sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:.3rem .6rem;text-align:right}}td:first-child{{text-align:left}}
.item{{border-left:4px solid #2a2;margin:.6rem 0;padding:.2rem .6rem}}.item.miss{{border-color:#c22}}
.ctx{{white-space:pre-wrap;color:#333}}li.gold{{font-weight:bold}}li.pick::after{{content:" ← pick";color:#666}}
code{{color:#555}}</style></head><body><h1>kollama eval</h1><p><code>{config}</code></p>
<table><tr><th>task</th><th>n</th>{''.join(f'<th>{m}</th>' for m in METRIC_ORDER)}</tr>{rows}</table>
{''.join(sections)}</body></html>"""
