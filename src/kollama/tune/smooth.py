"""`kollama tune smooth`: bake the language lock into a model file (Smoothie-Qwen, arXiv 2507.05686).

Ollama, LM Studio and llama.cpp cannot run kollama's logits processor; what reaches their users is
a GGUF. This scales down the output-layer rows of the tokens that can only produce characters the
language forbids (the lock's byte-level analysis, `foreign_risk`), so their logits shrink by the
same factor wherever they would have won. Needs numpy and `gguf` only: no torch, no GPU.

The new file is the source with one tensor swapped: the key/value block and every other tensor
are copied byte for byte, and only `output.weight` is rewritten (added when the model ties its
output to `token_embd`). A quantised row is scaled through its blocks' f16 scale fields, which
keeps the type and leaves every quantised value untouched; types whose layout is not listed here
are de-quantised with gguf's code and written as f16. The file is written under a temporary name
and renamed at the end, so nothing is ever left half-written under the final name.
"""

from __future__ import annotations

import json
import resource
import shutil
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType as Q

from kollama.engines.base import GenerationParams
from kollama.errors import KollamaError
from kollama.korean.lock import Vocabulary, foreign_risk
from kollama.models.gguf_file import GGUFLayout, TensorInfo, read_layout
from kollama.models.gguf_vocab import TOKEN_ARRAYS, token_bytes
from kollama.tune.defaults import DEFAULT_STRENGTH, SMOOTH_CHECK

SMOOTHABLE = ("llama", "gemma3", "qwen2")
OUTPUT, EMBEDDINGS = "output.weight", "token_embd.weight"

# Byte offsets of the f16 scale fields inside one block. A block's values are (scale x integer)
# or (scale x integer - min x integer), so multiplying every scale field by f scales the block by f.
BLOCK_SCALES: dict[Q, tuple[int, ...]] = {
    Q.Q4_0: (0,), Q.Q4_1: (0, 2), Q.Q5_0: (0,), Q.Q5_1: (0, 2), Q.Q8_0: (0,),
    Q.Q2_K: (80, 82), Q.Q3_K: (108,), Q.Q4_K: (0, 2), Q.Q5_K: (0, 2), Q.Q6_K: (208,),
}
_FLOATS = {Q.F32: np.float32, Q.F16: np.float16}
_CHUNK_ROWS = 8192
_COPY_BYTES = 16 << 20


@dataclass
class SmoothResult:
    """What one smoothing wrote and how: the report's row for one strength."""

    strength: float
    factor: float
    out: str
    modelfile: str
    source_tensor: str
    output_type: str
    route: str
    tied: bool
    rows_scaled: int
    vocab_size: int
    seconds: float
    peak_rss_mb: float
    bytes: int
    by_script: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def load_model_layout(model: str) -> GGUFLayout:
    """MODEL (built-in name, FILE.gguf, ollama:NAME) as a parsed layout with its vocabulary; refuses
    architectures whose output layer this command does not know."""
    from kollama.models.reference import resolve

    ref = resolve(model)
    if ref.kind != "gguf" or ref.path is None:
        raise KollamaError(f"{model} is a {ref.kind} model; smoothing rewrites a local file",
                           hint="pass a GGUF file, ollama:NAME or a built-in model such as gemma3")
    layout = read_layout(ref.path, arrays=TOKEN_ARRAYS)
    if layout.architecture not in SMOOTHABLE:
        raise KollamaError(f"architecture '{layout.architecture}' of {ref.path.name} cannot be smoothed",
                           hint=f"supported: {', '.join(SMOOTHABLE)}")
    if layout.tensor(OUTPUT) is None and layout.tensor(EMBEDDINGS) is None:
        raise KollamaError(f"{ref.path.name} has neither {OUTPUT} nor {EMBEDDINGS}", hint="is it a complete model?")
    return layout


def risk_rows(layout: GGUFLayout, lang: str, pieces: list[bytes] | None = None) -> np.ndarray:
    """Boolean over the output rows: True where the token can only produce forbidden characters."""
    risk = foreign_risk(Vocabulary(pieces if pieces is not None else token_bytes(layout), frozenset()), lang)
    source = layout.tensor(OUTPUT) or layout.tensor(EMBEDDINGS)
    assert source is not None
    rows = np.zeros(source.n_rows, dtype=bool)
    n = min(len(risk), source.n_rows)
    rows[:n] = risk[:n]
    return rows


