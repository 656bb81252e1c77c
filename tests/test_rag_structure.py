"""Real-document structure on documents these tests build: ruled tables (rows repeat their column headers,
headers carry across a page break), tables of contents (detected, ranked below content, never the only
citation), running headers/footers, heading attribution, HWP/HWPX sections and paragraphs, and bad HWP files."""

from __future__ import annotations

import json

import pytest
from conftest import run_cli
from rag_docs import hwpx_table, hwpx_text, make_hwp, make_hwpx, make_structured_pdf

from kollama.errors import KollamaError
from kollama.rag import api
from kollama.rag.answer import extractive_answer, without_toc_only
from kollama.rag.chunking import chunk_pages
from kollama.rag.documents import read_all_pages
from kollama.rag.embedder import default_embedder
from kollama.rag.retrieve import Hit, content_first


@pytest.fixture(scope="module")
def structured_pdf(tmp_path_factory):
    return make_structured_pdf(tmp_path_factory.mktemp("pdf") / "acme_terms.pdf")


def _rows(pages, number):
    return [line for block in pages[number - 1].blocks if block.kind == "table" for line in block.text.split("\n")]


def test_ruled_table_rows_repeat_headers_and_keep_wrapped_cells_whole(structured_pdf):
    _, pages = read_all_pages(structured_pdf, ocr_mode="never")
    rows = _rows(pages, 3)
    assert "요금제명: 슬림 7GB | 월정액: 45,000원 | 데이터: 7GB 제공 후 최대 400Kbps 속도로 이용" in rows
    assert "요금제명: 프리미엄 | 월정액: 130,000원 | 데이터: 무제한" in rows
    assert not any(line.startswith("요금제명: 요금제명") for line in rows)  # the header row is not a data row


def test_table_continued_on_the_next_page_keeps_its_headers_and_caption(structured_pdf):
    _, pages = read_all_pages(structured_pdf, ocr_mode="never")
    assert "국가: 네팔 | 음성 발신(원/초): 42.90 | 문자(건당): 330" in _rows(pages, 5)
    chunks = chunk_pages(pages, default_embedder().count_tokens)
    nepal = next(c for c in chunks if "네팔" in c.text)
    assert nepal.page == 5 and "국가별 로밍 요율 표" in nepal.heading


def test_running_headers_and_page_numbers_leave_the_text_but_stay_as_metadata(structured_pdf):
    _, pages = read_all_pages(structured_pdf, ocr_mode="never")
    for page in pages[1:]:
        assert "ACME 소식" not in page.text and "2024-4월호" not in page.text
        assert "ACME 소식 | 2024-4월호" in page.running and str(page.number) in page.running
    assert "45,000원" in pages[2].text  # numbers inside content are kept


def test_toc_page_is_detected_and_headings_come_from_the_page_or_earlier(structured_pdf):
    _, pages = read_all_pages(structured_pdf, ocr_mode="never")
    assert [p.kind for p in pages] == ["toc", "content", "content", "content", "content"]
    chunks = chunk_pages(pages, default_embedder().count_tokens)
    assert all(c.toc == (c.page == 1) for c in chunks)
    assert all(not c.heading for c in chunks if c.page == 1)  # TOC lines never become headings
    damages = next(c for c in chunks if "8배" in c.text)
    assert damages.page == 5 and damages.heading == "제4조 (손해배상)"
    purpose = next(c for c in chunks if "이용조건과 절차" in c.text)
    assert purpose.heading == "제1조 (목적)"  # not the TOC's last title, not a later page's heading


def _hit(page: int, toc: bool, text: str = "본문") -> Hit:
    return Hit(f"id{page}", 1.0 / page, "d.pdf", "문서", page, "", text, "doc", toc=toc)


def test_content_ranks_above_toc_and_a_toc_page_is_never_the_only_citation():
    hits = [_hit(1, True, "제2조 (요금제) ···· 3"), _hit(3, False, "요금제명: 슬림 7GB | 월정액: 45,000원"), _hit(2, False)]
    ranked = content_first(hits)
    assert [h.page for h in ranked] == [3, 2, 1]
    assert [h.page for h in without_toc_only([hits[0]], hits)] == [3]
    assert [h.page for h in without_toc_only([hits[0]], [hits[0]])] == [1]  # nothing else retrieved: TOC is all there is
    text, citations = extractive_answer("슬림 7GB 요금제 월정액은?", ranked)
    assert "45,000원" in text and all(not c["toc"] for c in citations)


