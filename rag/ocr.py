"""OCR for PDF pages without a text layer: pypdfium2 renders, Tesseract reads.

A scanned page gives pypdf no text. `read_scanned_pages` renders each such page
at `OCR_DPI` and reads it with Tesseract (English and Japanese, those installed),
keeping its page number. Each page's result, text and word boxes, is cached as
JSON under ``~/.cache/rag-osa/ocr`` (``RAG_OCR_CACHE``): an incremental ingest
loads every file again and must not read the same scan twice, and the page view
marks evidence with the word boxes. Without Tesseract the pages are skipped with
the command that installs it.

Usage::

    texts = read_scanned_pages(pdf_bytes, pypdf_page_texts, name="scan.pdf")
    texts.pages, texts.ocr_pages, texts.skipped_pages
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

from tqdm import tqdm

from rag.config import user_cache_dir

OCR_DPI = 300
LANGUAGES = ("eng", "jpn")
PAGE_TIMEOUT_SECONDS = 180
INSTALL_COMMAND = "apt-get install tesseract-ocr tesseract-ocr-eng tesseract-ocr-jpn"
CACHE_VERSION = 1


@dataclass
class OcrWord:
    """A word Tesseract read, with its box as fractions of the page (left, top, right, bottom)."""

    text: str
    box: tuple[float, float, float, float]
    line: int  # the words of one line share this number


@dataclass
class OcrPage:
    """What Tesseract read on one page: its text (paragraphs and lines) and its words."""

    text: str
    words: list[OcrWord] = field(default_factory=list)


@dataclass
class PageTexts:
    """The text of every page of a PDF, 1-based numbers of the pages read by OCR,
    and the pages left out with the reason."""

    pages: list[str]
    ocr_pages: list[int] = field(default_factory=list)
    skipped_pages: dict[int, str] = field(default_factory=dict)


def needs_ocr(page_text: str) -> bool:
    """A page whose text layer has no letter or digit (a scan, maybe with stray marks)."""
    return not any(ch.isalnum() for ch in page_text)


@lru_cache(maxsize=1)
def tesseract_languages() -> tuple[str, ...]:
    """The installed Tesseract languages of `LANGUAGES` (empty: no Tesseract)."""
    if not shutil.which("tesseract"):
        return ()
    import pytesseract

    try:
        installed = set(pytesseract.get_languages(config=""))
    except (pytesseract.TesseractError, OSError, RuntimeError):
        return ()
    return tuple(lang for lang in LANGUAGES if lang in installed)


def tesseract_problem() -> str | None:
    """Why OCR cannot run here, with the command that fixes it; None when it can."""
    if not shutil.which("tesseract"):
        return f"Tesseract is not installed (install it with `{INSTALL_COMMAND}`)"
    if not tesseract_languages():
        return f"Tesseract has no English or Japanese data (install it with `{INSTALL_COMMAND}`)"
    return None


def read_scanned_pages(data: bytes, pages: list[str], name: str = "") -> PageTexts:
    """Fill the pages of ``pages`` that have no text layer by OCR of the PDF ``data``."""
    result = PageTexts(list(pages))
    todo = [i for i, text in enumerate(pages) if needs_ocr(text)]
    if not todo:
        return result
    problem = tesseract_problem()
    if problem:
        result.skipped_pages = {i + 1: f"no text layer; {problem}" for i in todo}
        return result
    for i in tqdm(todo, desc=f"OCR {name}".strip(), unit="page", leave=False):
        try:
            page = read_page(data, i + 1)
        except Exception as exc:  # one unreadable page must not lose the others
            result.skipped_pages[i + 1] = f"OCR failed ({type(exc).__name__}: {exc})"
            continue
        if needs_ocr(page.text):
            result.skipped_pages[i + 1] = "no text layer, and OCR found no text"
            continue
        result.pages[i] = page.text
        result.ocr_pages.append(i + 1)
    return result


def cache_dir() -> Path:
    return user_cache_dir("ocr", "RAG_OCR_CACHE")


def _cache_path(data: bytes, page_number: int) -> Path:
    import pytesseract

    key = "|".join(
        (
            hashlib.sha256(data).hexdigest(),
            str(page_number),
            "+".join(tesseract_languages()),
            str(pytesseract.get_tesseract_version()),
            f"{OCR_DPI}dpi-v{CACHE_VERSION}",
        )
    )
    return cache_dir() / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.json"


def read_page(data: bytes, page_number: int) -> OcrPage:
    """OCR of page ``page_number`` (1-based) of the PDF ``data`` (cached once read)."""
    path = _cache_path(data, page_number)
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
        words = [OcrWord(w["text"], tuple(w["box"]), w["line"]) for w in cached["words"]]
        return OcrPage(cached["text"], words)
    except (OSError, ValueError, KeyError, TypeError):
        pass
    page = ocr_image(render_page(data, page_number, OCR_DPI / 72))
    try:  # the cache is an optimisation: a read-only home must not stop ingestion
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(asdict(page)), encoding="utf-8")
        tmp.replace(path)
    except OSError:
        pass
    return page


def render_page(data: bytes | str | Path, page_number: int, scale: float):
    """Page ``page_number`` (1-based) of a PDF (bytes or path) as a PIL image."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(data)
    try:
        page = pdf[page_number - 1]
        return page.render(scale=scale).to_pil()
    finally:
        pdf.close()


def ocr_image(image) -> OcrPage:
    """Tesseract's words and lines of a page image, as text and word boxes."""
    import pytesseract

    table = pytesseract.image_to_data(
        image,
        lang="+".join(tesseract_languages()) or "eng",
        output_type=pytesseract.Output.DICT,
        timeout=PAGE_TIMEOUT_SECONDS,
    )
    width, height = image.size
    words: list[OcrWord] = []
    paragraphs: dict[tuple, dict[tuple, list[str]]] = {}
    lines: dict[tuple, int] = {}
    for i, text in enumerate(table["text"]):
        text = text.strip()
        if not text:
            continue
        paragraph = (table["block_num"][i], table["par_num"][i])
        line_key = (*paragraph, table["line_num"][i])
        paragraphs.setdefault(paragraph, {}).setdefault(line_key, []).append(text)
        left, top = table["left"][i], table["top"][i]
        box = (
            left / width,
            top / height,
            (left + table["width"][i]) / width,
            (top + table["height"][i]) / height,
        )
        words.append(OcrWord(text, box, lines.setdefault(line_key, len(lines))))
    text = "\n\n".join(
        "\n".join(" ".join(line) for line in paragraph.values())
        for paragraph in paragraphs.values()
    )
    return OcrPage(text, words)
