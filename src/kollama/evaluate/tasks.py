"""Tasks are data: a YAML file (Jinja templates for the prompt, the choices and the target, the
delimiters, the metrics) plus a data file. Built-in tasks live in kollama/data/tasks/; users add
their own in $KOLLAMA_HOME/tasks/ or pass a YAML path. The fields mean what they mean in
lm-evaluation-harness task YAMLs, so its KoBEST definitions carry over unchanged."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta
import yaml

from kollama.config import subdir
from kollama.errors import KollamaError
from kollama.evaluate.data import Doc, load_docs

KNOWN_METRICS = ("acc", "acc_norm", "f1")
FEWSHOT_SEED = 1234  # lm-evaluation-harness's default fewshot_seed

_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)


@dataclass
class Task:
    name: str
    doc_to_text: str
    doc_to_choice: list[str] | str
    doc_to_target: str
    source: Path
    description: str = ""
    target_delimiter: str = " "
    fewshot_delimiter: str = "\n\n"
    metrics: list[str] = field(default_factory=lambda: ["acc"])
    data: Path | None = None
    fewshot_data: Path | None = None
    summary: str = ""

    # --- templates ------------------------------------------------------------------------------
    @cached_property
    def _templates(self) -> dict[str, Any]:
        try:
            choice = (_ENV.from_string(self.doc_to_choice) if isinstance(self.doc_to_choice, str)
                      else [_ENV.from_string(c) for c in self.doc_to_choice])
            return {"text": _ENV.from_string(self.doc_to_text), "target": _ENV.from_string(self.doc_to_target),
                    "choice": choice}
        except jinja2.TemplateSyntaxError as exc:
            raise KollamaError(f"task {self.name}: template error ({exc.message})", hint=f"fix {self.source}") from exc

    @cached_property
    def required_fields(self) -> list[str]:
        """Every field the templates read (a field-name choice list counts too)."""
        sources = [self.doc_to_text, self.doc_to_target]
        sources += [self.doc_to_choice] if isinstance(self.doc_to_choice, str) else list(self.doc_to_choice)
        names: set[str] = set()
        for src in sources:
            names |= jinja2.meta.find_undeclared_variables(_ENV.parse(src))
        if isinstance(self.doc_to_choice, str) and "{" not in self.doc_to_choice:
            names.add(self.doc_to_choice)
        return sorted(names)

    def check(self, doc: Doc, path: Path | str) -> None:
        for name in self.required_fields:
            if name not in doc.fields or doc.fields[name] is None:
                raise KollamaError(f"{path} {doc.where}: missing field '{name}' (task {self.name})",
                                   hint=f"task {self.name} reads the fields {', '.join(self.required_fields)}")

    def text(self, doc: Doc) -> str:
        return self._templates["text"].render(**doc.fields)

    def choices(self, doc: Doc) -> list[str]:
        tmpl = self._templates["choice"]
        if isinstance(tmpl, list):
            return [t.render(**doc.fields) for t in tmpl]
        value = doc.fields.get(self.doc_to_choice) if self.doc_to_choice in doc.fields else tmpl.render(**doc.fields)
        if not isinstance(value, list):
            raise KollamaError(f"task {self.name}: {doc.where}: the choices are not a list", hint=f"fix doc_to_choice in {self.source}")
        return [str(v) for v in value]

    def target(self, doc: Doc, path: Path | str = "") -> int:
        """The gold choice index: the target template renders to an index or to the choice's text."""
        rendered = self._templates["target"].render(**doc.fields).strip()
        choices = self.choices(doc)
        if rendered.lstrip("-").isdigit():
            index = int(rendered)
        elif rendered in choices:
            index = choices.index(rendered)
        else:
            raise KollamaError(f"{path} {doc.where}: target '{rendered}' is neither an index nor one of the choices")
        if not 0 <= index < len(choices):
            raise KollamaError(f"{path} {doc.where}: target {index} is out of range for {len(choices)} choices")
        return index

    # --- prompts ----------------------------------------------------------------------------------
    def context(self, doc: Doc, fewshot: list[Doc]) -> str:
        """The harness's prompt: description, k solved examples, then this item's text."""
        shots = "".join(
            self.text(d) + self.target_delimiter + self.choices(d)[self.target(d)] + self.fewshot_delimiter
            for d in fewshot)
        return self.description + shots + self.text(doc)

    def requests(self, doc: Doc, fewshot: list[Doc]) -> tuple[str, list[str]]:
        """(context, continuations): each choice is scored as target_delimiter + choice."""
        return self.context(doc, fewshot), [self.target_delimiter + c for c in self.choices(doc)]


