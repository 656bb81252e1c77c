"""The fidelity policy of docs/fidelity.md, case by case: what a Korean reader accepts (exempt, with why) and what
they see as confusion (flagged, with kind and reason). Fast: no model, no real data."""

from __future__ import annotations

import pytest

from kollama.korean import policy, policy_spans
from kollama.korean.fidelity import fidelity_report


def flagged(text: str, prompt: str | None = None) -> list[tuple[str, str]]:
    return [(s.text, s.kind) for s in fidelity_report(text, "ko", prompt=prompt, with_lcb=False).foreign]


def exempt(text: str, prompt: str | None = None) -> dict[str, str]:
    return {s.text: s.why for s in fidelity_report(text, "ko", prompt=prompt, with_lcb=False).exempt}


# --- not confusion ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text,span,why", [
    ("유한책임회사(Limited Liability Company)는 작은 회사에 알맞습니다.", "Limited Liability Company", "gloss"),
    ("인수 전에 실사(due diligence)를 거칩니다.", "due diligence", "gloss"),
    ("자바(Java)는 객체 지향 언어입니다.", "Java", "gloss"),
    ("법의학(法醫學)은 법과 의학이 만나는 분야입니다.", "法醫學", "gloss"),
    ("법의학(法醫學, Forensic Science)은 범죄 수사를 돕습니다.", "Forensic Science", "gloss"),
    ("CRM(Customer Relationship Management) 도구를 씁니다.", "Customer Relationship Management", "gloss"),
    ("'코스모스 아트 스쿨'(Cosmos Art School)에서 배웁니다.", "Cosmos Art School", "gloss"),
    ("영국의 Royal College of Art에서 공부합니다.", "College", "name"),
    ("20xx년의 미래를 상상해 봅시다.", "20xx", "number"),
    ("형식은 {fans}|{quote} 입니다.", "{fans}", "code"),
    ("Infineon(인피니언)은 독일 회사입니다.", "Infineon", "gloss"),
    ("Brexit 이후 영국 경제가 달라졌습니다.", "Brexit", "name"),
    ("팀은 Jira Servicedesk로 요청을 관리합니다.", "Servicedesk", "name"),
    ("Ferrari LaFerrari는 한정 생산 모델입니다.", "LaFerrari", "name"),
    ("YouTube에 영상을 올렸습니다.", "YouTube", "name"),
    ("GPT-4 모델이 답했습니다.", "GPT", "acronym"),
    ("PepsiCo 공장에서 센서를 씁니다.", "PepsiCo", "name"),
    ("CEO가 발표했습니다.", "CEO", "acronym"),
    ("pvc관을 연결합니다.", "pvc", "acronym"),
    ("한국IBM과 삼성SDS가 참여합니다.", "IBM", "acronym"),  # capitals after Hangul: a company's acronym
    ("새 모델은 삼성sds 제품입니다.", "sds", "acronym"),  # no vowel: an acronym even inside the word
    ("한국 vs 일본 경기가 열립니다.", "vs", "acronym"),
    ("\"Attention Is All You Need\" 논문이 유명합니다.", "Attention Is All You Need", "quote"),
    ("양파의 학명은 Allium cepa입니다.", "cepa", "scientific_name"),
    ("설정은 config.yaml 파일에 저장합니다.", "config.yaml", "path"),
    ("자세한 내용은 https://example.com/docs 를 보세요.", "https://example.com/docs", "url"),
    ("무게는 5kg, 속도는 3.5 GHz입니다.", "3.5 GHz", "number"),
    ("`pip install kollama` 명령을 실행하세요.", "`pip install kollama`", "code"),
    ("질량과 에너지는 E = mc^2 관계를 따릅니다.", "E = mc^2", "formula"),
    ("A안과 B안 중에서 고르세요.", "A", "symbol"),
    ("O'Brien은 아일랜드 성입니다.", "O'Brien", "name"),
    ("McDonald's에서 점심을 먹었습니다.", "McDonald's", "name"),
    ("원주율 π는 약 3.14입니다.", "π", "symbol"),
])
def test_accepted_spans_say_why(text, span, why):
    assert flagged(text) == []
    assert exempt(text)[span] == why


def test_an_answer_that_is_only_code_passes():
    assert fidelity_report("```python\nprint('hello world')\n```", "ko").passed


