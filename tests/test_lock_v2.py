"""The language lock v2: `strict` as a state machine over the answer, and `gated`.

These run on a small vocabulary built to hold the interesting tokens (no model needed); the same
checks on real vocabularies and tiny random-weight models are in test_lock_vocabularies.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from kollama.errors import KollamaError
from kollama.korean.lock import (
    LockMode,
    LockState,
    StrictScanner,
    Vocabulary,
    WordPolicy,
    build_masks,
    parse_lock,
    split_piece,
)

WORDS = ["hello", " hello", "Hello", "API", " API", "ABC", "ABC ", "ABC는", "A", " the", "ing", "ing.", "tasks",
         "에서", " (", "(", ")", "`", "```", " `code`", "\n", "\nthe", "://", "www", ".", "com", " http", "s", "https",
         "@", '"', '"hello', "는", " 한국", "CPU", "GPU", "G", "Large", " Language", "Model", "은", "Lar", "ge",
         "json", "{", "}", ":", ",", "null", '"key"', '"값"', "ROI", "투자", "한(due", "ABCDEFG", "ABCDEF", "FG",
         " ", "  ", "\t", "」", "「", "the「", "한a", " 한a", "国", "한", "。", " diligence", "due", "I", "oga", "권", "pvc", "관", "ne", "og", "sds",
         "Gender", "To", "ToGender", "O", "be", " be", "Tube", "In"]


def _vocab() -> Vocabulary:
    pieces = [b"", b""] + [bytes([b]) for b in range(256)] + [w.encode() for w in WORDS]
    return Vocabulary(pieces, frozenset({1}))


@pytest.fixture(scope="module")
def masks(tmp_path_factory):
    return build_masks(_vocab(), "ko", cache_dir=tmp_path_factory.mktemp("masks"))


def _tid(text: str) -> int:
    return _vocab().pieces.index(text.encode())


def violations(text: str, prompt: str | None = None) -> list[int]:
    """Positions of the characters at which `strict` would have stepped in."""
    scanner = StrictScanner(WordPolicy.build(prompt), frozenset({"hangul"}))
    return [i for i, ch in enumerate(text) if scanner.feed(ch)]


@pytest.mark.parametrize("text", [
    "함수는 `print(x)`로 호출하고 `len`도 씁니다.",
    "```python\nprint('hello world')\n```\n끝",
    "유한책임회사(Limited Liability Company)를 세웠다.",
    "O'Brien은 아일랜드 성이고 McDonald's는 회사입니다.",
    "자료는 https://example.com/docs/page 에 있습니다.",
    "주소: www.example.org 입니다.",
    "\"Attention Is All You Need\" 논문과 『The Old Man and the Sea』",
    '{"title": "제목", "tags": ["하나", "둘"], "ok": true, "n": null}',
    "CPU와 GPU, 그리고 LLM과 NLP, PDF 파일, IT 업계.",
    "ROI(투자수익률)가 높다.",
    "A안과 B안 중에서 고르세요.",
    "pvc관을 연결하고 삼성sds 제품을 씁니다.",  # short lower-case acronyms, also right after Hangul without a vowel
])
def test_strict_allows_the_exempt_spans_of_the_fidelity_policy(text):
    assert violations(text) == []


@pytest.mark.parametrize("text, confusion", [
    ("자연 언어 처리 tasks 에서", "tasks "),
    ("training 을 수행", "training "),
    ("Based로 만들었다", "Based로"),  # capitalised: it could have been a name until the particle came
    ("`코드` 다음 hello", "hello"),
    ('{"설명": "this is English"}', "this "),
    ("ROI 입니다", "ROI 입"),  # an unknown acronym without its gloss
    ("(HAT-TOKY!)", "HAT-"),
    ("ABCDEFG는", "ABCDEFG"),  # seven capitals are a word, not an acronym
    ("I'mhappy 좋아요", "I'm"),  # a contraction: whatever follows, English (stopped at its start, not its end)
    ("한국어 It'sfun!", "It's"),
    ("The 모델", "The "),
    ("그건 it is 좋다", "it "),  # the acronym list has IT, in capitals
    ("시민의 권oga와 의무", "oga"),  # Latin letters inside a Korean word: a broken word, not an acronym
])
def test_strict_bans_confusion_where_it_happens(text, confusion):
    found = violations(text)
    start = text.index(confusion)
    assert found and start <= found[0] < start + len(confusion), (found, confusion)


def test_strict_stops_camel_case_english_where_it_starts():
    """English run together in camel case cannot end as a name, so strict stops it at the capital that makes it
    English (`IntroductionTo` + `G`, `be` + `O`), not at its end where nothing but giving up would be left."""
    assert violations("한국 IntroductionToGender 설명") == [len("한국 IntroductionTo")]
    assert violations("한국 beO메인") == [len("한국 be")]
    assert violations("YouTube와 LinkedIn, PowerPoint 제품") == []


def test_a_fenced_data_block_is_read_like_the_answer_and_code_stays_exempt():
    """As the judge has it: the values of ```json and the lines of ```markdown are language; code is not."""
    assert violations('```json\n{"title": "제목", "tags": ["하나"]}\n```\n끝') == []
    assert violations('```json\n{"local": ["Twenty-two per cent of cones"]}\n```')
    assert violations("```markdown\nThe history of Seoul is long\n```")
    assert violations('```python\nprint("hello world")\n```\n끝') == []
    assert violations("```\nfor x in range(3): print(x)\n```\n끝") == []


def test_a_quote_is_a_title_only_on_a_korean_line():
    assert violations('"Attention Is All You Need" 논문을 읽었다.') == []
    assert violations('I am "a Japanese language expert and translator"')
    unclosed = violations('한국어 "open the window\n다음 줄')
    assert unclosed and unclosed[0] == len('한국어 "open the window')


def test_unclosed_spans_close_at_the_end_of_their_line():
    assert violations("`열린 코드 hello\n다음 줄 world")
    assert violations("`열린 코드 hello\n다음 줄") == []
    assert violations("유한(due diligence\n다음 줄") == []
    assert violations('"열린 인용 hello\n다음 world')
    assert violations("유한(due diligence\n다음 world")


def test_words_of_the_prompt_and_system_prompt_pass():
    text = "Large Language Model은 transformer 구조입니다."
    assert violations(text)
    assert violations(text, prompt="Large Language Model이 뭐야? transformer 기반이야?") == []
    policy = WordPolicy.build("질문", "Answer about Kubernetes")
    scanner = StrictScanner(policy, frozenset({"hangul"}))
    assert scanner.feed("Kubernetes는 컨테이너") is None


def test_a_sentence_of_prompt_words_is_still_a_wrong_language_line():
    prompt = "Respond in Korean. Write about the history of the Eiffel Tower."
    assert violations("Eiffel Tower의 역사", prompt=prompt) == []
    found = violations("Here is the history of the Eiffel Tower.", prompt=prompt + " Here is")
    assert found and found[0] < len("Here is the history")
    # a prompt that asks for English lets its sentences through
    assert violations("Here is the history.", prompt="여기 역사가 있다. Here is the history를 영어로 번역해 줘") == []


def test_the_vectorised_mask_agrees_with_the_scanner_token_by_token(masks):
    """The per-step mask (lookups for plain tokens, the scanner for the rest) is exactly what running the
    scanner over each token would allow, in states across every rule."""
    vocab = masks.vocab
    states = ["", "한국어", "한국어 ", "Lar", "AB", "ABC", "ABC ", "ABC (", "ABC (한", "`co", "```py\nx",
              "자료 https://exa", "자료 www", '"Tit', "유한(", "{", '{"na', '{"k": "값 ', "CPU", "한국(due ",
              "x\n", "Large", "Large ", "Hel", "한국Hel", "한국p", "pv", "Bre", "Large Language", "Large Language ",
              "hello the", "ABC (BL", "유한 (", "I", "I'", "한국 It", "O'", "I'v", "T", "Th", "권",
              "권s", "삼성sd", "IntroductionTo", "Introduction", "be", "한국 be", "You", "Linked",
              '```json\n{"k": "', "```js", "```json\n", "```markdown\nThe", '한국 "ope', 'I am "']
    checked = 0
    for text in states:
        state = LockState(masks, LockMode.strict, prompt="Large Language Model은 뭐야? hello the 뜻은?", min_target_chars=0)
        state.feed_text(text)
        allowed = state.allowed()
        for tid, data in enumerate(vocab.pieces):
            piece = split_piece(data)
            if not data or not piece.valid or piece.lead or not piece.text:
                continue
            expected = bool(masks.script[tid]) and state.scanner.copy().feed(piece.text) is None
            assert bool(allowed[tid]) == expected, (text, piece.text)
            checked += 1
    assert checked > 1000


def test_masks_shared_between_requests_follow_each_requests_own_prompt(masks):
    """`strict` masks are kept per vocabulary for later requests; a request whose prompt has other Latin words
    must never get another prompt's mask, and a reused mask is the one the scanner would give."""
    vocab = masks.vocab
    prompts = [None, "hello the 한국어로", "한국어로 답해 주세요", "Large Language Model은?"]
    hello = _tid(" hello")
    verdicts = {}
    for round_ in range(2):  # the second round is served from the shared masks
        for prompt in prompts:
            for text in ["한국어 ", "Hel", "Large ", "ABC"]:
                state = LockState(masks, LockMode.strict, prompt=prompt, min_target_chars=0)
                state.feed_text(text)
                allowed = state.allowed()
                for tid, data in enumerate(vocab.pieces):
                    piece = split_piece(data)
                    if data and piece.valid and not piece.lead and piece.text:
                        expected = bool(masks.script[tid]) and state.scanner.copy().feed(piece.text) is None
                        assert bool(allowed[tid]) == expected, (prompt, text, piece.text, round_)
                verdicts[(prompt, text)] = bool(allowed[hello])
    assert verdicts[("hello the 한국어로", "한국어 ")] and not verdicts[(None, "한국어 ")]
    assert not verdicts[("한국어로 답해 주세요", "한국어 ")]