def risk_by_script(pieces: list[bytes], rows: np.ndarray) -> dict[str, int]:
    """How many of the scaled tokens each foreign script accounts for (fragments: 'byte fragment')."""
    from kollama.korean.scripts import COMMON, script_of

    counts: dict[str, int] = {}
    for tid in np.flatnonzero(rows[:len(pieces)]):
        text = pieces[tid].decode("utf-8", errors="ignore")
        scripts = {script_of(ch) for ch in text} - {COMMON, "latin", "hangul"}
        key = min(scripts) if len(scripts) == 1 else ("mixed" if scripts else "byte fragment")
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def _route(kind: Q) -> tuple[str, Q]:
    """(how the rows are scaled, the type output.weight is written in)."""
    if kind in BLOCK_SCALES:
        return "block scales (same type, quantised values untouched)", kind
    if kind in _FLOATS:
        return "float rows scaled", kind
    if kind == Q.BF16:
        return "bf16 rows re-encoded with gguf.quants", kind
    return "de-quantised with gguf.quants, written as f16", Q.F16


def _scaled_rows(layout: GGUFLayout, source: TensorInfo, rows: np.ndarray, factor: float, target: Q) -> Iterator[bytes]:
    """The new output.weight, chunk by chunk (memory stays at one chunk of rows)."""
    from gguf.quants import dequantize, quantize

    with open(layout.path, "rb") as handle:
        for start in range(0, source.n_rows, _CHUNK_ROWS):
            stop = min(start + _CHUNK_ROWS, source.n_rows)
            handle.seek(layout.data_start + source.offset + start * source.row_bytes)
            raw = np.frombuffer(handle.read((stop - start) * source.row_bytes), dtype=np.uint8)
            chunk = raw.reshape(stop - start, source.row_bytes).copy()
            hit = np.flatnonzero(rows[start:stop])
            if target != source.kind:  # de-quantise everything, scale the hits, write f16
                values = dequantize(chunk, source.kind).astype(np.float32)
                values[hit] *= factor
                yield values.astype(np.float16).tobytes()
                continue
            if hit.size:
                if source.kind in BLOCK_SCALES:
                    _, block_bytes = GGML_QUANT_SIZES[source.kind]
                    blocks = chunk[hit].reshape(hit.size, -1, block_bytes)
                    for offset in BLOCK_SCALES[source.kind]:
                        scales = np.ascontiguousarray(blocks[:, :, offset:offset + 2]).view(np.float16)
                        blocks[:, :, offset:offset + 2] = (scales.astype(np.float32) * factor).astype(np.float16).view(np.uint8)
                    chunk[hit] = blocks.reshape(hit.size, -1)
                elif source.kind in _FLOATS:
                    dtype = _FLOATS[source.kind]
                    chunk[hit] = (chunk[hit].view(dtype).astype(np.float32) * factor).astype(dtype).view(np.uint8)
                else:  # BF16
                    chunk[hit] = quantize(dequantize(chunk[hit], source.kind) * factor, source.kind)
            yield chunk.tobytes()


def _align(n: int, alignment: int) -> int:
    return (n + alignment - 1) // alignment * alignment


def _plan(layout: GGUFLayout, target: Q) -> tuple[list[TensorInfo], TensorInfo, bool]:
    """The new tensor table (output.weight re-typed or appended), the source of output.weight, tied?"""
    source = layout.tensor(OUTPUT)
    tied = source is None
    if source is None:
        source = layout.tensor(EMBEDDINGS)
    assert source is not None
    new_output = TensorInfo(OUTPUT, source.dims, target, 0)
    table = [new_output if t.name == OUTPUT else t for t in layout.tensors]
    if tied:
        table.append(new_output)
    return table, source, tied


def _header(layout: GGUFLayout, table: list[TensorInfo]) -> tuple[bytes, list[int], int]:
    """Tensor-table bytes with new offsets, those offsets, and the size of the data section."""
    offsets, offset = [], 0
    for info in table:
        offsets.append(offset)
        offset = _align(offset + info.nbytes, layout.alignment)
    return b"".join(info.encode(o) for info, o in zip(table, offsets)), offsets, offset


