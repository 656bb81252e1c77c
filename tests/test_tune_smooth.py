"""`kollama tune smooth`: foreign-risk rows scaled, everything else byte-identical, errors leave the input alone.

The tiny models here are real GGUF files written with the `gguf` package: a 2-layer llama with
random weights and a small SentencePiece vocabulary that mixes Hangul, Han, kana, Thai, Cyrillic,
Vietnamese and English tokens plus the 256 byte tokens, so llama.cpp loads them and their logits
can be compared before and after.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

gguf = pytest.importorskip("gguf")
from gguf import GGMLQuantizationType as Q  # noqa: E402
from gguf.constants import GGML_QUANT_SIZES  # noqa: E402
from conftest import run_cli  # noqa: E402
from kollama.korean.lock import Vocabulary, foreign_risk  # noqa: E402
from kollama.models.gguf_file import read_layout  # noqa: E402
from kollama.models.gguf_vocab import TOKEN_ARRAYS, token_bytes  # noqa: E402
from kollama.tune.smooth import BLOCK_SCALES, has_script_intrusion, ollama_modelfile, risk_rows, smooth  # noqa: E402

WORDS = ["▁안녕", "하세요", "▁한국어", "는", "를", "▁모델", "입니다", "▁the", "▁model", "▁code", "▁東京", "中",
         "漢字", "▁ひらがな", "カタカナ", "▁ไทย", "▁привет", "▁tiếng", "▁Việt", "。", "▁123", "▁(", ")", "▁café",
         "▁서울", "▁学校", "ですか", "▁AI", "▁안", "녕"]
N_EMBD, N_HEAD, N_FF, N_LAYERS = 256, 4, 256, 2


def vocabulary() -> tuple[list[str], list[int]]:
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)] + WORDS
    types = [2, 3, 3] + [6] * 256 + [1] * len(WORDS)
    return tokens, types


def _random_blocks(kind: Q, rows: int, row_len: int, rng: np.random.Generator) -> np.ndarray:
    """Random quantised rows of any block type: random payload, small positive f16 scale fields."""
    block, size = GGML_QUANT_SIZES[kind]
    data = rng.integers(0, 256, size=(rows, row_len // block, size), dtype=np.uint8)
    for offset in BLOCK_SCALES[kind]:
        data[:, :, offset:offset + 2] = rng.uniform(0.001, 0.01, size=(rows, row_len // block, 1)).astype(np.float16).view(np.uint8)
    return data.reshape(rows, -1)


def write_tiny_llama(path: Path, output: str | None = "Q8_0", arch: str = "llama", seed: int = 0) -> Path:
    """A 2-layer llama GGUF; `output` is output.weight's type, or None for tied embeddings."""
    rng = np.random.default_rng(seed)
    tokens, types = vocabulary()
    writer = gguf.GGUFWriter(str(path), arch=arch)
    writer.add_name("tiny-smooth-test")
    writer.add_context_length(128)
    writer.add_embedding_length(N_EMBD)
    writer.add_block_count(N_LAYERS)
    writer.add_feed_forward_length(N_FF)
    writer.add_head_count(N_HEAD)
    writer.add_head_count_kv(N_HEAD)
    writer.add_rope_dimension_count(N_EMBD // N_HEAD)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores([0.0] * 259 + [-float(i) for i in range(len(WORDS))])
    writer.add_token_types(types)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_chat_template("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}")

    def weight(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.08).astype(np.float32)

    vocab = len(tokens)
    writer.add_tensor("token_embd.weight", weight(vocab, N_EMBD).astype(np.float16))
    for i in range(N_LAYERS):
        writer.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(N_EMBD, dtype=np.float32))
        for name in ("attn_q", "attn_k", "attn_v", "attn_output"):
            writer.add_tensor(f"blk.{i}.{name}.weight", weight(N_EMBD, N_EMBD).astype(np.float16))
        writer.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(N_EMBD, dtype=np.float32))
        writer.add_tensor(f"blk.{i}.ffn_gate.weight", weight(N_FF, N_EMBD).astype(np.float16))
        writer.add_tensor(f"blk.{i}.ffn_up.weight", weight(N_FF, N_EMBD).astype(np.float16))
        writer.add_tensor(f"blk.{i}.ffn_down.weight", weight(N_EMBD, N_FF).astype(np.float16))
    writer.add_tensor("output_norm.weight", np.ones(N_EMBD, dtype=np.float32))
    if output is not None:
        kind = Q[output]
        w = weight(vocab, N_EMBD) * 4
        if kind == Q.F32:
            writer.add_tensor("output.weight", w)
        elif kind == Q.F16:
            writer.add_tensor("output.weight", w.astype(np.float16))
        elif kind in (Q.Q8_0, Q.Q4_0, Q.Q4_1, Q.Q5_0, Q.Q5_1, Q.BF16):
            writer.add_tensor("output.weight", gguf.quants.quantize(w, kind), raw_dtype=kind)
        else:
            writer.add_tensor("output.weight", _random_blocks(kind, vocab, N_EMBD, rng), raw_dtype=kind)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tensors(path: Path) -> dict[str, object]:
    return {t.name: t for t in gguf.GGUFReader(str(path)).tensors}


