"""`kollama tune pairs`: preference pairs from an instruction file and the current model's own answers.

chosen = the dataset's reference answer; rejected = the model's answer, kept only when that answer
fails the Korean fidelity check or is far from the reference (ROUGE-L F1 on Kiwi morphemes).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from kollama.engines import GenerationParams, load_engine
from kollama.korean.fidelity import fidelity_report
from kollama.korean.lock import LockMode
from kollama.progress import Progress, no_progress
from kollama.tune.datasets import load_alpaca
from kollama.tune.defaults import MIN_ROUGE, PAIRS_MAX_TOKENS
from kollama.tune.rouge import rouge_l


def rejection_reason(answer: str, reference: str, prompt: str, lang: str, min_rouge: float) -> str | None:
    if not answer.strip():
        return "empty"
    if not fidelity_report(answer, lang, prompt=prompt).passed:
        return "fails_fidelity"
    if rouge_l(answer, reference) < min_rouge:
        return "far_from_reference"
    return None


def build_pairs(model: str, data: str | Path, out: str | Path, limit: int | None = None, max_tokens: int = PAIRS_MAX_TOKENS,
                min_rouge: float = MIN_ROUGE, lang: str = "ko", progress: Progress = no_progress) -> dict[str, Any]:
    """Write DPO pairs to `out`; returns counts of pairs made and answers already good enough."""
    examples = load_alpaca(data)[:limit] if limit else load_alpaca(data)
    engine = load_engine(model)
    params = GenerationParams(temperature=0.0, max_tokens=max_tokens, lock=LockMode.off, seed=0)
    reasons: Counter = Counter()
    pairs = []
    progress(0, len(examples), "pairs")
    for done, (prompt, reference) in enumerate(examples, start=1):
        answer = engine.chat([{"role": "user", "content": prompt}], params).result().text.strip()
        reason = rejection_reason(answer, reference, prompt, lang, min_rouge)
        reasons[reason or "already_good"] += 1
        if reason:
            pairs.append({"prompt": prompt, "chosen": reference, "rejected": answer, "reason": reason})
        progress(done, len(examples), "pairs")
    engine.close()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in pairs), encoding="utf-8")
    return {"examples": len(examples), "pairs": len(pairs), "reasons": dict(reasons), "out": str(out)}
