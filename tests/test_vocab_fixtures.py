"""The fixture builder: real vocabularies from llama-cpp-python's source archive in loadable tiny models."""

from __future__ import annotations

import pytest

from support.vocab_models import VOCABULARIES, chat_template, vocab_model, vocab_only

KOREAN = ["한국어를 이해해? 서울은 대한민국의 수도입니다.", "LLM과 API를 쓰는 `print()` 예제 (due diligence) 😀",
          "ㄱㄴㄷ 뷁 똠양꿍 2024년 3.5kg"]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(VOCABULARIES))
def test_each_fixture_loads_and_tokenizes_korean_like_the_vocab_only_file(name):
    from kollama.engines.llamacpp import load_llama

    model = load_llama(str(vocab_model(name)), 256, n_threads=1)
    reference = load_llama(str(vocab_only(name)), 256, vocab_only=True)
    try:
        assert model.n_vocab() == reference.n_vocab()
        for text in KOREAN:
            tokens = model.tokenize(text.encode(), add_bos=False, special=True)
            assert tokens == reference.tokenize(text.encode(), add_bos=False, special=True)
            # SentencePiece vocabularies (Llama 2, Phi-3) write their word-start space before the first word
            assert model.detokenize(tokens).decode().removeprefix(" ") == text
        out = model.create_completion(model.tokenize(KOREAN[0].encode()), max_tokens=4, temperature=1.0, seed=3)
        assert out["usage"]["completion_tokens"] >= 1  # random weights, but a real forward pass
    finally:
        model.close()
        reference.close()


@pytest.mark.slow
def test_a_fixture_can_carry_metas_chat_template():
    from gguf import GGUFReader

    template = chat_template("meta-llama-Llama-3.2-3B-Instruct")
    assert "strftime_now" in template
    reader = GGUFReader(str(vocab_model("llama-bpe", template="meta-llama-Llama-3.2-3B-Instruct")))
    field = reader.fields["tokenizer.chat_template"]
    assert bytes(field.parts[field.data[0]]).decode() == template
