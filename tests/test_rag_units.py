"""The small parts of `kollama rag`: text-layer quality, Korean BM25 terms, chunking, tables, doctor checks."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from kollama.errors import KollamaError
from kollama.rag.chunking import Chunk, _pieces, chunk_pages
from kollama.rag.doctor import spelling_variants
from kollama.rag.documents import read_all_pages
from kollama.rag.pages import Block, Page, join_spaced_labels, table_rows_as_text
from kollama.rag.structure import outline_runs_are_text
from kollama.rag.embedder import default_embedder
from kollama.rag.ingest import expand_paths
from kollama.rag.sparse import document_vector, kiwi_terms, term_id, whitespace_terms
from kollama.rag.text_quality import measure

KOREAN = "서울시는 2025년까지 자전거 전용도로를 100킬로미터 더 만들 계획이다. 헬멧 착용률은 15퍼센트에 머물렀다."


def test_text_quality_flags_garbage_nfd_missing_spaces_and_scans():
    clean = measure(KOREAN)
    assert not clean.unusable and not clean.nfd and not clean.missing_spaces and clean.chars > 50
    assert measure("(cid:12)(cid:40)(cid:7)" * 10 + "가나").unusable
    assert measure("\ue012\ue013\ue014" * 30 + "서울").unusable
    assert measure(unicodedata.normalize("NFD", KOREAN)).nfd
    assert measure(KOREAN.replace(" ", "")).missing_spaces
    assert measure("").needs_ocr(has_images=True) and not measure("제목만 있는 짧은 쪽").needs_ocr(has_images=False)


def test_kiwi_terms_match_across_particles_compounds_and_model_codes():
    assert "서울" in kiwi_terms("서울은 크다") and "서울" in kiwi_terms("서울에서")
    assert "서울은" in whitespace_terms("서울은 크다") and "서울" not in whitespace_terms("서울은 크다")
    assert "연차휴가" in kiwi_terms("연차휴가는 15일이다") and "연차" in kiwi_terms("남은 연차를 쓴다")
    assert "ap-500" in kiwi_terms("AP-500 설명서")
    # a prefix or a suffix written onto a noun: Kiwi cuts '광업권' into '광업'+'권' in one sentence and keeps it
    # whole in another, and drops the prefix of '재조사'; the whole word is a term in both places
    assert {"광업권", "재조사"} <= set(kiwi_terms("광업권에 대해 재조사하라고")) & set(kiwi_terms("광업권(등록번호)을 재조사하고"))
    assert {"쟁점광업권", "광업권", "비과세", "요금제"} <= set(kiwi_terms("쟁점광업권의 비과세 요금제"))
    assert kiwi_terms(unicodedata.normalize("NFD", "헬멧 착용률")) == kiwi_terms("헬멧 착용률")
    indices, values = document_vector(["서울", "서울", "부산"])
    weights = dict(zip(indices, values))
    assert weights[term_id("서울")] > weights[term_id("부산")] > 0


def test_chunks_respect_the_budget_overlap_pages_and_headings():
    embedder = default_embedder()
    sentences = [f"{n}번째 규정에 따라 직원은 매월 보고서를 제출해야 한다." for n in range(1, 13)]
    pages = [
        Page(1, [Block("heading", "제1장 총칙"), Block("heading", "제2조 보고"), Block("text", " ".join(sentences[:8]))],
             measure("x" * 60)),
        Page(2, [Block("text", " ".join(sentences[8:]))], measure("x" * 60)),
    ]
    chunks = chunk_pages(pages, embedder.count_tokens, budget=60, overlap=20)
    assert len(chunks) >= 4
    assert all(embedder.count_tokens(c.text) <= 60 + 20 for c in chunks)
    assert all(c.heading == "제1장 총칙 > 제2조 보고" for c in chunks)  # carried over to page 2
    assert {c.page for c in chunks} == {1, 2} and all(len({c.page}) == 1 for c in chunks)
    first, second = chunks[0].text.split("\n"), chunks[1].text.split("\n")
    assert first[-1] == second[0]  # the overlap repeats the last sentence
    assert chunks[0].indexed_text("보고 규정").startswith("보고 규정 > 제1장 총칙 > 제2조 보고\n")


def test_a_long_unit_is_cut_into_pieces_within_the_budget_with_few_tokenizer_calls():
    embedder = default_embedder()
    calls = []

    def count(text: str) -> int:
        calls.append(text)
        return embedder.count_tokens(text)

    row = " | ".join(f"항목{n}: 월정액 {n * 1000}원 데이터 {n}GB 제공" for n in range(60))
    sentence = " ".join(f"단어{n}" for n in range(400))
    for text in (row, sentence, "가" * 900):
        calls.clear()
        pieces = _pieces(text, count, 100)
        assert len(pieces) > 2 and all(tokens <= 100 for _, tokens in pieces)
        assert "".join(piece for piece, _ in pieces).replace(" | ", "").replace(" ", "") == text.replace(" | ", "").replace(" ", "")
        assert len(calls) <= 3 * len(pieces)  # not one call per cell or word


def test_spread_labels_outlines_and_headings_in_hwp_text():
    assert join_spaced_labels("가. 행 사 명: 제2회 축제\n나. 장 소: 국립묘지\n강 북 구 청") == "가. 행사명: 제2회 축제\n나. 장소: 국립묘지\n강북구청"
    assert join_spaced_labels("그 외 할 수 있는 것") == "그 외 할 수 있는 것"
    outline = [Block("heading", text, paragraph=2) for text in
               ("■ 제안서 목차", "제1장 운영 계획", "1. 기본전략", "제2장 조성 계획", "제4장 행사장 운영 계획")]
    page = Page(1, [Block("heading", "아. 제안서 목차", paragraph=1), Block("text", "목차를 참고하여 작성한다.", paragraph=1),
                    *outline, Block("heading", "【서식 1】", paragraph=3), Block("text", "입찰참가 접수 확인서", paragraph=3)],
                measure("x" * 60), unit="section")
    outline_runs_are_text(page)
    assert [b.kind for b in page.blocks[2:7]] == ["text"] * 5 and page.blocks[7].kind == "heading"
    chunks = chunk_pages([page], default_embedder().count_tokens)
    assert chunks[-1].heading == "【서식 1】"  # a form starts a chapter of its own, not '제4장 ...'
    chunk = Chunk(0, 1, "1. 행사개요", "1. 행사개요\n다. 행사장소: 국립묘지", paragraph=8)
    assert chunk.indexed_text("축제 제안요청서") == "축제 제안요청서 > 1. 행사개요\n다. 행사장소: 국립묘지"


def test_tables_become_readable_rows():
    rows = [["구분", "휴가일수"], ["본인 결혼", "5일"], ["자녀 결혼", "1일"]]
    assert table_rows_as_text(rows) == ["구분: 본인 결혼 | 휴가일수: 5일", "구분: 자녀 결혼 | 휴가일수: 1일"]


def test_markdown_headings_tables_and_cp949_text(tmp_path):
    md = tmp_path / "guide.md"
    md.write_text("# 사용 안내\n\n## 설치\n\n전원을 연결한다.\n\n| 모델 | 면적 |\n|---|---|\n| A | 30 |\n", encoding="utf-8")
    info, pages = read_all_pages(md)
    kinds = [b.kind for b in pages[0].blocks]
    assert info.title == "사용 안내" and kinds == ["heading", "heading", "text", "table"]
    assert pages[0].blocks[-1].text == "모델: A | 면적: 30"
    legacy = tmp_path / "legacy.txt"
    legacy.write_bytes("옛 인코딩으로 저장한 문서이다.".encode("cp949"))
    assert "옛 인코딩" in read_all_pages(legacy)[1][0].text


def test_spelling_variants_are_found():
    variants = spelling_variants("연차 휴가는 15일이다. 연차휴가를 쓰려면 Wi-Fi 또는 WiFi 로 접속한다.")
    assert ["연차 휴가", "연차휴가"] in variants and ["Wi-Fi", "WiFi"] in variants
    assert spelling_variants("연차휴가는 15일이다. 남은 연차휴가는 이월한다.") == []


def test_paths_expand_and_bad_ones_fail_clearly(tmp_path):
    (tmp_path / "a.txt").write_text("가", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.md").write_text("나", encoding="utf-8")
    (tmp_path / "sub" / "c.png").write_bytes(b"\x89PNG")
    assert {p.name for p in expand_paths([tmp_path])} == {"a.txt", "b.md"}
    assert [p.name for p in expand_paths([str(tmp_path / "*.txt")])] == ["a.txt"]
    with pytest.raises(KollamaError, match="no such file"):
        expand_paths([tmp_path / "missing.pdf"])
    with pytest.raises(KollamaError, match="no files match"):
        expand_paths([str(tmp_path / "*.pdf")])
    with pytest.raises(KollamaError, match="unsupported file type"):
        read_all_pages(Path(tmp_path / "sub" / "c.png"))


def test_repeated_chunk_texts_are_embedded_once_shortest_first_beside_the_bm25_work(tmp_path):
    import threading

    import numpy as np

    from kollama.rag.ingest import Ingester
    from kollama.rag.store import Store, StoreLocation

    class Counting:
        name, dim, batch_size = "counting", 4, 2

        def __init__(self):
            self.calls: list[list[str]] = []
            self.threads: set[str] = set()

        def embed_passages(self, texts):
            self.calls.append(list(texts))
            self.threads.add(threading.current_thread().name)
            return np.array([[len(t), 1.0, 0.0, 0.0] for t in texts], dtype=np.float32)

        def count_tokens(self, text):
            return len(text.split())

    same = "보험 가입 후 24개월이 지나면 서비스는 자동으로 해지된다."
    pages = "\f".join(["# 부가서비스\n" + text for text in
                        [same, "분실 보상은 연 2회까지 받을 수 있다.", same, same, "파손 보상의 자기부담금은 수리비의 30%이다."]])
    doc = tmp_path / "terms.md"
    doc.write_text(pages, encoding="utf-8")
    embedder = Counting()
    with Store(StoreLocation("dedup", tmp_path / "store")) as store:
        result = Ingester(store, embedder).add_file(doc)
        assert result.status == "added" and result.chunks == 5, result
        embedded = [text for call in embedder.calls for text in call]
        assert len(embedded) == 3 == len(set(embedded))  # five chunks, three distinct texts
        assert [len(t) for t in embedded] == sorted(len(t) for t in embedded)  # shortest first: little padding
        assert all(len(call) <= 2 for call in embedder.calls)
        assert embedder.threads and threading.current_thread().name not in embedder.threads
        points, _ = store.qdrant.scroll(store.name, limit=10, with_payload=True, with_vectors=True)
        assert sorted(p.payload["page"] for p in points) == [1, 2, 3, 4, 5]  # each chunk keeps its point and page
        repeated = [p for p in points if p.payload["text"].endswith(same)]
        assert len(repeated) == 3 and len({tuple(p.vector["dense"]) for p in repeated}) == 1