def assert_only_output_changed(src: Path, dst: Path) -> None:
    """Every metadata field and every tensor but output.weight byte-identical, read with gguf."""
    a, b = gguf.GGUFReader(str(src)), gguf.GGUFReader(str(dst))
    fields_a = {k: f for k, f in a.fields.items() if k != "GGUF.tensor_count"}
    fields_b = {k: f for k, f in b.fields.items() if k != "GGUF.tensor_count"}
    assert list(fields_a) == list(fields_b)
    for name, field in fields_a.items():
        other = fields_b[name]
        assert field.types == other.types, name
        assert b"".join(p.tobytes() for p in field.parts) == b"".join(p.tobytes() for p in other.parts), name
    ta, tb = {t.name: t for t in a.tensors}, {t.name: t for t in b.tensors}
    assert set(tb) - set(ta) <= {"output.weight"}
    for name, tensor in ta.items():
        if name == "output.weight":
            continue
        assert tb[name].tensor_type == tensor.tensor_type, name
        assert tb[name].data.tobytes() == tensor.data.tobytes(), name


def dequantized_output(path: Path) -> np.ndarray:
    t = tensors(path).get("output.weight") or tensors(path)["token_embd.weight"]
    return gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32).reshape(-1, N_EMBD)


@pytest.fixture
def tiny(tmp_path: Path):
    def make(output: str | None = "Q8_0", arch: str = "llama") -> Path:
        return write_tiny_llama(tmp_path / f"tiny-{output}-{arch}.gguf", output, arch)

    return make


def test_risk_rows_follow_the_lock_rules(tiny) -> None:
    path = tiny()
    layout = read_layout(path, arrays=TOKEN_ARRAYS)
    pieces = token_bytes(layout)
    risk = risk_rows(layout, "ko")
    flagged = {pieces[i] for i in np.flatnonzero(risk)}
    for word in ("▁東京", "中", "漢字", "▁ひらがな", "カタカナ", "▁ไทย", "▁привет", "▁tiếng", "▁Việt", "▁学校", "ですか", "。", "▁café"):
        assert word.replace("▁", " ").encode() in flagged, word
    for word in ("▁안녕", "하세요", "▁한국어", "▁the", "▁model", "▁123", "▁(", "▁AI", "녕"):
        assert word.replace("▁", " ").encode() not in flagged, word
    assert bytes([0xE4]) in flagged  # a lead byte that only starts Han characters
    assert bytes([0xEA]) not in flagged and bytes([0xE3]) not in flagged  # Hangul; compatibility jamo share E3
    assert bytes([0x80]) not in flagged  # a continuation byte can still finish a Hangul syllable
    assert not risk[:3].any()  # <unk>, <s>, </s>


