"""Datasets, prompt encoding, ROUGE-L and self-instruct for `kollama tune` (no training here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.cli import run_cli

from kollama.errors import KollamaError
from kollama.models.builtin import builtin_path
from kollama.tune.datasets import load_chats, load_pairs
from kollama.tune.encoding import IGNORE, ChatEncoder
from kollama.tune.rouge import rouge_l

DATA = Path(__file__).resolve().parents[1] / "src" / "kollama" / "data"


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def test_every_format_is_detected_and_becomes_a_chat(tmp_path):
    cases = {
        "alpaca": [{"instruction": "번역하세요.", "input": "apple", "output": "사과"}],
        "koalpaca": [{"instruction": "한국의 수도는?", "output": "서울입니다."}],
        "sharegpt": [{"conversations": [{"from": "human", "value": "안녕"}, {"from": "gpt", "value": "안녕하세요"}]}],
        "chatml": [{"messages": [{"role": "system", "content": "친절하게"}, {"role": "user", "content": "안녕"},
                                 {"role": "assistant", "content": "네"}, {"role": "user", "content": "또"},
                                 {"role": "assistant", "content": "반가워요"}]}],
        "dpo": [{"prompt": "안녕?", "chosen": "안녕하세요.", "rejected": "Hello."}],
    }
    for fmt, records in cases.items():
        detected, chats = load_chats(write_jsonl(tmp_path / f"{fmt}.jsonl", records))
        assert detected == fmt
        assert chats[0][-1]["role"] == "assistant"
    assert load_chats(tmp_path / "alpaca.jsonl")[1][0][0]["content"] == "번역하세요.\n\napple"
    assert load_pairs(tmp_path / "dpo.jsonl")[0].rejected == "Hello."


@pytest.mark.slow
def test_bad_datasets_name_the_line_and_field(tmp_path):
    missing = write_jsonl(tmp_path / "m.jsonl", [{"instruction": "a", "input": "", "output": "b"},
                                                 {"instruction": "c", "input": ""}])
    with pytest.raises(KollamaError, match=r"m\.jsonl:2: missing field 'output'"):
        load_chats(missing)
    unknown = write_jsonl(tmp_path / "u.jsonl", [{"question": "a", "answer": "b"}])
    with pytest.raises(KollamaError, match=r"u\.jsonl:1: unknown dataset format \(keys: answer, question\)"):
        load_chats(unknown)
    turns = write_jsonl(tmp_path / "t.jsonl", [{"messages": [{"role": "user", "content": "a"}, {"role": "assistant"}]}])
    with pytest.raises(KollamaError, match=r"t\.jsonl:1: missing field 'messages\[1\]\.content'"):
        load_chats(turns)
    with pytest.raises(KollamaError, match="DPO needs prompt/chosen/rejected"):
        load_pairs(tmp_path / "m.jsonl")
    result = run_cli("tune", "sft", "smollm2", "--data", str(missing), "--out", str(tmp_path / "run"))
    assert result.returncode == 1
    assert "m.jsonl:2: missing field 'output'" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_loss_mask_covers_only_assistant_turns():
    encoder = ChatEncoder(builtin_path("smollm2"))
    chat = [{"role": "user", "content": "첫 질문"}, {"role": "assistant", "content": "첫 답"},
            {"role": "user", "content": "둘째 질문"}, {"role": "assistant", "content": "둘째 답"}]
    encoded = encoder.encode(chat, max_len=512)
    trained = [t for t, label in zip(encoded.input_ids, encoded.labels) if label != IGNORE]
    text = encoder.tokenizer.llm.detokenize(trained, special=True).decode()
    assert text == "첫 답<|im_end|>\n둘째 답<|im_end|>\n"
    # the prompt part is exactly what the llama.cpp engine feeds at inference
    prompt = encoder.encode_prompt(chat[:1])
    assert encoded.input_ids[:len(prompt)] == prompt
    assert all(label == IGNORE for label in encoded.labels[:len(prompt)])


def test_base_model_without_template_uses_plain_format_and_learns_to_stop():
    encoder = ChatEncoder(builtin_path("gemma3"))
    pieces = encoder.segments([{"role": "user", "content": "안녕?"}, {"role": "assistant", "content": "안녕하세요."}])
    assert pieces[0] == ("### 질문:\n안녕?\n\n### 답변:\n", False)
    assert pieces[1] == ("안녕하세요." + encoder.eos_text, True)
    assert encoder.encode([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}], 64).input_ids[0] == encoder.bos_id


def test_rouge_l_on_morphemes_sees_korean():
    assert rouge_l("한국의 수도는 어디인가요?", "한국의 수도는 어디인가요?") == 1.0
    assert 0.7 < rouge_l("한국의 수도는 어디인가요?", "일본의 수도는 어디인가요?") < 1.0
    assert rouge_l("사과를 먹었다", "자동차가 달린다") < 0.3


def test_shipped_korean_data_is_large_and_varied():
    seeds = [json.loads(line) for line in (DATA / "seeds" / "ko_seed_tasks.jsonl").read_text().splitlines()]
    assert len(seeds) >= 150
    with_input = sum(1 for s in seeds if s["input"])
    assert 0.3 <= with_input / len(seeds) <= 0.6
    assert len({s["instruction"].split()[0] for s in seeds}) > 60  # varied openings, not one template
    fmt, chats = load_chats(DATA / "tune" / "ko_instructions.jsonl")
    assert fmt == "alpaca" and len(chats) >= 150


@pytest.mark.slow
def test_self_instruct_with_a_real_teacher_reports_every_instruction(tmp_path):
    out = tmp_path / "gen.jsonl"
    result = run_cli("tune", "data", "--teacher", "smollm2", "--n", "2", "--max-requests", "1",
                     "--max-tokens", "40", "--out", str(out))
    assert result.returncode == 0, result.stderr
    report = json.loads(out.with_suffix(".report.json").read_text())
    assert report["requests"] == 1
    assert report["generated"] >= 1
    assert report["kept"] + sum(report["dropped"].values()) == report["generated"]
    kept = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(kept) == report["kept"]
    assert all(set(k) == {"instruction", "input", "output"} for k in kept)
