"""`kollama tune data`: self-instruct (Wang et al. 2022, as Alpaca used it) with any kollama engine as teacher.

Each round shows the teacher a few seed and generated instructions and asks for more; every new
instruction passes the filters (length in morphemes, a blacklist of things a text model cannot do,
Korean fidelity, ROUGE-L F1 on Kiwi morphemes at most 0.7 against the whole pool), then the teacher
writes its input and output, and the output must pass the Korean fidelity check too.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kollama.engines import GenerationParams, load_engine
from kollama.errors import KollamaError
from kollama.korean.fidelity import fidelity_report
from kollama.korean.lock import LockMode
from kollama.progress import Progress, no_progress
from kollama.tune.datasets import load_chats, read_records
from kollama.tune.defaults import SEED, TEACHER_MAX_TOKENS
from kollama.tune.rouge import morphemes, rouge_l_tokens

DATA = Path(__file__).resolve().parents[1] / "data"
DEFAULT_SEEDS = DATA / "seeds" / "ko_seed_tasks.jsonl"
FILTERS = DATA / "tune" / "selfinstruct.yaml"
_NUMBERED = re.compile(r"^\s*(\d+)\s*[.)]\s*(.+)$")


@dataclass
class Filters:
    max_rouge: float = 0.7
    min_morphemes: int = 4
    max_morphemes: int = 150
    blacklist: list[str] = field(default_factory=list)
    prompt_header: str = ""
    answer_prompt: str = ""

    @classmethod
    def load(cls, path: Path = FILTERS) -> Filters:
        return cls(**yaml.safe_load(path.read_text(encoding="utf-8")))


@dataclass
class Report:
    generated: int = 0
    kept: int = 0
    dropped: Counter = field(default_factory=Counter)
    requests: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"generated": self.generated, "kept": self.kept, "dropped": dict(self.dropped), "requests": self.requests}


def load_seed_instructions(path: Path) -> list[dict[str, str]]:
    """Seed tasks as Alpaca records (the shipped file, or any Alpaca/KoAlpaca JSONL)."""
    fmt, _ = load_chats(path)  # validates every record, naming the line of a bad one
    if fmt not in ("alpaca", "koalpaca"):
        raise KollamaError(f"seed file {path} is {fmt} data", hint="seeds are Alpaca records: instruction/input/output")
    return [{"instruction": r["instruction"], "input": r.get("input", ""), "output": r["output"]}
            for _, r in read_records(path)]


def parse_instructions(text: str, first_number: int) -> list[str]:
    """The numbered lines the teacher wrote after the prompt (`5. ...`, `6) ...`)."""
    found = []
    for line in text.splitlines():
        match = _NUMBERED.match(line)
        if match and int(match.group(1)) >= first_number:
            found.append(match.group(2).strip())
    if not found and text.strip():  # the teacher continued the open item without renumbering
        found.append(text.strip().splitlines()[0].strip())
    return found


def drop_reason(instruction: str, tokens: list[str], pool: list[list[str]], filters: Filters) -> str | None:
    """Why an instruction is dropped, or None to keep it."""
    if len(tokens) < filters.min_morphemes:
        return "too_short"
    if len(tokens) > filters.max_morphemes:
        return "too_long"
    lowered = instruction.lower()
    if any(word in lowered for word in filters.blacklist):
        return "blacklisted"
    if not fidelity_report(instruction, "ko").passed:
        return "not_korean"
    if any(rouge_l_tokens(tokens, other) > filters.max_rouge for other in pool):
        return "too_similar"
    return None


def parse_answer(text: str) -> tuple[str, str]:
    """(input, output) from `입력: ...\n출력: ...`; without the labels the whole text is the output."""
    match = re.search(r"출력\s*:\s*(.*)", text, flags=re.DOTALL)
    if not match:
        return "", text.strip()
    before = text[:match.start()]
    given = re.search(r"입력\s*:\s*(.*)", before, flags=re.DOTALL)
    input_text = given.group(1).strip() if given else ""
    if input_text in ("없음", "<없음>", "-", "none"):
        input_text = ""
    return input_text, match.group(1).strip()


def generate(teacher: str, seeds: Path, n: int, out: Path, seed: int = SEED, per_prompt: int = 3,
             max_requests: int | None = None, max_tokens: int = TEACHER_MAX_TOKENS, temperature: float = 0.8,
             progress: Progress = no_progress) -> Report:
    """Grow `n` kept Alpaca records from the seed tasks; writes `out` and `out`.report.json. `progress` counts
    the kept records, its note the requests made and the records dropped."""
    filters = Filters.load()
    seed_records = load_seed_instructions(seeds)
    engine = load_engine(teacher)
    rng = random.Random(seed)
    pool = [morphemes(r["instruction"]) for r in seed_records]
    machine: list[str] = []
    kept: list[dict[str, str]] = []
    report = Report()
    max_requests = max_requests or max(10, n * 4)
    progress(0, n, "")
    while len(kept) < n and report.requests < max_requests:
        shown = rng.sample([r["instruction"] for r in seed_records], per_prompt)
        if machine:
            shown += rng.sample(machine, min(2, len(machine)))
        listing = "\n".join(f"{i}. {text}" for i, text in enumerate(shown, 1))
        prompt = f"{filters.prompt_header}\n{listing}\n{len(shown) + 1}."
        params = GenerationParams(temperature=temperature, max_tokens=max_tokens, lock=LockMode.off,
                                  seed=rng.randrange(1 << 30), stop=["\n\n\n"])
        text = engine.complete(prompt, params).result().text
        report.requests += 1
        for instruction in parse_instructions(f"{len(shown) + 1}. {text}", len(shown) + 1):
            report.generated += 1
            tokens = morphemes(instruction)
            reason = drop_reason(instruction, tokens, pool, filters)
            if reason is None:
                record, reason = _answer(engine, filters, instruction, params)
            if reason is not None:
                report.dropped[reason] += 1
                continue
            pool.append(tokens)
            machine.append(instruction)
            kept.append(record)
            report.kept += 1
            if len(kept) >= n:
                break
        progress(len(kept), n, f"requests {report.requests} · dropped {sum(report.dropped.values())}")
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8") as handle:
        for record in kept:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    out.with_suffix(".report.json").write_text(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    engine.close()
    return report


def _answer(engine, filters: Filters, instruction: str, params: GenerationParams) -> tuple[dict[str, str], str | None]:
    prompt = filters.answer_prompt.format(instruction=instruction) + "\n입력:"
    text = engine.complete(prompt, params).result().text
    input_text, output = parse_answer("입력:" + text)
    if not output:
        return {}, "empty_answer"
    if not fidelity_report(output, "ko", prompt=instruction).passed:
        return {}, "answer_not_korean"
    return {"instruction": instruction, "input": input_text, "output": output}, None
