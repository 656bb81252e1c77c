"""Render the Korean RAG test corpus (tests/data/rag_corpus.yaml) to PDFs with reportlab and the Nanum font.

Shared by the rag tests and benchmarks/rag.py. Besides plain text pages it makes the hard cases:
tables drawn cell by cell, a page that is only a picture of text (needs OCR), a page whose text layer is NFD.
"""

from __future__ import annotations

import io
import json
import unicodedata
from pathlib import Path

import yaml

DATA = Path(__file__).resolve().parent / "data"
FONT = "/usr/share/fonts/truetype/nanum/NanumGothic.ttf"
PAGE_W, PAGE_H = 595.0, 842.0  # A4 in points
MARGIN = 56.0


def corpus_spec() -> dict:
    return yaml.safe_load((DATA / "rag_corpus.yaml").read_text(encoding="utf-8"))


def qa_items() -> list[dict]:
    return [json.loads(line) for line in (DATA / "rag_qa.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]


def _page_blocks(page) -> tuple[list[dict], dict]:
    if isinstance(page, list):
        return page, {}
    return page["blocks"], page


def _wrap(text: str, font: str, size: float, width: float) -> list[str]:
    from reportlab.pdfbase.pdfmetrics import stringWidth

    lines, current = [], ""
    for word in text.split(" "):
        candidate = f"{current} {word}".strip()
        if current and stringWidth(candidate, font, size) > width:
            lines.append(current)
            current = word
        else:
            current = candidate
    if current:
        lines.append(current)
    return lines


def _draw_blocks(canvas, blocks: list[dict], transform=lambda s: s) -> None:
    y = PAGE_H - MARGIN
    for block in blocks:
        if "heading" in block:
            y -= 10
            canvas.setFont("Nanum", 15)
            canvas.drawString(MARGIN, y, transform(block["heading"]))
            y -= 24
        elif "text" in block:
            canvas.setFont("Nanum", 11)
            for line in _wrap(block["text"], "Nanum", 11, PAGE_W - 2 * MARGIN):
                canvas.drawString(MARGIN, y, transform(line))
                y -= 17
            y -= 6
        elif "table" in block:
            canvas.setFont("Nanum", 10)
            rows = block["table"]
            col_w = (PAGE_W - 2 * MARGIN) / len(rows[0])
            top = y + 13
            for row in rows:
                for i, cell in enumerate(row):
                    canvas.drawString(MARGIN + i * col_w + 4, y, transform(str(cell)))
                y -= 20
            for r in range(len(rows) + 1):
                canvas.line(MARGIN, top - r * 20, PAGE_W - MARGIN, top - r * 20)
            for c in range(len(rows[0]) + 1):
                canvas.line(MARGIN + c * col_w, top, MARGIN + c * col_w, top - len(rows) * 20)
            y -= 10


def _scanned_image(blocks: list[dict], dpi: int = 200):
    """A page-sized picture of the text, like a scan: no text layer at all."""
    from PIL import Image, ImageDraw, ImageFont

    scale = dpi / 72.0
    image = Image.new("L", (int(PAGE_W * scale), int(PAGE_H * scale)), 255)
    draw = ImageDraw.Draw(image)
    y = MARGIN * scale
    for block in blocks:
        size = 15 if "heading" in block else 11
        font = ImageFont.truetype(FONT, int(size * scale))
        text = block.get("heading") or block.get("text")
        draw.text((MARGIN * scale, y), text, font=font, fill=0)
        y += (size + 14) * scale
    return image


def build_pdf(doc: dict, path: Path) -> Path:
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas as pdf_canvas

    if "Nanum" not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont("Nanum", FONT))
    canvas = pdf_canvas.Canvas(str(path), pagesize=(PAGE_W, PAGE_H))
    canvas.setTitle(doc["title"])
    canvas.setAuthor(doc["author"])
    canvas.setSubject(doc.get("subject", ""))
    for page in doc["pages"]:
        blocks, flags = _page_blocks(page)
        if flags.get("image_only"):
            buffer = io.BytesIO()
            _scanned_image(blocks).save(buffer, format="PNG")
            buffer.seek(0)
            canvas.drawImage(ImageReader(buffer), 0, 0, width=PAGE_W, height=PAGE_H)
        elif flags.get("nfd"):
            _draw_blocks(canvas, blocks, transform=lambda s: unicodedata.normalize("NFD", s))
        else:
            _draw_blocks(canvas, blocks)
        canvas.showPage()
    canvas.save()
    return path


def build_corpus(folder: Path) -> list[Path]:
    """Write every corpus PDF into `folder`; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    return [build_pdf(doc, folder / doc["file"]) for doc in corpus_spec()["documents"]]


def write_qa(path: Path) -> Path:
    path.write_text((DATA / "rag_qa.jsonl").read_text(encoding="utf-8"), encoding="utf-8")
    return path
