"""The rewards `kollama tune rl` optimises: named functions, each with a weight, each in [0, 1].

Every function has TRL's reward-function shape, `f(prompts, completions, **columns) -> list[float]`, so
the same objects work in kollama's own loop and in TRL's GRPOTrainer/RLOOTrainer.

- `fidelity`: graded, 1 minus 0.2 per flagged foreign span (a nearly right answer beats a wrong one); 0 for
  an empty answer or one whose dominant language is not the target.
- `naturalness`: kollama compare's naturalness (mean log-probability per character under a reference model,
  gemma3 by default), mapped from [-4, 0] nats/char to [0, 1].
- `length`: against collapse: min(1, characters / 60) times the share of distinct character 3-grams, so
  a short answer or one that repeats itself scores low.
- `reward-model:DIR`: sigmoid of a reward model trained by `kollama tune reward` on the same base.

Spec: comma-separated `NAME[=WEIGHT]`, e.g. `fidelity,naturalness=0.5,reward-model:runs/rm=0.5`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from kollama.errors import KollamaError

NAMES = ("fidelity", "naturalness", "length", "reward-model:DIR")
SPAN_PENALTY = 0.2
LENGTH_TARGET = 60
NATURALNESS_FLOOR = -4.0

RewardFn = Callable[..., list[float]]


def fidelity_score(answer: str, prompt: str | None, lang: str = "ko") -> float:
    from kollama.korean.fidelity import fidelity_report

    if not answer.strip():
        return 0.0
    report = fidelity_report(answer, lang, prompt=prompt, with_lcb=False)
    if report.dominant not in (lang, ""):
        return 0.0
    return max(0.0, 1.0 - SPAN_PENALTY * len(report.foreign))


def distinct_ngrams(text: str, n: int = 3) -> float:
    """Distinct character n-grams over all n-grams (spaces squeezed); 1.0 for text too short to repeat."""
    squeezed = " ".join(text.split())
    grams = [squeezed[i:i + n] for i in range(len(squeezed) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 1.0


def length_score(answer: str) -> float:
    text = answer.strip()
    return min(1.0, len(text) / LENGTH_TARGET) * distinct_ngrams(text)


class FidelityReward:
    __name__ = "fidelity"

    def __init__(self, lang: str = "ko"):
        self.lang = lang

    def __call__(self, prompts: list[str], completions: list[str], **_: Any) -> list[float]:
        return [fidelity_score(c, p, self.lang) for p, c in zip(prompts, completions)]


class LengthReward:
    __name__ = "length"

    def __call__(self, prompts: list[str], completions: list[str], **_: Any) -> list[float]:
        return [length_score(c) for c in completions]


class NaturalnessReward:
    """Loads the reference model on first use (llama.cpp); `raw` keeps the last nats/char values for the log."""

    __name__ = "naturalness"

    def __init__(self, reference: str | None = None):
        from kollama.compare.naturalness import DEFAULT_REFERENCE

        self.reference = reference or DEFAULT_REFERENCE
        self.engine = None
        self.raw: list[float | None] = []

    def nats_per_char(self, texts: list[str]) -> list[float | None]:
        from kollama.compare.naturalness import naturalness
        from kollama.engines import load_engine

        if self.engine is None:
            self.engine = load_engine(self.reference)
        return [naturalness(self.engine, t) for t in texts]

    def __call__(self, prompts: list[str], completions: list[str], **_: Any) -> list[float]:
        self.raw = self.nats_per_char(completions)
        return [0.0 if v is None else min(1.0, max(0.0, 1 - v / NATURALNESS_FLOOR)) for v in self.raw]

    def close(self) -> None:
        if self.engine is not None:
            self.engine.close()
            self.engine = None


class RewardModelReward:
    __name__ = "reward-model"

    def __init__(self, directory: str | Path):
        from kollama.evaluate.reward_model import RewardModel

        self.model = RewardModel(directory)

    def __call__(self, prompts: list[str], completions: list[str], **_: Any) -> list[float]:
        return [1 / (1 + math.exp(-s)) for s in self.model.score(completions, prompts)]

    def close(self) -> None:
        self.model.close()


@dataclass
class Weighted:
    name: str
    weight: float
    fn: RewardFn
    arg: str | None = None


def parse_spec(spec: str) -> list[tuple[str, str | None, float]]:
    """(name, argument, weight) per item; unknown names are refused with the list of those that exist."""
    items = []
    for raw in [s.strip() for s in spec.split(",") if s.strip()]:
        body, weight = raw, 1.0
        if "=" in raw:
            body, _, text = raw.rpartition("=")
            try:
                weight = float(text)
            except ValueError:
                raise KollamaError(f"reward '{raw}': weight '{text}' is not a number",
                                   hint="write NAME=WEIGHT, e.g. naturalness=0.5") from None
        name, _, arg = body.partition(":")
        if name not in ("fidelity", "naturalness", "length", "reward-model"):
            raise KollamaError(f"unknown reward '{name}'", hint=f"rewards that exist: {', '.join(NAMES)}")
        if name == "reward-model" and not arg:
            raise KollamaError("reward 'reward-model' needs its directory", hint="write reward-model:DIR")
        if weight < 0:
            raise KollamaError(f"reward '{raw}': the weight must not be negative")
        items.append((name, arg or None, weight))
    if not items:
        raise KollamaError("no reward given", hint=f"pass --reward with some of: {', '.join(NAMES)}")
    return items


def check_reward_model(directory: str, base_identity: str, base_name: str = "") -> None:
    """A reward model must come from the policy's base (same tokenizer, same text it was trained to judge)."""
    from kollama.evaluate.reward_model import read_reward_dir

    info = read_reward_dir(directory)
    other = info.get("base_identity")
    if other != base_identity:
        theirs = f"{Path(info['base']).name} ({other})" if info.get("base") else str(other)
        ours = f"{base_name} ({base_identity})" if base_name else base_identity
        raise KollamaError(f"reward model {directory} was trained on base {theirs}, the policy's base is {ours}",
                           hint="train a reward model on the same base with `kollama tune reward`")


def build_rewards(spec: str, base_identity: str, lang: str = "ko", reference: str | None = None,
                  base_name: str = "") -> list[Weighted]:
    """The weighted reward functions of `spec`; checks every reward-model directory before any loading."""
    parsed = parse_spec(spec)
    for name, arg, _ in parsed:
        if name == "reward-model":
            check_reward_model(str(arg), base_identity, base_name)
    out = []
    for name, arg, weight in parsed:
        fn: RewardFn = (FidelityReward(lang) if name == "fidelity" else LengthReward() if name == "length"
                        else NaturalnessReward(reference) if name == "naturalness" else RewardModelReward(str(arg)))
        out.append(Weighted(name if name != "reward-model" else f"reward-model:{arg}", weight, fn, arg))
    return out


def combine(rewards: list[Weighted], prompts: list[str], completions: list[str]) -> tuple[list[float], dict[str, list[float]]]:
    """Weighted mean per completion, and each named reward's values."""
    each = {w.name: [float(v) for v in w.fn(prompts, completions)] for w in rewards}
    total = sum(w.weight for w in rewards) or 1.0
    combined = [sum(w.weight * each[w.name][i] for w in rewards) / total for i in range(len(completions))]
    return combined, each


def close_all(rewards: list[Weighted]) -> None:
    for w in rewards:
        close = getattr(w.fn, "close", None)
        if close:
            close()
