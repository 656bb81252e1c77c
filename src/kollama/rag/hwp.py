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
    join_spaced_labels,
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


def _one_line(text: str) -> str:
    """A cell or paragraph as one line: its paragraphs' spread-out labels joined, then whitespace collapsed."""
    return nfc(re.sub(r"\s+", " ", join_spaced_labels(text)).strip())


def _table_blocks(table, paragraph: int) -> list[Block]:
    """A table -> rows with merged cells filled in (spanned columns written once) -> 'header: value' lines.
    Cell text keeps its paragraphs apart ('\n'): a box laying out prose gives them back as paragraphs, a
    data cell reads them as one line. A first row that is one cell across the whole table (a form's
    title) is the table's caption, not a column label repeated on every row."""
    cells = [cell for cell in table.cells if 0 <= cell.col < table.n_cols and 0 <= cell.row < table.n_rows]
    if table.n_cols <= 3 and any(len(cell.text) > LAYOUT_CELL for cell in cells):
        # a box that lays out prose (a ruling's whole body sits in one cell): its cell paragraphs are paragraphs
        blocks = []
        for cell in sorted(cells, key=lambda c: (c.row, c.col)):
            for line in cell.text.split("\n"):
                text = _one_line(line)
                if text:
                    blocks.append(Block("heading" if is_heading(text, 0.0, 1.0) else "text", text, paragraph=paragraph))
        return blocks
    grid = [["" for _ in range(table.n_cols)] for _ in range(table.n_rows)]
    spans_all = set()
    for cell in cells:
        text = _one_line(cell.text)
        if text and table.n_cols > 1 and cell.col == 0 and getattr(cell, "col_span", 1) >= table.n_cols:
            spans_all.add(cell.row)
        for r in range(cell.row, min(cell.row + max(cell.row_span, 1), table.n_rows)):
            grid[r][cell.col] = text
    captions = []
    while grid and 0 in spans_all and grid[0][0] and len(grid) > 2:
        captions.append(grid.pop(0)[0])
        spans_all = {r - 1 for r in spans_all if r > 0}
    caption = " ".join(captions)
    rows = [row for row in grid if any(row)]
    if not rows:
        return [Block("text", caption, paragraph=paragraph)] if caption else []
    if len(rows) == 1 or max(len([c for c in row if c]) for row in rows) < 2:
        text = " ".join(dict.fromkeys([caption] * bool(caption) + [c for row in rows for c in row if c]))
        return [Block("text", text, paragraph=paragraph)]
    headers = header_row_count(rows) or 1
    lines = table_rows_as_text(rows[headers:], column_labels(rows[:headers]))
    return [Block("table", "\n".join(lines), rows, paragraph=paragraph, caption=caption)]


def _blocks(syhwp_blocks: list, paragraph: int) -> list[Block]:
    import syhwp

    blocks = []
    for item in syhwp_blocks:
        if isinstance(item, syhwp.Table):
            blocks.extend(_table_blocks(item, paragraph))
            continue
        text = _one_line(item.text.replace("[그림]", " "))
        if text and not isinstance(item, syhwp.Image):
            blocks.append(Block("heading" if is_heading(text, 0.0, 1.0) else "text", text, paragraph=paragraph))
    return blocks


def _hwp5_table(ctrl):
    """syhwp's table record reader, with each cell's paragraphs kept apart by '\n' (syhwp joins them)."""
    from syhwp import _hwp5
    from syhwp.models import Cell, Table

    table_rec = next((c for c in ctrl.children if c.tag == _hwp5.HWPTAG_TABLE), None)
    if table_rec is None or len(table_rec.payload) < 8:
        return None
    n_rows, n_cols = _hwp5.table_dimensions(table_rec.payload)
    if n_rows <= 0 or n_cols <= 0:
        return None
    cells, children = [], ctrl.children
    i = next((n for n, c in enumerate(children) if c.tag == _hwp5.HWPTAG_TABLE), -1) + 1
    while i < len(children):
        node = children[i]
        i += 1
        if node.tag != _hwp5.HWPTAG_LIST_HEADER or len(node.payload) < 16:
            continue
        n_para, col, row, col_span, row_span = _hwp5.cell_address(node.payload)
        paras = []
        while i < len(children) and len(paras) < n_para:
            if children[i].tag == _hwp5.HWPTAG_PARA_HEADER:
                paras.append(children[i])
            i += 1
        text = "\n".join(_hwp5._cell_text([para]) for para in paras)
        cells.append(Cell(row=row, col=col, text=text, row_span=max(1, row_span), col_span=max(1, col_span)))
    return Table(n_rows=n_rows, n_cols=n_cols, cells=cells)


