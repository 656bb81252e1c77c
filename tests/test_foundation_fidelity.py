"""`fidelity` on mixed answers of the kinds real models give."""

from __future__ import annotations

import json
import unicodedata

import pytest

from support.cli import run_cli
from kollama.korean.fidelity import fidelity_report


def spans(text: str, lang: str = "ko", prompt: str | None = None) -> list[tuple[str, str, str]]:
    return [(s.text, s.kind, s.script) for s in fidelity_report(text, lang, prompt).foreign]


def test_clean_korean_passes():
    report = fidelity_report("안녕하세요. 저는 한국어로 대답하는 모델입니다. 무엇을 도와드릴까요?")
    assert report.passed and report.dominant == "ko" and report.hangul_ratio == 1.0 and report.foreign == []


def test_japanese_answer_is_dominant_ja_and_one_kana_span():
    report = fidelity_report("こんにちは、私は日本語を話します。")
    assert report.dominant == "ja" and not report.passed
    assert [(s.kind, s.script) for s in report.foreign] == [("script", "kana")]
    assert report.chars["han"] == 5 and report.chars["kana"] == 10  # 私日本語話; こんにちは は を します


def test_chinese_answer_is_dominant_zh():
    assert fidelity_report("我是一个语言模型，很高兴认识你。").dominant == "zh"


def test_hanja_leak_inside_korean():
    assert spans("오늘은 學校에 갔습니다. 선생님이 좋았어요.") == [("學校", "script", "han")]


def test_thai_and_vietnamese_words_inside_korean():
    found = spans("이 음식은 정말 อร่อย 했어요. 그리고 phở는 베트남 국수입니다.")
    assert ("อร่อย", "script", "thai") in found
    assert ("phở", "script", "latin_ext") in found
    assert not any(kind == "code_switch" and "ph" in text for text, kind, _ in found)


def test_cyrillic_word_inside_korean():
    assert spans("그는 привет 이라고 말했다.") == [("привет", "script", "cyrillic")]


def test_english_code_switching_with_particles_glued_on():
    found = spans("이 model이 더 좋은 performance를 보여줍니다.")
    assert found == [("model", "code_switch", "latin"), ("performance", "code_switch", "latin")]


def test_code_urls_emails_numbers_and_acronyms_are_exempt():
    text = (
        "다음 코드를 실행하세요:\n```python\nfor item in items:\n    print(item)\n```\n"
        "`pip install kollama` 명령을 쓰고, 문서는 https://example.com/docs/guide 에 있습니다. "
        "문의는 help@example.co.kr 로 보내 주세요. 무게는 5kg, 속도는 3.5 GHz 입니다. API와 GPU, LLM을 씁니다."
    )
    report = fidelity_report(text)
    assert report.foreign == [] and report.passed


def test_words_the_prompt_asked_for_are_not_code_switching():
    text = "Python에서 리스트를 정렬하려면 sorted 함수를 씁니다."
    assert spans(text) != []
    assert spans(text, prompt="Python에서 sorted 함수를 설명해 줘") == []


def test_english_answer_to_a_korean_prompt_is_dominant_en():
    report = fidelity_report("I understand Korean very well, thank you for asking.")
    assert report.dominant == "en" and not report.passed and report.code_switch_words >= 5


def test_other_target_languages():
    assert fidelity_report("Hola, me llamo Juan y soy ingeniero de software.", "es").passed
    assert fidelity_report("Bonjour, je suis un modèle de langue et j'aime aider.", "fr").passed
    english_in_korean = fidelity_report("The capital of Korea is Seoul. 서울", "en")
    assert english_in_korean.dominant == "en" and [s.script for s in english_in_korean.foreign] == ["hangul"]


def test_nfd_text_is_normalised_first():
    nfd = unicodedata.normalize("NFD", "한국어 문장입니다")
    report = fidelity_report(nfd)
    assert report.passed and report.chars["hangul"] == 8


@pytest.mark.slow
@pytest.mark.parametrize("args,passed", [(["안녕하세요"], True), (["こんにちは"], False)])
def test_cli_json_shape_and_exit_code(args, passed):
    result = run_cli("fidelity", *args, "--json")
    data = json.loads(result.stdout)
    assert set(data) >= {"lang", "dominant", "pass", "chars", "hangul_ratio", "foreign"}
    assert data["pass"] is passed
    assert result.returncode == (0 if passed else 2)
    if not passed:
        assert data["foreign"][0]["kind"] == "script" and data["foreign"][0]["script"] == "kana"


@pytest.mark.slow
def test_cli_reads_standard_input():
    result = run_cli("fidelity", "-", "--json", input="이 model이 좋아요")
    assert json.loads(result.stdout)["foreign"][0]["text"] == "model"


# --- real Llama 3.1 / 3.2 answers from the seed data -------------------------------------------------------------
LLAMA32_PROMPT = "Large Language Model(LLM)이 무엇인지 한국어로 설명해 주세요."
LLAMA32_ANSWER = (
    "Large Language Model은 자연 언어 처리 tasks 에서 사용되는 인공지능 모델입니다. 이 모델은 대량의 텍스트 데이터로 "
    "training 을 수행하여 문장의 의미를 หมาย 합니다. LLM은 번역, 요약, 질의응답 등 다양한 ứng dụng 분야에서 "
    "exceptional performance 를_show한다. 모델의 크기는 보통 millions 또는 billions 개의 파라미터로 이루어지며, "
    "데이터가 많을수록 more 정확해집니다. 최근에는 entren화 된 작은 모델도 등장했습니다."
)


def _flagged_texts(text: str, prompt: str | None = None) -> list[str]:
    return [s.text for s in fidelity_report(text, "ko", prompt).foreign]


def test_llama31_japanese_answer_is_a_wrong_language_answer():
    report = fidelity_report("はい、理解できます。韓国語です。", "ko", prompt="한국어를 이해할 수 있나요?")
    assert report.dominant == "ja" and not report.passed
    assert {s.script for s in report.foreign} >= {"kana"}


def test_llama31_kana_after_a_gloss_is_flagged():
    text = "LLM(Large Language Model, LLMA)とは 대량의 텍스트로 학습한 언어 모델입니다."
    report = fidelity_report(text, "ko", prompt="LLM이 뭐야?")
    where = text.index("LLMA)とは")
    assert not report.passed
    assert any(s.start < where + len("LLMA)とは") and where < s.end for s in report.foreign)


@pytest.mark.parametrize("fragment", ["หมาย", "ứng dụng", "tasks", "entren", "training", "exceptional",
                                      "performance", "show", "millions", "billions", "more"])
def test_llama32_code_switches_and_intrusions_are_flagged(fragment):
    assert any(fragment in flagged for flagged in _flagged_texts(LLAMA32_ANSWER, LLAMA32_PROMPT))


def test_llama32_prompt_words_are_not_flagged():
    report = fidelity_report(LLAMA32_ANSWER, "ko", LLAMA32_PROMPT)
    flagged = " ".join(s.text for s in report.foreign)
    assert "Large" not in flagged and "Model" not in flagged and "LLM" not in flagged
    assert {"Large", "Language", "Model"} <= {s.text for s in report.exempt if s.why == "prompt"}
    # without the prompt, three capitalised words in a row still read as the name of a thing, never code-switching
    assert "Language" not in " ".join(_flagged_texts(LLAMA32_ANSWER))
    assert {s.why for s in fidelity_report(LLAMA32_ANSWER, "ko").exempt if s.text == "Language"} == {"name"}