def test_strict_never_bans_every_token(masks):
    state = LockState(masks, LockMode.strict, min_target_chars=0)
    for text in ["ABC", "Lar", "`x", "유한(", '{"a": "']:
        state = LockState(masks, LockMode.strict, prompt="Large", min_target_chars=0)
        state.feed_text(text)
        assert state.allowed().any(), text


def _row(n: int, logits: dict[int, float]) -> np.ndarray:
    row = np.full(n, -5.0, dtype=np.float32)
    for tid, value in logits.items():
        row[tid] = value
    return row


def test_gated_bans_off_language_only_where_a_korean_candidate_is_close(masks):
    n = len(masks.vocab.pieces)
    hello, hangul, han = _tid(" hello"), _tid(" 한국"), _tid("国")
    state = LockState(masks, LockMode.gated)
    state.feed_text("오늘은")
    row = _row(n, {hello: 5.0, hangul: 4.0, han: 6.0})
    state.apply(row)
    assert row[han] == -np.inf  # script's guarantee first
    assert row[hello] == -np.inf and np.isfinite(row[hangul])  # the switch is stopped
    assert state.gated_steps == 1 and state.last_gate.best_target == hangul

    row = _row(n, {hello: 9.0, hangul: -1.0})  # Korean holds under 1% of the mass: the name stays
    state.apply(row)
    assert np.isfinite(row[hello])

    row = _row(n, {_tid(" API"): 9.0, hangul: 8.0})  # an acronym strict allows is not a switch
    state.apply(row)
    assert np.isfinite(row[_tid(" API")])


