"""One PDF page as positioned lines and ruled tables, read from pypdfium2's text boxes and path objects.

Word and Hancom draw table borders as thin path objects. Their x/y positions give a grid; each text run
goes to the cell its centre falls in, so a cell that wraps over three lines stays one cell, and merged
cells (no border between two slots) become one. What is left outside the tables is grouped into lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import pairwise

from kollama.korean.morphology import nfc

RULE_THICKNESS = 2.0  # a path thinner than this (pt) in one direction is a border line
RULE_MIN_LENGTH = 4.0
SNAP = 2.5  # positions closer than this (pt) are the same grid line
NUMERIC_CELL = re.compile(r"[-+]?[\d.,]+\s*(%|원|초|분|건|GB|MB|KB|Kbps|Mbps|일|개월|회|만원|원/초|원/건)?(\s*/\s*\S+)?|-")


@dataclass
class Segment:
    """A run of text with its box (PDF points, origin bottom-left) and font size."""

    left: float
    bottom: float
    right: float
    top: float
    text: str
    size: float


@dataclass
class Line:
    """A line of text outside tables (cells split by wide gaps), or a whole table (`rows`)."""

    cells: list[str]
    size: float
    top: float  # 0 at the top of the page, 1 at the bottom
    bottom: float
    rows: list[list[str]] | None = None  # a table: rows of cells, merged cells repeated
    header_rows: int = 0  # how many leading rows are column headers
    running: bool = False  # a repeated page header/footer (kept as metadata, not as text)
    caption: str = ""  # a table's caption (the line above it, or carried from the previous page)
    carried_header: list[str] | None = None  # column labels of a table continued from the previous page

    @property
    def text(self) -> str:
        return " ".join(self.cells)


@dataclass
class _Rule:
    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def horizontal(self) -> bool:
        return self.y1 - self.y0 <= RULE_THICKNESS


@dataclass
class _Grid:
    xs: list[float]
    ys: list[float]  # top to bottom (descending PDF y)
    rules: list[_Rule]
    slots: list[list[list[Segment]]] = field(default_factory=list)

    @property
    def box(self) -> tuple[float, float, float, float]:
        return self.xs[0], self.ys[-1], self.xs[-1], self.ys[0]

    def contains(self, seg: Segment) -> bool:
        x, y = (seg.left + seg.right) / 2, (seg.bottom + seg.top) / 2
        left, bottom, right, top = self.box
        return left - 1 <= x <= right + 1 and bottom - 1 <= y <= top + 1


def page_objects(page, max_depth: int = 15):
    """(type, raw handle, nesting level) of every object of a page, descending into form XObjects, in
    pypdfium2's order. Straight pdfium calls: pypdfium2's `get_objects` builds a Python wrapper for every
    object, and a Word page of table borders has thousands of path objects."""
    import pypdfium2.raw as pdfium_c

    def walk(count, get, parent, level):
        for i in range(count(parent)):
            raw = get(parent, i)
            if not raw:
                continue
            kind = pdfium_c.FPDFPageObj_GetType(raw)
            yield kind, raw, level
            if kind == pdfium_c.FPDF_PAGEOBJ_FORM and level < max_depth - 1:
                yield from walk(pdfium_c.FPDFFormObj_CountObjects, pdfium_c.FPDFFormObj_GetObject, raw, level + 1)

    yield from walk(pdfium_c.FPDFPage_CountObjects, pdfium_c.FPDFPage_GetObject, page.raw, 0)


def _rules(page, objects=None) -> list[_Rule]:
    """Thin path objects (nested at most 3 deep), and the edges of small stroked/filled rectangles (cells
    drawn as boxes). `objects`: `page_objects(page)` already listed."""
    import ctypes

    import pypdfium2.raw as pdfium_c

    x0, y0, x1, y1 = (ctypes.c_float() for _ in range(4))
    bounds = (ctypes.byref(x0), ctypes.byref(y0), ctypes.byref(x1), ctypes.byref(y1))
    rules = []
    for kind, raw, level in (page_objects(page) if objects is None else objects):
        if kind != pdfium_c.FPDF_PAGEOBJ_PATH or level >= 3 or not pdfium_c.FPDFPageObj_GetBounds(raw, *bounds):
            continue
        left, bottom, right, top = x0.value, y0.value, x1.value, y1.value
        width, height = right - left, top - bottom
        if height <= RULE_THICKNESS and width >= RULE_MIN_LENGTH:
            rules.append(_Rule(left, (bottom + top) / 2, right, (bottom + top) / 2))
        elif width <= RULE_THICKNESS and height >= RULE_MIN_LENGTH:
            rules.append(_Rule((left + right) / 2, bottom, (left + right) / 2, top))
    return rules


def _snap(values: list[float]) -> list[float]:
    snapped: list[float] = []
    for value in sorted(values):
        if snapped and value - snapped[-1] <= SNAP:
            continue
        snapped.append(value)
    return snapped


def _touch(a: _Rule, b: _Rule) -> bool:
    return a.x0 - SNAP <= b.x1 and b.x0 - SNAP <= a.x1 and a.y0 - SNAP <= b.y1 and b.y0 - SNAP <= a.y1


def _grids(rules: list[_Rule]) -> list[_Grid]:
    """Connected groups of border lines with at least 2 rows and 2 columns."""
    parent = list(range(len(rules)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    order = sorted(range(len(rules)), key=lambda i: rules[i].x0)
    for pos, i in enumerate(order):  # sweep over x so the pair check stays near-linear on ruled pages
        for j in order[pos + 1:]:
            if rules[j].x0 - SNAP > rules[i].x1:
                break
            if _touch(rules[i], rules[j]):
                parent[find(i)] = find(j)
    groups: dict[int, list[_Rule]] = {}
    for i, rule in enumerate(rules):
        groups.setdefault(find(i), []).append(rule)
    grids = []
    for members in groups.values():
        xs = _snap([r.x0 for r in members if not r.horizontal])
        ys = sorted(_snap([r.y0 for r in members if r.horizontal]), reverse=True)
        if len(xs) >= 3 and len(ys) >= 3:
            grids.append(_Grid(xs, ys, members))
    return grids


def _has_vertical(grid: _Grid, x: float, y_low: float, y_high: float) -> bool:
    middle = (y_low + y_high) / 2
    return any(not r.horizontal and abs(r.x0 - x) <= SNAP and r.y0 - SNAP <= middle <= r.y1 + SNAP for r in grid.rules)


def _has_horizontal(grid: _Grid, y: float, x_low: float, x_high: float) -> bool:
    middle = (x_low + x_high) / 2
    return any(r.horizontal and abs(r.y0 - y) <= SNAP and r.x0 - SNAP <= middle <= r.x1 + SNAP for r in grid.rules)


def _slot_text(segments: list[Segment]) -> str:
    return " ".join(" ".join(s.text for s in line) for line in _group_lines(segments)).strip()


def _table_rows(grid: _Grid) -> list[list[str]]:
    """Grid slots -> rows of cell text; a merged cell's text fills every slot it covers, a row that only
    continues the row above (no border between them anywhere) is folded into it."""
    n_rows, n_cols = len(grid.ys) - 1, len(grid.xs) - 1
    owner = {(r, c): (r, c) for r in range(n_rows) for c in range(n_cols)}

    def root(slot):
        while owner[slot] != slot:
            slot = owner[slot]
        return slot

    for r in range(n_rows):
        for c in range(n_cols):
            if c > 0 and not _has_vertical(grid, grid.xs[c], grid.ys[r + 1], grid.ys[r]):
                owner[root((r, c))] = root((r, c - 1))
            if r > 0 and not _has_horizontal(grid, grid.ys[r], grid.xs[c], grid.xs[c + 1]):
                a, b = root((r, c)), root((r - 1, c))
                if a != b:
                    owner[a] = b
    texts: dict[tuple[int, int], list[Segment]] = {}
    for r in range(n_rows):
        for c in range(n_cols):
            texts.setdefault(root((r, c)), []).extend(grid.slots[r][c])
    cell_text = {slot: _slot_text(segs) for slot, segs in texts.items()}
    rows = []
    for r in range(n_rows):
        roots = [root((r, c)) for c in range(n_cols)]
        if r > 0 and roots == [root((r - 1, c)) for c in range(n_cols)]:
            continue  # no border anywhere between this row and the one above: same row
        row = []
        for c, slot in enumerate(roots):
            # a cell spanning several columns is written once; later columns of the span stay empty
            row.append("" if c > 0 and roots[c - 1] == slot and slot[0] == r else cell_text[slot])
        if any(row):
            rows.append(row)
    return rows


def is_numeric_cell(text: str) -> bool:
    return bool(NUMERIC_CELL.fullmatch(text.strip())) if text.strip() else False


def header_row_count(rows: list[list[str]]) -> int:
    """The first row is the header unless it holds a number (a table continued from the previous page).
    A second and third row are headers too while the row above has a cell spanning several columns
    (a two-level header: '음성(원/초)' over '착신 | 현지 | 한국') and they hold no number."""
    if not rows or len(rows) < 2 or any(is_numeric_cell(cell) for cell in rows[0]):
        return 0
    count = 1
    while count < min(3, len(rows) - 1):
        above, row = rows[count - 1], rows[count]
        spans = any(not cell and left for left, cell in pairwise(above))
        if not spans or any(is_numeric_cell(cell) for cell in row):
            break
        count += 1
    return count


def read_page_layout(page, textpage, objects=None) -> tuple[list[Line], float]:
    """Lines and tables of one page in reading order (top to bottom), and the page height. `objects`: the
    page's `page_objects`, when the caller already listed them."""
    height = page.get_height() or 1.0
    grids = _grids(_rules(page, objects))
    segments = _segments(textpage, sorted((x, grid.ys[-1], grid.ys[0]) for grid in grids for x in grid.xs[1:-1]))
    loose: list[Segment] = []
    for grid in grids:
        grid.slots = [[[] for _ in range(len(grid.xs) - 1)] for _ in range(len(grid.ys) - 1)]
    for seg in segments:
        grid = next((g for g in grids if g.contains(seg)), None)
        if grid is None:
            loose.append(seg)
            continue
        x, y = (seg.left + seg.right) / 2, (seg.bottom + seg.top) / 2
        col = max(0, min(len(grid.xs) - 2, sum(1 for gx in grid.xs[1:-1] if x > gx)))
        row = max(0, min(len(grid.ys) - 2, sum(1 for gy in grid.ys[1:-1] if y < gy)))
        grid.slots[row][col].append(seg)
    items: list[Line] = []
    for grid in grids:
        rows = _table_rows(grid)
        _, bottom, _, top = grid.box
        if len(rows) >= 2 and max(len([c for c in row if c]) for row in rows) >= 2:
            size = max((s.size for slot_row in grid.slots for slot in slot_row for s in slot), default=10.0)
            items.append(Line([], size, 1 - top / height, 1 - bottom / height, rows=rows, header_rows=header_row_count(rows)))
        else:  # a box around text (a call-out), not a table: its text is ordinary lines
            loose.extend(s for slot_row in grid.slots for slot in slot_row for s in slot)
    for line in _group_lines(loose):
        items.append(Line(_cells(line), max(s.size for s in line), 1 - max(s.top for s in line) / height,
                          1 - min(s.bottom for s in line) / height))
    items.sort(key=lambda item: item.top)
    return items, height


