"""`kollama models`: what can run here, read from GGUF metadata without loading weights."""

from __future__ import annotations

from typing import Any

from kollama.config import subdir
from kollama.errors import KollamaError


def _entry(ref: str, path) -> dict[str, Any]:
    from kollama.models.gguf_file import read_gguf_info

    try:
        info = read_gguf_info(path).summary()
    except KollamaError as exc:
        return {"reference": ref, "path": str(path), "error": str(exc)}
    return {"reference": ref, **info}


def list_local_models() -> list[dict[str, Any]]:
    from kollama.models.builtin import BUILTINS, builtin_path
    from kollama.models.ollama_store import find_ollama_model, list_ollama_models

    found = []
    for name in BUILTINS:
        try:
            found.append(_entry(name, builtin_path(name)))
        except KollamaError as exc:
            found.append({"reference": name, "error": str(exc)})
    for path in sorted((subdir("models") / "hf").rglob("*.gguf")):
        owner_repo = path.relative_to(subdir("models") / "hf").parts[0].replace("--", "/")
        found.append(_entry(f"hf:{owner_repo}/{path.name}", path))
    for name in list_ollama_models():
        found.append(_entry(f"ollama:{name}", find_ollama_model(name)))
    return found


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def print_models(found: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="local models")
    for column in ("model", "arch", "params", "quant", "size", "context", "vocab", "chat template", "memory"):
        table.add_column(column)
    for m in found:
        if "error" in m:
            table.add_row(m["reference"], f"[red]{m['error']}[/red]", *[""] * 7)
            continue
        table.add_row(m["reference"], m["architecture"], f"{m['parameters'] / 1e6:.0f}M", m["quantization"],
                      _size(m["file_size"]), str(m["context_length"]), str(m["vocab_size"]),
                      "yes" if m["has_chat_template"] else "no (plain format)", _size(m["memory_bytes"]))
    Console().print(table)
