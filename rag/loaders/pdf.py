"""PDF files: the text layer page by page (scanned pages through `rag.ocr`), with the
offset where each page starts so citations can name the page."""

from __future__ import annotations

import io
import logging
from pathlib import Path

from rag.loaders.common import Loaded, LoadError
from rag.loaders.text import cap_punctuation_runs
from rag.ocr import read_scanned_pages, tesseract_problem


def load_pdf(data: bytes, path: Path) -> Loaded:
    """A PDF; the title from its metadata."""
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    if b"%PDF-" not in data[:1024]:
        raise LoadError("corrupt or unreadable PDF (no %PDF header: not a PDF file)")
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                if not reader.decrypt(""):
                    raise LoadError("encrypted PDF (password required)")
            except LoadError:
                raise
            except DependencyError as exc:  # AES needs the optional `cryptography` package
                raise LoadError(
                    "encrypted PDF (AES; reading it needs the 'cryptography' package)"
                ) from exc
            except Exception as exc:
                raise LoadError("encrypted PDF (password required)") from exc
        pages = [page.extract_text() or "" for page in reader.pages]
    except LoadError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        raise LoadError(f"corrupt or unreadable PDF ({exc})") from exc
    scan = read_scanned_pages(data, pages, path.name)  # pages without a text layer
    if not any(p.strip() for p in scan.pages):
        raise LoadError(f"no extractable text: {tesseract_problem() or 'OCR found none'}")
    title = ""
    try:
        if reader.metadata and reader.metadata.title:
            title = str(reader.metadata.title).strip()
    except Exception:
        title = ""
    parts: list[str] = []
    starts: list[int] = []
    offset = 0
    for raw in scan.pages:
        page_text = _unwrap_pdf_page(raw)
        starts.append(offset)
        parts.append(page_text)
        offset += len(page_text) + 2
    return title, "\n\n".join(parts), starts, scan


def _unwrap_pdf_page(raw: str) -> str:
    """Join PDF lines into paragraphs: keep a break after sentence-ending lines."""
    raw = cap_punctuation_runs(raw)
    lines = [" ".join(ln.split()) for ln in raw.replace("\r", "\n").split("\n")]
    out: list[str] = []
    for line in lines:
        if not line:
            if out and out[-1] != "\n\n":
                out.append("\n\n")
            continue
        if out and out[-1] not in ("\n\n",):
            out.append("\n" if out[-1].rstrip().endswith((".", "!", "?", ":")) else " ")
        out.append(line)
    return "".join(out).strip()
