"""`kollama tune pairs --confusion`: ORPO/DPO pairs whose rejected answer is a language-confused copy.

Lee, Woo, Ko and Son (ACL 2025 SRW, arXiv 2505.19116) kept SmolLM2 in Korean with ORPO on triplets
whose rejected answer mixes in English and Chinese. Here the chosen answer is the Korean reference
and the rejected one is made from it by rules a reader can check:

- `noun_to_english`: Korean common nouns (Kiwi tag NNG) found in the ko->en glossary become the
  English word, particles stay glued on (`고양이가` -> `cat가`), as confused models write `model이`;
- `foreign_script_word`: one Han, kana or Thai word is inserted at a word boundary.

Optionally the model's own answer is added as a second rejected answer when it carries a
foreign-script intrusion or fails Korean fidelity.
"""

from __future__ import annotations

import csv
import json
import random
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from kollama.errors import KollamaError
from kollama.tune.defaults import PAIRS_MAX_TOKENS, SEED, SWAP_RATE

RULES = {
    "noun_to_english": "Korean common nouns (Kiwi NNG) in the ko->en glossary become their English word "
                       "(each with probability --swap-rate, at least one when any matches); particles stay glued on.",
    "foreign_script_word": "one Han, kana or Thai word (data/tune/confusion_inserts.yaml) is inserted after a "
                           "random word; the script rotates per record.",
    "model_answer": "with MODEL: the model's own answer (lock off) when it has a foreign-script intrusion or "
                    "fails Korean fidelity.",
}
SCRIPTS = ("han", "kana", "thai")


@lru_cache(maxsize=1)
def glossary() -> dict[str, str]:
    text = resources.files("kollama.data").joinpath("tune/ko_en_glossary.tsv").read_text(encoding="utf-8")
    rows = csv.reader((line for line in text.splitlines() if line and not line.startswith("#")), delimiter="\t")
    next(rows)  # header
    return {ko: en for ko, en in rows}


@lru_cache(maxsize=1)
def insert_words() -> dict[str, list[str]]:
    text = resources.files("kollama.data").joinpath("tune/confusion_inserts.yaml").read_text(encoding="utf-8")
    return {script: list(words) for script, words in yaml.safe_load(text).items()}


@dataclass
class Confused:
    text: str
    swapped: list[tuple[str, str]]
    inserted: tuple[str, str] | None  # (script, word)


def confuse(answer: str, rng: random.Random, swap_rate: float = 0.5, script: str = "han") -> Confused:
    """A confused copy of a Korean answer by the two rules above."""
    from kollama.korean.morphology import nfc, tokenize

    text = nfc(answer)
    table = glossary()
    nouns = [t for t in tokenize(text) if t.tag == "NNG" and t.form in table and text[t.start:t.start + t.len] == t.form]
    chosen = [t for t in nouns if rng.random() < swap_rate]
    if nouns and not chosen and swap_rate > 0:
        chosen = [rng.choice(nouns)]
    swapped = []
    for token in sorted(chosen, key=lambda t: t.start, reverse=True):
        english = table[token.form]
        text = text[:token.start] + english + text[token.start + token.len:]
        swapped.append((token.form, english))
    word = rng.choice(insert_words()[script])
    spaces = [i for i, ch in enumerate(text) if ch == " "]
    at = rng.choice(spaces) if spaces else len(text)
    text = text[:at] + " " + word + text[at:]
    return Confused(text, list(reversed(swapped)), (script, word))


def build_confusion_pairs(data: str | Path, out: str | Path, limit: int | None = None, seed: int = SEED,
                          swap_rate: float = SWAP_RATE, model: str | None = None, lang: str = "ko",
                          max_tokens: int = PAIRS_MAX_TOKENS) -> dict[str, Any]:
    """Write pairs JSONL (prompt/chosen/rejected/rule) and OUT.report.json with the rules and examples."""
    from kollama.tune.datasets import load_alpaca

    if not 0 <= swap_rate <= 1:
        raise KollamaError(f"--swap-rate {swap_rate} must lie in [0, 1]")
    examples = load_alpaca(data)
    examples = examples[:limit] if limit else examples
    rng = random.Random(seed)
    pairs: list[dict[str, Any]] = []
    counts: Counter = Counter()
    examples_shown = []
    for index, (prompt, reference) in enumerate(examples):
        confused = confuse(reference, rng, swap_rate, SCRIPTS[index % len(SCRIPTS)])
        rules = (["noun_to_english"] if confused.swapped else []) + ["foreign_script_word"]
        counts.update(rules)
        counts["swapped_nouns"] += len(confused.swapped)
        pairs.append({"prompt": prompt, "chosen": reference, "rejected": confused.text, "rule": "+".join(rules)})
        if len(examples_shown) < 5:
            examples_shown.append({"chosen": reference, "rejected": confused.text,
                                   "swapped": confused.swapped, "inserted": confused.inserted})
    if model:
        pairs += _model_pairs(model, examples, lang, max_tokens, counts)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in pairs), encoding="utf-8")
    report = {"examples": len(examples), "pairs": len(pairs), "out": str(out), "seed": seed, "swap_rate": swap_rate,
              "rules": {name: text for name, text in RULES.items() if name != "model_answer" or model},
              "applied": dict(counts), "glossary_words": len(glossary()), "shown": examples_shown}
    report_path = out.with_suffix(".report.json")
    report_path.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    report["report"] = str(report_path)
    return report


def _model_pairs(model: str, examples: list[tuple[str, str]], lang: str, max_tokens: int,
                 counts: Counter) -> list[dict[str, Any]]:
    from kollama.engines import GenerationParams, load_engine
    from kollama.korean.fidelity import fidelity_report
    from kollama.korean.lock import LockMode

    engine = load_engine(model)
    params = GenerationParams(temperature=0.7, max_tokens=max_tokens, lock=LockMode.off, lang=lang, seed=0)
    pairs = []
    try:
        for prompt, reference in examples:
            answer = engine.chat([{"role": "user", "content": prompt}], params).result().text.strip()
            if answer and not fidelity_report(answer, lang, prompt=prompt).passed:
                pairs.append({"prompt": prompt, "chosen": reference, "rejected": answer, "rule": "model_answer"})
                counts["model_answer"] += 1
    finally:
        engine.close()
    return pairs
