"""Read models that `ollama pull` already downloaded, in place, without an Ollama server."""

from __future__ import annotations

import json
import os
from pathlib import Path

from kollama.errors import ModelNotFound

MODEL_MEDIA_TYPE = "application/vnd.ollama.image.model"
REGISTRY = "registry.ollama.ai"


def store_dirs() -> list[Path]:
    """`$OLLAMA_MODELS`, else the user's store, then the Linux service's store."""
    if os.environ.get("OLLAMA_MODELS"):
        return [Path(os.environ["OLLAMA_MODELS"])]
    return [Path.home() / ".ollama" / "models", Path("/usr/share/ollama/.ollama/models")]


def _split(name: str) -> tuple[str, str, str]:
    """`qwen2.5:3b` -> (registry, library/qwen2.5, 3b); `user/model` keeps its namespace."""
    tag = "latest"
    if ":" in name.rsplit("/", 1)[-1]:
        name, tag = name.rsplit(":", 1)
    parts = name.split("/")
    if len(parts) == 1:
        return REGISTRY, f"library/{parts[0]}", tag
    if len(parts) == 2:
        return REGISTRY, name, tag
    return parts[0], "/".join(parts[1:]), tag


def _blob_of(manifest: Path, store: Path) -> Path | None:
    try:
        layers = json.loads(manifest.read_text())["layers"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError):
        return None
    for layer in layers:
        if layer.get("mediaType") == MODEL_MEDIA_TYPE:
            return store / "blobs" / str(layer.get("digest", "")).replace(":", "-")
    return None


def find_ollama_model(name: str) -> Path:
    registry, repo, tag = _split(name)
    for store in store_dirs():
        manifest = store / "manifests" / registry / repo / tag
        if not manifest.is_file():
            continue
        blob = _blob_of(manifest, store)
        if blob is None:
            raise ModelNotFound(f"ollama:{name}: manifest {manifest} has no model layer", hint="re-run 'ollama pull'")
        if not blob.is_file():
            raise ModelNotFound(f"ollama:{name}: blob {blob.name} is missing from the store", hint="re-run 'ollama pull'")
        with open(blob, "rb") as handle:
            if handle.read(4) != b"GGUF":
                raise ModelNotFound(f"ollama:{name}: blob {blob.name} is not a GGUF file")
        return blob
    available = ", ".join(f"ollama:{n}" for n in list_ollama_models()) or "none"
    raise ModelNotFound(
        f"ollama:{name} is not in the Ollama store ({', '.join(map(str, store_dirs()))})",
        hint=f"pull it with 'ollama pull {name}', or set OLLAMA_MODELS; available: {available}",
    )


def list_ollama_models() -> list[str]:
    """Names of every model in the store, as `ollama list` would show them."""
    names: list[str] = []
    for store in store_dirs():
        root = store / "manifests"
        if not root.is_dir():
            continue
        for manifest in sorted(p for p in root.rglob("*") if p.is_file()):
            parts = manifest.relative_to(root).parts
            if len(parts) < 3:
                continue
            registry, *repo, tag = parts
            repo_name = "/".join(repo)
            if registry == REGISTRY and repo_name.startswith("library/"):
                repo_name = repo_name.removeprefix("library/")
            elif registry != REGISTRY:
                repo_name = f"{registry}/{repo_name}"
            blob = _blob_of(manifest, store)
            if blob is not None and blob.is_file():
                names.append(f"{repo_name}:{tag}")
    return names
