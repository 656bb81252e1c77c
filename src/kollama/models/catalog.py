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