class FewshotSampler:
    """Solved examples for the prompt, drawn like the harness's default sampler: a seeded RNG,
    and when the examples come from the evaluated items themselves, never the item itself."""

    def __init__(self, pool: list[Doc], same_split: bool):
        self.pool = pool
        self.same_split = same_split
        self.rnd = random.Random(FEWSHOT_SEED)

    def sample(self, doc: Doc, k: int) -> list[Doc]:
        if k <= 0:
            return []
        n = min(len(self.pool), k + 1 if self.same_split else k)
        picked = self.rnd.sample(self.pool, n)
        return [d for d in picked if d is not doc][:k]


# --- finding tasks ------------------------------------------------------------------------------
def builtin_dir() -> Path:
    return Path(str(resources.files("kollama") / "data" / "tasks"))


def user_dir() -> Path:
    return subdir("tasks")


def task_files() -> dict[str, Path]:
    """Task name -> YAML path; user tasks override built-in ones of the same name."""
    found: dict[str, Path] = {}
    for folder in (builtin_dir(), user_dir()):
        if folder.is_dir():
            for path in sorted(folder.glob("*.yaml")):
                found[path.stem] = path
    return found


def load_task(name_or_path: str) -> Task:
    path = Path(name_or_path)
    if not (path.suffix in (".yaml", ".yml") and path.is_file()):
        files = task_files()
        if name_or_path not in files:
            raise KollamaError(f"unknown task '{name_or_path}'",
                               hint=f"`kollama eval --list-tasks` lists them ({', '.join(sorted(files))})")
        path = files[name_or_path]
    return parse_task(path)


def parse_task(path: Path) -> Task:
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise KollamaError(f"{path}: not valid YAML ({exc})") from exc
    missing = [k for k in ("doc_to_text", "doc_to_choice", "doc_to_target") if k not in spec]
    if missing:
        raise KollamaError(f"{path}: missing key '{missing[0]}'", hint="a task needs doc_to_text, doc_to_choice and doc_to_target")
    metrics = [m["metric"] if isinstance(m, dict) else m for m in spec.get("metric_list", spec.get("metrics", ["acc"]))]
    unknown = [m for m in metrics if m not in KNOWN_METRICS]
    if unknown:
        raise KollamaError(f"{path}: unknown metric '{unknown[0]}'", hint=f"metrics: {', '.join(KNOWN_METRICS)}")

    def rel(key: str) -> Path | None:
        return (path.parent / spec[key]) if spec.get(key) else None

    return Task(
        name=spec.get("task", path.stem), doc_to_text=str(spec["doc_to_text"]), doc_to_choice=spec["doc_to_choice"],
        doc_to_target=str(spec["doc_to_target"]), source=path, description=spec.get("description", ""),
        target_delimiter=spec.get("target_delimiter", " "), fewshot_delimiter=spec.get("fewshot_delimiter", "\n\n"),
        metrics=metrics, data=rel("data"), fewshot_data=rel("fewshot_data"), summary=spec.get("summary", ""),
    )


def list_tasks() -> list[dict[str, Any]]:
    rows = []
    for name, path in sorted(task_files().items()):
        task = parse_task(path)
        rows.append({"task": name, "metrics": task.metrics, "data": str(task.data) if task.data else "--data needed",
                     "fields": task.required_fields, "summary": task.summary, "path": str(path)})
    return rows


def task_docs(task: Task, data: str | Path | None, split: str | None = None) -> tuple[Path, list[Doc]]:
    """The task's items, checked for the fields its templates need."""
    path = Path(data) if data else task.data
    if path is None:
        raise KollamaError(f"task {task.name} ships no data (the hub is out of reach)",
                           hint=f"pass --data FILE (JSONL, CSV, Parquet or a save_to_disk directory) with the fields {', '.join(task.required_fields)}")
    docs = load_docs(path, split)
    for doc in docs:
        task.check(doc, path)
    return path, docs
