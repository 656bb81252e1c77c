"""`kollama rag` on the Korean test corpus: retrieval quality per mode, OCR and NFD pages, ask, doctor, eval."""

from __future__ import annotations

import json
import unicodedata

import pytest
from support.cli import run_cli
from rag_corpus import build_corpus, qa_items, write_qa

from kollama.rag import api

pytestmark = pytest.mark.slow  # ingests an OCR'd corpus and answers with a model


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """The six corpus PDFs ingested once into a store of their own."""
    folder = tmp_path_factory.mktemp("rag-corpus")
    build_corpus(folder / "docs")
    store = folder / "store"
    report = api.add([folder / "docs"], collection="corpus", store=store)
    yield {"folder": folder, "store": store, "report": report}
    api.close_all()


def test_every_corpus_file_is_ingested_and_only_the_scan_is_ocrd(corpus):
    files = {f["file"]: f for f in corpus["report"]["files"]}
    assert len(files) == 6 and all(f["status"] == "added" for f in files.values()), files
    assert files["meeting_minutes.pdf"]["ocr_pages"] == [2]
    assert all(f["ocr_pages"] == [] for name, f in files.items() if name != "meeting_minutes.pdf")


def test_hybrid_retrieval_beats_whitespace_bm25_and_dense(corpus, tmp_path):
    qa = write_qa(tmp_path / "qa.jsonl")
    report = api.evaluate(qa, k=5, html=tmp_path / "eval.html", collection="corpus", store=corpus["store"])
    modes = report["modes"]
    assert report["n"] == len(qa_items()) >= 40
    assert report["recall@5"] == 1.0
    assert report["recall@1"] >= 0.85
    assert report["recall@1"] >= modes["bm25-whitespace"]["recall@1"] + 0.1, modes
    assert report["recall@1"] >= modes["dense"]["recall@1"] + 0.04, modes
    assert report["mrr"] > max(modes["bm25-whitespace"]["mrr"], modes["dense"]["mrr"]), modes
    html = (tmp_path / "eval.html").read_text(encoding="utf-8")
    assert "bm25-kiwi" in html and qa_items()[0]["question"] in html


def test_scanned_page_is_answered_from_ocr_text(corpus):
    hits = api.search("하노이 지사는 언제 개설하나요?", k=3, collection="corpus", store=corpus["store"])["hits"]
    assert (hits[0]["doc"], hits[0]["page"]) == ("meeting_minutes.pdf", 2)
    assert "하노이" in hits[0]["text"] and "2025" in hits[0]["text"]


@pytest.mark.parametrize("mode", ["hybrid", "bm25"])
def test_nfd_page_is_found_by_an_nfc_query(corpus, mode):
    query = unicodedata.normalize("NFC", "헬멧 착용률")
    hits = api.search(query, k=3, mode=mode, collection="corpus", store=corpus["store"])["hits"]
    assert (hits[0]["doc"], hits[0]["page"]) == ("bike_report.pdf", 2)
    assert unicodedata.is_normalized("NFC", hits[0]["text"]) and "헬멧" in hits[0]["text"]


def test_similar_documents_are_kept_apart(corpus):
    for company, doc, amount in [("누리소프트", "nuri_rules.pdf", "150만원"), ("한빛전자", "hanbit_rules.pdf", "100만원")]:
        hit = api.search(f"{company} 본인 결혼 경조금", k=1, collection="corpus", store=corpus["store"])["hits"][0]
        assert (hit["doc"], hit["page"]) == (doc, 2)
        assert "본인 결혼 | 휴가일수" in hit["text"] and amount in hit["text"]  # the table survived as readable rows


def test_extractive_ask_cites_the_right_page(corpus):
    for item in qa_items()[::5]:
        result = api.ask(item["question"], extractive=True, collection="corpus", store=corpus["store"])
        first = result["citations"][0]
        assert (first["doc"], first["page"]) == (item["doc"], item["page"]), (item, result["answer"])
        assert f"p.{item['page']}]" in result["answer"]
        assert first["chunk_id"] in {c["chunk_id"] for c in result["chunks"]}