def _copy(src, dst, n: int) -> None:
    while n > 0:
        data = src.read(min(n, _COPY_BYTES))
        if not data:
            raise OSError("source file ended early")
        dst.write(data)
        n -= len(data)


def write_smoothed(layout: GGUFLayout, rows: np.ndarray, factor: float, out: Path) -> tuple[str, Q, bool, int]:
    """Write the smoothed copy of `layout` to `out`; returns (route, output type, tied, bytes)."""
    from kollama.tune.export import atomic_gguf

    source0 = layout.tensor(OUTPUT) or layout.tensor(EMBEDDINGS)
    assert source0 is not None
    route, target = _route(source0.kind)
    table, source, tied = _plan(layout, target)
    kv_start, kv_end = layout.kv_span
    infos, offsets, data_size = _header(layout, table)
    head = 4 + struct.calcsize("<IQQ") + (kv_end - kv_start) + len(infos)
    total = _align(head, layout.alignment) + data_size
    check_disk(out, total)

    def write(tmp: Path) -> None:
        with open(layout.path, "rb") as src, open(tmp, "wb") as dst:
            dst.write(b"GGUF" + struct.pack("<IQQ", layout.version, len(table), layout.n_kv))
            src.seek(kv_start)
            _copy(src, dst, kv_end - kv_start)
            dst.write(infos)
            dst.write(b"\0" * (_align(dst.tell(), layout.alignment) - dst.tell()))
            data_start = dst.tell()
            for info, offset in zip(table, offsets):
                dst.write(b"\0" * (data_start + offset - dst.tell()))
                if info.name == OUTPUT:
                    for chunk in _scaled_rows(layout, source, rows, factor, target):
                        dst.write(chunk)
                else:
                    src.seek(layout.data_start + info.offset)
                    _copy(src, dst, info.nbytes)
            dst.write(b"\0" * (data_start + data_size - dst.tell()))

    atomic_gguf(out, write)
    return route, target, tied, total


def check_disk(out: Path, needed: int) -> None:
    """Refuse before writing anything when the target's file system cannot hold the new file."""
    folder = out.parent if out.parent.exists() else Path(".")
    free = shutil.disk_usage(folder).free
    if free < needed + (16 << 20):
        raise KollamaError(f"not enough disk space for {out}: it needs {needed / 1e6:.0f} MB, "
                           f"{free / 1e6:.0f} MB are free", hint="free some space or choose another --out")


def ollama_modelfile(gguf_name: str, metadata: dict[str, Any]) -> str:
    """`FROM ./FILE.gguf`, the TEMPLATE of the file's chat format, and its stop PARAMETERs."""
    families = yaml.safe_load(resources.files("kollama.data").joinpath("tune/ollama_templates.yaml")
                              .read_text(encoding="utf-8"))
    jinja = metadata.get("tokenizer.chat_template")
    family = families["plain"]
    if isinstance(jinja, str):
        family = next((f for f in families.values() if f["marker"] and f["marker"] in jinja), None)
    lines = [f"FROM ./{gguf_name}"]
    if family is not None:  # an unknown template: Ollama reads the one in the file
        lines.append(f'TEMPLATE """{family["template"]}"""')
        lines += [f'PARAMETER stop "{stop}"' for stop in family["stops"]]
    return "\n".join(lines) + "\n"


def out_paths(model_path: Path, out: Path | None, lang: str, strengths: list[float]) -> list[Path]:
    """One file per strength: --out as given for one, FILE-s0.5.gguf ... for a sweep."""
    base = out or Path(f"{model_path.stem}.smooth-{lang}.gguf")
    if base.suffix != ".gguf":
        raise KollamaError(f"--out {base} must end in .gguf")
    if len(strengths) == 1:
        return [base]
    return [base.with_name(f"{base.stem}-s{s:g}.gguf") for s in strengths]


