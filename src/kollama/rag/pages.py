"""Pages of blocks (headings, text, tables): the shapes every document reader returns and everything after it
(`structure`, the chunker, `rag doctor`) works from, with the rules that turn lines into blocks.

Below every reader: `documents` (PDF, text, the registry by suffix), `hwp` and `structure` import this
module, never the other way round.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

from kollama.rag.pdf_layout import Line
from kollama.rag.text_quality import TextQuality

HEADING_PATTERN = re.compile(
    r"^(제\s*\d+\s*[장절조편관]|\d+(\.\d+)*\.\s|[IVX]+\.\s|[Ⅰ-Ⅻ]\.\s?|[가-하]\.\s|[가-하]\)\s|#{1,6}\s|안건\s*\d"
    r"|<\s*별표\s*\d+\s*>|\[\s*별표\s*\d+\s*\]|별표\s*\d+\s|부\s*칙$|[①-⑳]\s|[£□■◆◼❏]\s"
    r"|[\[【〔][^\]】〕]{1,12}[\]】〕]$)")  # a bracketed label alone on its line: '[주 문]', '【서식 1】'
LIST_PATTERN = re.compile(r"^([-•·*▪◦]\s|[①-⑳]|\(?\d+\)\s|[가-하]\)\s)")


@dataclass
class Block:
    kind: str  # "heading" | "text" | "list" | "table"
    text: str
    rows: list[list[str]] | None = None
    paragraph: int | None = None  # HWP/HWPX: the paragraph number within its section (citations say ¶N)
    caption: str = ""  # a table's caption or the line just above it
    level: int = 0  # headings: 1 = set in a larger font (a title), 2 = recognised by numbering only


@dataclass
class ImageInfo:
    width: int
    height: int
    dpi: float


@dataclass
class Page:
    """A PDF page, a text file's form-feed page, or an HWP/HWPX section (`unit` says which)."""

    number: int  # 1-based
    blocks: list[Block]
    quality: TextQuality
    ocr: bool = False
    images: list[ImageInfo] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)  # positioned lines and tables, before document-level cleaning
    body_size: float = 11.0
    kind: str = "content"  # "content" | "toc" (a table of contents or index page)
    running: list[str] = field(default_factory=list)  # page headers/footers removed from the text
    unit: str = "page"  # "page" | "section"

    @property
    def text(self) -> str:
        return "\n".join(block.text for block in self.blocks)

    @property
    def needs_ocr(self) -> bool:
        return self.quality.needs_ocr(bool(self.images))


@dataclass
class DocumentInfo:
    path: Path
    title: str
    author: str = ""
    subject: str = ""
    created: str = ""
    modified: str = ""
    pages: int = 0  # pages, or sections for HWP/HWPX
    unit: str = "page"


class DocumentParser(Protocol):
    """What `rag add` and `rag doctor` need from a file type: metadata now, and page (or section) N on
    demand, so slow work (OCR) can show progress and be resumed."""

    suffixes: tuple[str, ...]

    def open(self, path: Path, ocr_mode: str) -> tuple[DocumentInfo, Callable[[int], Page]]: ...


EMPTY_CELLS = ("-", "–", "—", "―")  # a dash in a cell means 'none': the row reads better without it


SPACED_LABEL = re.compile(r"(?<![가-힣])(?<![가-힣] )((?:[가-힣] ){2,}[가-힣](?=\s*[:：(（]|\s*$)|[가-힣] [가-힣](?=\s*[:：]))")


def join_spaced_labels(text: str) -> str:
    """'행 사 명: 제2회 축제' -> '행사명: 제2회 축제', '강 북 구 청' -> '강북구청': Hancom documents spread short
    labels letter by letter to fill a cell (균등 분할); written so, a label is single syllables to search and
    to embed. Only a run of 3+ single syllables that ends the line or comes before ':' or '(', or of 2 before
    ':' ('장 소:'), is joined, so '그 외 할 수 있는' stays as it is. Lines are joined one by one."""
    return "\n".join(SPACED_LABEL.sub(lambda match: match.group(1).replace(" ", ""), line) for line in text.split("\n"))