@pytest.mark.parametrize("kind", ["Q8_0", "Q4_1", "F16", "F32", "Q6_K", "Q4_K", "Q5_K", "Q3_K", "Q2_K", "Q5_0"])
def test_rows_scaled_in_place_and_everything_else_identical(tiny, tmp_path: Path, kind: str) -> None:
    src = tiny(kind)
    before = digest(src)
    result = smooth(str(src), "ko", [0.5], tmp_path / "out.gguf")[0]
    dst = Path(result.out)
    assert digest(src) == before
    assert result.output_type == kind and not result.tied
    assert_only_output_changed(src, dst)
    risk = risk_rows(read_layout(src, arrays=TOKEN_ARRAYS), "ko")
    assert result.rows_scaled == int(risk.sum()) > 10
    old, new = tensors(src)["output.weight"], tensors(dst)["output.weight"]
    assert new.tensor_type == old.tensor_type
    rows_old = old.data.reshape(len(risk), -1)
    rows_new = new.data.reshape(len(risk), -1)
    assert (rows_old[~risk] == rows_new[~risk]).all()  # untouched rows: the same bytes
    w_old, w_new = dequantized_output(src), dequantized_output(dst)
    np.testing.assert_allclose(w_new[risk], 0.5 * w_old[risk], rtol=2e-3, atol=1e-6)


def test_tied_embeddings_get_their_own_output(tiny, tmp_path: Path) -> None:
    src = tiny(None)
    assert "output.weight" not in tensors(src)
    result = smooth(str(src), "ko", [0.3], tmp_path / "tied.gguf")[0]
    assert result.tied and result.source_tensor == "token_embd.weight" and result.output_type == "F16"
    dst = Path(result.out)
    assert_only_output_changed(src, dst)
    risk = risk_rows(read_layout(src, arrays=TOKEN_ARRAYS), "ko")
    emb = dequantized_output(src)
    out = tensors(dst)["output.weight"]
    w = gguf.quants.dequantize(out.data, out.tensor_type).reshape(-1, N_EMBD)
    np.testing.assert_array_equal(w[~risk], emb[~risk])
    np.testing.assert_allclose(w[risk], 0.7 * emb[risk], rtol=2e-3, atol=1e-6)


def _last_logits(path: Path, prompt: bytes) -> np.ndarray:
    from llama_cpp import Llama

    llm = Llama(model_path=str(path), n_ctx=64, logits_all=True, verbose=False, n_threads=1)
    try:
        llm.eval(llm.tokenize(prompt, add_bos=True))
        return np.array(llm.scores[llm.n_tokens - 1], dtype=np.float64)
    finally:
        llm.close()