def test_json_keys_and_literals_are_not_english_but_values_are():
    ok = '{\n  "speaker": "고객",\n  "need_help": true,\n  "topic": "보험 한도 문의"\n}'
    assert flagged(ok) == []
    bad = '{\n  "topic": "maximum coverage for the homeowners insurance policy"\n}'
    assert [kind for _, kind in flagged(bad)] == ["wrong_language_line"]


def test_words_and_characters_the_prompt_used_are_fine():
    text = "training 루프는 학습을 반복하는 부분입니다."
    assert flagged(text, prompt="training 루프가 뭐야?") == []
    assert flagged(text) != []  # the prompt is what makes it fine
    assert flagged("法醫學은 법의학입니다.", prompt="法醫學이 뭐야?") == []


def test_a_language_the_prompt_asks_for_is_fine():
    assert flagged("Good morning은 좋은 아침이라는 뜻입니다.", prompt="'좋은 아침'을 영어로 번역해 줘") == []
    assert policy.asked_languages("Translate this into Japanese.") == {"ja"}
    assert policy.asked_languages("이 문장을 영어로 번역해 줘") == {"en"}
    assert policy.asked_languages("Reply in Korean.") == frozenset()  # Korean is not in the table: it is the target


# --- confusion ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text,span,kind", [
    ("Sure, here is the essay you asked for.\n\n서울은 한국의 수도입니다.", "Sure, here is the essay you asked for", "wrong_language_line"),
    ("서울은 한국의 수도입니다.\nI hope this helps you with your trip.", "I hope this helps you with your trip", "wrong_language_line"),
    ("Title: 서울 여행 안내\n\n서울은 한국의 수도입니다.", "Title", "label"),
    ("자연 언어 처리 tasks 에서 쓰입니다.", "tasks", "code_switch"),
    ("대량의 데이터로 training 을 수행합니다.", "training", "code_switch"),
    ("이 결과는 Based로 판단합니다.", "Based", "code_switch"),
    ("이 분야에서 널리 known합니다.", "known", "code_switch"),
    ("이 방법은 mentale 건강에 좋습니다.", "mentale", "code_switch"),
    ("이 차는 hybride 방식입니다.", "hybride", "code_switch"),
    ("대규모 INTRODUCTION 부분입니다.", "INTRODUCTION", "code_switch"),
    ("오늘은 大量의 비가 왔습니다.", "大量", "script"),
    ("주말을 過ご 했습니다.", "過ご", "script"),
    ("이 단어는 หมาย 뜻입니다.", "หมาย", "script"),
    ("다양한 ứng dụng 분야가 있습니다.", "ứng dụng", "script"),
    ("스켈레тон 데이터를 씁니다.", "тон", "script"),
    ("포레ν식 과학입니다.", "ν", "script"),
    # English run together after a contraction: not a name, whatever follows
    ("I'mhappy toc. It'sfun!\n\n이메 좋아요.", "I'mhappy", "code_switch"),
    ("안만르! 오늘 What'sn't 날씨", "What'sn't", "code_switch"),
    ("바이킹에 대해 알고 싶어.\n\nTheres 없음", "Theres", "code_switch"),  # a contraction without its apostrophe
    # short Latin letters inside a Korean word (Hangul right before them) are a broken word, not an acronym
    ("투표는 시민의 권oga와 의무입니다.", "oga", "code_switch"),
    ("마시ne 러닝은 데이터 분석의 도구입니다.", "ne", "code_switch"),
    # camel case that is English written without spaces: a function word between its parts, or leading it
    ("TitleTopic: IntroductionToGender 설명입니다.", "IntroductionToGender", "code_switch"),
    ("이 부분은 SocialNormsInClass 입니다.", "SocialNormsInClass", "code_switch"),
    ("이 could beO메인킹 합니다.", "beO", "code_switch"),
])
def test_confusion_is_flagged_with_kind(text, span, kind):
    report = fidelity_report(text, "ko", with_lcb=False)
    assert not report.passed
    found = {s.text: s for s in report.foreign}
    assert span in found, found
    assert found[span].kind == kind and found[span].reason


def test_a_long_parenthesis_is_a_translation_not_a_gloss():
    text = "재료를 준비합니다 (Prepare the materials and gather strong metal for the blade)."
    assert any(kind in ("code_switch", "wrong_language_line") for _, kind in flagged(text))


def test_a_whole_english_answer_is_dominant_en_with_one_span_per_line():
    report = fidelity_report("Here is the answer.\nThe capital of Korea is Seoul.\nIt is a big city.", "ko")
    assert report.dominant == "en" and not report.passed
    assert [s.kind for s in report.foreign] == ["wrong_language_line"] * 3


