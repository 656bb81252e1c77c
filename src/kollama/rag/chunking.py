"""Pages -> chunks: Kiwi sentences packed to a token budget with overlap, never across a heading.

Each chunk keeps its document, page and heading; its indexed text starts with the document title and
heading so two similar documents (two companies' leave rules) stay apart in both BM25 and dense search.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kollama.korean.morphology import split_sentences
from kollama.rag.documents import Page

DEFAULT_BUDGET = 160  # embedder tokens per chunk body
DEFAULT_OVERLAP = 40


@dataclass
class Chunk:
    index: int  # position in the document
    page: int
    heading: str
    text: str

    def indexed_text(self, title: str) -> str:
        prefix = f"{title} > {self.heading}" if self.heading else title
        return f"{prefix}\n{self.text}"


def _units(page: Page) -> list[tuple[str, str]]:
    """(heading, sentence or table row) in reading order; the heading carries over from earlier pages."""
    units = []
    for block in page.blocks:
        if block.kind == "heading":
            units.append(("#", block.text))
        elif block.kind == "table":
            units.extend(("", row) for row in block.text.split("\n"))
        else:
            units.extend(("", sentence) for sentence in split_sentences(block.text) if sentence.strip())
    return units


def _overlap_tail(window: list[tuple[str, int]], overlap: int) -> list[tuple[str, int]]:
    """The last sentences of a full chunk, up to `overlap` tokens, to start the next one with."""
    kept, total = [], 0
    for sentence, tokens in reversed(window):
        if total + tokens > overlap:
            break
        kept.insert(0, (sentence, tokens))
        total += tokens
    return kept if len(kept) < len(window) else []


def chunk_pages(pages: list[Page], count_tokens: Callable[[str], int],
                budget: int = DEFAULT_BUDGET, overlap: int = DEFAULT_OVERLAP) -> list[Chunk]:
    """Chunks never cross a page (citations stay exact) nor a heading (each chunk has one context)."""
    chunks: list[Chunk] = []
    heading_path: list[str] = []

    def emit(page_number: int, window: list[tuple[str, int]]) -> None:
        if window:
            chunks.append(Chunk(len(chunks), page_number, " > ".join(heading_path), "\n".join(s for s, _ in window)))

    for page in pages:
        window: list[tuple[str, int]] = []
        for marker, text in _units(page):
            if marker == "#":
                emit(page.number, window)
                window = []
                heading_path = _push_heading(heading_path, text)
                continue
            tokens = count_tokens(text)
            if window and sum(t for _, t in window) + tokens > budget:
                emit(page.number, window)
                window = _overlap_tail(window, overlap)
            window.append((text, tokens))
        emit(page.number, window)
    return chunks


def _push_heading(path: list[str], heading: str) -> list[str]:
    """Keep a two-level path: a chapter ('제2장', '1.') and the section under it."""
    is_chapter = heading.startswith("제") and "장" in heading[:6]
    if is_chapter or not path:
        return [heading]
    first_is_chapter = path[0].startswith("제") and "장" in path[0][:6]
    return [path[0], heading] if first_is_chapter else [heading]
