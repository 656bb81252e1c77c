"""What `kollama compare` is asked to do: one validated dataclass, its defaults written once (the CLI
reads them for its options; `kollama tune report` and the tests build it directly)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from kollama.engines.base import LIMITS, GenerationParams
from kollama.errors import KollamaError
from kollama.korean.answer_language import AUTO, check_lang, infer_answer_language
from kollama.korean.lock import LockMode, parse_lock

if TYPE_CHECKING:
    from kollama.compare.suites import Suite

DEFAULT_MAX_TOKENS = 128
DEFAULT_OUT = Path("kollama-report")
DEFAULT_PARALLEL = 8  # answers a local model decodes together; measured best on 2 cores (benchmarks/compare.py)
MAX_PARALLEL = 64


@dataclass
class CompareOptions:
    models: list[str]
    suite: str = "ko-basic"
    trials: int = 3
    locks: str = "off"
    temperature: float = GenerationParams.temperature
    seed: int = 0
    max_tokens: int = DEFAULT_MAX_TOKENS
    ctx: int | None = None
    out: Path = DEFAULT_OUT
    use_cache: bool = True
    parallel: int = DEFAULT_PARALLEL
    naturalness: bool = True  # score every answer under a reference model (compare/naturalness.py)
    reference_model: str = "gemma3"
    lang: str | None = None  # None: each prompt's own (the suite's); a code, or auto, for every prompt

    def __post_init__(self) -> None:
        if self.trials < 1:
            raise KollamaError(f"--trials must be at least 1 (got {self.trials})", hint="e.g. --trials 3")
        if self.max_tokens < 1:
            raise KollamaError("--max-tokens must be at least 1")
        low, high = LIMITS["temperature"]
        if not low <= self.temperature <= high:
            raise KollamaError(f"--temperature must be between {low:g} and {high:g} (got {self.temperature})")
        if not 1 <= self.parallel <= MAX_PARALLEL:
            raise KollamaError(f"--parallel must be between 1 and {MAX_PARALLEL} (got {self.parallel})")
        self.lock_modes()
        if self.lang is not None:
            check_lang(self.lang)
        if not self.models:
            raise KollamaError("no models to compare", hint="e.g. kollama compare smollm2 gemma3")
        if len(set(self.models)) != len(self.models):
            raise KollamaError("the same model is listed twice", hint="list each model once")
        self.out = Path(self.out)
        if self.out.exists() and not self.out.is_dir():
            raise KollamaError(f"--out {self.out} is a file", hint="give a folder for results.json and report.html")

    def lock_modes(self) -> list[LockMode]:
        """--lock's modes in the order given, each once."""
        modes = [parse_lock(part.strip()) for part in self.locks.split(",") if part.strip()]
        if not modes:
            raise KollamaError("--lock needs at least one mode", hint="e.g. --lock off,script")
        return list(dict.fromkeys(modes))


def with_answer_language(suite: Suite, lang: str | None) -> Suite:
    """The suite with every prompt's expected language set by --lang: a code as given, or `auto` decided from
    each prompt and its system prompt (so the lock and the judge get the same concrete language)."""
    if lang is None:
        return suite
    if lang != AUTO:
        return replace(suite, prompts=[replace(p, lang=lang) for p in suite.prompts])
    decisions = [infer_answer_language(p.prompt, system=p.system) for p in suite.prompts]
    prompts = [replace(p, lang=d.lang, lang_reason=d.reason) for p, d in zip(suite.prompts, decisions)]
    return replace(suite, prompts=prompts)
