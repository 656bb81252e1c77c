"""How often `gated` would fire where a Korean reader sees a switch, and how often it would touch clean text.

Teacher forcing: each answer is replayed through a model token by token; before each token the gate sees the
model's own logits, as it does while decoding. A switch is a span the fidelity judge flags as a foreign word,
a wrong-language line or an English label (the judge agrees with a Korean reader on the labelled answers).

- recall: share of switches where the gate bans the token that opens the switch;
- clean fires: share of clean answers (the judge passes them) where the gate bans at least one token, and
  bans per 1,000 clean tokens.

Answers: published LCB completions of Korean prompts by other models (../shared/realdata/lcb), and optionally
answers the model wrote itself (`--answers FILE.json`, a list of {"prompt", "text"}).

    python benchmarks/gate_recall.py --model qwen2.5-coder-0.5b [--limit 120]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from realdata import realdata_or_exit  # noqa: E402

from kollama.engines import load_engine  # noqa: E402
from kollama.korean.fidelity import fidelity_report  # noqa: E402
from kollama.korean.lock import LockMode, LockState  # noqa: E402

SWITCH_KINDS = ("code_switch", "wrong_language_line", "label")


def published(limit: int) -> list[dict]:
    """LCB's published Korean completions with their prompts, confused and clean alike, spread over models."""
    outputs = [json.loads(line) for line in realdata_or_exit("lcb", "lcb_outputs_ko.jsonl").open(encoding="utf-8")]
    prompts = {(r["task"], r["source"], str(r["id"])): r["prompt"]
               for r in map(json.loads, realdata_or_exit("lcb", "lcb_ko.jsonl").open(encoding="utf-8"))}
    rows = []
    for row in outputs[:: max(1, len(outputs) // (limit * 3))]:
        prompt = prompts.get((row["task"], row["source"], str(row["id"])))
        text = row["completion"].strip()
        if prompt and text:
            rows.append({"prompt": prompt, "text": text[:600], "who": row["model"]})
    return rows


def replay(engine, item: dict) -> dict:
    """Teacher-force one answer through the gate: the tokens it bans, and the switches it catches."""
    report = fidelity_report(item["text"], prompt=item["prompt"], with_lcb=False)
    switches = [s for s in report.foreign if s.kind in SWITCH_KINDS]
    tokens = engine.tokenize(item["text"])
    messages = [{"role": "user", "content": item["prompt"]}]
    state = LockState(engine.lock_masks("ko"), LockMode.gated, prompt=item["prompt"], min_target_chars=0)
    banned_at: list[int] = []
    offsets: list[int] = []
    for token, row in zip(tokens, engine.replay_logits(messages, tokens)):
        offsets.append(len(state.text))
        row = row.copy()
        state.apply(row)
        if row[token] == -float("inf") and state.last_gate is not None:
            banned_at.append(len(state.text))
        state.feed(token)
    fired = set(banned_at)
    # the token that opens a switch is the last one starting at or before the span (a space may lead it)
    caught = sum(max((o for o in offsets if o <= span.start), default=0) in fired for span in switches)
    return {"passed": report.passed, "switches": len(switches), "caught": caught, "fires": len(banned_at),
            "tokens": len(tokens)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qwen2.5-coder-0.5b")
    parser.add_argument("--limit", type=int, default=120, help="published answers to replay")
    parser.add_argument("--answers", type=Path, help="the model's own answers (JSON list of {prompt, text})")
    args = parser.parse_args()
    items = published(args.limit)[: args.limit]
    if args.answers:
        items += [{"prompt": a["prompt"], "text": a["text"], "who": "self"} for a in json.loads(args.answers.read_text())
                  if a.get("text", "").strip()]
    engine = load_engine(args.model, n_ctx=4096)
    totals: dict[str, dict[str, int]] = {}
    try:
        for n, item in enumerate(items, 1):
            result = replay(engine, item)
            group = totals.setdefault("self" if item["who"] == "self" else "published", dict.fromkeys(
                ("answers", "switches", "caught", "clean", "clean_fired", "clean_fires", "clean_tokens"), 0))
            group["answers"] += 1
            group["switches"] += result["switches"]
            group["caught"] += result["caught"]
            if result["passed"]:
                group["clean"] += 1
                group["clean_fired"] += result["fires"] > 0
                group["clean_fires"] += result["fires"]
                group["clean_tokens"] += result["tokens"]
            if n % 20 == 0:
                print(f"  {n}/{len(items)} answers replayed", flush=True)
    finally:
        engine.close()
    for name, g in totals.items():
        recall = g["caught"] / g["switches"] if g["switches"] else float("nan")
        print(f"{args.model} on {name} answers ({g['answers']}): recall {g['caught']}/{g['switches']} = {recall:.1%}; "
              f"clean answers touched {g['clean_fired']}/{g['clean']}, "
              f"{1000 * g['clean_fires'] / max(1, g['clean_tokens']):.1f} bans per 1,000 clean tokens", flush=True)


if __name__ == "__main__":
    main()
