"""`kollama rag` on the real documents of ../shared/realdata (skipped when absent): KT's 5G terms (tables, TOC,
page numbers), three SPRi AI Briefs (Hancom PDF: TOC, running headers) and seven HWP/HWPX government files,
with the questions of tests/data/rag_real_qa.jsonl and rag_real_hwp_qa.jsonl."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.realdata import realdata

from kollama.rag import api
from kollama.rag.chunking import chunk_pages
from kollama.rag.documents import read_all_pages
from kollama.rag.embedder import default_embedder

DATA = Path(__file__).parent / "data"
KT = "KT_5G_서비스_이용약관.pdf"

pytestmark = [pytest.mark.realdata, pytest.mark.slow]  # reading 331 pages takes about 20 s on a quiet machine


@pytest.fixture(scope="module")
def kt_pages():
    return read_all_pages(realdata("pdfs", KT), ocr_mode="never")


def test_kt_table_rows_toc_and_page_numbers(kt_pages):
    _, pages = kt_pages
    assert {2, 3, 4} <= {p.number for p in pages if p.kind == "toc"}
    assert not {p.number for p in pages if p.kind == "toc"} & {5, 72, 220}
    assert all(str(p.number) in p.running for p in pages[4:])  # the page number at the top of every page
    slim = pages[71].text
    assert "5G 슬림 7GB | 45,000원" in slim
    assert "국가: 네팔 |" in pages[219].text and "42.90" in pages[219].text  # headers carried from p.219
    nepal = next(line for line in pages[219].text.split("\n") if line.startswith("국가: 네팔"))
    assert "한국/제3국: 42.90" in nepal


def test_kt_headings_never_come_from_a_later_page(kt_pages):
    _, pages = kt_pages
    chunks = chunk_pages(pages, default_embedder().count_tokens)
    seen: dict[str, int] = {}
    for page in pages:
        for block in page.blocks:
            if block.kind == "heading":
                seen.setdefault(block.text, page.number)
    for chunk in chunks:
        for part in (chunk.heading.split(" > ") if chunk.heading else []):
            assert seen.get(part, 0) <= chunk.page, (chunk.page, chunk.heading)
    roaming = next(c for c in chunks if c.page == 217)
    assert roaming.heading.startswith("<별표 4>")  # the appendix of p.216, not chapter 14 of p.36


def test_spri_and_hwp_recall(tmp_path):
    spri = sorted(p for p in realdata("pdfs").glob("*.pdf") if p.name != KT)
    hwp = sorted(realdata("hwp").glob("*.hwp*"))
    report = api.add([*spri, *hwp], collection="real", store=tmp_path, ocr="never")
    assert all(f["status"] == "added" for f in report["files"]), report
    questions = [q for q in map(json.loads, (DATA / "rag_real_qa.jsonl").read_text().splitlines()) if q["doc"] != KT]
    qa = tmp_path / "spri.jsonl"
    qa.write_text("\n".join(json.dumps(q, ensure_ascii=False) for q in questions), encoding="utf-8")
    pdf = api.evaluate(qa, k=5, html=None, collection="real", store=tmp_path)
    assert pdf["n"] == 30 and pdf["recall@5"] == 1.0 and pdf["recall@1"] >= 0.9, pdf["modes"]
    hwp_report = api.evaluate(DATA / "rag_real_hwp_qa.jsonl", k=5, html=None, collection="real", store=tmp_path)
    # target 0.9; measured 24/26 with the KT terms also in the collection: the tax ruling's order (`[주 문]`) is
    # not retrieved, nor the RFP's presentation time, a passage without the festival's name
    assert hwp_report["n"] >= 26 and hwp_report["recall@5"] >= 0.9, hwp_report["per_question"]
    toc_question = "G7이 히로시마 AI 프로세스를 통해 AI 기업 대상 국제 행동강령에 합의"  # a TOC line, word for word
    answer = api.ask(toc_question, extractive=True, collection="real", store=tmp_path)
    assert answer["citations"] and all(c["page"] != 2 and not c["toc"] for c in answer["citations"]), answer
    api.close_all()
