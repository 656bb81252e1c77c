"""`kollama score` (ranking, groups, perplexity) and `kollama tokens` (counts and budgets)."""

from __future__ import annotations

import json
import math

import pytest
from support.cli import run_cli

from kollama.evaluate.tasks import builtin_dir
from kollama.engines.budget import count_tokens, fits_context, truncate_to_budget
from kollama.evaluate.tokens import token_stats, vocab_only_tokenizer


@pytest.mark.slow
def test_score_ranks_grammatical_first_on_builtin_pairs(tmp_path):
    rows = [json.loads(line) for line in (builtin_dir() / "ko_grammar.jsonl").read_text(encoding="utf-8").splitlines()]
    sample = rows[::5]  # every phenomenon
    tsv = tmp_path / "pairs.tsv"
    tsv.write_text("".join(f"{r['good']}\t{r['bad']}\n" for r in sample), encoding="utf-8")
    proc = run_cli("score", "gemma3", "--file", str(tsv), "--json", "--threads", "1")
    assert proc.returncode == 0, proc.stderr
    groups = json.loads(proc.stdout)["groups"]
    assert len(groups) == len(sample)
    for g, r in zip(groups, sample):
        assert g["sentences"] == [r["good"], r["bad"]] and len(g["logprob"]) == 2 and all(t > 0 for t in g["tokens"])
    share = sum(g["best"] == 0 for g in groups) / len(groups)
    assert share >= 0.75, share  # the whole set: 82% (honorific agreement is the weak spot: 57%)
    solid = [g for g, r in zip(groups, sample) if r["phenomenon"] in ("particle", "irregular")]
    assert all(g["best"] == 0 for g in solid)


@pytest.mark.slow
def test_score_sentences_issue_examples():
    proc = run_cli("score", "gemma3", "선생님이 교실로 부리나케 잘려갔다.", "선생님이 교실로 부리나케 달려갔다.",
                   "--json", "--threads", "1")
    assert proc.returncode == 0, proc.stderr
    g = json.loads(proc.stdout)["groups"][0]
    assert g["best"] == 1
    assert g["avg_logprob"][1] == pytest.approx(g["logprob"][1] / g["tokens"][1], abs=1e-5)
    table = run_cli("score", "gemma3", "나는 버스를 탔다.", "나는 버스를 태운다.", "--threads", "1")
    assert table.returncode == 0, table.stderr
    assert table.stdout.index("나는 버스를 탔다.") < table.stdout.index("나는 버스를 태운다.")  # ranked


@pytest.mark.slow
def test_perplexity_with_sliding_window(tmp_path):
    text = tmp_path / "text.txt"
    text.write_text("한국어 문장을 여러 번 씁니다. 오늘은 날씨가 맑고 따뜻합니다.\n" * 12, encoding="utf-8")
    full = run_cli("score", "gemma3", "--perplexity", "--file", str(text), "--json", "--threads", "1")
    small = run_cli("score", "gemma3", "--perplexity", "--file", str(text), "--window", "32", "--json", "--threads", "1")
    assert full.returncode == 0 and small.returncode == 0, full.stderr + small.stderr
    a, b = json.loads(full.stdout), json.loads(small.stdout)
    assert a["tokens"] == b["tokens"] > 100 and b["window"] == 32
    assert a["perplexity"] == pytest.approx(math.exp(-a["logprob"] / a["tokens"]), rel=1e-4)
    assert 1.0 < a["perplexity"] < b["perplexity"]  # less context, repeated lines are less predictable


def test_count_tokens_and_budget(gemma3, smollm2):
    text = "안녕하세요, 오늘은 날씨가 좋습니다."
    assert count_tokens(gemma3, text) == len(gemma3.tokenize(text, add_bos=True))  # Gemma gets BOS
    assert count_tokens(smollm2, text) == len(smollm2.tokenize(text))
    assert count_tokens(gemma3, text) < count_tokens(smollm2, text)
    assert fits_context(gemma3, text) and not fits_context(gemma3, text, reserve=gemma3.context_length)
    cut = truncate_to_budget(smollm2, text * 10, 20)
    assert len(smollm2.tokenize(cut)) <= 20 and (text * 10).startswith(cut[:5])


def test_token_stats_byte_fallback():
    tok = vocab_only_tokenizer("gemma3")
    try:
        plain = token_stats(tok, "나는 버스를 탔다.")
        rare = token_stats(tok, "쀏쀏쀏")  # no Gemma token: byte fallback
    finally:
        tok.close()
    assert plain.byte_fallback_share == 0.0 and rare.byte_fallback_share > 0.5
    assert plain.bytes == len("나는 버스를 탔다.".encode())
    assert plain.chars_per_token == pytest.approx(plain.chars / plain.tokens)


@pytest.mark.slow
def test_cli_tokens_compares_models(tmp_path):
    text = tmp_path / "ko.txt"
    text.write_text("대한민국의 수도는 서울이다. 한글은 세종대왕이 만들었다.", encoding="utf-8")
    proc = run_cli("tokens", "gemma3", "smollm2", "--file", str(text), "--json")
    assert proc.returncode == 0, proc.stderr
    models = {m["model"]: m for m in json.loads(proc.stdout)["models"]}
    assert models["smollm2"]["tokens"] > 2 * models["gemma3"]["tokens"]
    assert models["smollm2"]["byte_fallback_share"] > 0.5  # byte-level BPE pieces of Hangul
    assert models["gemma3"]["context_fill"] == pytest.approx(models["gemma3"]["tokens"] / models["gemma3"]["context"], abs=1e-4)
    table = run_cli("tokens", "gemma3", "smollm2", "한국어 문장입니다.")
    assert table.returncode == 0, table.stderr
    assert "gemma3" in table.stdout and "smollm2" in table.stdout