def test_extractive_ask_quotes_the_content_page_not_the_toc(structured_pdf, tmp_path):
    api.add([structured_pdf], collection="toc", store=tmp_path)
    result = api.ask("제4조 손해배상은 몇 배를 배상하나요?", extractive=True, collection="toc", store=tmp_path)
    assert "8배" in result["answer"] and "p.5" in result["answer"]
    assert all(c["page"] != 1 for c in result["citations"])
    hits = api.search("제3조 해외 로밍 요금", k=20, collection="toc", store=tmp_path)["hits"]
    assert hits[0]["page"] != 1 and any(h["page"] == 1 for h in hits)  # TOC still searchable, just lower
    api.close_all()


def test_hwpx_sections_paragraphs_tables_and_citations(tmp_path):
    path = make_hwpx(tmp_path / "transfer.hwpx", [
        [hwpx_text("□ 기본 정보"), hwpx_text("환승센터 표준은 ", "2023년 5월", "에 제정되었다.")],
        [hwpx_text("□ 항목"), hwpx_table([["항목명", "설명"], ["위도", "WGS84 위도 좌표"], ["경도", "WGS84 경도 좌표"]])],
    ], title="환승센터 데이터 표준")
    info, pages = read_all_pages(path)
    assert info.title == "환승센터 데이터 표준" and info.unit == "section" and len(pages) == 2
    assert pages[0].blocks[1].text == "환승센터 표준은 2023년 5월에 제정되었다."  # runs of one paragraph joined
    table = next(b for b in pages[1].blocks if b.kind == "table")
    assert table.paragraph == 2 and "항목명: 위도 | 설명: WGS84 위도 좌표" in table.text
    api.add([path], collection="hwpx", store=tmp_path)
    result = api.ask("환승센터 표준은 언제 제정되었나요?", extractive=True, collection="hwpx", store=tmp_path)
    assert "[환승센터 데이터 표준 §1 ¶2]" in result["answer"] and result["citations"][0]["paragraph"] == 2
    api.close_all()


def test_hwpx_merged_cells_title_rows_and_cell_paragraphs(tmp_path):
    """Cells sit at their own column after a merged one, a form's title row is its caption (not a label
    repeated on every row), a cell of several paragraphs keeps them apart, and a box of prose is read as
    paragraphs with its headings."""
    long_text = "이 건 심판청구는 심리결과 청구주장이 이유 없으므로 기각한다. " * 12
    path = make_hwpx(tmp_path / "forms.hwpx", [[
        hwpx_table([[(["『제2회 음악축제』 입찰참가 신청서"], 3)],
                    ["구분", "항목", "내용"],
                    [(["행사 개요"], 2), "10월 21일 개최"],
                    ["장소", "무대", (["국립묘지", "메인무대"], 1)]]),
        hwpx_table([["[주 문]"], [long_text], ["[이 유]"], ["1. 처분개요"], ["가. 청구법인은 광업을 영위한다."]]),
    ]])
    _, pages = read_all_pages(path)
    table = next(b for b in pages[0].blocks if b.kind == "table")
    assert table.caption == "『제2회 음악축제』 입찰참가 신청서"
    assert table.text.split("\n") == ["구분: 행사 개요 | 내용: 10월 21일 개최", "구분: 장소 | 항목: 무대 | 내용: 국립묘지 메인무대"]
    headings = [b.text for b in pages[0].blocks if b.kind == "heading"]
    assert headings == ["[주 문]", "[이 유]", "1. 처분개요"]
    chunks = chunk_pages(pages, default_embedder().count_tokens)
    assert any(c.heading.endswith("[주 문]") and "기각한다" in c.text for c in chunks)