def parse_strengths(value: str) -> list[float]:
    try:
        strengths = [float(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise KollamaError(f"--strength {value} is not a number or a comma-separated list",
                           hint="e.g. --strength 0.5 or --strength 0.3,0.5,0.8") from None
    if not strengths or any(not 0 < s <= 1 for s in strengths):
        raise KollamaError(f"--strength {value} must lie in (0, 1]",
                           hint="0.5 halves the foreign tokens' logits; 1 sets them to zero")
    return strengths


def smooth(model: str, lang: str = GenerationParams.lang, strengths: list[float] | None = None, out: Path | None = None,
           force: bool = False) -> list[SmoothResult]:
    """Write one smoothed GGUF (+ Modelfile) per strength; the input file is only ever read."""
    from kollama.korean.scripts import language

    language(lang)  # unknown language: one line before any work
    strengths = strengths or [DEFAULT_STRENGTH]
    layout = load_model_layout(model)
    targets = out_paths(layout.path, out, lang, strengths)
    for target in targets:
        if target.resolve() == layout.path.resolve():
            raise KollamaError(f"--out {target} is the input model", hint="choose another file name")
        if target.exists() and not force:
            raise KollamaError(f"{target} already exists", hint="pass --force to overwrite it, or choose another --out")
    rss_before = _rss_mb()
    started = time.perf_counter()
    pieces = token_bytes(layout)
    rows = risk_rows(layout, lang, pieces)
    by_script = risk_by_script(pieces, rows)
    results = []
    for strength, target in zip(strengths, targets):
        route, kind, tied, size = write_smoothed(layout, rows, 1.0 - strength, target)
        modelfile = target.with_suffix(".Modelfile")
        modelfile.write_text(ollama_modelfile(target.name, layout.metadata), encoding="utf-8")
        results.append(SmoothResult(
            strength=strength, factor=round(1.0 - strength, 6), out=str(target), modelfile=str(modelfile),
            source_tensor=EMBEDDINGS if tied else OUTPUT, output_type=kind.name, route=route, tied=tied,
            rows_scaled=int(rows.sum()), vocab_size=int(rows.size), seconds=round(time.perf_counter() - started, 2),
            peak_rss_mb=round(_peak_rss_mb() - rss_before, 1), bytes=size, by_script=by_script))
    return results


def _rss_mb() -> float:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * resource.getpagesize() / 1e6
    except OSError:
        return 0.0


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 * 1.048576


def has_script_intrusion(answer: str, lang: str, prompt: str | None = None) -> bool:
    """An answer carries foreign-script characters outside what fidelity exempts (code, URLs, glosses...)."""
    from kollama.korean.fidelity import fidelity_report

    return bool(fidelity_report(answer, lang, prompt=prompt).scripts_intruding())


def intrusion_rate(model: str, prompts: list[str], lang: str = "ko", temperature: float = 1.0,
                   max_tokens: int = 96, seed: int = 0) -> dict[str, Any]:
    """Answer `prompts` with the lock off; the share of answers with a foreign-script intrusion."""
    from kollama.engines import GenerationParams, load_engine
    from kollama.korean.lock import LockMode

    engine = load_engine(model)
    params = GenerationParams(temperature=temperature, max_tokens=max_tokens, lock=LockMode.off, lang=lang, seed=seed)
    try:
        answers = [engine.chat([{"role": "user", "content": p}], params).result().text for p in prompts]
    finally:
        engine.close()
    hits = [has_script_intrusion(a, lang, p) for a, p in zip(answers, prompts)]
    return {"answers": len(answers), "with_intrusion": sum(hits),
            "rate": round(sum(hits) / len(answers), 4) if answers else None,
            "example": next((a for a, h in zip(answers, hits) if h), None)}


def sweep_report(model: str, lang: str, results: list[SmoothResult], check: int = SMOOTH_CHECK,
                 temperature: float = 1.0) -> dict[str, Any]:
    """The per-strength table (and with `check`, foreign-script answers of the original vs each file);
    written beside the first output as FILE.smooth.json."""
    from kollama.compare.suites import load_suite

    report: dict[str, Any] = {"model": model, "lang": lang, "strengths": [r.to_json() for r in results]}
    if check:
        prompts = [p.prompt for p in load_suite("ko-basic").prompts if p.lang == lang][:check]
        report["check"] = {"prompts": len(prompts), "temperature": temperature, "lock": "off",
                           "original": intrusion_rate(model, prompts, lang, temperature)}
        for row, result in zip(report["strengths"], results):
            row["check"] = intrusion_rate(result.out, prompts, lang, temperature)
    path = Path(results[0].out).with_suffix(".smooth.json")
    path.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    report["report"] = str(path)
    return report
