"""`hf:OWNER/REPO/FILE.gguf`: downloaded once into the data directory, then used offline."""

from __future__ import annotations

from pathlib import Path

from kollama.config import subdir
from kollama.errors import KollamaError


def download_gguf(spec: str) -> Path:
    parts = spec.split("/")
    if len(parts) < 3 or not parts[-1].lower().endswith(".gguf"):
        raise KollamaError(f"bad Hugging Face reference 'hf:{spec}'", hint="use hf:OWNER/REPO/FILE.gguf")
    repo_id, filename = "/".join(parts[:2]), "/".join(parts[2:])
    target_dir = subdir("models") / "hf" / repo_id.replace("/", "--")
    target = target_dir / filename
    if target.is_file():
        return target
    url = f"https://huggingface.co/{repo_id}/resolve/main/{filename}"
    try:
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(repo_id=repo_id, filename=filename, local_dir=target_dir))
    except Exception as exc:  # network errors come in many types; all mean the same to the user
        raise KollamaError(
            f"could not download hf:{spec} ({type(exc).__name__})",
            hint=f"offline? download {url} by hand and save it as {target}",
        ) from exc
