"""`rag doctor`: what makes this PDF work (or not) for RAG, criterion by criterion, with a fix for each."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from pathlib import Path

from kollama.errors import KollamaError
from kollama.korean.morphology import tokenize
from kollama.rag.documents import read_all_pages
from kollama.rag.pages import DocumentInfo, Page

MIN_SCAN_DPI = 300
_SPACED_PAIR = re.compile(r"([가-힣]{2,})\s+([가-힣]{2,})")
_LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z0-9-]{1,}")


def _criterion(status: str, detail: str, suggestion: str, **extra) -> dict:
    return {"status": status, "detail": detail, "suggestion": suggestion, **extra}


def page_issues(page: Page) -> list[str]:
    issues = []
    q = page.quality
    if q.chars == 0:
        issues.append("no text layer")
    elif q.unusable:
        issues.append("mostly garbage characters (font without Unicode map)")
    elif page.needs_ocr:
        issues.append(f"little text ({q.chars} characters) over an image")
    if q.garbage_ratio > 0:
        issues.append(f"garbage characters {q.garbage_ratio:.0%}")
    if q.nfd:
        issues.append("decomposed Hangul (NFD)")
    if q.missing_spaces:
        issues.append("missing spaces between words")
    for image in page.images:
        if page.needs_ocr and image.dpi < MIN_SCAN_DPI:
            issues.append(f"scanned image at {image.dpi:.0f} dpi")
    return issues


def spelling_variants(text: str) -> list[list[str]]:
    """The same term written two ways: with and without a space ('연차 휴가'/'연차휴가'), or Latin case/hyphens."""
    variants = []
    for first, second in set(_SPACED_PAIR.findall(text)):
        for cut in range(len(second), 1, -1):  # drop particles from the end of the second word
            joined = first + second[:cut]
            if joined in text.replace(f"{first} {second[:cut]}", ""):
                variants.append(sorted([f"{first} {second[:cut]}", joined]))
                break
    forms: dict[str, set[str]] = defaultdict(set)
    for word in _LATIN_WORD.findall(text):
        forms[word.lower().replace("-", "")].add(word)
    variants += [sorted(group) for group in forms.values() if len(group) > 1]
    return sorted(map(list, {tuple(v) for v in variants}))


def keywords(text: str, n: int = 10) -> list[str]:
    counts = Counter(t.form for t in tokenize(text) if t.tag in ("NNG", "NNP") and len(t.form) >= 2)
    return [term for term, _ in counts.most_common(n)]


def diagnose(path: Path) -> dict:
    """The report for one file: `{"file", "pages": [...], "metadata": {...}, "criteria": {...}}`."""
    if not path.is_file():
        raise KollamaError(f"no such file: '{path}'")
    info, pages = read_all_pages(path, ocr_mode="never")
    return build_report(path, info, pages)


def build_report(path: Path, info: DocumentInfo, pages: list[Page]) -> dict:
    text = "\n".join(page.text for page in pages)
    headings = [b.text for p in pages for b in p.blocks if b.kind == "heading"]
    lists = sum(1 for p in pages for b in p.blocks if b.kind == "list")
    tables = sum(1 for p in pages for b in p.blocks if b.kind == "table")
    ocr_pages = [p.number for p in pages if p.needs_ocr]
    bad_layer = {p.number: page_issues(p) for p in pages
                 if p.quality.garbage_ratio > 0 or p.quality.nfd or p.quality.missing_spaces}
    image_pages = [p for p in pages if p.images]
    low_dpi = sorted({p.number for p in image_pages for i in p.images if p.needs_ocr and i.dpi < MIN_SCAN_DPI})
    variants = spelling_variants(text)
    metadata = {"title": info.title if info.title != path.stem else "", "author": info.author, "subject": info.subject,
                "created": info.created, "modified": info.modified, "pages": info.pages}
    missing_meta = [k for k in ("title", "author", "created") if not metadata[k]]
    text_pages = sum(1 for p in pages if p.quality.chars > 0)
    toc_pages = [p.number for p in pages if p.kind == "toc"]
    running = sorted({line for p in pages for line in p.running if not line.strip().isdigit()})
    unit = "p." if info.unit == "page" else "§"

    criteria = {
        "structure": _criterion(
            "ok" if headings else "warn",
            f"{len(headings)} headings, {lists} list items, {tables} tables",
            "headings become part of every chunk's indexed text; keep them" if headings else
            "add section headings (larger font or '제1조', '1.' numbering) so chunks carry their context",
            headings=headings[:20], lists=lists, tables=tables),
        "metadata": _criterion(
            "ok" if not missing_meta else "warn",
            "title, author and dates present" if not missing_meta else f"missing: {', '.join(missing_meta)}",
            "nothing to do" if not missing_meta else
            "set the document properties (title, author) when exporting; the title is prefixed to every chunk"),
        "text_layer": _criterion(
            "ok" if not bad_layer else "warn",
            "clean text on every page with text" if not bad_layer else
            "; ".join(f"p.{n}: {', '.join(i)}" for n, i in bad_layer.items()),
            "nothing to do" if not bad_layer else
            "re-export with embedded Unicode fonts; kollama normalises NFD to NFC, but garbage text needs OCR",
            pages=sorted(bad_layer)),
        "ocr": _criterion(
            "ok" if not ocr_pages else "warn",
            "every page has a text layer" if not ocr_pages else f"pages {ocr_pages} have no usable text and need OCR",
            "nothing to do" if not ocr_pages else
            "kollama rag add OCRs these pages with tesseract (kor); a born-digital PDF is more accurate",
            pages=ocr_pages),
        "scan_resolution": _criterion(
            "ok" if not low_dpi else "warn",
            "no scanned pages" if not image_pages else
            ", ".join(f"p.{p.number}: {max(i.dpi for i in p.images):.0f} dpi" for p in image_pages),
            "nothing to do" if not low_dpi else f"rescan pages {low_dpi} at {MIN_SCAN_DPI} dpi or more for reliable OCR",
            pages=low_dpi),
        "keywords": _criterion("info", ", ".join(keywords(text)) or "no text", "check that these match what users will ask",
                               terms=keywords(text)),
        "consistency": _criterion(
            "ok" if not variants else "warn",
            "terms are spelled consistently" if not variants else
            "; ".join(" / ".join(v) for v in variants[:10]),
            "nothing to do" if not variants else "use one spelling per term so keyword search finds every mention",
            variants=variants),
        "toc": _criterion(
            "info", f"table of contents on {unit}{', '.join(map(str, toc_pages))}" if toc_pages else "no table of contents found",
            "kept searchable but ranked below content pages, and never cited alone for an answer",
            pages=toc_pages),
        "running_lines": _criterion(
            "info", "; ".join(running[:5]) if running else "no running headers or footers found",
            "page headers, footers and page numbers are removed from chunk text and kept as metadata",
            lines=running),
        "mixed_formats": _criterion(
            "info", f"{text_pages} pages with text, {tables} tables, {len(image_pages)} pages with images",
            "tables are indexed row by row ('header: value'); images are only read when a page needs OCR",
            text_pages=text_pages, tables=tables, image_pages=[p.number for p in image_pages]),
    }
    return {
        "file": str(path),
        "unit": info.unit,
        "pages": [{"page": p.number, "chars": p.quality.chars, "needs_ocr": p.needs_ocr,
                   "issues": page_issues(p)} for p in pages],
        "metadata": metadata,
        "criteria": criteria,
    }
