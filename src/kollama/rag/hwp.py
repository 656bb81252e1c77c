"""HWP 5.x and HWPX documents through `syhwp`, a maintained pure-Python reader (MIT, needs only olefile).

Chosen over hwp-hwpx-parser, hwpkit, extract-hwp and gethwp after running all of them on seven real
government files (see README, "HWP and HWPX"): syhwp read all seven, fastest, and is the only one that
returns paragraphs and tables in reading order with merged cells. HWP has no fixed pages, so a "page"
here is a section and every block keeps its paragraph number: citations read `[제목 §2 ¶14]`.

Password-protected and distribution-protected (배포용) files are refused with one clear line: the
author asked that the text not be copied out. Damaged files get one line too.
"""

from __future__ import annotations

import re
import struct
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

from kollama.errors import KollamaError
from kollama.korean.morphology import nfc
from kollama.rag.pages import (
    Block,
    DocumentInfo,
    Page,
    is_heading,
    column_labels,
    table_rows_as_text,
)
from kollama.rag.pdf_layout import header_row_count
from kollama.rag.text_quality import measure

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"
HWP_SIGNATURE = b"HWP Document File"
FLAG_PASSWORD = 0x02
FLAG_DISTRIBUTION = 0x04
LAYOUT_CELL = 300  # characters: a table cell this long holds prose, not data
_DAMAGED = (zlib.error, struct.error, ValueError, EOFError, OSError, KeyError, IndexError, zipfile.BadZipFile)


def _damaged(path: Path, why: str) -> KollamaError:
    why = why if len(why) <= 80 else why[:77] + "..."
    return KollamaError(f"{path.name}: the {path.suffix.lstrip('.').upper()} file is damaged or truncated ({why})",
                        hint="re-save it in Hancom Office (한글) or re-download it")


def _table_blocks(table, paragraph: int) -> list[Block]:
    """A syhwp table -> rows with merged cells filled in (spanned columns written once) -> 'header: value' lines."""
    grid = [["" for _ in range(table.n_cols)] for _ in range(table.n_rows)]
    for cell in table.cells:
        text = nfc(re.sub(r"\s+", " ", cell.text).strip())
        for r in range(cell.row, min(cell.row + max(cell.row_span, 1), table.n_rows)):
            if 0 <= cell.col < table.n_cols:
                grid[r][cell.col] = text
    rows = [row for row in grid if any(row)]
    if not rows:
        return []
    if table.n_cols <= 3 and any(len(cell) > LAYOUT_CELL for row in rows for cell in row):
        # a box that lays out prose (a ruling's whole body sits in one cell): its cell paragraphs are paragraphs
        blocks = []
        for cell in table.cells:
            for line in cell.text.split("\n"):
                text = nfc(re.sub(r"\s+", " ", line).strip())
                if text:
                    blocks.append(Block("heading" if is_heading(text, 0.0, 1.0) else "text", text, paragraph=paragraph))
        return blocks
    if len(rows) == 1 or max(len([c for c in row if c]) for row in rows) < 2:
        return [Block("text", " ".join(dict.fromkeys(c for row in rows for c in row if c)), paragraph=paragraph)]
    headers = header_row_count(rows) or 1
    lines = table_rows_as_text(rows[headers:], column_labels(rows[:headers]))
    return [Block("table", "\n".join(lines), rows, paragraph=paragraph)]


def _blocks(syhwp_blocks: list, paragraph: int) -> list[Block]:
    import syhwp

    blocks = []
    for item in syhwp_blocks:
        if isinstance(item, syhwp.Table):
            blocks.extend(_table_blocks(item, paragraph))
            continue
        text = nfc(re.sub(r"\s+", " ", item.text.replace("[그림]", " ")).strip())
        if text and not isinstance(item, syhwp.Image):
            blocks.append(Block("heading" if is_heading(text, 0.0, 1.0) else "text", text, paragraph=paragraph))
    return blocks


def _hwp5_sections(path: Path) -> tuple[list[list[Block]], dict]:
    import olefile
    from syhwp import (
        _hwp5,  # per-section paragraphs: syhwp's public API flattens sections (pinned version)
    )

    if not olefile.isOleFile(str(path)):
        raise _damaged(path, "not an OLE compound file")
    try:
        with olefile.OleFileIO(str(path)) as ole:
            header = ole.openstream("FileHeader").read() if ole.exists("FileHeader") else b""
            meta = _hwp5_summary(ole)
    except _DAMAGED as exc:
        raise _damaged(path, str(exc) or type(exc).__name__) from None
    if not header.startswith(HWP_SIGNATURE) or len(header) < 40:
        raise _damaged(path, "no HWP file header")
    (flags,) = struct.unpack_from("<I", header, 36)
    if flags & FLAG_PASSWORD:
        raise KollamaError(f"{path.name}: the HWP file is password protected (encrypted)",
                           hint="save an unprotected copy in Hancom Office (한글)")
    if flags & FLAG_DISTRIBUTION:
        raise KollamaError(f"{path.name}: the HWP file is distribution-protected (배포용 문서), its text may not be copied",
                           hint="ask the author for an ordinary HWP, or a PDF with a text layer")
    try:
        _, sections = _hwp5._read_hwp5(str(path))
        result = []
        for records in sections:
            root = _hwp5._build_tree(records)
            paragraphs = [node for node in root.children if node.tag == _hwp5.HWPTAG_PARA_HEADER]
            blocks: list[Block] = []
            for number, node in enumerate(paragraphs, start=1):
                found: list = []
                _hwp5._emit_paragraph(node, found)
                blocks.extend(_blocks(found, number))
            result.append(blocks)
    except KollamaError:
        raise
    except Exception as exc:  # noqa: BLE001 - syhwp and zlib raise many kinds of errors on damaged streams
        raise _damaged(path, str(exc) or type(exc).__name__) from None
    return result, meta


