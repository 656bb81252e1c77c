"""Documents the RAG structure tests build themselves: a Korean PDF with ruled tables, a table of contents
and running headers (reportlab + Nanum), HWPX (a zip of OWPML XML) and HWP 5 (a small OLE2 compound-file
writer, so password-protected, 배포용 and damaged HWP files can be made without any real document)."""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

FONT = "/usr/share/fonts/truetype/nanum/NanumGothic.ttf"


# ---------------------------------------------------------------- PDF
def make_structured_pdf(path: Path) -> Path:
    """5 pages: a TOC (dot leaders), then content pages with a running header 'ACME 소식 | 2024-4월호' and a
    page number; page 3 holds a ruled plan table whose rows continue on page 4 without a header row."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(TTFont("Nanum", FONT))
    width, height = A4
    c = canvas.Canvas(str(path), pagesize=A4)
    c.setTitle("ACME 통신 약관")
    c.setAuthor("ACME")

    def header(number: int) -> None:
        c.setFont("Nanum", 8)
        c.drawString(50, height - 30, "ACME 소식 | 2024-4월호")
        c.drawString(width / 2, 25, str(number))

    def lines(y: float, texts: list[str], size: float = 10.5) -> float:
        c.setFont("Nanum", size)
        for text in texts:
            c.drawString(60, y, text)
            y -= size * 1.7
        return y

    # p.1: table of contents
    c.setFont("Nanum", 16)
    c.drawString(60, height - 80, "목 차")
    entries = [("제1조 (목적)", 2), ("제2조 (요금제)", 3), ("제3조 (해외 로밍 요금)", 4), ("제4조 (손해배상)", 5)]
    lines(height - 120, [f"{title} {'·' * 40} {page}" for title, page in entries])
    c.showPage()
    # p.2
    header(2)
    y = lines(height - 80, ["제1조 (목적)"], 14)
    lines(y - 6, ["이 약관은 ACME 통신 서비스의 이용조건과 절차를 정함을 목적으로 합니다.",
                  "회사는 고객이 이 약관을 쉽게 볼 수 있도록 홈페이지에 게시합니다."])
    c.showPage()
    # p.3: ruled table, header row + a multi-line cell
    header(3)
    y = lines(height - 80, ["제2조 (요금제)"], 14)
    y = lines(y - 6, ["월정액 요금제는 아래 표와 같습니다."])
    columns = [60, 200, 290, 520]
    rows = [["요금제명", "월정액", "데이터"], ["슬림 7GB", "45,000원", ["7GB 제공 후", "최대 400Kbps 속도로 이용"]],
            ["슬림 10GB", "50,000원", "10GB"], ["프리미엄", "130,000원", "무제한"]]
    _ruled_table(c, columns, y - 10, rows)
    c.showPage()
    # p.4: the roaming table continues from a header on this page's previous table? no: own caption+header, then p.5 continues
    header(4)
    y = lines(height - 80, ["제3조 (해외 로밍 요금)"], 14)
    y = lines(y - 6, ["국가별 로밍 요율 표"])
    columns = [60, 200, 330, 460]
    _ruled_table(c, columns, y - 10, [["국가", "음성 발신(원/초)", "문자(건당)"], ["가나", "9.13", "110"],
                                       ["괌", "1.98", "22"]])
    c.showPage()
    # p.5: continuation rows, no header row
    header(5)
    y = _ruled_table(c, [60, 200, 330, 460], height - 70, [["네팔", "42.90", "330"], ["노르웨이", "1.98", "22"]])
    y = lines(y - 30, ["제4조 (손해배상)"], 14)
    lines(y - 6, ["회사의 잘못으로 연속 3시간 이상 서비스를 받지 못하면 해당 시간 요금의 8배를 배상합니다."])
    c.showPage()
    c.save()
    return path


def _ruled_table(c, columns: list[float], top: float, rows: list[list]) -> float:
    """Draw cell borders as separate line objects (as Word does) and the text inside; returns the bottom y."""
    y = top
    for row in rows:
        height = max(len(cell) if isinstance(cell, list) else 1 for cell in row) * 14 + 8
        c.setFont("Nanum", 10)
        for x, cell in zip(columns, row):
            for n, text in enumerate(cell if isinstance(cell, list) else [cell]):
                c.drawString(x + 5, y - 15 - 14 * n, text)
        c.line(columns[0], y, columns[-1], y)
        for x in columns:
            c.line(x, y, x, y - height)
        y -= height
    c.line(columns[0], y, columns[-1], y)
    return y


# ---------------------------------------------------------------- HWPX
_HWPX_NS = ('xmlns:hs="http://www.hancom.co.kr/hwpml/2011/section" '
            'xmlns:hp="http://www.hancom.co.kr/hwpml/2011/paragraph"')


def hwpx_paragraph(content: str) -> str:
    return f'<hp:p><hp:run>{content}</hp:run></hp:p>'


def hwpx_text(*runs: str) -> str:
    """One paragraph whose text is split over several runs (as Hancom does where formatting changes)."""
    return "<hp:p>" + "".join(f"<hp:run><hp:t>{run}</hp:t></hp:run>" for run in runs) + "</hp:p>"


def hwpx_table(rows: list[list]) -> str:
    """A table; a cell is its text, or (paragraphs, colspan) for a cell of several paragraphs or merged
    across columns (the next cells of the row then sit at their real column address, as Hancom writes them)."""
    trs = []
    width = 0
    for r, row in enumerate(rows):
        tcs, col = [], 0
        for cell in row:
            paragraphs, span = ([cell], 1) if isinstance(cell, str) else cell
            body = "".join(f"<hp:p><hp:run><hp:t>{text}</hp:t></hp:run></hp:p>" for text in paragraphs)
            tcs.append(f'<hp:tc><hp:subList>{body}</hp:subList><hp:cellAddr colAddr="{col}" rowAddr="{r}"/>'
                       f'<hp:cellSpan colSpan="{span}" rowSpan="1"/></hp:tc>')
            col += span
        width = max(width, col)
        trs.append("<hp:tr>" + "".join(tcs) + "</hp:tr>")
    return hwpx_paragraph(f'<hp:tbl rowCnt="{len(rows)}" colCnt="{width}">{"".join(trs)}</hp:tbl>')


def make_hwpx(path: Path, sections: list[list[str]], title: str = "") -> Path:
    """`sections`: paragraphs as XML from `hwpx_text` / `hwpx_table`."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("mimetype", "application/hwp+zip", compress_type=zipfile.ZIP_STORED)
        archive.writestr("version.xml", '<?xml version="1.0"?><hv:HCFVersion major="5" minor="1" micro="0" buildNumber="1"/>')
        archive.writestr("Contents/content.hpf", f'<?xml version="1.0"?><opf:package xmlns:opf="http://www.idpf.org/2007/opf/">'
                                                 f"<opf:metadata><opf:title>{title}</opf:title></opf:metadata></opf:package>")
        for number, paragraphs in enumerate(sections):
            archive.writestr(f"Contents/section{number}.xml",
                             f'<?xml version="1.0"?><hs:sec {_HWPX_NS}>{"".join(paragraphs)}</hs:sec>')
    return path


