"""`kollama fidelity --file answers.jsonl`: judge many answers, in input order, and summarise them per group.

Each input line is a JSON object; its fields are kept and `fidelity` (the full report, LCB verdict included) is
added. A malformed line is reported as `file:line: what is wrong` and skipped; the rest is judged. The summary per
group gives the pass rate, LCB's LPR/WPR/LCPR and the flagged spans counted by kind.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kollama.errors import KollamaError
from kollama.korean.answer_language import AUTO, infer_answer_language
from kollama.korean.fidelity import fidelity_report
from kollama.korean.fidelity_options import BatchOptions
from kollama.korean.lcb import lcb_rates
from kollama.korean.scripts import language
from kollama.progress import Progress, Steps, no_progress

CHUNK = 200  # answers per task handed to a worker process


@dataclass
class Problem:
    """A line that could not be judged."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


@dataclass
class Group:
    name: str
    answers: int = 0
    passed: int = 0
    kinds: Counter = field(default_factory=Counter)
    lcb: list[dict[str, Any]] = field(default_factory=list)

    def add(self, report: dict[str, Any]) -> None:
        self.answers += 1
        self.passed += bool(report["pass"])
        self.kinds.update(report["kinds"])
        self.lcb.append(report["lcb"])

    def to_json(self, lang: str | None) -> dict[str, Any]:
        rates = lcb_rates(self.lcb, lang=lang)
        if rates["skipped"] == self.answers:  # LCB would print 100% for a group it could not measure at all
            rates.update(lpr=None, wpr=None, lcpr=None)
        return {"group": self.name, "answers": self.answers, "pass_rate": self.passed / self.answers if self.answers else None,
                "lpr": rates["lpr"], "wpr": rates["wpr"], "lcpr": rates["lcpr"], "lcb_skipped": rates["skipped"],
                "kinds": dict(sorted(self.kinds.items()))}


def read_records(path: Path) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """(line number, object, None) per JSON line, or (line number, None, what is wrong); blank lines skipped."""
    if not path.is_file():
        raise KollamaError(f"file not found: {path}", hint="give a JSONL file, one JSON object per line")
    with path.open(encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                yield number, None, f"not valid JSON ({exc.msg} at column {exc.colno})"
                continue
            if not isinstance(record, dict):
                yield number, None, f"expected a JSON object, got {type(record).__name__}"
                continue
            yield number, record, None


def _check(record: dict[str, Any], options: BatchOptions) -> str | None:
    text = record.get(options.field)
    if options.field not in record:
        return f"no field '{options.field}' (choose the answer's field with --field)"
    if not isinstance(text, str):
        return f"field '{options.field}' is {type(text).__name__}, not text"
    if options.prompt_field and record.get(options.prompt_field) is not None and not isinstance(record[options.prompt_field], str):
        return f"field '{options.prompt_field}' is not text"
    return None


def judge_record(record: dict[str, Any], options: BatchOptions) -> dict[str, Any]:
    """The input object with its fields kept and `fidelity` added."""
    prompt = record.get(options.prompt_field) if options.prompt_field else None
    if options.lang != AUTO:
        return {**record, "fidelity": fidelity_report(record[options.field], options.lang, prompt=prompt).to_json()}
    decision = infer_answer_language(prompt or "")  # each answer against the language its own prompt asks for
    report = fidelity_report(record[options.field], decision.lang, prompt=prompt)
    return {**record, "fidelity": {**report.to_json(), **decision.to_json()}}


def _judge_chunk(chunk: list[tuple[int, dict[str, Any] | None, str | None]], options: BatchOptions) -> list:
    """(line number, judged object or None, error or None) for each line of a chunk, in order."""
    out = []
    for number, record, error in chunk:
        if record is not None:
            error = _check(record, options)
        out.append((number, None if error else judge_record(record, options), error))
    return out


def _chunks(path: Path) -> Iterator[list[tuple[int, dict[str, Any] | None, str | None]]]:
    chunk: list = []
    for item in read_records(path):
        chunk.append(item)
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _judged_chunks(path: Path, options: BatchOptions) -> Iterator[list]:
    """Chunks judged in order: in this process, or (from the second chunk on, with jobs > 1) by worker processes
    forked after the word list and fastText are loaded, at most 2 chunks ahead per worker."""
    chunks = _chunks(path)
    first = next(chunks, None)
    if first is None:
        return
    yield _judge_chunk(first, options)
    if options.jobs <= 1:
        for chunk in chunks:
            yield _judge_chunk(chunk, options)
        return
    import multiprocessing
    from collections import deque
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("fork") if "fork" in multiprocessing.get_all_start_methods() else None
    with ProcessPoolExecutor(max_workers=options.jobs, mp_context=context) as pool:
        pending: deque = deque()
        for chunk in chunks:
            pending.append(pool.submit(_judge_chunk, chunk, options))
            if len(pending) >= 2 * options.jobs:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def judge_file(path: Path, options: BatchOptions, emit: Callable[[dict[str, Any]], None],
               problem: Callable[[Problem], None], progress: Progress = no_progress) -> dict[str, Any]:
    """Judge every line of `path` in order: `emit` each judged object, `problem` each bad line; returns the summary.
    The lines are counted for `progress` only when someone watches (it reads the file once more)."""
    if options.lang == AUTO:  # each answer against the language its prompt asks for
        if not options.prompt_field:
            raise KollamaError("--lang auto decides each answer's language from its prompt: give --prompt-field",
                               hint="kollama fidelity --file answers.jsonl --lang auto --prompt-field prompt")
    else:
        language(options.lang)  # an unknown language fails before any work
    if not path.is_file():
        raise KollamaError(f"file not found: {path}", hint="give a JSONL file, one JSON object per line")
    steps = Steps(progress, count_lines(path) if progress is not no_progress else None, "judging")
    groups: dict[str, Group] = {}
    overall = Group("all")
    problems: list[Problem] = []
    for chunk in _judged_chunks(path, options):
        for number, judged, error in chunk:
            if error:
                found = Problem(str(path), number, error)
                problems.append(found)
                problem(found)
                continue
            emit(judged)
            overall.add(judged["fidelity"])
            if options.group_by:
                name = str(judged.get(options.group_by, "(none)"))
                groups.setdefault(name, Group(name)).add(judged["fidelity"])
        steps.step(len(chunk))
    lang = None if options.lang == AUTO else options.lang  # auto: LCB's rates per the languages the verdicts carry
    summary = [g.to_json(lang) for g in groups.values()] + [overall.to_json(lang)]
    return {"summary": summary, "skipped_lines": [str(p) for p in problems]}


def count_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for line in handle if line.strip())