def _hwp5_summary(ole) -> dict:
    """Title, author, subject and dates from the HwpSummaryInformation property set (best effort)."""
    name = "\x05HwpSummaryInformation"
    if not ole.exists(name):
        return {}
    try:
        props = ole.getproperties(name, convert_time=True)
    except Exception:  # noqa: BLE001 - an unreadable summary is not a reason to refuse the document
        return {}

    def text(key: int) -> str:
        value = props.get(key)  # olefile reads these UTF-16 strings with a wrong length: keep up to the first NUL
        return nfc(value.split("\x00")[0].strip()) if isinstance(value, str) else ""

    def date(key: int) -> str:
        value = props.get(key)
        return value.isoformat(timespec="seconds") if hasattr(value, "isoformat") else ""

    return {"title": text(2), "subject": text(3), "author": text(4), "created": date(12), "modified": date(13)}


def _hwpx_sections(path: Path) -> tuple[list[list[Block]], dict]:
    import xml.etree.ElementTree as ET

    from syhwp import _hwpx

    try:
        archive = zipfile.ZipFile(path)
    except _DAMAGED as exc:
        raise _damaged(path, str(exc) or type(exc).__name__) from None
    with archive:
        names = archive.namelist()
        manifest = archive.read("META-INF/manifest.xml").decode("utf-8", "replace") if "META-INF/manifest.xml" in names else ""
        if "encryption-data" in manifest:
            raise KollamaError(f"{path.name}: the HWPX file is password protected (encrypted)",
                               hint="save an unprotected copy in Hancom Office (한글)")
        section_names = sorted((n for n in names if re.search(r"(^|/)section\d+\.xml$", n, re.IGNORECASE)),
                               key=lambda n: int(re.search(r"(\d+)\.xml$", n).group(1)))
        if not section_names:
            raise _damaged(path, "no Contents/section*.xml")
        meta = _hwpx_meta(archive, names)
        result = []
        for name in section_names:
            try:
                root = ET.fromstring(archive.read(name))
            except (ET.ParseError, *_DAMAGED) as exc:
                raise _damaged(path, f"{name}: {exc}") from None
            blocks: list[Block] = []
            paragraphs = [child for child in root if child.tag.rsplit("}", 1)[-1] == "p"]
            for number, paragraph in enumerate(paragraphs, start=1):
                found: list = []
                _hwpx._emit_blocks(paragraph, found)
                blocks.extend(_blocks(found, number))
            result.append(blocks)
    return result, meta


def _hwpx_meta(archive: zipfile.ZipFile, names: list[str]) -> dict:
    hpf = next((n for n in names if n.lower().endswith("content.hpf")), None)
    if not hpf:
        return {}
    xml = archive.read(hpf).decode("utf-8", "replace")

    def find(pattern: str) -> str:
        match = re.search(pattern, xml)
        return nfc(match.group(1).strip()) if match else ""

    return {"title": find(r"<opf:title>([^<]*)</opf:title>"), "author": find(r'name="creator"[^>]*>([^<]*)<'),
            "subject": find(r'name="subject"[^>]*>([^<]*)<'), "created": find(r'name="CreatedDate"[^>]*>([^<]*)<'),
            "modified": find(r'name="ModifiedDate"[^>]*>([^<]*)<')}


class HwpParser:
    """`.hwp` (HWP 5.x, OLE2) and `.hwpx` (OWPML zip); the file's magic bytes decide, not its name."""

    suffixes = (".hwp", ".hwpx")

    def open(self, path: Path, ocr_mode: str = "auto") -> tuple[DocumentInfo, Callable[[int], Page]]:
        with open(path, "rb") as handle:
            head = handle.read(8)
        if head.startswith(OLE_MAGIC):
            sections, meta = _hwp5_sections(path)
        elif head.startswith(ZIP_MAGIC):
            sections, meta = _hwpx_sections(path)
        else:
            raise KollamaError(f"{path.name}: not an HWP or HWPX file (damaged, or another format renamed)",
                               hint="open and re-save it in Hancom Office (한글)")
        if not any(sections):
            raise _damaged(path, "no readable text in any section")
        pages = []
        for number, blocks in enumerate(sections, start=1):
            text = "\n".join(block.text for block in blocks)
            pages.append(Page(number, blocks, measure(text), unit="section"))
        title = meta.get("title", "")
        if len(title) < 4 or not re.search(r"[가-힣A-Za-z]{2}", title):  # template leftovers such as '1111'
            title = ""
        info = DocumentInfo(path=path, title=title, author=meta.get("author", ""),
                            subject=meta.get("subject", ""), created=meta.get("created", ""),
                            modified=meta.get("modified", ""), pages=len(pages), unit="section")
        return info, lambda number: pages[number - 1]
