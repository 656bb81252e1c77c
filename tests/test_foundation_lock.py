"""The language lock, on real models and on a byte-level vocabulary built to probe UTF-8 edge cases."""

from __future__ import annotations

import numpy as np
import pytest

from support.cli import run_cli
from kollama.engines import GenerationParams
from kollama.korean.fidelity import fidelity_report
from kollama.korean.lock import LockMode, LockState, Vocabulary, build_masks
from kollama.korean.scripts import language, script_of

FORBIDDEN_FOR_KO = {"han", "kana", "thai", "cyrillic", "arabic", "latin_ext", "devanagari", "hebrew", "greek",
                    "fullwidth", "cjk_punct", "other"}

INVITING_PROMPTS = [
    "日本語で自己紹介してください。",
    "请用中文介绍一下你自己。",
    "漢字で「学校」と「先生」を書いてください。",
    "ภาษาไทย: สวัสดีครับ แนะนำตัวหน่อย",
    "Расскажи о себе по-русски.",
    "Xin chào! Hãy giới thiệu bản thân bằng tiếng Việt.",
    "한국어로 자기소개를 해 주세요.",
    "서울에 대해 한자와 함께 설명해 주세요.",
]


def _foreign_chars(text: str) -> list[str]:
    return [ch for ch in text if script_of(ch) in FORBIDDEN_FOR_KO]


# --- a vocabulary with single bytes, whole characters and split characters ---------------------------------
def _byte_vocabulary() -> Vocabulary:
    pieces = [b"", b""]  # 0: padding (empty, not EOG), 1: EOS (empty, EOG)
    pieces += [bytes([b]) for b in range(256)]  # 2..257: byte fallback tokens
    pieces += ["한".encode(), "国".encode(), "の".encode(), "hello".encode(), " API".encode(), "ế".encode()]
    pieces += ["한".encode()[:2], "한".encode()[2:], "国".encode()[:1], "`".encode(), "```".encode()]
    return Vocabulary(pieces, frozenset({1}))


def _tid(vocab: Vocabulary, data: bytes) -> int:
    return vocab.pieces.index(data)


def test_clean_state_bans_foreign_characters_and_their_lead_bytes(tmp_path):
    vocab = _byte_vocabulary()
    masks = build_masks(vocab, "ko", cache_dir=tmp_path)
    assert masks.script[_tid(vocab, "한".encode())]
    assert not masks.script[_tid(vocab, "国".encode())]
    assert not masks.script[_tid(vocab, "の".encode())]
    assert not masks.script[_tid(vocab, "ế".encode())]
    assert masks.script[_tid(vocab, b"hello")]  # ASCII is fine for `script`...
    assert not masks.strict[_tid(vocab, b"hello")]  # ...but not for `strict`
    assert masks.strict[_tid(vocab, b" API")]  # acronyms stay
    assert masks.script[2 + 0xEA] and masks.script[2 + 0xED]  # Hangul syllable lead bytes
    assert not masks.script[2 + 0xE4]  # Han lead byte (U+4000-4FFF)
    assert masks.script[2 + 0xE3]  # shared by kana and compatibility jamo: decided by the next byte
    assert not masks.script[2 + 0x90]  # a lone continuation byte can never start a character
    assert masks.script[1] and not masks.script[0]  # EOS allowed, empty non-EOG tokens not


def test_pending_character_only_allows_completions_into_allowed_characters(tmp_path):
    vocab = _byte_vocabulary()
    masks = build_masks(vocab, "ko", cache_dir=tmp_path)
    state = LockState(masks, LockMode.script)
    state.feed(_tid(vocab, "한".encode()[:2]))  # ED 95: an unfinished syllable
    assert state.pending == "한".encode()[:2]
    allowed = state.allowed()
    assert allowed[_tid(vocab, "한".encode()[2:])]  # completes 한
    assert not allowed[1]  # EOS would leave a broken sequence
    assert not allowed[_tid(vocab, b"hello")]
    assert not allowed[2 + ord("a")]
    state.feed(_tid(vocab, "한".encode()[2:]))
    assert state.pending == b"" and state.text == "한"