def _segments(textpage, walls: list[tuple[float, float, float]] = ()) -> list[Segment]:
    """Runs of characters on one baseline without a wide gap. Built from character boxes rather than
    pdfium's text rectangles, whose bounded text bleeds into neighbouring cells and splits digits
    set in another font ('3 5세'). A run never crosses a table's vertical border (`walls`: x, bottom, top)."""
    import bisect
    import ctypes

    import pypdfium2.raw as pdfium_c

    raw = textpage.raw
    left, right, bottom, top = (ctypes.c_double() for _ in range(4))
    boxes = (ctypes.byref(left), ctypes.byref(right), ctypes.byref(bottom), ctypes.byref(top))
    segments: list[Segment] = []
    run: list[str] = []
    box = [0.0, 0.0, 0.0, 0.0]  # left, bottom, right, top of the current run
    size = 0.0
    gap_pending = False

    def flush() -> None:
        text = "".join(run).strip()
        if text:
            segments.append(Segment(box[0], box[1], box[2], box[3], nfc(text), size))
        run.clear()

    for i in range(pdfium_c.FPDFText_CountChars(raw)):
        code = pdfium_c.FPDFText_GetUnicode(raw, i)
        if code in (10, 13, 0xFFFE, 0xFFFF, 0) or code == 2:
            gap_pending = gap_pending or code in (10, 13)
            continue
        if code == 32 or code == 0xA0:
            gap_pending = True
            continue
        if not pdfium_c.FPDFText_GetCharBox(raw, i, *boxes):
            continue
        l, r, b, t = left.value, right.value, bottom.value, top.value  # noqa: E741  (left, right, bottom, top)
        char_size = float(pdfium_c.FPDFText_GetFontSize(raw, i)) or (t - b)
        if run and 0x1160 <= code <= 0x11FF:  # a decomposed (NFD) vowel or final consonant joins its syllable
            run.append(chr(code))
            box = [min(box[0], l), min(box[1], b), max(box[2], r), max(box[3], t)]
            continue
        if run:
            height = max(box[3] - box[1], t - b, 1.0)
            same_line = abs((b + t) / 2 - (box[1] + box[3]) / 2) < height * 0.6
            gap = l - box[2]
            middle = (b + t) / 2
            wall = any(bottom_ <= middle <= top_ for _, bottom_, top_ in
                       walls[bisect.bisect_left(walls, (box[2] - 1,)):bisect.bisect_right(walls, (l + 1, 1e9, 1e9))])
            if not same_line or wall or gap > 1.5 * max(size, char_size) or gap < -max(size, char_size):
                flush()
            elif gap_pending:  # pdfium marks word gaps with (generated) spaces; glyph boxes are too tight to judge
                run.append(" ")
        if not run:
            box = [l, b, r, t]
            size = char_size
        else:
            box = [min(box[0], l), min(box[1], b), max(box[2], r), max(box[3], t)]
            size = max(size, char_size)
        run.append(chr(code))
        gap_pending = False
    flush()
    return segments


def _group_lines(segments: list[Segment]) -> list[list[Segment]]:
    lines: list[list[Segment]] = []
    for seg in sorted(segments, key=lambda s: (-(s.top + s.bottom) / 2, s.left)):
        middle = (seg.top + seg.bottom) / 2
        if lines:
            last = lines[-1][0]
            if abs((last.top + last.bottom) / 2 - middle) < max(2.0, (last.top - last.bottom) / 2):
                lines[-1].append(seg)
                continue
        lines.append([seg])
    return [sorted(line, key=lambda s: s.left) for line in lines]


def _cells(line: list[Segment]) -> list[str]:
    """Merge runs that are close together; a wide gap separates cells of an unruled table."""
    cells = [line[0].text]
    for previous, seg in pairwise(line):
        if seg.left - previous.right > max(seg.size, previous.size) * 1.5:
            cells.append(seg.text)
        else:
            cells[-1] += " " + seg.text
    return [nfc(cell) for cell in cells]
