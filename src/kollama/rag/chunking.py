"""Pages -> chunks: Kiwi sentences packed to a token budget with overlap, never across a heading.

Each chunk keeps its document, page and heading; its indexed text starts with the document title and
heading so two similar documents (two companies' leave rules) stay apart in both BM25 and dense search.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from kollama.korean.morphology import split_sentences
from kollama.rag.pages import Page

DEFAULT_BUDGET = 160  # embedder tokens per chunk body
DEFAULT_OVERLAP = 40


@dataclass
class Chunk:
    index: int  # position in the document
    page: int  # PDF page, or HWP/HWPX section
    heading: str
    text: str
    paragraph: int | None = None  # HWP/HWPX: first paragraph of the chunk
    toc: bool = False  # from a table-of-contents page
    paragraphs: list[int | None] | None = None  # HWP/HWPX: the paragraph of each line of `text`
    form: bool = False  # from a blank form to fill in (an RFP's '【서식 2】 입찰참가신청서'): ranked below content

    def indexed_text(self, title: str) -> str:
        """Title and heading path, then the text; a text that starts with its own heading (HWP keeps headings
        in the text) does not repeat it."""
        prefix = f"{title} > {self.heading}" if self.heading else title
        last = self.heading.rsplit(" > ", 1)[-1] if self.heading else ""
        text = self.text[len(last):].lstrip("\n") if last and self.text.startswith(last + "\n") else self.text
        return f"{prefix}\n{text}"


def _units(page: Page) -> list[tuple[str, str, int | None]]:
    """(marker, sentence or table row, paragraph) in reading order; marker '#' is a heading, '@' a table
    caption (a heading for the table's rows unless it already is the current heading)."""
    units = []
    for block in page.blocks:
        if block.kind == "heading":
            units.append(("#1" if block.level == 1 else "#", block.text, block.paragraph))
        elif block.kind == "table":
            if block.caption:
                units.append(("@", block.caption, block.paragraph))
            units.extend(("", row, block.paragraph) for row in block.text.split("\n") if row.strip())
        else:
            units.extend(("", sentence, block.paragraph) for sentence in split_sentences(block.text) if sentence.strip())
    return units


def _pieces(text: str, count_tokens: Callable[[str], int], budget: int) -> list[tuple[str, int]]:
    """A unit longer than the budget (a long table row, a run-on sentence) cut into pieces of about equal
    length at ' | ' (table cells), else at spaces, else anywhere; each piece is checked and cut again if
    still too long. Cuts are placed by length, so the text is tokenized about twice, not once per word."""
    tokens = count_tokens(text)
    if tokens <= budget:
        return [(text, tokens)]
    wanted = math.ceil(tokens / (budget * 0.9))
    for separator in (" | ", " "):
        positions = [match.start() for match in re.finditer(re.escape(separator), text)]
        if not positions:
            continue
        cuts = sorted({min(positions, key=lambda p: abs(p - len(text) * i / wanted)) for i in range(1, wanted)})
        starts = [0, *(cut + len(separator) for cut in cuts)]
        pieces = [text[a:b] for a, b in zip(starts, [*cuts, len(text)])]
        pieces = [piece for piece in pieces if piece.strip()]
        if len(pieces) > 1:
            return [piece for text_ in pieces for piece in _pieces(text_, count_tokens, budget)]
    half = len(text) // 2
    return _pieces(text[:half], count_tokens, budget) + _pieces(text[half:], count_tokens, budget)


def _overlap_tail(window: list[tuple[str, int, int | None]], overlap: int) -> list[tuple[str, int, int | None]]:
    """The last sentences of a full chunk, up to `overlap` tokens, to start the next one with."""
    kept, total = [], 0
    for entry in reversed(window):
        if total + entry[1] > overlap:
            break
        kept.insert(0, entry)
        total += entry[1]
    return kept if len(kept) < len(window) else []


def chunk_pages(pages: list[Page], count_tokens: Callable[[str], int],
                budget: int = DEFAULT_BUDGET, overlap: int = DEFAULT_OVERLAP) -> list[Chunk]:
    """Chunks never cross a page (citations stay exact) nor a heading (each chunk has one context)."""
    chunks: list[Chunk] = []
    heading_path: list[str] = []
    caption = ""
    titled = False  # the path starts with a title set in a larger font (an article of a newsletter)

    def emit(page: Page, window: list[tuple[str, int, int | None]]) -> None:
        if window:
            heading = " > ".join([*heading_path, caption] if caption else heading_path)
            paragraphs = [p for _, _, p in window]
            chunks.append(Chunk(len(chunks), page.number, heading, "\n".join(s for s, _, _ in window), window[0][2],
                                page.kind == "toc", paragraphs if any(p is not None for p in paragraphs) else None))

    for page in pages:
        window: list[tuple[str, int, int | None]] = []
        for marker, text, paragraph in _units(page):
            if marker in ("#", "#1", "@"):
                if marker == "@" and (text in heading_path or text == caption):
                    continue
                emit(page, window)
                window = []
                if marker == "#1":  # a title in a larger font starts a new path
                    heading_path, caption, titled = [text], "", True
                elif marker == "#":
                    heading_path, caption = _push_heading(heading_path, text, titled), ""
                    titled = titled and len(heading_path) > 1
                else:
                    caption = text
                if paragraph is None:
                    continue
                # HWP headings are guessed from numbering alone: keep them in the text too, so no fact is lost
            for piece, tokens in _pieces(text, count_tokens, budget):
                if window and sum(t for _, t, _ in window) + tokens > budget:
                    emit(page, window)
                    window = _overlap_tail(window, overlap)
                window.append((piece, tokens, paragraph))
        emit(page, window)
    mark_forms(chunks)
    return chunks


CHAPTER = re.compile(r"^(제\s*\d+\s*[장편]|<\s*별표|\[\s*별표|별표\s*\d|부\s*칙|[<\[【]\s*(별지|서식))")


def _push_heading(path: list[str], heading: str, titled: bool = False) -> list[str]:
    """Keep a two-level path: a chapter ('제2장', an appendix '[별표1]') or a title set in a larger font,
    and the section under it."""
    if CHAPTER.match(heading) or not path:
        return [heading]
    return [path[0], heading] if CHAPTER.match(path[0]) or titled else [heading]


FORM_HEADING = re.compile(r"^\s*([<\[【〔(（]\s*(별지|서식|양식)|(별지|서식|양식)\s*(제\s*)?\d)")
# what is left blank for the reader to fill in: '(인)', '귀하', '2023. 7. .', '년  월  일', '일금 원정', '(   )',
# a label with nothing after it ('업체명 :')
FORM_BLANKS = re.compile(r"\((인|서명|서명\s*또는\s*인|날인)\)|귀하\s*$|\d{4}\s*\.\s*\d{0,2}\s*\.\s*\.|년\s+월\s+일|"
                         r"일금\s+원정|\(\s{2,}\)|[가-힣]\s*:\s*$", re.MULTILINE)


def mark_forms(chunks: list[Chunk]) -> None:
    """Chunks of a blank form: a section whose heading names a form ('【서식 3】', '[별지 제2호 서식]', '양식 1')
    and that leaves fields to fill in ('(인)', '귀하', '업체명 :'). An RFP or a guideline ends with a dozen such
    forms, each restating the project's name, so they outrank the one passage that answers a question about
    the project; search ranks them lower (they stay searchable: what only a form says is still found)."""
    sections: dict[str, list[Chunk]] = {}
    for chunk in chunks:
        top = chunk.heading.split(" > ", 1)[0] if chunk.heading else ""
        if FORM_HEADING.match(top):
            sections.setdefault(f"{chunk.page}:{top}", []).append(chunk)
    for members in sections.values():
        if any(FORM_BLANKS.search(chunk.text) for chunk in members):
            for chunk in members:
                chunk.form = True