def test_e3_lead_continues_into_jamo_but_not_into_kana(tmp_path):
    vocab = _byte_vocabulary()
    masks = build_masks(vocab, "ko", cache_dir=tmp_path)
    state = LockState(masks, LockMode.script)
    state.feed(2 + 0xE3)
    allowed = state.allowed()
    assert not allowed[2 + 0x81] and not allowed[2 + 0x82]  # E3 81 xx / E3 82 xx: hiragana
    assert allowed[2 + 0x84]  # E3 84 xx: compatibility jamo (ㄱ = E3 84 B1)
    state.feed(2 + 0x84)
    assert state.allowed()[2 + 0xB1]
    state.feed(2 + 0xB1)
    assert state.text == "ㄱ"


def test_pending_han_is_impossible_and_lone_continuations_follow_the_lead(tmp_path):
    vocab = _byte_vocabulary()
    masks = build_masks(vocab, "ko", cache_dir=tmp_path)
    state = LockState(masks, LockMode.script)
    state.feed(2 + 0xEA)  # EA: Hangul syllables (and a few other blocks)
    allowed = state.allowed()
    # EA B0 80 = U+AC00 (가); EA 80 80 = U+A000 (Yi syllable, forbidden)
    assert allowed[2 + 0xB0]
    assert not allowed[2 + 0x80]
    state.feed(2 + 0xB0)
    assert state.allowed()[2 + 0x80]
    state.feed(2 + 0x80)
    assert state.text == "가" and state.pending == b""


def test_strict_allows_latin_inside_code_and_caps_acronyms_up_to_the_policys_length(tmp_path):
    from kollama.korean.policy import policy

    vocab = _byte_vocabulary()
    masks = build_masks(vocab, "ko", cache_dir=tmp_path)
    state = LockState(masks, LockMode.strict)
    hello = _tid(vocab, b"hello")
    assert not state.allowed()[hello]
    state.feed(_tid(vocab, b"```"))
    assert state.allowed()[hello]  # inside a code block
    state.feed(_tid(vocab, b"```"))
    assert not state.allowed()[hello]
    longest = policy().acronym_max_length
    for letter in "ABCDEFGH"[:longest]:
        assert state.allowed()[2 + ord(letter)], letter  # capitals up to the policy's length: an acronym
        state.feed(2 + ord(letter))
    assert not state.allowed()[2 + ord("Z")]  # one capital more is a word, not an acronym


def test_strict_needs_a_target_letter_before_it_may_stop(tmp_path):
    vocab = _byte_vocabulary()
    masks = build_masks(vocab, "ko", cache_dir=tmp_path)
    state = LockState(masks, LockMode.strict)
    assert not state.allowed()[1]
    state.feed(_tid(vocab, "한".encode()))
    assert state.allowed()[1]


def test_masks_are_cached_on_disk(tmp_path):
    vocab = _byte_vocabulary()
    build_masks(vocab, "ko", cache_dir=tmp_path)
    files = list(tmp_path.glob("lock-*.npz"))
    assert len(files) == 1
    again = build_masks(vocab, "ko", cache_dir=tmp_path)
    assert np.array_equal(again.script, build_masks(vocab, "ko", cache_dir=None).script)


# --- real models ---------------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("model", ["smollm2", "gemma3"])
def test_script_lock_never_lets_a_forbidden_character_through(model, request):
    engine = request.getfixturevalue(model)
    for i, prompt in enumerate(INVITING_PROMPTS):
        for seed in (11, 12):
            params = GenerationParams(temperature=1.0, seed=seed + 10 * i, max_tokens=32, lock=LockMode.script)
            text = engine.chat([{"role": "user", "content": prompt}], params).result().text
            assert text.strip(), f"{model} {prompt!r} seed {seed}: an empty answer proves nothing"
            assert "\ufffd" not in text, f"broken UTF-8 in {text!r}"
            assert _foreign_chars(text) == [], f"{model} {prompt!r} seed {seed}: {text!r}"