def test_gated_takes_a_function_word_for_english_not_for_an_acronym_start(masks):
    """`I` begins `IT` and `A` begins `API`, but an answer that opens with them opens in English (smollm2's
    `I'm sorry...`): the gate may stop them. A listed acronym itself is still not a switch."""
    n = len(masks.vocab.pieces)
    hangul = _tid(" 한국")
    for word, stopped in [("I", True), ("A", True), ("API", False), ("CPU", False)]:
        state = LockState(masks, LockMode.gated)
        row = _row(n, {_tid(word): 5.0, hangul: 4.0})
        state.apply(row)
        assert (row[_tid(word)] == -np.inf) == stopped, word
        assert np.isfinite(row[hangul])


def test_gated_needs_less_korean_mass_where_a_line_begins(masks):
    """A line's first word sets its language, so there a target-language mass of 1e-4 is enough; inside a line
    it takes 1%. A Korean candidate at p ~ 0.004 is taken only at a start."""
    n = len(masks.vocab.pieces)
    hangul = _tid(" 한국")
    latin = [_tid(w) for w in [" hello", "Hello", " the", "tasks", "json", "null", "due"]]
    for before, opening in [("", True), ("오늘은\n1. ", True), ("오늘은\n## ", True), ("오늘은 ", False),
                            ("1. 오늘은 ", False)]:
        state = LockState(masks, LockMode.gated)
        state.feed_text(before)
        row = _row(n, {**{t: 5.0 for t in latin}, hangul: 1.5})
        probs = np.exp(row - row.max()) / np.exp(row - row.max()).sum()
        assert 0.002 < probs[hangul] < 0.01
        state.apply(row)
        assert state.last_gate.fired == opening and state.last_gate.opening == opening, repr(before)
        assert all((row[t] == -np.inf) == opening for t in latin), repr(before)


