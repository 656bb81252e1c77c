"""Model references, `kollama models`, the Ollama store, and every bad input the issue lists."""

from __future__ import annotations

import hashlib
import json
import os
import shutil

import pytest

from support.cli import run_cli
from kollama.errors import KollamaError
from kollama.models import resolve
from kollama.models.builtin import builtin_path
from kollama.models.gguf_file import read_gguf_info


def test_builtins_resolve_to_real_gguf_files():
    for name in ("smollm2", "gemma3"):
        ref = resolve(name)
        assert ref.kind == "gguf" and ref.path.is_file()
        with open(ref.path, "rb") as f:
            assert f.read(4) == b"GGUF"


def test_gguf_metadata_without_loading_weights():
    smol = read_gguf_info(builtin_path("smollm2"))
    assert (smol.architecture, smol.vocab_size, smol.has_chat_template) == ("llama", 49152, True)
    assert 130e6 < smol.parameters < 140e6 and smol.quantization == "Q4_1"
    gemma = read_gguf_info(builtin_path("gemma3"))
    assert (gemma.architecture, gemma.vocab_size, gemma.has_chat_template) == ("gemma3", 262144, False)
    # KV cache: layers x ctx x kv_heads x (k + v dims) x 2 bytes, on top of the file
    expected_kv = smol.n_layers * 8192 * smol.n_head_kv * (smol.head_dim_k + smol.head_dim_v) * 2
    assert smol.memory_bytes() == smol.file_size + expected_kv


@pytest.mark.slow
def test_models_json_lists_builtins_with_their_facts():
    result = run_cli("models", "--json")
    assert result.returncode == 0, result.stderr
    found = {m["reference"]: m for m in json.loads(result.stdout)}
    assert found["smollm2"]["context_length"] == 8192
    assert found["gemma3"]["vocab_size"] == 262144
    for m in found.values():
        assert {"architecture", "parameters", "quantization", "file_size", "memory_bytes", "has_chat_template"} <= set(m)


def _make_ollama_store(root, name: str, tag: str, blob_source) -> None:
    data = blob_source.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    (root / "blobs").mkdir(parents=True)
    (root / "blobs" / f"sha256-{digest}").write_bytes(data)
    manifest_dir = root / "manifests" / "registry.ollama.ai" / "library" / name
    manifest_dir.mkdir(parents=True)
    (manifest_dir / tag).write_text(json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "layers": [
            {"mediaType": "application/vnd.ollama.image.model", "digest": f"sha256:{digest}", "size": len(data)},
            {"mediaType": "application/vnd.ollama.image.license", "digest": "sha256:00", "size": 2},
        ],
    }))


@pytest.mark.slow
def test_ollama_store_models_run_in_place(tmp_path):
    _make_ollama_store(tmp_path, "smol", "135m", builtin_path("smollm2"))
    env = {"OLLAMA_MODELS": str(tmp_path)}
    listed = run_cli("models", "--json", env=env)
    assert "ollama:smol:135m" in {m["reference"] for m in json.loads(listed.stdout)}
    answer = run_cli("run", "ollama:smol:135m", "Say hi", "--lock", "off", "--max-tokens", "8", "--json", env=env)
    assert answer.returncode == 0, answer.stderr
    assert json.loads(answer.stdout)["completion_tokens"] > 0
    missing = run_cli("run", "ollama:nothere", "hi", env=env)
    assert missing.returncode == 3 and "not in the Ollama store" in missing.stderr and "ollama:smol:135m" in missing.stderr
    assert "Traceback" not in missing.stderr


def _one_line_error(result) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.slow
def test_unknown_model_lists_the_available_ones():
    line = _one_line_error(run_cli("run", "llama9000", "hi"))
    assert "unknown model 'llama9000'" in line and "smollm2" in line and "gemma3" in line


@pytest.mark.slow
def test_missing_and_corrupt_gguf(tmp_path):
    assert "not found" in _one_line_error(run_cli("run", str(tmp_path / "absent.gguf"), "hi"))
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(os.urandom(4096))
    assert "not a GGUF file" in _one_line_error(run_cli("run", str(junk), "hi"))
    truncated = tmp_path / "truncated.gguf"
    source = builtin_path("smollm2")
    with open(source, "rb") as src, open(truncated, "wb") as dst:
        dst.write(src.read(source.stat().st_size // 2))
    assert "truncated" in _one_line_error(run_cli("run", str(truncated), "hi"))
    header_only = tmp_path / "header.gguf"
    with open(source, "rb") as src, open(header_only, "wb") as dst:
        dst.write(src.read(1000))
    assert "truncated" in _one_line_error(run_cli("run", str(header_only), "hi"))


@pytest.mark.slow
def test_unreachable_servers():
    line = _one_line_error(run_cli("run", "openai:http://127.0.0.1:9/v1#model", "hi", "--lock", "off"))
    assert "cannot reach" in line
    line = _one_line_error(run_cli("run", "ollama-server:smol", "hi", "--lock", "off",
                                   env={"OLLAMA_HOST": "127.0.0.1:9"}))
    assert "cannot reach the Ollama server" in line


@pytest.mark.slow
def test_ctx_larger_than_the_model_supports():
    line = _one_line_error(run_cli("run", "smollm2", "hi", "--ctx", "100000"))
    assert "--ctx 100000" in line and "8192" in line


@pytest.mark.slow
def test_hf_reference_offline_names_the_file_to_download(tmp_path):
    line = _one_line_error(run_cli("run", "hf:someone/some-model-GGUF/model.Q4_K_M.gguf", "hi",
                                   env={"HF_HUB_OFFLINE": "1"}))
    assert "https://huggingface.co/someone/some-model-GGUF/resolve/main/model.Q4_K_M.gguf" in line


def test_hf_reference_uses_a_file_already_downloaded(tmp_path, kollama_home):
    target = kollama_home / "models" / "hf" / "someone--tiny-GGUF"
    target.mkdir(parents=True)
    shutil.copy(builtin_path("smollm2"), target / "tiny.gguf")
    ref = resolve("hf:someone/tiny-GGUF/tiny.gguf")
    assert ref.path == (target / "tiny.gguf").resolve()


@pytest.mark.slow
@pytest.mark.parametrize("args,needle", [
    (["--lock", "loose"], "unknown lock mode"),
    (["--lang", "xx"], "unknown language"),
    (["--max-tokens", "0"], "--max-tokens"),
])
def test_bad_options(args, needle):
    assert needle in _one_line_error(run_cli("run", "smollm2", "hi", *args))


def test_bad_openai_reference():
    with pytest.raises(KollamaError, match="openai:URL#MODEL"):
        resolve("openai:http://127.0.0.1:8000")