@pytest.mark.slow
def test_without_the_lock_the_same_prompts_do_leak(gemma3):
    """The prompts above really invite foreign scripts: the unlocked base model uses them."""
    leaks = 0
    for i, prompt in enumerate(INVITING_PROMPTS[:5]):
        params = GenerationParams(temperature=1.0, seed=11 + 10 * i, max_tokens=40, lock=LockMode.off)
        leaks += bool(_foreign_chars(gemma3.chat([{"role": "user", "content": prompt}], params).result().text))
    assert leaks >= 2


@pytest.mark.slow
@pytest.mark.parametrize("prompt", ["한국어를 이해해?", "서울은 어떤 도시인가요?", "김치 만드는 법을 알려 주세요."])
def test_greedy_answer_is_unchanged_when_the_model_stays_in_allowed_scripts(gemma3, prompt):
    messages = [{"role": "user", "content": prompt}]
    unlocked = gemma3.chat(messages, GenerationParams(temperature=0, max_tokens=48)).result().text
    assert unlocked.strip(), "precondition: an answer to compare"
    assert _foreign_chars(unlocked) == [], "precondition: this prompt must stay in Korean/ASCII unlocked"
    for mode in (LockMode.script,):
        locked = gemma3.chat(messages, GenerationParams(temperature=0, max_tokens=48, lock=mode)).result()
        assert locked.text == unlocked
        assert locked.lock_enforcement == "decoding"


@pytest.mark.slow
def test_greedy_english_answer_is_unchanged_by_the_script_lock(smollm2):
    messages = [{"role": "user", "content": "한국어를 이해해?"}]
    unlocked = smollm2.chat(messages, GenerationParams(temperature=0, max_tokens=40)).result().text
    locked = smollm2.chat(messages, GenerationParams(temperature=0, max_tokens=40, lock=LockMode.script)).result().text
    assert unlocked.strip() and locked == unlocked


@pytest.mark.slow
def test_cli_off_answers_in_english_and_strict_answers_in_hangul():
    """Unlocked, smollm2 answers this prompt in English on most seeds (its greedy answer depends on the CPU's
    kernels: on some machines it echoes the prompt); strict, on the same seeds, in Hangul."""
    import json

    dominant = []
    for seed in ("1", "2", "3"):
        off = run_cli("run", "smollm2", "한국어를 이해해?", "--lock", "off", "--seed", seed, "--max-tokens", "40", "--json")
        assert off.returncode == 0, off.stderr
        dominant.append(fidelity_report(json.loads(off.stdout)["text"], "ko").dominant)
    assert dominant.count("en") >= 2, dominant
    for seed in ("1", "2", "3"):
        strict = run_cli("run", "smollm2", "한국어를 이해해?", "--lock", "strict", "--seed", seed, "--max-tokens", "40", "--json")
        assert strict.returncode == 0, strict.stderr
        data = json.loads(strict.stdout)
        report = fidelity_report(data["text"], "ko", prompt="한국어를 이해해?")
        assert report.chars.get("hangul", 0) > 0, data["text"]
        cut = data["finish_reason"] == "length"  # a word cut by --max-tokens was still allowed to become a name
        assert [s.text for s in report.foreign if s.kind == "code_switch"
                and not (cut and s.end == len(data["text"].rstrip()))] == [], data["text"]
        assert data["lock"] == "strict" and data["lock_enforcement"] == "decoding"


def test_lock_is_language_generic(gemma3):
    """--lang ja: Japanese scripts allowed, Hangul forbidden."""
    params = GenerationParams(temperature=1.0, seed=5, max_tokens=40, lock=LockMode.script, lang="ja")
    text = gemma3.chat([{"role": "user", "content": "한국어로 자기소개를 해 주세요."}], params).result().text
    ja = language("ja")
    assert text.strip(), "an empty answer proves nothing"
    assert all(ja.allows(script_of(ch)) for ch in text), text