@pytest.mark.parametrize("kind", ["Q8_0", None])
def test_llama_cpp_logits_of_foreign_tokens_lowered_others_unchanged(tiny, tmp_path: Path, kind) -> None:
    pytest.importorskip("llama_cpp")
    src = tiny(kind)
    dst = Path(smooth(str(src), "ko", [0.5], tmp_path / "s.gguf")[0].out)
    risk = risk_rows(read_layout(src, arrays=TOKEN_ARRAYS), "ko")
    for prompt in ("안녕하세요 한국어 모델".encode(), b"the model code"):
        before, after = _last_logits(src, prompt), _last_logits(dst, prompt)
        assert len(before) == len(risk)
        np.testing.assert_allclose(after[~risk], before[~risk], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(after[risk], 0.5 * before[risk], rtol=1e-3, atol=2e-3)
        positive = risk & (before > 0.05)
        assert positive.any() and (after[positive] < before[positive]).all()


def test_strength_sweep_writes_one_file_each_and_a_report(tiny, tmp_path: Path) -> None:
    src = tiny()
    result = _cli(str(src), "--strength", "0.3,0.6", "--check", "2", "--out", str(tmp_path / "m.gguf"))
    assert result.exit_code == 0, result.output
    for s in ("0.3", "0.6"):
        assert (tmp_path / f"m-s{s}.gguf").is_file() and (tmp_path / f"m-s{s}.Modelfile").is_file()
    report = json.loads((tmp_path / "m-s0.3.smooth.json").read_text())
    assert [row["factor"] for row in report["strengths"]] == [0.7, 0.4]
    assert report["check"]["prompts"] == 2 and report["check"]["original"]["answers"] == 2
    assert all(row["check"]["answers"] == 2 and 0 <= row["check"]["rate"] <= 1 for row in report["strengths"])


def test_modelfile_imports_the_file_with_its_chat_format(tiny, tmp_path: Path) -> None:
    src = tiny()
    result = smooth(str(src), "ko", [0.5], tmp_path / "x.gguf")[0]
    text = Path(result.modelfile).read_text()
    assert text.startswith("FROM ./x.gguf\n")
    assert "<|im_start|>user" in text and 'PARAMETER stop "<|im_end|>"' in text
    assert ollama_modelfile("y.gguf", {}).count("### 질문:") >= 1  # no chat template: kollama's plain format


class _Result:
    def __init__(self, proc: subprocess.CompletedProcess):
        self.exit_code = proc.returncode
        self.output = proc.stdout + proc.stderr


def _cli(*args: str) -> _Result:
    return _Result(run_cli("tune", "smooth", *args, timeout=300))


def test_existing_output_refused_without_force(tiny, tmp_path: Path) -> None:
    src = tiny()
    out = tmp_path / "exists.gguf"
    out.write_bytes(b"keep me")
    result = _cli(str(src), "--out", str(out))
    assert result.exit_code != 0 and "already exists" in result.output and "--force" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    assert out.read_bytes() == b"keep me"
    assert _cli(str(src), "--out", str(out), "--force").exit_code == 0
    assert out.read_bytes()[:4] == b"GGUF"


@pytest.mark.parametrize("case", ["arch", "not_gguf", "truncated", "missing", "input_as_output", "strength"])
def test_bad_input_is_one_line_and_the_input_untouched(tiny, tmp_path: Path, case: str) -> None:
    src = tiny(arch="phi2" if case == "arch" else "llama")
    if case == "not_gguf":
        src.write_bytes(b"not a model at all" * 10)
    if case == "truncated":
        src.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    before = digest(src) if src.exists() else None
    target = src if case == "input_as_output" else tmp_path / "o.gguf"
    model = str(tmp_path / "nope.gguf") if case == "missing" else str(src)
    extra = ["--strength", "1.5"] if case == "strength" else []
    result = _cli(model, "--out", str(target), *extra, "--force")
    assert result.exit_code != 0
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1, result.output
    expected = {"arch": "cannot be smoothed", "not_gguf": "not a GGUF", "truncated": "truncated",
                "missing": "not found", "input_as_output": "is the input model", "strength": "(0, 1]"}[case]
    assert expected in result.output
    if before:
        assert digest(src) == before
    if case != "input_as_output":
        assert not (tmp_path / "o.gguf").exists()
    assert not list(tmp_path.glob(".*partial*"))


@pytest.mark.slow
def test_too_little_disk_refused_before_writing(tiny, tmp_path: Path) -> None:
    """A real 1 MB tmpfs as the target (needs root to mount; the write-failure test below needs nothing)."""
    src = tiny()
    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
                                           capture_output=True).returncode != 0:
        pytest.skip("mounting a small tmpfs needs root; the write-failure path is tested without it")
    try:
        before = digest(src)
        result = _cli(str(src), "--out", str(mount / "o.gguf"))
        assert result.exit_code != 0 and "not enough disk space" in result.output
        assert len(result.output.strip().splitlines()) == 1
        assert list(mount.iterdir()) == [] and digest(src) == before
    finally:
        subprocess.run(["umount", str(mount)], check=False)