def test_an_answer_that_repeats_the_english_prompt_is_confused():
    prompt = "Write a short poem about the sea. Answer in Korean."
    assert not fidelity_report(prompt, "ko", prompt=prompt).passed


def test_empty_or_punctuation_only_text_does_not_pass():
    assert not fidelity_report("", "ko").passed
    assert not fidelity_report(", . , . , .", "ko").passed


# --- the primitives the lock reuses ---------------------------------------------------------------------------
def test_judge_latin_word_alone_and_in_context():
    assert policy.judge_latin_word("training").flagged
    assert not policy.judge_latin_word("GPU").flagged
    assert not policy.judge_latin_word("Brexit").flagged
    assert policy.judge_latin_word("Stabbing").flagged
    context = policy.WordContext(prompt_words=policy.prompt_vocabulary("training 루프를 설명해 줘"))
    assert "training" not in policy.prompt_vocabulary("Explain the training loop of a model, in Korean.")
    assert policy.judge_latin_word("training", context).why == "prompt"
    assert not policy.judge_latin_word("pvc", policy.WordContext(glued_to_target=True)).flagged
    assert policy.judge_latin_word("ou").flagged  # French `or`, not an acronym


def test_looks_like_sentence():
    assert policy.looks_like_sentence("Here is the answer".split())
    assert not policy.looks_like_sentence(["Enzo", "LaFerrari", "Monza"])


def test_json_report_lists_kinds_exempt_spans_and_lcb():
    report = fidelity_report("자바(Java)와 training 을 씁니다. 이 문장은 다섯 어절 이상입니다.", "ko").to_json()
    assert report["kinds"] == {"code_switch": 1}
    assert {"text": "Java", "why": "gloss"} in [{"text": e["text"], "why": e["why"]} for e in report["exempt"]]
    assert set(report["lcb"]) >= {"line_error", "word_error", "skipped"}
    assert report["foreign"][0]["reason"]


def test_inside_open_gloss_for_the_streaming_lock():
    def hangul(ch: str) -> bool:
        return "가" <= ch <= "힣"

    def anchor(ch: str) -> bool:
        return hangul(ch) or "\u4e00" <= ch <= "\u9fff"

    assert policy_spans.inside_open_gloss("인수 전 실사(due dil", hangul, anchor)
    assert not policy_spans.inside_open_gloss("인수 전 실사(due diligence) 후 training", hangul, anchor)
    assert not policy_spans.inside_open_gloss("this is (an English aside", hangul, anchor)
    assert not policy_spans.inside_open_gloss("실사(one two three four five six seven", hangul, anchor)


def test_a_library_the_answer_s_own_code_uses_is_not_code_switching():
    text = "numpy 배열의 평균은 이렇게 구합니다.\n```python\nimport numpy as np\nprint(np.mean([1, 2, 3]))\n```"
    assert flagged(text) == [] and exempt(text)["numpy"] == "code"
    assert flagged("numpy 배열의 평균을 구합니다.") != []  # without code around it, an unknown lower-case word


def test_json_in_a_fence_is_data_whose_english_values_count():
    english = '```json\n{\n  "local": [\n    "Three tents catch fire at the square, no injuries reported"\n  ]\n}\n```'
    assert [kind for _, kind in flagged(english)] == ["wrong_language_line"]
    korean = '```json\n{\n  "local": ["켄싱턴에서 화재가 발생했으나 부상자는 없습니다"],\n  "ok": true\n}\n```'
    assert flagged(korean) == []
    program = "```\nfor item in items:\n    print(item)\n```"
    assert flagged(program) == []


def test_a_language_is_asked_for_only_by_a_request_not_by_content():
    """A résumé saying 'Fluent in English' asks for nothing; 'answer in English' and 'what is X in Japanese' do."""
    assert policy.asked_languages("제 이력서입니다: Fluent in English and Mandarin. 면접 질문 3개를 만들어 주세요.") == frozenset()
    assert policy.asked_languages("Answer in English, please.") == {"en"}
    assert policy.asked_languages("Write it in Korean and English.") == {"en"}
    assert policy.asked_languages("What is 'apple' in Japanese?") == {"ja"}


