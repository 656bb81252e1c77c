"""A file as pages of blocks (headings, text, tables): what the chunker and `rag doctor` work from.

One small interface, `DocumentParser` (in `kollama.rag.pages` with the page types), per file type: PDF
(pypdfium2, OCR where needed), HWP/HWPX (`kollama.rag.hwp`), plain text and Markdown. A PDF page is read as positioned lines and ruled tables
(`kollama.rag.pdf_layout`); `kollama.rag.structure` then works on the whole document (running headers,
tables of contents, table headers across page breaks) before blocks are final. Every string leaves
this module in NFC.

`PARSERS` maps a suffix to its parser: the built-ins are registered below, a third-party package adds a
format through the `kollama.parsers` entry-point group (`kollama.plugins`).
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Callable
from pathlib import Path

from kollama.errors import KollamaError
from kollama.korean.morphology import nfc
from kollama.rag import ocr
from kollama.rag.hwp import HwpParser
from kollama.rag.pages import (
    DocumentInfo,
    DocumentParser,
    ImageInfo,
    Page,
    blocks_from_items,
    blocks_from_lines,
)
from kollama.rag.pdf_layout import Line, page_objects, read_page_layout
from kollama.plugins import Registry
from kollama.rag.structure import finish_pages
from kollama.rag.text_quality import measure

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


def _page_from_pdf(document, index: int, ocr_mode: str) -> Page:
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    page = document[index]
    textpage = page.get_textpage()
    raw_text = textpage.get_text_range()
    quality = measure(raw_text)
    objects = list(page_objects(page))  # one pass for the images here and the table rules of the layout
    images = []
    for kind, raw, level in objects:
        if kind == pdfium_c.FPDF_PAGEOBJ_IMAGE:
            meta = pdfium.PdfObject(raw, page=page, level=level).get_metadata()
            images.append(ImageInfo(int(meta.width), int(meta.height), round(float(meta.horizontal_dpi), 1)))
    if ocr_mode == "always" or (ocr_mode == "auto" and quality.needs_ocr(bool(images))):
        text = nfc(ocr.ocr_pdf_page(page))
        texts = [line.strip() for line in text.splitlines() if line.strip()]
        items = [Line([line], 11.0, (n + 0.5) / len(texts), (n + 1) / len(texts)) for n, line in enumerate(texts)]
        return Page(index + 1, blocks_from_items(items, 11.0), quality, ocr=True, images=images, lines=items)
    items, _ = read_page_layout(page, textpage, objects)
    sizes = [item.size for item in items if item.rows is None for _ in range(max(1, len(item.text) // 10))]
    body = statistics.median(sizes) if sizes else 11.0
    return Page(index + 1, blocks_from_items(items, body), quality, images=images, lines=items, body_size=body)


class PdfParser:
    suffixes = (".pdf",)

    def open(self, path: Path, ocr_mode: str = "auto") -> tuple[DocumentInfo, Callable[[int], Page]]:
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


class TextParser:
    suffixes = (".txt", ".md", ".markdown")

    def open(self, path: Path, ocr_mode: str = "auto") -> tuple[DocumentInfo, Callable[[int], Page]]:
        return read_text_file(path)


def _instance(loaded: object) -> Callable[[], DocumentParser]:
    """A `kollama.parsers` entry point names a parser class or a ready parser object."""
    return loaded if isinstance(loaded, type) else lambda: loaded  # type: ignore[return-value]


PARSERS: Registry[DocumentParser] = Registry("kollama.parsers", {
    ".pdf": PdfParser, ".hwp": HwpParser, ".hwpx": HwpParser,
    ".txt": TextParser, ".md": TextParser, ".markdown": TextParser,
}, _instance)


def supported_suffixes() -> tuple[str, ...]:
    """Every suffix a parser is registered for, third-party ones included: what a folder is searched for."""
    return tuple(PARSERS.names())


def parser_for(path: Path) -> DocumentParser:
    """The parser registered for the file's suffix (case-insensitive)."""
    suffix = path.suffix.lower()
    make = PARSERS.factory(suffix) if suffix else None
    if make is None:
        raise KollamaError(f"{path.name}: unsupported file type '{suffix or 'none'}'",
                           hint="add PDF, HWP, HWPX, .txt or .md files")
    return make()


def read_document(path: Path, ocr_mode: str = "auto") -> tuple[DocumentInfo, Callable[[int], Page]]:
    """Metadata now, and a function that reads page N (1-based) on demand: OCR is slow, the caller shows progress."""
    info, pages = parser_for(path).open(path, ocr_mode)
    if not info.title:
        info.title = nfc(path.stem)
    return info, pages


def read_all_pages(path: Path, ocr_mode: str = "auto",
                   on_page: Callable[[Page], None] | None = None) -> tuple[DocumentInfo, list[Page]]:
    """Every page, with the document-level cleaning (`structure.finish_pages`) applied."""
    info, read_page = read_document(path, ocr_mode)
    pages = []
    for number in range(1, info.pages + 1):
        pages.append(read_page(number))
        if on_page:
            on_page(pages[-1])
    return info, finish_pages(pages)