@pytest.mark.slow
def test_failed_write_leaves_nothing(tiny, tmp_path: Path) -> None:
    """The disk fills up mid-write (RLIMIT_FSIZE): one line, no partial file, the input untouched."""
    src = tiny()
    before = digest(src)
    out = tmp_path / "full.gguf"

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))

    proc = subprocess.run([sys.executable, "-m", "kollama", "tune", "smooth", str(src), "--out", str(out)],
                          capture_output=True, text=True, preexec_fn=limit, timeout=120)
    assert proc.returncode != 0
    assert "could not write" in proc.stderr + proc.stdout and "Traceback" not in proc.stderr
    assert not out.exists() and not list(tmp_path.glob(".*partial*"))
    assert digest(src) == before


# --- real vocabularies: llama.cpp's own (Llama 3, Llama 2, Qwen2) and the built-in models ---------------------

@pytest.mark.slow
@pytest.mark.parametrize("name", ["llama-bpe", "llama-spm", "qwen2"])
def test_vocabulary_read_from_the_file_matches_llama_cpp(name: str) -> None:
    from support.vocab_models import vocab_model

    from kollama.engines.llamacpp import Tokenizer

    path = vocab_model(name)
    tokenizer = Tokenizer.vocab_only(path)
    try:
        expected = tokenizer.vocabulary.pieces
    finally:
        tokenizer.close()
    ours = token_bytes(read_layout(path, arrays=TOKEN_ARRAYS))
    assert len(ours) == len(expected)
    # llama.cpp also silences a few end-of-generation texts the file types as user-defined (Qwen2's "</s>")
    differ = [(a, b) for a, b in zip(ours, expected) if a != b]
    assert len(differ) <= 4 and all(b == b"" and a.isascii() for a, b in differ), differ
    assert (foreign_risk(Vocabulary(ours, frozenset()), "ko") == foreign_risk(Vocabulary(expected, frozenset()), "ko")).all()


