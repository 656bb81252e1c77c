"""Document-level cleaning that one page alone cannot decide: running headers and footers, tables of
contents, and table headers that continue across a page break.

- A running header/footer is a line at the top or bottom of the page whose text (digits ignored)
  recurs at the same edge on several pages, or a bare page number. It is removed from the text and
  kept in `Page.running`.
- A table-of-contents page is one of dot leaders and page numbers, or a '목차'/'차례'/'CONTENTS' page
  of titles, or a page of only article titles right after one. It stays searchable, but its lines never
  become headings and `retrieve` ranks it below content pages.
- Five or more headings in a row with no text between them are an outline inside a page (a box listing
  the chapters a proposal must have): they stay text and start no section.
- A ruled table at the top of a page with no header row and the same columns as the last table of the
  previous page takes that table's column labels and caption.
"""

from __future__ import annotations

import re
from collections import Counter

from kollama.rag.pages import (
    HEADING_PATTERN,
    Page,
    blocks_from_items,
    column_labels,
)
from kollama.rag.pdf_layout import Line

EDGE = 0.12  # top/bottom share of the page where running headers and footers live
EDGE_LINES = 4  # at most this many lines from each edge are candidates
MIN_REPEATS = 3
PAGE_NUMBER = re.compile(r"^[-–—(\[]?\s*(\d{1,4}|[ivxlc]{1,6})\s*([/|]\s*\d{1,4})?\s*[-–—)\]]?$", re.IGNORECASE)
DOT_LEADER = re.compile(r"(·{3,}|\.{4,}|…{2,}|ㆍ{3,}|-{4,}|_{4,})\s*\d{1,4}\s*$")
ENDS_WITH_PAGE = re.compile(r"\S\s+\d{1,3}$")
TOC_TITLE = re.compile(r"^\s*(목\s*차|차\s*례|CONTENTS|Contents|Table of Contents|찾아보기|색\s*인|INDEX)\b")
SENTENCE_END = re.compile(r"(다|요|함|음|임)\.?$")
OUTLINE_RUN = 5  # consecutive headings without text: an outline, not sections


def _key(text: str) -> str:
    return re.sub(r"\d+", "#", re.sub(r"\s+", "", text))


def _edge_lines(page: Page) -> list[tuple[str, Line]]:
    lines = [item for item in page.lines if item.rows is None and item.text.strip()]
    top = [("top", item) for item in lines[:EDGE_LINES] if item.top <= EDGE]
    bottom = [("bottom", item) for item in lines[-EDGE_LINES:] if item.bottom >= 1 - EDGE]
    return top + bottom


def mark_running_lines(pages: list[Page]) -> None:
    counts: Counter = Counter()
    for page in pages:
        counts.update({(edge, _key(item.text)) for edge, item in _edge_lines(page)})
    needed = max(MIN_REPEATS, round(0.2 * len(pages)))
    for page in pages:
        for edge, item in _edge_lines(page):
            if PAGE_NUMBER.match(item.text.strip()) or counts[(edge, _key(item.text))] >= needed:
                item.running = True
                page.running.append(item.text)


def _toc_score(lines: list[str]) -> tuple[int, float, float, bool]:
    """(dot-leader lines, share of title-like lines, share of lines ending in a page number, has a TOC title)."""
    if not lines:
        return 0, 0.0, 0.0, False
    leaders = sum(1 for line in lines if DOT_LEADER.search(line))
    titles = sum(1 for line in lines if len(line) <= 80 and not SENTENCE_END.search(line.rstrip(". ")) and
                 (HEADING_PATTERN.match(line) or DOT_LEADER.search(line) or ENDS_WITH_PAGE.search(line)
                  or line.startswith(("▹", "∙", "•", "-", "▶", "·"))))
    numbered = sum(1 for line in lines if ENDS_WITH_PAGE.search(line) or DOT_LEADER.search(line))
    titled = any(TOC_TITLE.match(line) for line in lines[:5])
    return leaders, titles / len(lines), numbered / len(lines), titled


def is_toc_page(page: Page, previous_was_toc: bool = False) -> bool:
    lines = [item.text.strip() for item in page.lines if not item.running and item.rows is None and item.text.strip()]
    if not page.lines:  # HWP sections, text files: judge the blocks
        lines = [line.strip() for block in page.blocks for line in block.text.split("\n") if line.strip()]
    leaders, title_share, numbered_share, titled = _toc_score(lines)
    if leaders >= 3 and leaders >= 0.3 * len(lines):
        return True
    if titled and (title_share >= 0.5 or numbered_share >= 0.4) and len(lines) >= 4:
        return True
    # the next page of a long TOC: only titles, no sentences
    return previous_was_toc and len(lines) >= 6 and title_share >= 0.8


def carry_table_headers(pages: list[Page]) -> None:
    last: tuple[int, list[str], str] | None = None  # columns, labels, caption of the last table seen
    for page in pages:
        previous_line = ""
        first_item = True
        for item in page.lines:
            if item.running:
                continue
            if item.rows is None:
                previous_line = item.text if len(item.text) <= 80 else ""
                first_item = False
                continue
            width = len(item.rows[0])
            item.caption = item.caption or previous_line
            if item.header_rows:
                last = (width, column_labels(item.rows[:item.header_rows]), item.caption)
            elif first_item and last and last[0] == width:
                item.carried_header = last[1]
                item.caption = item.caption or last[2]
            first_item = False
            previous_line = ""


def finish_pages(pages: list[Page]) -> list[Page]:
    """Apply the document-level rules and rebuild the blocks of pages read with positions (PDF)."""
    with_lines = [page for page in pages if page.lines]
    if with_lines:
        mark_running_lines(with_lines)
        carry_table_headers(with_lines)
    previous_toc = False
    for page in pages:
        page.kind = "toc" if is_toc_page(page, previous_toc) else "content"
        previous_toc = page.kind == "toc"
        if page.lines:
            page.blocks = blocks_from_items(page.lines, page.body_size, headings=page.kind != "toc")
        elif page.kind == "toc":
            for block in page.blocks:
                if block.kind == "heading":
                    block.kind = "text"
        outline_runs_are_text(page)
    return pages


def outline_runs_are_text(page: Page) -> None:
    """A run of OUTLINE_RUN or more headings with nothing between them is an outline inside the page (an
    RFP's '제안서 목차' box listing '제1장 ... 제4장 행사장 운영 계획'), not the structure of what follows: its
    lines stay searchable as text, and its last line is not the chapter of every later section."""
    run: list = []
    for block in [*page.blocks, None]:
        if block is not None and block.kind == "heading" and (not run or block.paragraph == run[-1].paragraph):
            run.append(block)  # HWP: within one paragraph (one box); PDF: paragraph is None throughout
            continue
        if len(run) >= OUTLINE_RUN:
            for heading in run:
                heading.kind = "text"
        run = [block] if block is not None and block.kind == "heading" else []
