"""Prompt suites are data: YAML or JSONL files of prompts with expected language and checks.

Every mistake in a suite file is reported with the file, the line and what is wrong, because
suites are written by hand and a vague error would send the user hunting.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from kollama.errors import KollamaError

PROMPT_FIELDS = {"id", "category", "prompt", "system", "lang", "checks"}
SUITE_SUFFIXES = (".yaml", ".yml", ".jsonl")


@dataclass
class SuitePrompt:
    id: str
    category: str
    prompt: str
    lang: str = "ko"
    system: str | None = None
    checks: dict[str, Any] = field(default_factory=dict)
    line: int = 0
    lang_reason: str | None = None  # why `lang` was chosen, when --lang auto decided it

    def messages(self) -> list[dict[str, str]]:
        system = [{"role": "system", "content": self.system}] if self.system else []
        return system + [{"role": "user", "content": self.prompt}]


@dataclass
class Suite:
    name: str
    path: str
    description: str
    prompts: list[SuitePrompt]

    @property
    def categories(self) -> list[str]:
        return list(dict.fromkeys(p.category for p in self.prompts))


class SuiteError(KollamaError):
    pass


class _LineLoader(yaml.SafeLoader):
    """Safe YAML loader that remembers on which line each mapping and each key starts."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict:
    mapping = loader.construct_mapping(node, deep=True)
    mapping["__line__"] = node.start_mark.line + 1
    mapping["__lines__"] = {k.value: k.start_mark.line + 1 for k, _ in node.value if isinstance(k, yaml.ScalarNode)}
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def builtin_suites() -> dict[str, Path]:
    """Built-in suites by name (the file stem) -> file."""
    folder = resources.files("kollama.data").joinpath("suites")
    return {Path(f.name).stem: Path(str(f)) for f in folder.iterdir() if f.name.endswith(SUITE_SUFFIXES)}


def find_suite(name_or_path: str) -> Path:
    path = Path(name_or_path).expanduser()
    if path.suffix in SUITE_SUFFIXES or path.exists():
        if not path.is_file():
            raise SuiteError(f"suite file {path} not found", hint="give a .yaml/.jsonl file or a built-in suite name")
        return path
    suites = builtin_suites()
    if name_or_path not in suites:
        raise SuiteError(f"unknown suite '{name_or_path}'",
                         hint=f"built-in suites: {', '.join(sorted(suites))}; or a path to a .yaml/.jsonl file")
    return suites[name_or_path]


def load_suite(name_or_path: str) -> Suite:
    """Read and validate a suite; raise SuiteError naming file and line for anything wrong."""
    path = find_suite(name_or_path)
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        first = text.lstrip().splitlines()[0] if text.strip() else ""
        description = first.lstrip("#").strip() if first.startswith("#") else ""
        records = _read_jsonl(path, text)
    else:
        description, records = _read_yaml(path, text)
    prompts = [_prompt(path, record) for record in records]
    if not prompts:
        raise SuiteError(f"{path}: the suite has no prompts")
    seen: dict[str, int] = {}
    for prompt in prompts:
        if prompt.id in seen:
            raise SuiteError(f"{path}:{prompt.line}: duplicate prompt id '{prompt.id}' "
                             f"(first on line {seen[prompt.id]})")
        seen[prompt.id] = prompt.line
    return Suite(name=path.stem, path=str(path), description=description, prompts=prompts)


def _read_jsonl(path: Path, text: str) -> list[dict]:
    records = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SuiteError(f"{path}:{number}: invalid JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(record, dict):
            raise SuiteError(f"{path}:{number}: each line must be a JSON object with id, category, prompt")
        record["__line__"] = number
        record["__lines__"] = {key: number for key in record}
        if isinstance(record.get("checks"), dict):
            record["checks"]["__lines__"] = {key: number for key in record["checks"]}
        records.append(record)
    return records


def _read_yaml(path: Path, text: str) -> tuple[str, list[dict]]:
    try:
        data = yaml.load(text, Loader=_LineLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark else ""
        context = ""
        if exc.context and exc.context_mark and exc.context_mark is not mark:
            context = f" ({exc.context} started on line {exc.context_mark.line + 1})"
        raise SuiteError(f"{path}{line}: YAML syntax error: {exc.problem or exc.context}{context}") from None
    except yaml.YAMLError as exc:
        raise SuiteError(f"{path}: YAML error: {exc}") from None
    description = ""
    if isinstance(data, dict):
        description = str(data.get("description", ""))
        data = data.get("prompts")
        if data is None:
            raise SuiteError(f"{path}: a YAML suite is a list of prompts, or a mapping with a 'prompts' list")
    if not isinstance(data, list):
        raise SuiteError(f"{path}: a YAML suite is a list of prompts, or a mapping with a 'prompts' list")
    for item in data:
        if not isinstance(item, dict):
            raise SuiteError(f"{path}: every prompt must be a mapping with id, category, prompt (found {item!r})")
    return description, data


def _prompt(path: Path, record: dict) -> SuitePrompt:
    from kollama.compare.checks import validate_checks
    from kollama.korean.scripts import languages

    line = record.pop("__line__", 0)
    lines = record.pop("__lines__", {})
    where = f"{path}:{line}"
    for key in record:
        if key not in PROMPT_FIELDS:
            raise SuiteError(f"{path}:{lines.get(key, line)}: unknown field '{key}'",
                             hint=f"prompt fields: {', '.join(sorted(PROMPT_FIELDS))}")
    for key in ("id", "prompt"):
        if key not in record or record[key] in (None, ""):
            raise SuiteError(f"{where}: prompt is missing '{key}'")
    prompt = record["prompt"]
    if not isinstance(prompt, str):
        raise SuiteError(f"{path}:{lines.get('prompt', line)}: 'prompt' must be text")
    lang = str(record.get("lang") or "ko")
    if lang not in languages():
        raise SuiteError(f"{path}:{lines.get('lang', line)}: unknown language '{lang}'",
                         hint=f"use one of: {', '.join(sorted(languages()))}")
    checks = record.get("checks") or {}
    if not isinstance(checks, dict):
        raise SuiteError(f"{path}:{lines.get('checks', line)}: 'checks' must be a mapping of check name to value")
    check_lines = checks.pop("__lines__", {})
    checks.pop("__line__", None)
    validate_checks(checks, lambda key: f"{path}:{check_lines.get(key, lines.get('checks', line))}")
    return SuitePrompt(id=str(record["id"]), category=str(record.get("category") or "general"), prompt=prompt,
                       lang=lang, system=record.get("system"), checks=checks, line=line)


def suite_summaries() -> list[dict[str, Any]]:
    """Name, prompt count, languages and categories of every built-in suite (for --list-suites)."""
    rows = []
    for name, path in sorted(builtin_suites().items()):
        suite = load_suite(str(path))
        rows.append({"name": name, "prompts": len(suite.prompts), "description": suite.description,
                     "languages": sorted({p.lang for p in suite.prompts}), "categories": suite.categories})
    return rows

