"""Reading a task's items from the files users have: JSONL/JSON, CSV/TSV, Parquet, or a
`datasets` directory written by `save_to_disk` (the hub is out of reach, local files are not)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kollama.errors import KollamaError
from kollama.json_records import read_json_records

SPLIT_PREFERENCE = ("test", "validation", "train")


@dataclass
class Doc:
    """One item and where it came from, so errors can name the line."""

    fields: dict[str, Any]
    where: str  # "line 7", "row 12"


def load_docs(path: str | Path, split: str | None = None) -> list[Doc]:
    """Every item in a data file or a saved dataset directory; empty files are an error."""
    p = Path(path)
    if not p.exists():
        raise KollamaError(f"data file not found: {p}", hint="pass --data with a JSONL, CSV, Parquet file or a save_to_disk directory")
    if p.is_dir():
        docs = _load_saved_dataset(p, split)
    else:
        suffix = p.suffix.lower()
        if suffix in (".jsonl", ".json", ".ndjson"):
            docs = _load_json(p)
        elif suffix in (".csv", ".tsv"):
            docs = _load_csv(p, "\t" if suffix == ".tsv" else ",")
        elif suffix == ".parquet":
            docs = _load_parquet(p)
        else:
            raise KollamaError(f"unknown data format: {p.name}", hint="use .jsonl, .json, .csv, .tsv, .parquet or a save_to_disk directory")
    if not docs:
        raise KollamaError(f"{p} has no items", hint="the data file is empty")
    return docs


def _load_json(p: Path) -> list[Doc]:
    return [Doc(record.fields, record.where) for record in read_json_records(p)]


def _load_csv(p: Path, delimiter: str) -> list[Doc]:
    with p.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle, delimiter=delimiter)
        return [Doc(dict(row), f"line {reader.line_num}") for row in reader]


def _load_parquet(p: Path) -> list[Doc]:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise KollamaError("reading Parquet needs pyarrow", hint="pip install pyarrow") from exc
    rows = pq.read_table(p).to_pylist()
    return [Doc(row, f"row {i + 1}") for i, row in enumerate(rows)]


def _load_saved_dataset(p: Path, split: str | None) -> list[Doc]:
    try:
        from datasets import DatasetDict, load_from_disk
    except ImportError as exc:
        raise KollamaError("reading a save_to_disk directory needs the datasets package", hint="pip install datasets") from exc
    try:
        ds = load_from_disk(str(p))
    except FileNotFoundError as exc:
        raise KollamaError(f"{p} is not a dataset saved with save_to_disk", hint="pass a data file or a save_to_disk directory") from exc
    if isinstance(ds, DatasetDict):
        names = list(ds.keys())
        chosen = split or next((s for s in SPLIT_PREFERENCE if s in ds), names[0])
        if chosen not in ds:
            raise KollamaError(f"{p} has no split '{chosen}'", hint=f"splits: {', '.join(names)}")
        ds = ds[chosen]
    return [Doc(row, f"row {i + 1}") for i, row in enumerate(ds)]
