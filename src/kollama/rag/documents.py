"""A file as pages of blocks (headings, text, tables): what the chunker and `rag doctor` work from.

PDFs are read with pypdfium2 page by page; text runs are regrouped into lines so table cells become
readable rows and larger-font lines become headings. Every string leaves this module in NFC.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from itertools import pairwise
from pathlib import Path

from kollama.errors import KollamaError
from kollama.korean.morphology import nfc
from kollama.rag import ocr
from kollama.rag.text_quality import TextQuality, measure

SUPPORTED = (".pdf", ".txt", ".md", ".markdown")
HEADING_PATTERN = re.compile(r"^(제\s*\d+\s*[장절조편관]|\d+(\.\d+)*\.\s|[IVX]+\.\s|[가-하]\.\s|#{1,6}\s|안건\s*\d)")
LIST_PATTERN = re.compile(r"^([-•·*▪◦]\s|[①-⑳]|\(?\d+\)\s|[가-하]\)\s)")


@dataclass
class Block:
    kind: str  # "heading" | "text" | "list" | "table"
    text: str
    rows: list[list[str]] | None = None


@dataclass
class ImageInfo:
    width: int
    height: int
    dpi: float


@dataclass
class Page:
    number: int  # 1-based
    blocks: list[Block]
    quality: TextQuality
    ocr: bool = False
    images: list[ImageInfo] = field(default_factory=list)

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
    pages: int = 0


def table_rows_as_text(rows: list[list[str]]) -> list[str]:
    """Each data row as 'header: value | header: value', so a row stays meaningful on its own."""
    header, body = rows[0], rows[1:]
    if not body:
        return [" | ".join(header)]
    return [" | ".join(f"{h}: {v}" if h else v for h, v in zip(header, row)) for row in body]


# ---------------------------------------------------------------- PDF
@dataclass
class _Segment:
    left: float
    bottom: float
    right: float
    top: float
    text: str
    size: float


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


def _segments(textpage) -> list[_Segment]:
    import pypdfium2.raw as pdfium_c

    segments = []
    for i in range(textpage.count_rects()):
        left, bottom, right, top = textpage.get_rect(i)
        text = textpage.get_text_bounded(left, bottom, right, top).strip()
        if not text:
            continue
        index = textpage.get_index((left + right) / 2, (bottom + top) / 2, (right - left) / 2 + 1, (top - bottom) / 2 + 1)
        size = pdfium_c.FPDFText_GetFontSize(textpage.raw, index) if index is not None and index >= 0 else top - bottom
        segments.append(_Segment(left, bottom, right, top, text, float(size) or (top - bottom)))
    return segments


def _lines(segments: list[_Segment]) -> list[list[_Segment]]:
    lines: list[list[_Segment]] = []
    for seg in sorted(segments, key=lambda s: (-(s.top + s.bottom) / 2, s.left)):
        middle = (seg.top + seg.bottom) / 2
        if lines:
            last = lines[-1][0]
            if abs((last.top + last.bottom) / 2 - middle) < max(2.0, (last.top - last.bottom) / 2):
                lines[-1].append(seg)
                continue
        lines.append([seg])
    return [sorted(line, key=lambda s: s.left) for line in lines]


def _cells(line: list[_Segment]) -> list[str]:
    """Merge runs that are close together; a wide gap separates table cells."""
    cells = [line[0].text]
    for previous, seg in pairwise(line):
        if seg.left - previous.right > max(seg.size, previous.size) * 1.5:
            cells.append(seg.text)
        else:
            cells[-1] += " " + seg.text
    return [nfc(cell) for cell in cells]


def _is_heading(text: str, size: float, body_size: float) -> bool:
    if len(text) > 60 or (text.endswith(("다.", "요.", ".")) and not HEADING_PATTERN.match(text)):
        return False
    if size >= body_size * 1.2:
        return True
    return bool(HEADING_PATTERN.match(text)) and len(text) <= 40 and not text.endswith(".")


def blocks_from_lines(lines: list[tuple[list[str], float]], body_size: float) -> list[Block]:
    """Lines (cells, font size) -> headings, paragraphs, list items and tables."""
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        cells, size = lines[i]
        if len(cells) >= 2:
            j = i
            while j < len(lines) and len(lines[j][0]) == len(cells):
                j += 1
            if j - i >= 2:
                rows = [lines[k][0] for k in range(i, j)]
                blocks.append(Block("table", "\n".join(table_rows_as_text(rows)), rows))
                i = j
                continue
        text = " ".join(cells)
        if _is_heading(text, size, body_size):
            blocks.append(Block("heading", text))
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
        lines = [([line.strip()], 11.0) for line in text.splitlines() if line.strip()]
        return Page(index + 1, blocks_from_lines(lines, 11.0), quality, ocr=True, images=images)
    segments = _segments(textpage)
    body = statistics.median([s.size for s in segments for _ in range(max(1, len(s.text) // 10))]) if segments else 11.0
    lines = [(_cells(line), max(s.size for s in line)) for line in _lines(segments)]
    return Page(index + 1, blocks_from_lines(lines, body), quality, images=images)


def read_pdf(path: Path, ocr_mode: str = "auto") -> tuple[DocumentInfo, Callable[[int], Page]]:
    document = open_pdf(path)
    return _pdf_info(path, document), lambda number: _page_from_pdf(document, number - 1, ocr_mode)


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


def read_document(path: Path, ocr_mode: str = "auto") -> tuple[DocumentInfo, Callable[[int], Page]]:
    """Metadata now, and a function that reads page N (1-based) on demand: OCR is slow, the caller shows progress."""
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        info, pages = read_pdf(path, ocr_mode)
    elif suffix in (".txt", ".md", ".markdown"):
        info, pages = read_text_file(path)
    else:
        raise KollamaError(f"{path.name}: unsupported file type '{suffix or 'none'}'", hint="add PDF, .txt or .md files")
    if not info.title:
        info.title = nfc(path.stem)
    return info, pages


def read_all_pages(path: Path, ocr_mode: str = "auto",
                   on_page: Callable[[Page], None] | None = None) -> tuple[DocumentInfo, list[Page]]:
    info, read_page = read_document(path, ocr_mode)
    pages = []
    for number in range(1, info.pages + 1):
        pages.append(read_page(number))
        if on_page:
            on_page(pages[-1])
    return info, pages


def page_to_dict(page: Page) -> dict:
    return asdict(page)


def page_from_dict(data: dict) -> Page:
    return Page(number=data["number"], blocks=[Block(**b) for b in data["blocks"]], quality=TextQuality(**data["quality"]),
                ocr=data["ocr"], images=[ImageInfo(**i) for i in data["images"]])
