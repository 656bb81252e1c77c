"""`kollama tune pairs MODEL --rank-by fidelity,naturalness`: pairs ranked by kollama's own judgments.

Samples several answers per prompt (llama.cpp, lock off, one seed per sample), scores each with the
named rewards of `kollama tune rl` (weighted mean), and writes the best answer against the worst as a
pair when their scores differ by at least `margin`, or with `ranked` every answer best first. Each line
keeps its scores, so a person can reorder or delete lines: the file is also a labelling file, and
`kollama tune reward` reads both forms.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kollama.progress import Progress, no_progress
from kollama.tune.defaults import PAIRS_MAX_TOKENS, SAMPLE_TEMPERATURE, SAMPLES, SEED


def build_ranked_pairs(model: str, data: str | Path, out: str | Path, rank_by: str = "fidelity,naturalness",
                       samples: int = SAMPLES, limit: int | None = None, max_tokens: int = PAIRS_MAX_TOKENS,
                       temperature: float = SAMPLE_TEMPERATURE, seed: int = SEED, margin: float = 0.1, ranked: bool = False, lang: str = "ko",
                       progress: Progress = no_progress) -> dict[str, Any]:
    from kollama.engines import GenerationParams, load_engine
    from kollama.errors import KollamaError
    from kollama.models.reference import resolve
    from kollama.tune.rewards import build_rewards, close_all, combine
    from kollama.tune.rl import load_prompts

    if samples < 2:
        raise KollamaError("--samples must be at least 2", hint="ranking needs several answers per prompt")
    prompts = load_prompts(data)[:limit] if limit else load_prompts(data)
    ref = resolve(model)
    rewards = build_rewards(rank_by, ref.identity(), lang, base_name=ref.path.name if ref.path else model)
    engine = load_engine(model)
    lines: list[dict[str, Any]] = []
    skipped = 0
    try:
        progress(0, len(prompts), "rank")
        for done, prompt in enumerate(prompts, start=1):
            answers = []
            for k in range(samples):
                params = GenerationParams(temperature=temperature, max_tokens=max_tokens, lang=lang, seed=seed + k)
                answers.append(engine.chat([{"role": "user", "content": prompt}], params).result().text.strip())
            answers = [a for a in dict.fromkeys(answers) if a]  # distinct, non-empty
            if len(answers) < 2:
                skipped += 1
                progress(done, len(prompts), "rank")
                continue
            combined, each = combine(rewards, [prompt] * len(answers), answers)
            order = sorted(range(len(answers)), key=lambda i: -combined[i])
            best, worst = order[0], order[-1]
            if ranked:
                lines.append({"prompt": prompt, "answers": [answers[i] for i in order],
                              "scores": [round(combined[i], 4) for i in order]})
            elif combined[best] - combined[worst] >= margin:
                lines.append({"prompt": prompt, "chosen": answers[best], "rejected": answers[worst],
                              "scores": {"chosen": round(combined[best], 4), "rejected": round(combined[worst], 4),
                                         **{n: [round(v[best], 4), round(v[worst], 4)] for n, v in each.items()}}})
            else:
                skipped += 1
            progress(done, len(prompts), "rank")
    finally:
        engine.close()
        close_all(rewards)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8")
    return {"prompts": len(prompts), "written": len(lines), "skipped": skipped, "form": "ranked" if ranked else "pairs",
            "rank_by": rank_by, "samples": samples, "out": str(out)}
