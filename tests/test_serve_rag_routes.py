"""RAG over HTTP (upload safety, status, search, ask) and routing a model name to an `openai:` backend."""

from __future__ import annotations

import time

import httpx
import openai
import pytest
from serve_server import Server

pytestmark = pytest.mark.slow  # starts kollama serve


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("serve")
    report = folder / "reports" / "smollm2-vs-gemma3"
    report.mkdir(parents=True)
    (report / "report.html").write_text("<html><body>비교 보고서</body></html>", encoding="utf-8")
    (report / "results.json").write_text('{"suite": "tiny", "models": ["smollm2", "gemma3"]}', encoding="utf-8")
    # a collection of its own: other tests in the session upload into the default one
    with Server("--model", "smollm2", "--max-tokens", "64", "--no-log", "--reports", str(folder / "reports"),
                "--collection", f"serve-test-{folder.name}",
                log=folder / "rag.log") as s:
        yield s


def test_saved_compare_reports_are_listed_and_served(server):
    reports = httpx.get(server.url + "/v1/reports", timeout=60).json()["reports"]
    assert [(r["name"], r["suite"]) for r in reports] == [("smollm2-vs-gemma3", "tiny")]
    page = httpx.get(server.url + f"/v1/reports/{reports[0]['id']}", timeout=60)
    assert page.status_code == 200 and "비교 보고서" in page.text
    assert httpx.get(server.url + "/v1/reports/..%2F..%2Fetc").status_code == 404


def _pdf_bytes() -> bytes:
    import io

    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(TTFont("Nanum", "/usr/share/fonts/truetype/nanum/NanumGothic.ttf"))
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer)
    pdf.setTitle("바다호텔 이용 안내")
    for lines in (["제1장 객실", "체크인은 오후 3시부터 가능합니다."], ["제2장 조식", "조식은 오전 7시부터 10시까지 2층 식당에서 제공합니다."]):
        pdf.setFont("Nanum", 14)
        for i, line in enumerate(lines):
            pdf.drawString(60, 780 - 28 * i, line)
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def test_empty_collection_is_a_409_not_a_500(server):
    response = httpx.post(server.url + "/v1/rag/ask", json={"question": "조식은 몇 시인가요?"}, timeout=60)
    assert response.status_code == 409 and "upload" in response.json()["error"]["message"]


def test_uploads_are_checked_and_stored_inside_the_store(server, kollama_home):
    url = server.url + "/v1/rag/documents"
    response = httpx.post(url, files={"file": ("notes.pdf", b"just text, not a pdf", "application/pdf")}, timeout=60)
    assert response.status_code == 415
    response = httpx.post(url, files={"file": ("../../../../tmp/evil name.pdf", _pdf_bytes(), "application/pdf")},
                          timeout=60)
    assert response.status_code == 202
    upload = response.json()
    assert upload["filename"] == "evil_name.pdf" and upload["status"] in ("queued", "ingesting", "done")
    stored = list((kollama_home / "uploads").rglob("*.pdf"))
    assert "evil_name.pdf" in [p.name for p in stored]
    assert all(p.parent.parent == kollama_home / "uploads" for p in stored)
    assert httpx.get(url + "/not-an-id", timeout=60).status_code == 404
    deadline = time.monotonic() + 180
    while (status := httpx.get(f"{url}/{upload['id']}", timeout=60).json())["status"] in ("queued", "ingesting"):
        assert time.monotonic() < deadline
        time.sleep(0.5)
    assert status["status"] == "done" and status["pages"] == 2

    hits = httpx.post(server.url + "/v1/rag/search", json={"query": "조식 시간", "k": 3}, timeout=60).json()["hits"]
    assert hits and hits[0]["page"] == 2 and hits[0]["title"] == "바다호텔 이용 안내"
    answer = httpx.post(server.url + "/v1/rag/ask", json={"question": "조식은 몇 시부터인가요?", "extractive": True},
                        timeout=60).json()
    assert answer["citations"][0]["page"] == 2
    assert answer["citations"][0]["url"] == f"/v1/rag/documents/{upload['id']}/file#page=2"
    answer = httpx.post(server.url + "/v1/rag/ask", json={"question": "조식은 몇 시부터인가요?", "model": "smollm2",
                                                          "max_tokens": 16}, timeout=300).json()
    assert answer["mode"] == "generative" and answer["citations"] and answer["citations"][0]["page"] == 2
    # the server runs with --no-log: the RAG question and answer are in no log (they were, before engines stopped logging)
    assert _logged_prompts_containing(kollama_home, "조식은 몇 시부터인가요?") == 0


def _logged_prompts_containing(home, text: str) -> int:
    import sqlite3

    db = home / "logs.db"
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT count(*) FROM responses WHERE prompt LIKE ?", (f"%{text}%",)).fetchone()[0]


def test_rag_answers_are_logged_only_where_the_edge_asks(kollama_home, tmp_path):
    """Engines and kollama.rag write no log; the CLI and the server pass `on_response` unless --no-log."""
    from kollama.engines import load_engine
    from kollama.logs import log_response
    from kollama.rag import api

    doc = tmp_path / "hotel.md"
    doc.write_text("# 바다호텔 안내\n\n수영장은 오전 6시부터 밤 10시까지 옥상에서 운영합니다.\n", encoding="utf-8")
    collection = f"log-test-{tmp_path.name}"
    api.add([str(doc)], collection=collection)
    question = "수영장은 몇 시까지 운영하나요?"
    engine = load_engine("smollm2")
    try:
        quiet = api.ask(question, model="smollm2", max_tokens=8, collection=collection, engine=engine)
        assert quiet["mode"] == "generative" and quiet["answer"]  # it did generate...
        assert _logged_prompts_containing(kollama_home, question) == 0  # ...and logged nothing
        api.ask(question, model="smollm2", max_tokens=8, collection=collection, engine=engine, on_response=log_response)
        assert _logged_prompts_containing(kollama_home, question) == 1
    finally:
        engine.close()


def test_a_model_name_can_route_to_an_openai_backend(server, tmp_path):
    """A second kollama fronts the first through `openai:URL#MODEL`, as it would front a vLLM deployment."""
    backend = f"openai:{server.url}/v1#smollm2"
    with Server("--model", f"big={backend}", "--no-log", "--no-rag", log=tmp_path / "front.log") as front:
        client = openai.OpenAI(base_url=front.url + "/v1", api_key="unused", max_retries=0, timeout=300)
        assert "big" in {m.id for m in client.models.list()}
        response = client.chat.completions.create(model="big", messages=[{"role": "user", "content": "안녕하세요"}],
                                                  max_tokens=6, temperature=0, extra_body={"lock": "off"})
        assert response.choices[0].message.content
        direct = openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0, timeout=300)
        same = direct.chat.completions.create(model="smollm2", messages=[{"role": "user", "content": "안녕하세요"}],
                                              max_tokens=6, temperature=0, extra_body={"lock": "off"})
        assert response.choices[0].message.content == same.choices[0].message.content
