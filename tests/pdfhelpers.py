"""PDF fixtures made at test time: a text page and a scanned (image-only) page.

`make_scanned_pdf` renders pages of a text PDF to images with pypdfium2 and saves
them back as image-only PDF pages with Pillow: what a scanner gives. Imported by
tests/test_ocr.py and the UI tests (``from pdfhelpers import ...``).
"""

from __future__ import annotations

import io
import os

import pytest
from reliability.relhelpers import make_text_pdf

TEXT_PAGE = (
    "Harbor patrol report. The patrol boats of Osprey Sound carry coastal radar sets. "
    "Crews train at the Osprey Sound base every April. The base opened in 2019 with two "
    "piers and a fuel depot. Each boat patrols the sound twice a week, and the crews log "
    "every vessel they meet. Fishing boats are the most common contacts in winter. The "
    "radar sets were upgraded in 2023 to track small craft at night. A joint exercise with "
    "partner navies is held each autumn near the harbor mouth."
)
SCANNED_PAGE = (
    "Kestrel Bay depot report. The Kestrel Bay depot stores exactly 731 spare radar parts. "
    "Staff inspect the parts every March."
)
SCAN_DPI = 200


def make_scanned_pdf(pages: list[str], scanned: set[int], title: str | None = None) -> bytes:
    """A PDF of ``pages`` whose 1-based pages in ``scanned`` are images without text."""
    import pypdfium2 as pdfium
    from pypdf import PdfReader, PdfWriter

    text_pdf = make_text_pdf(pages, title=title)
    source = pdfium.PdfDocument(text_pdf)
    text_reader = PdfReader(io.BytesIO(text_pdf))
    writer = PdfWriter()
    for number, page in enumerate(text_reader.pages, start=1):
        if number not in scanned:
            writer.add_page(page)
            continue
        image = source[number - 1].render(scale=SCAN_DPI / 72).to_pil().convert("L")
        out = io.BytesIO()
        image.save(out, "PDF", resolution=SCAN_DPI)
        writer.add_page(PdfReader(io.BytesIO(out.getvalue())).pages[0])
    source.close()
    if title:
        writer.add_metadata({"/Title": title})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def require_tesseract() -> None:
    """Skip on a developer machine without Tesseract; under CI=true that is a failure."""
    from rag.ocr import tesseract_problem

    problem = tesseract_problem()
    if problem is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"OCR test cannot run under CI=true: {problem}", pytrace=False)
    pytest.skip(f"OCR unavailable: {problem}")
