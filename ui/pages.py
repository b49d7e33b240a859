"""The page view: a cited PDF page as an image, with its evidence sentences marked.

`page_view` renders one page of an indexed PDF with pypdfium2, at most
`MAX_WIDTH` x `MAX_HEIGHT` pixels, the last `CACHED_PAGES` pages kept in memory,
and finds where each evidence sentence is printed: on a page with a text layer
from pdfium's text page (the rectangles of the sentence's character range); on
a scanned page from Tesseract's word boxes (`rag.ocr`, cached since ingest).
Sentences are matched on their letters and digits only, so line breaks,
hyphenation, ligatures and quote styles do not matter. Boxes are fractions of
the page, so the browser draws them over the image at any size (`ui.render`).
"""

from __future__ import annotations

import base64
import io
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from functools import lru_cache
from pathlib import Path

from rag.ocr import needs_ocr, read_page, tesseract_problem
from rag.types import DocumentInfo
from ui.render import citation_panel_data
from ui.session import SessionTurn

MAX_WIDTH = 900  # pixels of the page image; its height follows, up to MAX_HEIGHT
MAX_HEIGHT = 1400
CACHED_PAGES = 24  # rendered page images kept in memory (about 100 KB each)
MIN_PIECE = 12  # letters a partly matching piece of a sentence needs to be marked
Box = tuple[float, float, float, float]  # left, top, right, bottom as fractions of the page


@dataclass(frozen=True)
class PageImage:
    uri: str  # data: URI of the WebP image
    width: int
    height: int


@dataclass
class PageView:
    """Page ``page`` of the PDF ``source`` with the boxes of the evidence on it."""

    source: str
    page: int
    image: PageImage | None = None
    marks: list[Box] = field(default_factory=list)
    ocr: bool = False  # the page was read by OCR: marks come from Tesseract's words
    problem: str | None = None  # why there is no image or no mark
    aid: str = ""  # the answer and passage number it was asked for (sources panel)
    n: int = 0


def is_pdf_page(source: str, page: int | None) -> bool:
    return bool(page) and source.lower().endswith(".pdf")


def ocr_pages(documents: Iterable[DocumentInfo]) -> dict[str, set[int]]:
    """Pages read by OCR, by document source (from the index manifest's documents)."""
    return {d.source: set(d.ocr_pages) for d in documents if d.ocr_pages}


def view_for_request(turns: Sequence[SessionTurn], request: str) -> PageView | None:
    """The page view the browser asked for with ``answer id:passage n`` (then ``#nonce``)
    among this session's answers; None for a request that names none of them."""
    aid, _, n = request.partition("#")[0].partition(":")
    turn = next((t for t in turns if t.aid == aid), None)
    row = turn and next(
        (r for r in citation_panel_data(turn.answer) if str(r["n"]) == n.strip()), None
    )
    if not row or not is_pdf_page(row["source"], row["page"]):
        return None
    sentences = [row["text"][start:end] for start, end in row["highlights"]]
    view = page_view(row["source"], int(row["page"]), sentences)
    view.aid, view.n = aid, row["n"]
    return view


def page_view(source: str, page: int, sentences: Sequence[str]) -> PageView:
    """Render page ``page`` (1-based) of ``source`` and mark ``sentences`` on it."""
    view = PageView(source, page)
    path = Path(source)
    if not is_pdf_page(source, page) or not path.is_file():
        view.problem = f"the file {path.name} is no longer where it was indexed"
        return view
    try:
        stat = path.stat()
        view.image = render_page(str(path), stat.st_mtime_ns, stat.st_size, page)
        boxes, text = text_boxes(str(path), page)
        if needs_ocr(text):  # a scan: Tesseract's words, read at ingest and cached
            view.ocr = True
            problem = tesseract_problem()
            if problem:
                view.problem = f"the evidence cannot be marked on this scanned page: {problem}"
                return view
            words = read_page(path.read_bytes(), page).words
            boxes = [(w.text, w.box, w.line) for w in words]
    except Exception as exc:  # a damaged file must not break the sources panel
        view.problem = f"the page cannot be shown ({type(exc).__name__})"
        return view
    view.marks = mark_sentences(boxes, sentences)
    if sentences and not view.marks:
        view.problem = "the evidence was not found on this page"
    return view


