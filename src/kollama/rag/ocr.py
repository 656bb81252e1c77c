"""OCR with Tesseract (`kor`) for exactly the pages whose text layer is missing or unusable."""

from __future__ import annotations

import io
import shutil
import subprocess

from kollama.errors import KollamaError

OCR_DPI = 300


def tesseract_available() -> bool:
    return shutil.which("tesseract") is not None


def require_tesseract() -> None:
    if not tesseract_available():
        raise KollamaError("tesseract is not installed, so scanned pages cannot be read",
                           hint="apt-get install tesseract-ocr tesseract-ocr-kor, or pass --ocr never")


def ocr_image_png(png: bytes, lang: str = "kor", psm: int = 4) -> str:
    """Run `tesseract stdin stdout -l kor` on one page image."""
    require_tesseract()
    result = subprocess.run(["tesseract", "stdin", "stdout", "-l", lang, "--psm", str(psm)],
                            input=png, capture_output=True, timeout=300, check=False)
    if result.returncode != 0:
        message = result.stderr.decode("utf-8", "replace").strip().splitlines()
        raise KollamaError(f"tesseract failed: {message[-1] if message else result.returncode}",
                           hint="check that the Korean language data is installed (tesseract-ocr-kor)")
    return result.stdout.decode("utf-8", "replace")


def ocr_pdf_page(page, dpi: int = OCR_DPI) -> str:
    """Render a pypdfium2 page in grey at `dpi`, crop to the ink, and read it as one column (psm 4).

    Tesseract's automatic layout (psm 3) drops lines or reports "Empty page!!" on a sparse Korean
    page; a single column keeps every line. A uniform-block reading (psm 6) is the fallback.
    """
    from PIL import ImageOps

    image = page.render(scale=dpi / 72, grayscale=True).to_pil().convert("L")
    box = ImageOps.invert(image).point(lambda v: 255 if v > 60 else 0).getbbox()
    if box is None:
        return ""
    margin = dpi // 6
    image = image.crop((max(box[0] - margin, 0), max(box[1] - margin, 0),
                        min(box[2] + margin, image.width), min(box[3] + margin, image.height)))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    text = ocr_image_png(buffer.getvalue())
    return text if text.strip() else ocr_image_png(buffer.getvalue(), psm=6)