# ---------------------------------------------------------------- HWP 5 (OLE2 compound file)
HWPTAG_PARA_HEADER = 66
HWPTAG_PARA_TEXT = 67
_SECTOR = 512
_FREE, _END, _FATSECT = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD


def _record(tag: int, level: int, payload: bytes) -> bytes:
    if len(payload) >= 0xFFF:
        return struct.pack("<II", tag | (level << 10) | (0xFFF << 20), len(payload)) + payload
    return struct.pack("<I", tag | (level << 10) | (len(payload) << 20)) + payload


def hwp_section(paragraphs: list[str]) -> bytes:
    """BodyText/Section0 records: one PARA_HEADER + PARA_TEXT per paragraph, padded past the 4 KiB mini-stream
    cut-off with an ignorable record so the compound file needs no mini stream."""
    data = b"".join(_record(HWPTAG_PARA_HEADER, 0, b"\0" * 22) + _record(HWPTAG_PARA_TEXT, 1, (text + "\r").encode("utf-16-le"))
                    for text in paragraphs)
    if len(data) < 4200:
        data += _record(99, 0, b"\0" * (4200 - len(data)))
    return data


def _dir_entry(name: str, kind: int, child: int = _FREE, right: int = _FREE, start: int = _END, size: int = 0) -> bytes:
    encoded = (name + "\0").encode("utf-16-le") if name else b""
    return (encoded.ljust(64, b"\0") + struct.pack("<HBB", len(encoded), kind, 1) +
            struct.pack("<III", _FREE, right, child) + b"\0" * 16 + struct.pack("<I", 0) + b"\0" * 16 +
            struct.pack("<III", start, size, 0))


def make_hwp(path: Path, paragraphs: list[str], flags: int = 0) -> Path:
    """A real (uncompressed) HWP 5.0 file: FileHeader with `flags` (0x2 password, 0x4 distribution) and one section."""
    header = b"HWP Document File".ljust(32, b"\0") + struct.pack("<II", 0x05000300, flags)
    header = header.ljust(4096, b"\0")
    section = hwp_section(paragraphs)
    section = section.ljust(-(-len(section) // _SECTOR) * _SECTOR, b"\0")
    header_sectors, section_sectors = len(header) // _SECTOR, len(section) // _SECTOR
    first_header, first_section = 2, 2 + header_sectors
    fat = [_FATSECT, _END]
    for start, count in ((first_header, header_sectors), (first_section, section_sectors)):
        fat += [start + i + 1 for i in range(count - 1)] + [_END]
    fat += [_FREE] * (_SECTOR // 4 - len(fat))
    directory = (_dir_entry("Root Entry", 5, child=1) +
                 _dir_entry("FileHeader", 2, right=2, start=first_header, size=4096) +
                 _dir_entry("BodyText", 1, child=3) +
                 _dir_entry("Section0", 2, start=first_section, size=len(hwp_section(paragraphs))))
    cfb_header = (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 16 + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6) +
                  b"\0" * 6 + struct.pack("<IIIIIIIII", 0, 1, 1, 0, 4096, _END, 0, _END, 0) +
                  struct.pack("<I", 0) + struct.pack("<I", _FREE) * 108)
    path.write_bytes(cfb_header + struct.pack(f"<{len(fat)}I", *fat) + directory + header + section)
    return path