def test_emoji_modifiers_are_part_of_the_symbol_not_a_script():
    """Keycap numbers and emoji variation selectors (`1️⃣`, `❤️`) are symbols a Korean list may use."""
    report = fidelity_report("1️⃣ 첫째, 물을 끓입니다.\n2️⃣ 둘째, 면을 넣습니다. ❤️")
    assert report.passed, report.to_json()
    assert not fidelity_report("1️⃣ 첫째, 물을 끓입니다. ありがとう").passed


def test_an_english_prompt_lends_its_terms_but_never_its_function_words():
    prompt = "In lay-person's terms, briefly summarize the main points of the Paris Agreement. Answer in Korean."
    assert flagged("In 파리 협정은 중요합니다.", prompt) == [("In", "code_switch")]
    assert "Paris" in exempt("Paris 협정은 중요합니다.", prompt)
    # a function word inside a name the prompt wrote is the prompt's term
    beatles = "Tell me about the history of The Beatles. Answer in Korean."
    assert flagged("The Beatles는 영국의 밴드입니다.", beatles) == []


def test_clock_times_numbered_names_and_a_character_cut_at_the_end_are_not_confusion():
    assert exempt("회의 시간이 8:00 am에서 3:00 pm으로 바뀌었습니다.").get("00 am") == "number"
    assert ("I", "code_switch") not in flagged("회의 시간이 8:00 am에서 3:00 pm으로 바뀌었습니다.")
    assert fidelity_report("회의 시간이 8:00 am에서 3:00 pm으로 바뀌었습니다.", with_lcb=False).passed
    assert exempt("저커버그는 Connect 2021에서 메타를 소개했습니다.").get("Connect") == "name"
    assert fidelity_report("서울은 한국의 수도입니다. 그리고 \ufffd\ufffd", with_lcb=False).passed
    assert not fidelity_report("서울은 \ufffd 한국의 수도입니다.", with_lcb=False).passed  # not at the end: broken
    assert ("am", "code_switch") in flagged("I am 학생입니다 그리고 am 좋아요.")


def test_camel_case_names_stay_names_whatever_words_they_join():
    for name in ("YouTube", "LinkedIn", "iPhone", "YouTubeTitleOptimizer", "PowerPoint", "eBay", "JavaScript"):
        assert exempt(f"{name}에서 확인할 수 있습니다.").get(name) == "name", name


def test_a_function_word_is_never_a_genus():
    assert exempt("양파의 학명은 Allium cepa입니다.")["cepa"] == "scientific_name"
    assert exempt("In ava이란 것을 설명합니다.").get("ava") != "scientific_name"
    assert ("In", "code_switch") in flagged("In ava이란 것을 설명합니다.")


def test_a_phrase_named_by_the_korean_noun_after_it_or_listed_with_names_is_a_name():
    """A reader takes ordinary English words as a name when Korean says what they name, or when they stand in a
    list of names; the same words in a sentence are still code-switching."""
    assert exempt("Medium 같은 블로그 플랫폼을 많이 씁니다.").get("Medium") == "name"
    assert exempt("Interest Network 사이트에서 찾았습니다.").get("Network") == "name"
    assert exempt("관심사 기반 SNS로는 Vingle, Interest Network가 있습니다.").get("Interest") == "name"
    assert ("Medium", "code_switch") in flagged("이 글은 Medium 길이입니다.")
    assert ("Network", "code_switch") in flagged("좋은 Network를 만들고 Interest를 키우세요.")
    assert ("Weapon", "code_switch") in flagged("이것은 Weapon의 회사입니다.")  # a particle glued on: not a head


def test_latin_letters_glued_inside_a_hangul_word_are_not_a_gloss():
    """`디ên(디너)`: Vietnamese letters inside a Korean word, before a parenthesis, are broken text, while
    `Infineon(인피니언)` glosses a name."""
    assert not fidelity_report("오늘 디ên(디너)은 불고기가 좋겠습니다.", with_lcb=False).passed
    assert exempt("Infineon(인피니언)은 반도체 회사입니다.").get("Infineon") == "gloss"


def test_a_json_key_holding_a_number_is_still_a_key():
    """`"1st advice":` is a key as a whole: the number inside it does not cut the key's exemption short."""
    answer = '```json\n{\n  "1st advice": {"text": "먼저 프로젝트의 목표를 정하세요."}\n}\n```'
    assert exempt(answer).get("1st advice") == "json_key"
    assert fidelity_report(answer, with_lcb=False).passed
    assert ("advice", "code_switch") in flagged('```json\n{"text": "1st advice 먼저 정하세요."}\n```')  # a value is judged