@pytest.mark.slow
def test_bad_hwp_files_get_one_line_each_and_the_rest_of_the_batch_is_ingested(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    make_hwp(docs / "good.hwp", ["□ 축제 개요", "가을밤 음악축제는 10월 21일 국립묘지에서 열린다.", "예산은 2억 7천만원이다."])
    make_hwp(docs / "locked.hwp", ["비밀"], flags=0x02)
    make_hwp(docs / "distribution.hwp", ["배포용 본문"], flags=0x04)
    good = (docs / "good.hwp").read_bytes()
    (docs / "truncated.hwp").write_bytes(good[:3000])
    (docs / "renamed.hwp").write_bytes(b"%PDF-1.4 not really")
    make_hwpx(docs / "ok.hwpx", [[hwpx_text("HWPX 문서의 본문입니다.")]])
    result = run_cli("rag", "add", str(docs), "--store", str(tmp_path / "s"), "--json")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 4 and len(result.stderr.strip().splitlines()) == 4
    assert any("locked.hwp" in e and "password" in e for e in errors)
    assert any("distribution.hwp" in e and "배포용" in e for e in errors)
    assert any("truncated.hwp" in e and "damaged" in e for e in errors)
    assert any("renamed.hwp" in e and "not an HWP" in e for e in errors)
    status = {f["file"]: f["status"] for f in json.loads(result.stdout)["files"]}
    assert status["good.hwp"] == "added" and status["ok.hwpx"] == "added"


def test_doctor_reports_for_hwp_what_it_reports_for_pdf(tmp_path, structured_pdf):
    hwp = make_hwp(tmp_path / "notice.hwp", ["□ 안내", "연차휴가는 15일이다.", "연차 휴가는 다음 해로 이월된다."])
    pdf_report, hwp_report = api.doctor(structured_pdf), api.doctor(hwp)
    assert set(pdf_report["criteria"]) == set(hwp_report["criteria"])
    assert hwp_report["unit"] == "section" and hwp_report["pages"][0]["chars"] > 10
    assert pdf_report["criteria"]["toc"]["pages"] == [1] and "ACME 소식 | 2024-4월호" in pdf_report["criteria"]["running_lines"]["lines"]
    with pytest.raises(KollamaError, match="배포용"):
        api.doctor(make_hwp(tmp_path / "dist.hwp", ["x"], flags=0x04))


def test_blank_forms_are_marked_and_ranked_below_the_content_they_crowd_out():
    from kollama.rag.pages import Block, Page
    from kollama.rag.text_quality import measure

    body = [Block("heading", "1. 행사개요", paragraph=1), Block("text", "행사명: 제2회 가을밤의 음악축제\n행사장소: 국립4·19민주묘지", paragraph=2)]
    forms = [Block("heading", "【서식 1】", paragraph=3), Block("heading", "입찰 참가 신청서", paragraph=4),
             Block("text", "입찰건명: 제2회 가을밤의 음악축제 행사 대행용역", paragraph=5),
             Block("text", "업체명 :\n대표자 : (인)\n강북구청장 귀하", paragraph=6),
             Block("heading", "[별지 제2호 서식]", paragraph=7), Block("text", "서약서 본문은 빈칸이 없다.", paragraph=8)]
    appendix = [Block("heading", "[별표 1] 평가기준", paragraph=9), Block("text", "성명 : 홍길동 (인)", paragraph=10)]
    pages = [Page(1, body + forms + appendix, measure("x" * 60), unit="section")]
    chunks = chunk_pages(pages, default_embedder().count_tokens)
    marked = {c.heading: c.form for c in chunks}
    assert marked["1. 행사개요"] is False
    # the whole form is marked once any part of it leaves blanks, its title and filled-in lines too
    assert all(form for heading, form in marked.items() if heading.startswith("【서식 1】")), marked
    assert marked["[별지 제2호 서식]"] is False  # a form heading without blanks to fill in stays content
    assert marked["[별표 1] 평가기준"] is False  # an appendix table is not a form

    def hit(n: int, score: float, form: bool) -> Hit:
        return Hit(f"id{n}", score, "rfp.hwpx", "rfp", 1, "", f"text {n}", "doc", paragraph=n, form=form)

    hits = [hit(1, 0.77, True), hit(2, 0.61, True), hit(3, 0.44, False), hit(4, 0.33, False), hit(5, 0.1, False)]
    assert [h.paragraph for h in content_first(hits)] == [3, 4, 1, 2, 5]  # forms below content, not below everything
    assert [h.paragraph for h in content_first([hit(6, 0.5, False), hit(7, 0.4, False)])] == [6, 7]


def test_a_model_code_named_in_the_question_puts_its_own_chunks_first():
    from kollama.rag.retrieve import named_codes_first

    def hit(n: int, title: str, text: str) -> Hit:
        return Hit(f"id{n}", 1.0 / n, f"{n}.pdf", title, 1, "설치", text, "doc")

    hits = [hit(1, "AP-500 사용설명서", "벽에서 50cm 띄워 설치"), hit(2, "AP-300 사용설명서", "벽에서 30cm 띄워 설치"),
            hit(3, "안내", "ap300 필터 교체")]
    assert [h.doc for h in named_codes_first("AP-300은 벽에서 얼마나 띄우나요?", hits)] == ["2.pdf", "3.pdf", "1.pdf"]
    assert named_codes_first("벽에서 얼마나 띄우나요?", hits) == hits  # no code: unchanged
    assert named_codes_first("AP-900은 벽에서 얼마나?", hits) == hits  # no chunk names it: unchanged