def column_labels(header_rows: list[list[str]]) -> list[str]:
    """One label per column from one or more header rows: '음성(단위:원/초) 현지' for a two-level header."""
    width = max(len(row) for row in header_rows)
    labels = []
    for col in range(width):
        parts = [row[col] for row in header_rows if col < len(row) and row[col]]
        labels.append(" ".join(dict.fromkeys(parts)))
    return labels


def table_rows_as_text(rows: list[list[str]], header: list[str] | None = None) -> list[str]:
    """Each data row as 'header: value | header: value', so a row stays meaningful on its own.
    `header` gives the column labels when the rows have none (a table continued from the previous page)."""
    if header is None:
        header, body = rows[0], rows[1:]
    else:
        body = rows
    if not body:
        return [" | ".join(cell for cell in header if cell)]
    lines = []
    for row in body:
        pairs = [f"{h}: {v}" if h and h != v else v for h, v in zip(header, row) if v and v not in EMPTY_CELLS]
        pairs += [v for v in row[len(header):] if v and v not in EMPTY_CELLS]
        if pairs:
            lines.append(" | ".join(pairs))
    return lines



def is_heading(text: str, size: float, body_size: float) -> bool:
    if len(text) > 60 or (text.endswith(("다.", "요.", ".")) and not HEADING_PATTERN.match(text)):
        return False
    if size >= body_size * 1.2:
        return True
    # a numbered line that carries a value ('나. 행사장소: 국립4·19민주묘지') is content, not a heading
    return (bool(HEADING_PATTERN.match(text)) and len(text) <= 40 and not text.endswith(".")
            and not re.search(r"[:：]\s*\S", text))


def blocks_from_lines(lines: list[tuple[list[str], float]], body_size: float) -> list[Block]:
    """Lines (cells, font size) -> headings, paragraphs, list items and tables."""
    return blocks_from_items([Line(cells, size, 0.0, 0.0) for cells, size in lines], body_size)


def blocks_from_items(items: list[Line], body_size: float, headings: bool = True) -> list[Block]:
    """Positioned lines and ruled tables -> headings, paragraphs, list items and tables. Running
    headers/footers are skipped; with `headings=False` (a table of contents) no line becomes a heading."""
    blocks: list[Block] = []
    items = [item for item in items if not item.running]
    lines = [(item.cells, item.size) for item in items]
    i = 0
    while i < len(lines):
        item = items[i]
        if item.rows is not None:
            body = item.rows[item.header_rows:]
            labels = column_labels(item.rows[:item.header_rows]) if item.header_rows else item.carried_header
            rows = table_rows_as_text(body, labels) if labels else [" | ".join(c for c in row if c) for row in body]
            if rows:
                blocks.append(Block("table", "\n".join(rows), item.rows, caption=item.caption))
            i += 1
            continue
        cells, size = lines[i]
        if len(cells) >= 2:
            j = i
            while j < len(lines) and len(lines[j][0]) == len(cells) and items[j].rows is None:
                j += 1
            if j - i >= 2:
                rows = [lines[k][0] for k in range(i, j)]
                blocks.append(Block("table", "\n".join(table_rows_as_text(rows)), rows))
                i = j
                continue
        text = " ".join(cells)
        if headings and is_heading(text, size, body_size):
            blocks.append(Block("heading", text, level=1 if size >= body_size * 1.2 else 2))
        elif LIST_PATTERN.match(text):
            blocks.append(Block("list", text))
        elif blocks and blocks[-1].kind in ("text", "list"):
            blocks[-1].text += " " + text
        else:
            blocks.append(Block("text", text))
        i += 1
    return blocks



def page_to_dict(page: Page) -> dict:
    return asdict(page)


def page_from_dict(data: dict) -> Page:
    fields = {k: v for k, v in data.items() if k not in ("blocks", "quality", "images", "lines")}
    return Page(**fields, blocks=[Block(**b) for b in data["blocks"]], quality=TextQuality(**data["quality"]),
                images=[ImageInfo(**i) for i in data["images"]], lines=[Line(**line) for line in data.get("lines", [])])
