"""`kollama rag` with bad inputs and interruptions: clear messages, nothing lost, nothing duplicated."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from support.cli import run_cli
from rag_corpus import build_pdf, corpus_spec

from kollama.rag import api

pytestmark = pytest.mark.slow  # ingests folders through kollama processes


def _docs(names: list[str]) -> list[dict]:
    return [doc for doc in corpus_spec()["documents"] if doc["file"] in names]


@pytest.fixture(scope="module")
def bad_folder(tmp_path_factory):
    """One good PDF and one good Markdown file among an encrypted, a truncated and a fake PDF."""
    from pypdf import PdfWriter

    folder = tmp_path_factory.mktemp("rag-bad")
    good = build_pdf(_docs(["ap500_manual.pdf"])[0], folder / "ap500_manual.pdf")
    (folder / "notes.md").write_text("# 사내 동호회 안내\n\n## 등산 동호회\n\n등산 동호회는 매달 둘째 토요일에 북한산에 오른다.\n\n"
                                     "| 동호회 | 회비 |\n|---|---|\n| 등산 | 1만원 |\n| 독서 | 5천원 |\n", encoding="utf-8")
    writer = PdfWriter(clone_from=good)
    writer.encrypt("secret")
    writer.write(folder / "locked.pdf")
    data = good.read_bytes()
    (folder / "truncated.pdf").write_bytes(data[: len(data) // 2])
    (folder / "fake.pdf").write_text("이것은 PDF가 아닙니다", encoding="utf-8")
    return folder


def test_bad_files_get_one_clear_line_each_while_good_files_are_ingested(bad_folder, tmp_path):
    common = ["--collection", "bad", "--store", str(tmp_path)]
    result = run_cli("rag", "add", str(bad_folder), "--json", *common)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 3, result.stderr
    assert any("locked.pdf" in e and "encrypted" in e for e in errors)
    assert any("truncated.pdf" in e and "damaged or truncated" in e for e in errors)
    assert any("fake.pdf" in e and "not a PDF" in e for e in errors)
    assert "Traceback" not in result.stderr
    status = {f["file"]: f["status"] for f in json.loads(result.stdout)["files"]}
    assert status["ap500_manual.pdf"] == "added" and status["notes.md"] == "added"
    found = api.search("등산 동호회 회비", k=1, collection="bad", store=tmp_path)["hits"][0]
    assert found["doc"] == "notes.md" and "회비: 1만원" in found["text"] and found["heading"].endswith("등산 동호회")
    api.close_all()


def test_empty_folder_and_empty_collection_give_clear_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    added = run_cli("rag", "add", str(empty), "--store", str(tmp_path / "s"))
    assert added.returncode == 1 and "no PDF, HWP, HWPX, .txt or .md files" in added.stderr and "Traceback" not in added.stderr
    asked = run_cli("rag", "ask", "연차휴가는 며칠인가요?", "--collection", "nothing", "--store", str(tmp_path / "s"))
    assert asked.returncode == 1 and "is empty" in asked.stderr and "kollama rag add" in asked.stderr
    assert asked.stderr.count("\n") == 1


def test_unchanged_changed_and_removed_files(tmp_path):
    store = tmp_path / "store"
    note = tmp_path / "policy.txt"
    note.write_text("출장비 규정\n국내 출장 일비는 하루 3만원이다.", encoding="utf-8")
    first = api.add([note], collection="life", store=store)["files"][0]
    again = api.add([note], collection="life", store=store)["files"][0]
    assert first["status"] == "added" and again["status"] == "unchanged" and again["seconds"] < first["seconds"]
    note.write_text("출장비 규정\n국내 출장 일비는 하루 5만원이다.", encoding="utf-8")
    assert api.add([note], collection="life", store=store)["files"][0]["status"] == "updated"
    hits = api.search("출장 일비", k=5, collection="life", store=store)["hits"]
    assert len(hits) == 1 and "5만원" in hits[0]["text"]  # the old chunk is gone, not duplicated
    assert api.remove(["policy.txt"], collection="life", store=store)["removed"] == ["policy.txt"]
    assert api.search("출장 일비", collection="life", store=store)["hits"] == []
    assert api.documents(collection="life", store=store)["documents"] == []
    api.close_all()


def _rows(db_path):
    """(name, state) of every document; none while the ingest process is still creating the database."""
    with sqlite3.connect(db_path, timeout=30) as db:
        try:
            return db.execute("SELECT name, state FROM documents").fetchall()
        except sqlite3.OperationalError:
            return []


def test_killed_ingest_leaves_a_consistent_store_and_resumes(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    names = ["hanbit_rules.pdf", "nuri_rules.pdf", "ap300_manual.pdf", "bike_report.pdf"]
    for doc in _docs(names):
        build_pdf(doc, docs / doc["file"])
    store = tmp_path / "store"
    common = ["--collection", "kill", "--store", str(store)]
    process = subprocess.Popen([sys.executable, "-m", "kollama", "rag", "add", str(docs), *common],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ.copy())
    db_path = store / "kill" / "meta.sqlite"
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None:  # kill while the second (or a later) one is under way
        rows = dict(_rows(db_path)) if db_path.exists() else {}
        if len(rows) >= 2 and "ingesting" in rows.values():
            break
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    states = dict(_rows(db_path))
    assert "ingesting" in states.values(), states  # it really was interrupted mid-document

    # consistent: a half-ingested document is never returned by search
    hits = api.search("누리소프트 연차휴가", k=20, collection="kill", store=store)["hits"]
    ready = {name for name, state in states.items() if state == "ready"}
    assert all(hit["doc"] in ready for hit in hits)
    api.close_all()

    rerun = run_cli("rag", "add", str(docs), "--json", *common)
    assert rerun.returncode == 0, rerun.stderr
    files = {f["file"]: f for f in json.loads(rerun.stdout)["files"]}
    assert all(files[name]["status"] == ("unchanged" if name in ready else "added") for name in names), files
    listing = api.documents(collection="kill", store=store)
    assert {d["name"]: d["state"] for d in listing["documents"]} == dict.fromkeys(names, "ready")
    assert listing["chunks"] == sum(d["chunks"] for d in listing["documents"])  # nothing duplicated
    with api.opened("kill", store) as (st, _):
        points, _ = st.qdrant.scroll(st.name, limit=1000, with_payload=True)
    keys = [(p.payload["doc"], p.payload["chunk_index"]) for p in points]
    assert len(keys) == len(set(keys)) == listing["chunks"]
    api.close_all()


def test_the_same_file_at_two_paths_is_two_documents(tmp_path):
    store = tmp_path / "store"
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "memo.txt").write_text("회의실 예약은 사내 포털에서 하루 전까지 한다.", encoding="utf-8")
    report = api.add([tmp_path / "a", tmp_path / "b"], collection="twins", store=store)
    assert [f["status"] for f in report["files"]] == ["added", "added"]
    assert api.documents(collection="twins", store=store)["chunks"] == 2
    api.remove([str(tmp_path / "a" / "memo.txt")], collection="twins", store=store)
    hits = api.search("회의실 예약", collection="twins", store=store)["hits"]
    assert len(hits) == 1 and hits[0]["doc"] == "memo.txt"  # the other copy keeps its own chunks
    api.close_all()