def _hwp5_emit(node, found: list, depth: int = 0) -> None:
    """syhwp's paragraph walk (text, then the objects anchored in it) with `_hwp5_table` for tables."""
    from syhwp import _hwp5
    from syhwp.models import Equation, Image, Paragraph

    if depth >= _hwp5._MAX_EMIT_DEPTH:
        return
    if node.tag == _hwp5.HWPTAG_PARA_HEADER:
        text = _hwp5.normalize(" ".join(_hwp5.decode_para_text(c.payload) for c in node.children
                                        if c.tag == _hwp5.HWPTAG_PARA_TEXT))
        if text:
            found.append(Paragraph(text))
        for child in node.children:
            if child.tag == _hwp5.HWPTAG_CTRL_HEADER:
                _hwp5_emit(child, found, depth + 1)
        return
    if node.tag == _hwp5.HWPTAG_CTRL_HEADER:
        if len(node.payload) < 4:
            return
        ctrl_id = node.payload[:4]
        if ctrl_id in (_hwp5._CTRL_ID_TABLE, _hwp5._CTRL_ID_EQUATION):
            for para in _hwp5._caption_paragraphs(node):
                _hwp5_emit(para, found, depth + 1)
            item = _hwp5_table(node) if ctrl_id == _hwp5._CTRL_ID_TABLE else Equation(_hwp5._equation_script(node))
            if item is not None:
                found.append(item)
            return
        before = len(found)
        for child in node.children:
            _hwp5_emit(child, found, depth + 1)
        if ctrl_id == _hwp5._CTRL_ID_GSO and len(found) == before:
            found.append(Image())
        return
    for child in node.children:  # list headers and other containers of a control
        _hwp5_emit(child, found, depth + 1)


def _local(tag) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _hwpx_paragraph_text(paragraph) -> str:
    """A paragraph's runs joined as they are (runs split words where formatting changes)."""
    parts = []
    for element in paragraph.iter():
        name = _local(element.tag)
        if name == "t":
            parts.append("".join(element.itertext()))
        elif name == "pic":
            parts.append(" ")
    return " ".join("".join(parts).split())


def _hwpx_table(tbl):
    """An OWPML table with each cell at its own address and span (syhwp numbers cells by their order in
    the row, which shifts every cell after a merged one) and its paragraphs kept apart by '\n'."""
    from syhwp import _hwpx
    from syhwp.models import Cell, Table

    cells = []
    for r, tr in enumerate(_hwpx._direct(tbl, "tr")):
        for c, tc in enumerate(_hwpx._direct(tr, "tc")):
            addr = next((e for e in tc if _local(e.tag) == "cellAddr"), None)
            span = next((e for e in tc if _local(e.tag) == "cellSpan"), None)
            row = int(addr.get("rowAddr", r)) if addr is not None else r
            col = int(addr.get("colAddr", c)) if addr is not None else c
            row_span = int(span.get("rowSpan", 1)) if span is not None else 1
            col_span = int(span.get("colSpan", 1)) if span is not None else 1
            paragraphs = _hwpx._direct(tc, "p")
            text = "\n".join(_hwpx_paragraph_text(p) for p in paragraphs) if paragraphs else _hwpx._cell_text(tc)
            cells.append(Cell(row=row, col=col, text=text, row_span=max(1, row_span), col_span=max(1, col_span)))
    n_rows = max([int(tbl.get("rowCnt", 0))] + [c.row + c.row_span for c in cells])
    n_cols = max([int(tbl.get("colCnt", 0))] + [c.col + c.col_span for c in cells])
    return Table(n_rows=n_rows, n_cols=n_cols, cells=cells)


def _hwpx_emit(root, found: list) -> None:
    """syhwp's OWPML walk (paragraphs, tables with captions, equations, pictures) with `_hwpx_table`."""
    from syhwp import _hwpx
    from syhwp.models import Equation, Image, Paragraph

    runs: list[str] = []

    def flush() -> None:
        text = _hwpx.normalize("".join(runs))
        if text:
            found.append(Paragraph(text))
        runs.clear()

    def walk(node) -> None:
        for child in node:
            name = _local(child.tag)
            if name == "tbl":
                flush()
                caption = _hwpx._caption_text(child)
                if caption:
                    found.append(Paragraph(caption))
                found.append(_hwpx_table(child))
            elif name == "equation":
                flush()
                found.append(Equation(_hwpx._equation_script(child)))
            elif name == "pic":
                flush()
                found.append(Image())
            elif name == "t":
                runs.append("".join(child.itertext()))
            elif name == "p":
                walk(child)
                flush()
            else:
                walk(child)

    walk(root)
    flush()


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
                _hwp5_emit(node, found)
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
                _hwpx_emit(paragraph, found)
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