@lru_cache(maxsize=CACHED_PAGES)
def render_page(path: str, mtime_ns: int, size: int, page: int) -> PageImage:
    """The page as a WebP image within MAX_WIDTH x MAX_HEIGHT (cached by file identity)."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(path)
    try:
        width, height = pdf[page - 1].get_size()
        scale = min(MAX_WIDTH / width, MAX_HEIGHT / height)
        image = pdf[page - 1].render(scale=scale).to_pil()
    finally:
        pdf.close()
    image.thumbnail((MAX_WIDTH, MAX_HEIGHT))  # pdfium rounds its size up
    out = io.BytesIO()
    image.save(out, "WEBP", quality=80)
    uri = "data:image/webp;base64," + base64.b64encode(out.getvalue()).decode("ascii")
    return PageImage(uri, image.width, image.height)


def text_boxes(path: str, page: int) -> tuple[list[tuple[str, Box, int]], str]:
    """Every character of the page's text layer as (char, box, line) and the page text."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    pdf = pdfium.PdfDocument(path)
    try:
        pdf_page = pdf[page - 1]
        left, bottom, right, top = pdf_page.get_bbox()
        width, height = right - left, top - bottom
        textpage = pdf_page.get_textpage()
        chars: list[tuple[str, Box, int]] = []
        line = 0
        for i in range(textpage.count_chars()):
            char = chr(pdfium_c.FPDFText_GetUnicode(textpage.raw, i) or 32)
            if char == "\n":
                line += 1
            if not char.isalnum():
                continue
            cl, cb, cr, ct = textpage.get_charbox(i)
            box = (
                (cl - left) / width,
                (top - ct) / height,
                (cr - left) / width,
                (top - cb) / height,
            )
            chars.append((char, box, line))
    finally:
        pdf.close()
    return chars, "".join(c for c, _, _ in chars)


def _key(text: str) -> str:
    """Letters and digits only, case-folded, ligatures and full-width forms unfolded."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", text).casefold() if ch.isalnum())


def mark_sentences(items: Sequence[tuple[str, Box, int]], sentences: Sequence[str]) -> list[Box]:
    """One box per printed line of each sentence found among ``items`` (char or word boxes).

    A sentence printed whole is found exactly; otherwise its pieces of at least
    `MIN_PIECE` letters that appear on the page in order are marked.
    """
    page_key: list[str] = []
    owner: list[int] = []  # for each letter of page_key, the item it belongs to
    for index, (text, _, _) in enumerate(items):
        for ch in _key(text):
            page_key.append(ch)
            owner.append(index)
    haystack = "".join(page_key)
    spans: list[tuple[int, int]] = []
    for sentence in sentences:
        needle = _key(sentence)
        if not needle:
            continue
        at = haystack.find(needle)
        if at >= 0:
            spans.append((at, at + len(needle)))
            continue
        matcher = SequenceMatcher(None, haystack, needle, autojunk=False)
        spans += [(b.a, b.a + b.size) for b in matcher.get_matching_blocks() if b.size >= MIN_PIECE]
    lines: dict[tuple[int, int], list[float]] = {}  # (span, line) -> its box
    for span, (start, end) in enumerate(spans):
        for index in sorted({owner[i] for i in range(start, end)}):
            _, (left, top, right, bottom), line = items[index]
            box = lines.setdefault((span, line), [left, top, right, bottom])
            box[:] = [min(box[0], left), min(box[1], top), max(box[2], right), max(box[3], bottom)]
    return [(b[0], b[1], b[2], b[3]) for _, b in sorted(lines.items())]