@pytest.mark.slow
def test_llama3_vocabulary_smooths_and_llama_cpp_sees_it(tmp_path: Path) -> None:
    """The lock issue's Llama 3 fixture: 128k byte-level BPE tokens, tied F16 embeddings."""
    from support.vocab_models import vocab_model

    src = vocab_model("llama-bpe", template="meta-llama-Llama-3.2-3B-Instruct")
    result = smooth(str(src), "ko", [0.5], tmp_path / "llama3.gguf")[0]
    assert result.tied and result.output_type == "F16" and result.vocab_size == 128256
    pieces = token_bytes(read_layout(src, arrays=TOKEN_ARRAYS))
    risk = risk_rows(read_layout(src, arrays=TOKEN_ARRAYS), "ko")
    hangul = [i for i, p in enumerate(pieces) if any(0xAC00 <= ord(c) <= 0xD7A3 for c in p.decode("utf-8", "ignore"))]
    han = [i for i, p in enumerate(pieces) if p and all(0x4E00 <= ord(c) <= 0x9FFF for c in p.decode("utf-8", "ignore").strip() or "x")]
    assert len(hangul) > 1000 and not risk[hangul].any()
    assert len(han) > 1000 and risk[han].all()
    text = Path(result.modelfile).read_text()
    assert "<|start_header_id|>user<|end_header_id|>" in text and 'PARAMETER stop "<|eot_id|>"' in text
    assert_only_output_changed(src, Path(result.out))
    before, after = _last_logits(src, "안녕하세요".encode()), _last_logits(Path(result.out), "안녕하세요".encode())
    np.testing.assert_allclose(after[~risk], before[~risk], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(after[risk], 0.5 * before[risk], rtol=2e-3, atol=2e-3)


@pytest.mark.slow
def test_smollm2_smoothed_loads_in_raw_llama_cpp_and_answers(tmp_path: Path) -> None:
    from llama_cpp import Llama

    from kollama.models.builtin import builtin_path

    src = builtin_path("smollm2")
    before = digest(src)
    result = smooth("smollm2", "ko", [0.5], tmp_path / "smol.gguf")[0]
    assert digest(src) == before
    assert result.tied and result.output_type == "Q8_0" and result.route.startswith("block scales")
    assert result.rows_scaled > 300  # an English-centred 49k vocabulary
    assert_only_output_changed(src, Path(result.out))
    assert "<|im_start|>user" in Path(result.modelfile).read_text()
    llm = Llama(model_path=result.out, n_ctx=256, verbose=False, n_threads=2)
    prompt = "한국의 수도는 어디인가요?"
    try:
        reply = llm.create_chat_completion([{"role": "user", "content": prompt}], max_tokens=24, temperature=0)
    finally:
        llm.close()
    answer = reply["choices"][0]["message"]["content"]
    assert len(answer.strip()) > 10 and not has_script_intrusion(answer, "ko", prompt), answer


@pytest.mark.slow
def test_report_side_by_side_counts_fewer_foreign_answers_after_smoothing(tmp_path: Path) -> None:
    """`tune report --model`: a random-weight Llama 3 model writes foreign scripts all the time; fully smoothed,
    its foreign tokens' logits are 0 while the best of 128k others is far above, so it almost never does."""
    from support.vocab_models import vocab_model

    src = vocab_model("llama-bpe", template="meta-llama-Llama-3.2-3B-Instruct")
    smoothed = tmp_path / "llama3-s1.gguf"
    assert _cli(str(src), "--strength", "1", "--out", str(smoothed)).exit_code == 0
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"prompt": "열기구는 어떻게 작동하나요?"}\n{"prompt": "김치 만드는 법을 알려 주세요."}\n', encoding="utf-8")
    out = tmp_path / "report.json"
    result = run_cli("tune", "report", "--model", f"base={src}", "--model", f"smooth={smoothed}", "--prompt-file",
                     str(prompts), "--max-tokens", "8", "--temperature", "1.0", "--task", "ko_grammar", "--limit", "4", "--out", str(out),
                     "--reference-model", str(src), timeout=900)
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert report["temperatures"] == [1.0] and report["prompts"] > 30
    for t in ("1.0",):
        base, smooth_row = report["models"]["base"]["fidelity"][t], report["models"]["smooth"]["fidelity"][t]
        assert base["answers"] == smooth_row["answers"] == report["prompts"]
        assert base["intrusion_rate"] >= 0.5 and smooth_row["intrusion_rate"] <= 0.1
    assert all(0 <= report["models"][m]["accuracy"]["ko_grammar"] <= 1 for m in ("base", "smooth"))
    assert "foreign-script answers" in result.stdout
    # naturalness beside fidelity: a log-probability per character under the reference model, so below 0
    assert report["naturalness"]["reference_model"] == str(src)
    assert all(report["models"][m]["fidelity"]["1.0"]["naturalness"] < 0 for m in ("base", "smooth"))
    assert "naturalness @ t=1.0" in result.stdout


def test_naturalness_beside_fidelity_scores_answers_or_says_why_not() -> None:
    """`tune report --model` puts compare's naturalness next to fidelity: a mean log-probability per character
    of the answers under the reference model; empty answers or a missing reference give a reason, not a number."""
    from kollama.tune.report import answer_naturalness

    scored = answer_naturalness([{"text": "오늘은 날씨가 좋습니다."}, {"text": ""}], "smollm2")
    assert scored["naturalness"] is not None and -20 < scored["naturalness"] < 0
    assert answer_naturalness([{"text": " "}], "smollm2") == {"naturalness": None,
                                                             "naturalness_error": "no answer to score"}
    missing = answer_naturalness([{"text": "안녕하세요"}], "no-such-model")
    assert missing["naturalness"] is None and "no-such-model" in missing["naturalness_error"]