def test_generative_ask_answers_in_korean_and_cites_its_source(corpus, smollm2):
    item = {"question": "AP-300에 E3 오류가 뜨면 어떻게 하나요?", "doc": "ap300_manual.pdf", "page": 2}
    result = api.ask(item["question"], k=1, engine=smollm2, max_tokens=48, collection="corpus", store=corpus["store"])
    assert result["mode"] == "generative" and result["response"]["lock"] == "script"
    assert [(c["doc"], c["page"]) for c in result["citations"]] == [(item["doc"], item["page"])]
    assert result["answer"].endswith("[맑은숨 공기청정기 AP-300 사용설명서 p.2]")
    body = result["answer"].rsplit("[", 1)[0]
    assert not any("a" <= ch.lower() <= "z" for ch in body.replace("AP", "").replace("E", "")), body


def test_ask_says_it_does_not_know_when_nothing_is_relevant(corpus):
    result = api.ask("화성에서 가장 높은 산의 이름은 무엇인가요?", collection="corpus", store=corpus["store"])
    assert result["relevant"] is False and "모릅니다" in result["answer"] and result["citations"] == []


def test_doctor_reports_scan_nfd_and_structure(corpus):
    docs = corpus["folder"] / "docs"
    scan = api.doctor(docs / "meeting_minutes.pdf")
    assert [p["needs_ocr"] for p in scan["pages"]] == [False, True]
    assert scan["criteria"]["ocr"]["status"] == "warn" and scan["criteria"]["ocr"]["pages"] == [2]
    assert scan["criteria"]["scan_resolution"]["status"] == "warn"  # the scan is 200 dpi
    assert scan["metadata"]["title"] == "2024년 3분기 경영전략회의 회의록" and scan["metadata"]["author"] == "기획팀"
    nfd = api.doctor(docs / "bike_report.pdf")
    assert nfd["criteria"]["text_layer"]["pages"] == [2]
    assert any("NFD" in issue for issue in nfd["pages"][1]["issues"])
    assert nfd["criteria"]["structure"]["tables"] == 1
    for criterion in nfd["criteria"].values():
        assert criterion["status"] in ("ok", "warn", "fail", "info") and criterion["suggestion"]


def test_cli_search_ask_doctor_and_eval(corpus, tmp_path):
    api.close_all()  # the embedded store admits one process at a time
    common = ["--collection", "corpus", "--store", str(corpus["store"])]
    found = run_cli("rag", "search", "AP-500 무선 연결 실패", "--json", *common)
    assert found.returncode == 0, found.stderr
    hit = json.loads(found.stdout)["hits"][0]
    assert (hit["doc"], hit["page"], hit["heading"]) == ("ap500_manual.pdf", 2, "3. 오류 코드와 필터")
    asked = run_cli("rag", "ask", "누리소프트 육아휴직은 최대 몇 년인가요?", "--extractive", *common)
    assert asked.returncode == 0 and "[누리소프트 취업규칙 p.3]" in asked.stdout, asked.stderr
    doctor = run_cli("rag", "doctor", str(corpus["folder"] / "docs" / "hanbit_rules.pdf"), "--json")
    report = json.loads(doctor.stdout)
    assert set(report) == {"file", "unit", "pages", "metadata", "criteria"} and len(report["pages"]) == 3
    evaluated = run_cli("rag", "eval", str(write_qa(tmp_path / "qa.jsonl")), "--json", "--html", str(tmp_path / "r.html"), *common)
    data = json.loads(evaluated.stdout)
    assert {"n", "recall@1", "recall@5", "mrr", "ndcg@10", "modes", "per_question"} <= set(data)
    assert set(data["modes"]) == {"bm25-whitespace", "bm25-kiwi", "dense", "hybrid"}
    assert (tmp_path / "r.html").exists()
