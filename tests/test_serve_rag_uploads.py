"""RAG uploads that outlive the server: listed after a restart with working citation links, deduplicated by
content, deletable, recovered after kill -9 mid-ingest, bad PDFs refused at once; and one store shared by
several processes failing at start with one line instead of a healthy server with broken RAG."""

from __future__ import annotations

import io
import time

import httpx
import pytest
from conftest import run_cli
from serve_server import Server

pytestmark = pytest.mark.slow

FONT = "/usr/share/fonts/truetype/nanum/NanumGothic.ttf"


def _pdf(pages: list[list[str]], title: str, password: str | None = None) -> bytes:
    from reportlab.lib.pdfencrypt import StandardEncryption
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(TTFont("Nanum", FONT))
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, encrypt=StandardEncryption(password, canPrint=0) if password else None)
    pdf.setTitle(title)
    for lines in pages:
        pdf.setFont("Nanum", 12)
        for i, line in enumerate(lines):
            pdf.drawString(50, 790 - 18 * i, line)
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


HOTEL = _pdf([["제1장 객실", "체크인은 오후 3시부터 가능합니다."],
              ["제2장 조식", "조식은 오전 7시부터 10시까지 2층 식당에서 제공합니다."]], "바다호텔 이용 안내")


def _long_pdf(n: int) -> bytes:
    return _pdf([[f"제{p}조 요금 안내", *[f"{p}페이지 {i}번째 문장: 월 요금은 {p * 1000 + i}원이며 부가세가 포함됩니다."
                                       for i in range(30)]] for p in range(1, n + 1)], "이용 약관")


def _wait_done(url: str, ident: str, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while (status := httpx.get(f"{url}/v1/rag/documents/{ident}", timeout=60).json())["status"] in ("queued", "ingesting"):
        assert time.monotonic() < deadline, status
        time.sleep(0.3)
    return status


def _upload(url: str, name: str, data: bytes) -> httpx.Response:
    return httpx.post(url + "/v1/rag/documents", files={"file": (name, data, "application/pdf")}, timeout=120)


def test_uploads_persist_deduplicate_delete_and_recover(tmp_path):
    args = ("--no-log", "--collection", f"uploads-{tmp_path.name}")
    with Server(*args, log=tmp_path / "one.log") as server:
        first = _upload(server.url, "hotel.pdf", HOTEL)
        assert first.status_code == 202, first.text
        again = _upload(server.url, "hotel copy (2).pdf", HOTEL)  # the same bytes under another name
        assert again.status_code == 200 and again.json()["id"] == first.json()["id"] and again.json()["duplicate"]
        # refused in the upload's own response, not only later in its status
        corrupt = _upload(server.url, "cut.pdf", HOTEL[: len(HOTEL) // 3])
        assert corrupt.status_code == 422 and "damaged" in corrupt.json()["error"]["message"]
        locked = _upload(server.url, "locked.pdf", _pdf([["비밀 문서"]], "비밀", password="1234"))
        assert locked.status_code == 422 and "encrypted" in locked.json()["error"]["message"]
        done = _wait_done(server.url, first.json()["id"])
        assert done["status"] == "done" and done["pages"] == 2
        # the store is this server's: a second server fails at start with one line, and so does the CLI
        second = run_cli("serve", "--port", "1", *args, timeout=120)
        assert second.returncode != 0 and "in use by another kollama process" in second.stderr
        assert "Traceback" not in second.stderr and len(second.stderr.strip().splitlines()) <= 2
        listing = run_cli("rag", "list", "--collection", args[-1])
        assert listing.returncode != 0 and "in use" in listing.stderr and "Traceback" not in listing.stderr
        # a long document, killed mid-ingest
        long = _upload(server.url, "terms.pdf", _long_pdf(40)).json()
        deadline = time.monotonic() + 60
        while httpx.get(f"{server.url}/v1/rag/documents/{long['id']}", timeout=30).json()["status"] == "queued":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        server.process.kill()  # kill -9: no cleanup of any kind
        server.process.wait()

    with Server(*args, log=tmp_path / "two.log") as server:
        documents = {d["id"]: d for d in httpx.get(server.url + "/v1/rag/documents", timeout=60).json()["documents"]}
        assert documents[first.json()["id"]]["status"] == "done"  # survived the restart
        interrupted = documents[long["id"]]
        assert interrupted["status"] == "failed" and "upload it again" in interrupted["error"]
        # its partial chunks are gone: every hit comes from the hotel guide
        hits = httpx.post(server.url + "/v1/rag/search", json={"query": "월 요금 부가세", "k": 10},
                          timeout=60).json()["hits"]
        assert hits and {h["doc"] for h in hits} == {"hotel.pdf"}
        answer = httpx.post(server.url + "/v1/rag/ask", json={"question": "조식은 몇 시부터인가요?", "extractive": True},
                            timeout=60).json()
        link = answer["citations"][0]["url"]
        assert link == f"/v1/rag/documents/{first.json()['id']}/file#page=2"
        assert httpx.get(server.url + link.split("#")[0], timeout=60).content == HOTEL
        # uploading the interrupted one again starts afresh; deleting removes document, chunks and file
        retry = _upload(server.url, "terms.pdf", _long_pdf(40))
        assert retry.status_code == 202 and retry.json()["id"] != long["id"]
        assert _wait_done(server.url, retry.json()["id"])["status"] == "done"
        gone = httpx.delete(f"{server.url}/v1/rag/documents/{retry.json()['id']}", timeout=120)
        assert gone.status_code == 200 and gone.json()["deleted"]
        assert httpx.get(f"{server.url}/v1/rag/documents/{retry.json()['id']}", timeout=60).status_code == 404
        hits = httpx.post(server.url + "/v1/rag/search", json={"query": "월 요금 부가세", "k": 10},
                          timeout=60).json()["hits"]
        assert {h["doc"] for h in hits} == {"hotel.pdf"}
        assert httpx.delete(f"{server.url}/v1/rag/documents/{'0' * 32}", timeout=60).status_code == 404
