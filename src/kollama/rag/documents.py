"""A file as pages of blocks (headings, text, tables): what the chunker and `rag doctor` work from.

One small interface, `DocumentParser`, per file type: PDF (pypdfium2, OCR where needed), HWP/HWPX
(`kollama.rag.hwp`), plain text and Markdown. A PDF page is read as positioned lines and ruled tables
(`kollama.rag.pdf_layout`); `kollama.rag.structure` then works on the whole document (running headers,
tables of contents, table headers across page breaks) before blocks are final. Every string leaves
this module in NFC.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

from kollama.errors import KollamaError
from kollama.korean.morphology import nfc
from kollama.rag import ocr
from kollama.rag.pdf_layout import Line, read_page_layout
from kollama.rag.text_quality import TextQuality, measure

HEADING_PATTERN = re.compile(
    r"^(제\s*\d+\s*[장절조편관]|\d+(\.\d+)*\.\s|[IVX]+\.\s|[Ⅰ-Ⅻ]\.\s?|[가-하]\.\s|[가-하]\)\s|#{1,6}\s|안건\s*\d"
    r"|<\s*별표\s*\d+\s*>|\[\s*별표\s*\d+\s*\]|별표\s*\d+\s|부\s*칙$|[①-⑳]\s|[£□■◆◼❏]\s)")
SUPPORTED = (".pdf", ".hwp", ".hwpx", ".txt", ".md", ".markdown")
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


# ---------------------------------------------------------------- PDF
def _pdf_date(value: str) -> str:
    match = re.match(r"D:(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?", value or "")
    if not match:
        return value or ""
    y, mo, d, h, mi, s = (g or "00" for g in match.groups())
    return f"{y}-{mo if mo != '00' else '01'}-{d if d != '00' else '01'}T{h}:{mi}:{s}"


def open_pdf(path: Path):
    """Open a PDF or raise one clear error: not a PDF, encrypted, or damaged."""
    import pypdfium2 as pdfium

    with open(path, "rb") as handle:
        head = handle.read(1024)
    if b"%PDF" not in head:
        raise KollamaError(f"{path.name}: not a PDF file", hint="only PDF, .txt and .md files can be added")
    try:
        document = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise KollamaError(f"{path.name}: the PDF is encrypted (password protected)",
                               hint="save an unprotected copy, e.g. qpdf --decrypt in.pdf out.pdf") from None
        raise KollamaError(f"{path.name}: the PDF is damaged or truncated ({exc})",
                           hint="re-export or re-download the file") from None
    if len(document) == 0:
        raise KollamaError(f"{path.name}: the PDF has no readable pages (damaged or truncated)",
                           hint="re-export or re-download the file")
    return document


def _pdf_info(path: Path, document) -> DocumentInfo:
    meta = document.get_metadata_dict()
    return DocumentInfo(path=path, title=nfc(meta.get("Title", "").strip()), author=nfc(meta.get("Author", "").strip()),
                        subject=nfc(meta.get("Subject", "").strip()), created=_pdf_date(meta.get("CreationDate", "")),
                        modified=_pdf_date(meta.get("ModDate", "")), pages=len(document))


def _is_heading(text: str, size: float, body_size: float) -> bool:
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
        if headings and _is_heading(text, size, body_size):
            blocks.append(Block("heading", text, level=1 if size >= body_size * 1.2 else 2))
        elif LIST_PATTERN.match(text):
            blocks.append(Block("list", text))
        elif blocks and blocks[-1].kind in ("text", "list"):
            blocks[-1].text += " " + text
        else:
            blocks.append(Block("text", text))
        i += 1
    return blocks


def _page_from_pdf(document, index: int, ocr_mode: str) -> Page:
    import pypdfium2.raw as pdfium_c

    page = document[index]
    textpage = page.get_textpage()
    raw_text = textpage.get_text_range()
    quality = measure(raw_text)
    images = []
    for obj in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE]):
        meta = obj.get_metadata()
        images.append(ImageInfo(int(meta.width), int(meta.height), round(float(meta.horizontal_dpi), 1)))
    if ocr_mode == "always" or (ocr_mode == "auto" and quality.needs_ocr(bool(images))):
        text = nfc(ocr.ocr_pdf_page(page))
        texts = [line.strip() for line in text.splitlines() if line.strip()]
        items = [Line([line], 11.0, (n + 0.5) / len(texts), (n + 1) / len(texts)) for n, line in enumerate(texts)]
        return Page(index + 1, blocks_from_items(items, 11.0), quality, ocr=True, images=images, lines=items)
    items, _ = read_page_layout(page, textpage)
    sizes = [item.size for item in items if item.rows is None for _ in range(max(1, len(item.text) // 10))]
    body = statistics.median(sizes) if sizes else 11.0
    return Page(index + 1, blocks_from_items(items, body), quality, images=images, lines=items, body_size=body)


class PdfParser:
    suffixes = (".pdf",)

    def open(self, path: Path, ocr_mode: str = "auto") -> tuple[DocumentInfo, Callable[[int], Page]]:
        document = open_pdf(path)
        return _pdf_info(path, document), lambda number: _page_from_pdf(document, number - 1, ocr_mode)


def read_pdf(path: Path, ocr_mode: str = "auto") -> tuple[DocumentInfo, Callable[[int], Page]]:
    return PdfParser().open(path, ocr_mode)


# ---------------------------------------------------------------- plain text and Markdown
def read_text_file(path: Path) -> tuple[DocumentInfo, Callable[[int], Page]]:
    """A .txt/.md file: pages split on form feeds; Markdown '#' lines are headings, '|' lines table rows."""
    raw = path.read_bytes()
    try:
        content = raw.decode("utf-8")
    except UnicodeDecodeError:
        try:
            content = raw.decode("cp949")
        except UnicodeDecodeError:
            raise KollamaError(f"{path.name}: not a text file in UTF-8 or CP949", hint="convert it to UTF-8") from None
    page_texts = content.split("\f")

    def parse(text: str) -> list[tuple[list[str], float]]:
        lines = []
        for line in nfc(text).splitlines():
            stripped = line.strip()
            if not stripped or re.fullmatch(r"\|?[\s:|-]+\|?", stripped):
                continue
            if stripped.startswith("|"):
                lines.append(([c.strip() for c in stripped.strip("|").split("|")], 11.0))
            elif stripped.startswith("#"):
                lines.append(([stripped.lstrip("#").strip()], 14.0))
            else:
                lines.append(([stripped], 11.0))
        return lines

    title = next((line.lstrip("#").strip() for line in content.splitlines() if line.startswith("# ")), "")
    info = DocumentInfo(path=path, title=nfc(title), pages=len(page_texts))

    def page(number: int) -> Page:
        text = page_texts[number - 1]
        return Page(number, blocks_from_lines(parse(text), 11.0), measure(text))

    return info, page


class TextParser:
    suffixes = (".txt", ".md", ".markdown")

    def open(self, path: Path, ocr_mode: str = "auto") -> tuple[DocumentInfo, Callable[[int], Page]]:
        return read_text_file(path)


def parsers() -> list[DocumentParser]:
    """The offline parsers, one per file type."""
    from kollama.rag.hwp import HwpParser

    return [PdfParser(), HwpParser(), TextParser()]


def parser_for(path: Path) -> DocumentParser:
    suffix = path.suffix.lower()
    for parser in parsers():
        if suffix in parser.suffixes:
            return parser
    raise KollamaError(f"{path.name}: unsupported file type '{suffix or 'none'}'",
                       hint="add PDF, HWP, HWPX, .txt or .md files")


def read_document(path: Path, ocr_mode: str = "auto") -> tuple[DocumentInfo, Callable[[int], Page]]:
    """Metadata now, and a function that reads page N (1-based) on demand: OCR is slow, the caller shows progress."""
    info, pages = parser_for(path).open(path, ocr_mode)
    if not info.title:
        info.title = nfc(path.stem)
    return info, pages


def read_all_pages(path: Path, ocr_mode: str = "auto",
                   on_page: Callable[[Page], None] | None = None) -> tuple[DocumentInfo, list[Page]]:
    """Every page, with the document-level cleaning (`structure.finish_pages`) applied."""
    from kollama.rag.structure import finish_pages

    info, read_page = read_document(path, ocr_mode)
    pages = []
    for number in range(1, info.pages + 1):
        pages.append(read_page(number))
        if on_page:
            on_page(pages[-1])
    return info, finish_pages(pages)


def page_to_dict(page: Page) -> dict:
    return asdict(page)


def page_from_dict(data: dict) -> Page:
    fields = {k: v for k, v in data.items() if k not in ("blocks", "quality", "images", "lines")}
    return Page(**fields, blocks=[Block(**b) for b in data["blocks"]], quality=TextQuality(**data["quality"]),
                images=[ImageInfo(**i) for i in data["images"]], lines=[Line(**line) for line in data.get("lines", [])])