def test_gated_counts_a_byte_that_only_hangul_can_finish_as_korean(masks):
    """Byte-level vocabularies (SmolLM2, Llama 2) start most Korean words with a lone lead byte: 0xEC can only
    become a Hangul syllable, so it is a Korean way on; 0xEA may become Yi or Vai, so it is not."""
    n = len(masks.vocab.pieces)
    hello, hangul_lead, shared_lead = _tid(" hello"), 2 + 0xEC, 2 + 0xEA
    state = LockState(masks, LockMode.gated)
    state.feed_text("오늘은 ")
    row = _row(n, {hello: 5.0, hangul_lead: 4.0})
    state.apply(row)
    assert row[hello] == -np.inf and np.isfinite(row[hangul_lead])
    assert state.last_gate.best_target == hangul_lead
    row = _row(n, {hello: 5.0, shared_lead: 4.0})
    state.apply(row)
    assert np.isfinite(row[hello])


def test_gated_leaves_code_and_words_in_progress_alone(masks):
    n = len(masks.vocab.pieces)
    hello, hangul = _tid(" hello"), _tid(" 한국")
    state = LockState(masks, LockMode.gated)
    state.feed_text("코드 `x =")
    row = _row(n, {hello: 5.0, hangul: 4.9})
    state.apply(row)
    assert np.isfinite(row[hello])
    state = LockState(masks, LockMode.gated)
    state.feed_text("한국 hel")
    row = _row(n, {_tid("ing"): 5.0, hangul: 4.9})
    state.apply(row)
    assert np.isfinite(row[_tid("ing")])


def test_gated_acts_on_a_sampled_switch_not_only_on_the_top_candidate(masks):
    """At T > 0 the sampler may pick the second candidate: an English word at p ~ 0.3 behind a Korean top
    candidate is a switch the gate stops; one at p ~ 1e-4 is not worth acting on."""
    n = len(masks.vocab.pieces)
    hello, hangul = _tid(" hello"), _tid(" 한국")
    for english, stopped in [(4.2, True), (-3.0, False)]:
        state = LockState(masks, LockMode.gated)
        state.feed_text("오늘은")
        row = np.full(n, -30.0, dtype=np.float32)
        row[hello], row[hangul] = english, 5.0
        state.apply(row)
        assert state.last_gate.top == hangul
        assert (row[hello] == -np.inf) == stopped and np.isfinite(row[hangul])


def test_gated_and_strict_take_the_prompts_terms_but_not_its_ordinary_words(masks):
    """The judge's definition of the prompt's words: an English prompt licenses its terms and names, not `the`
    or `hello` because it used them."""
    n = len(masks.vocab.pieces)
    prompt = "Explain the Large Language Model and say hello. Answer in Korean."
    hangul = _tid(" 한국")
    assert violations("한국 the 한국", prompt) != [] and violations("Large 한국", prompt) == []
    state = LockState(masks, LockMode.gated, prompt=prompt)
    state.feed_text("오늘은")
    row = _row(n, {_tid(" the"): 5.0, _tid(" hello"): 5.0, hangul: 4.0})
    state.apply(row)
    assert row[_tid(" the")] == -np.inf and row[_tid(" hello")] == -np.inf


def test_strict_and_gated_judge_no_words_for_a_language_written_in_latin(tmp_path):
    """For an English answer `strict` and `gated` keep the script guarantee and judge no English word."""
    en = build_masks(_vocab(), "en", cache_dir=tmp_path)
    n = len(en.vocab.pieces)
    for mode in (LockMode.strict, LockMode.gated):
        state = LockState(en, mode, prompt="What does nunchi mean?", min_target_chars=0)
        state.feed_text("Nunchi means reading")
        row = _row(n, {_tid(" the"): 5.0, _tid(" hello"): 4.0, _tid("国"): 6.0})
        state.apply(row)
        assert np.isfinite(row[_tid(" the")]) and np.isfinite(row[_tid(" hello")])
        assert row[_tid("国")] == -np.inf
        assert state.strict_reason(_tid(" the")) is None


def test_gated_is_a_lock_mode_everywhere():
    assert parse_lock("gated") == LockMode.gated
    assert parse_lock(" Strict ") == LockMode.strict
    with pytest.raises(KollamaError, match="gated"):
        parse_lock("loose")
