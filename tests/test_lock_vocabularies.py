"""The lock on real vocabularies: tiny random-weight models carrying the tokenizers of Llama 3, Llama 2, Qwen2,
Gemma 4, Command-R and Phi-3 (tests/support/vocab_models.py). Random weights sample from the whole vocabulary,
every odd byte piece and foreign script included: the hardest case for a lock."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from kollama.engines import GenerationParams
from kollama.korean.lock import LockMode, LockState, StrictScanner, WordPolicy, split_piece
from kollama.korean.scripts import language, script_of
from support.vocab_models import chat_template, vocab_model

# The full check is 5,000 tokens per vocabulary and mode (KOLLAMA_LOCK_TOKENS=5000: about 3-4 minutes per
# vocabulary on 2 cores, over 15 minutes for the five); `make test` runs 1,000 each to stay inside its time budget.
TOKENS_PER_MODE = int(os.environ.get("KOLLAMA_LOCK_TOKENS", "1000"))
PROMPT = "한국어로 답해 주세요: 서울은 어떤 도시인가요?"
KO = language("ko")


def _generate(engine, mode: LockMode, tokens: int) -> tuple[list[str], int]:
    """Answers from 8 concurrent requests (one batched decode) until `tokens` tokens are generated."""
    texts: list[str] = []
    total, seed = 0, 0
    with ThreadPoolExecutor(8) as pool:
        while total < tokens:
            params = [GenerationParams(temperature=1.0, top_k=0, top_p=1.0, repeat_penalty=1.0, seed=seed + i,
                                       max_tokens=160, lock=mode) for i in range(8)]
            seed += 8
            results = list(pool.map(lambda p: engine.complete(PROMPT, p).result(), params))
            texts += [r.text for r in results]
            total += sum(r.completion_tokens for r in results)
    return texts, total


def _latin_outside_exempt(text: str) -> list[str]:
    """Words the strict policy rejects, found by running its scanner over the finished answer."""
    scanner = StrictScanner(WordPolicy.build(PROMPT), KO.scripts)
    bad = []
    # finished words only (feed_char judges a word where it ends); a word cut off by max_tokens never ended
    for i, ch in enumerate(text):
        if scanner.feed_char(ch):
            bad.append(text[max(0, i - 12): i + 1])
    return bad


@pytest.mark.slow
@pytest.mark.parametrize("name", ["llama-bpe", "llama-spm", "qwen2", "gemma-4", "command-r"])
def test_every_mode_keeps_its_guarantee_over_thousands_of_random_tokens(name, record_property):
    from kollama.engines import load_engine

    engine = load_engine(str(vocab_model(name)), n_ctx=256, parallel=8)
    try:
        for mode in (LockMode.script, LockMode.strict, LockMode.gated):
            started = time.perf_counter()
            texts, total = _generate(engine, mode, TOKENS_PER_MODE)
            record_property(f"{name}-{mode.value}", f"{total} tokens in {time.perf_counter() - started:.1f}s")
            assert total >= TOKENS_PER_MODE
            joined = "".join(texts)
            assert "\ufffd" not in joined, f"{name} {mode.value}: broken UTF-8"
            foreign = [ch for ch in joined if not KO.allows(script_of(ch))]
            assert foreign == [], f"{name} {mode.value}: {foreign[:10]}"
            if mode == LockMode.strict:
                for text in texts:
                    assert _latin_outside_exempt(text) == [], f"{name}: {text!r}"
    finally:
        engine.close()


@pytest.mark.slow
def test_the_strict_mask_agrees_with_the_scanner_on_a_real_vocabulary():
    """The vectorised per-step mask equals running the scanner over each token, on Llama 3's 128k tokens."""
    from kollama.engines.llamacpp import Tokenizer
    from kollama.korean.lock import build_masks

    tokenizer = Tokenizer.vocab_only(vocab_model("llama-bpe"))
    masks = build_masks(tokenizer.vocabulary, "ko")
    tokenizer.close()
    texts = [piece.text for piece in map(split_piece, masks.vocab.pieces[:20000:7])]
    for state_text in ["", "서울은 ", "서울 Bre", "CPU", "Large ", "ROI ", "`co", "https://x", '{"a": "값 ', "Here is"]:
        state = LockState(masks, LockMode.strict, prompt="Large Language Model? Here is", min_target_chars=0)
        state.feed_text(state_text)
        allowed = state.allowed()
        for tid in range(0, len(masks.vocab.pieces), 7):
            text = texts[tid // 7] if tid < 20000 else split_piece(masks.vocab.pieces[tid]).text
            piece = split_piece(masks.vocab.pieces[tid])
            if not piece.valid or piece.lead or not piece.text or piece.tail:
                continue
            expected = bool(masks.script[tid]) and state.scanner.copy().feed(text) is None
            assert bool(allowed[tid]) == expected, (state_text, text)


@pytest.mark.slow
def test_an_ollama_llama32_store_entry_runs_end_to_end_with_metas_template(tmp_path):
    """An Ollama store whose llama3.2:3b blob is the Llama 3 fixture with Meta's own template (which calls
    strftime_now): `kollama run ollama:llama3.2:3b` renders the template and answers under the lock."""
    import hashlib
    import json

    from conftest import run_cli

    blob = vocab_model("llama-bpe", template="meta-llama-Llama-3.2-3B-Instruct").read_bytes()
    digest = hashlib.sha256(blob).hexdigest()
    store = tmp_path / "models"
    (store / "blobs").mkdir(parents=True)
    (store / "blobs" / f"sha256-{digest}").write_bytes(blob)
    manifest = store / "manifests" / "registry.ollama.ai" / "library" / "llama3.2" / "3b"
    manifest.parent.mkdir(parents=True)
    manifest.write_text(json.dumps({"schemaVersion": 2, "layers": [
        {"mediaType": "application/vnd.ollama.image.model", "digest": f"sha256:{digest}", "size": len(blob)}]}))
    assert "strftime_now" in chat_template("meta-llama-Llama-3.2-3B-Instruct")
    for lock in ("script", "strict", "gated"):
        done = run_cli("run", "ollama:llama3.2:3b", "한국어를 이해해?", "--lock", lock, "--seed", "3",
                       "--temperature", "1", "--max-tokens", "40", "--ctx", "512", "--json",
                       env={"OLLAMA_MODELS": str(store)})
        assert done.returncode == 0, done.stderr
        data = json.loads(done.stdout)
        assert data["lock"] == lock and data["lock_enforcement"] == "decoding"
        assert data["prompt_tokens"] > 20  # Meta's header blocks and the date line were rendered
        assert all(KO.allows(script_of(ch)) for ch in data["text"]), data["text"]
        assert "\ufffd" not in data["text"]
