"""Turn files into `Document`s: .txt, .md, .html/.htm, .pdf, .docx (and, in
`rag.jsonl`, collections with one document per line: .jsonl, .jsonl.gz).

Each loader returns clean text plus page starts (PDF: scanned pages go through
`rag.ocr`). Problems raise `LoadError` with a short, specific reason;
`iter_documents` turns those into `Skipped` records so one bad file never stops a batch.
"""

from __future__ import annotations

import codecs
import csv
import datetime
import hashlib
import io
import logging
import os
import re
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from rag.ocr import PageTexts, read_scanned_pages, tesseract_problem
from rag.types import Document

# Part of every document's content hash: when text extraction or sentence splitting
# changes, the next incremental ingest re-reads every file instead of keeping stale chunks.
LOADER_VERSION = 5  # 4: titles carry the document's date; 5: OCR of scanned PDF pages

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx")
MAX_FILE_BYTES = 100 * 1024 * 1024
Loaded = tuple[str, str, list[int], PageTexts | None]  # title, text, page starts, PDF pages


class LoadError(Exception):
    """A file could not be turned into text; the message says why."""


@dataclass
class Skipped:
    """A file left out of ingestion, with the one-line reason shown to the user."""

    path: str
    reason: str


def _mb(n: int) -> str:
    """Bytes as MB (MiB, like the limit): '200 MB', or '0.5 MB' for small limits."""
    mb = n / (1024 * 1024)
    return f"{mb:.0f} MB" if mb >= 10 else f"{mb:.1f} MB"


def display_path(path: Path) -> str:
    """Path relative to the working directory when inside it, else absolute."""
    resolved = path.resolve()
    try:
        return resolved.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return resolved.as_posix()


def load_document(path: Path, max_bytes: int = MAX_FILE_BYTES) -> Document:
    """Load one file into a `Document`, or raise `LoadError` saying why not."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise LoadError(f"unsupported file type '{suffix or '(none)'}'")
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):  # a FIFO or device could block or never end
            raise LoadError("not a regular file")
        size = info.st_size
        if size == 0:
            raise LoadError("empty file")
        if size > max_bytes:  # checked before reading: a huge file costs no memory or time
            raise LoadError(f"file too large ({_mb(size)} > limit {_mb(max_bytes)})")
        data = path.read_bytes()
    except OSError as exc:
        raise LoadError(f"cannot read file: {exc.strerror or exc}") from exc
    content_hash = f"{hashlib.sha256(data).hexdigest()}-l{LOADER_VERSION}"
    title, text, page_starts, scan = _LOADERS[suffix](data, path)
    if not text.strip():
        raise LoadError("no text found in file")
    scan = scan or PageTexts([])
    return Document(
        source=display_path(path),
        title=title or path.stem.replace("-", " ").replace("_", " "),
        text=text,
        content_hash=content_hash + ("-partial" if scan.skipped_pages else ""),  # read again
        page_starts=page_starts,
        ocr_pages=scan.ocr_pages,
        skipped_pages=scan.skipped_pages,
    )


def iter_documents(
    paths: Iterable[Path], max_bytes: int = MAX_FILE_BYTES
) -> Iterator[Document | Skipped]:
    """Yield a `Document` or a `Skipped` for every file under ``paths``.

    A ``MANIFEST.tsv`` (columns ``file`` and ``title``) beside files supplies
    their titles, which plain-text formats otherwise lack.
    """
    titles: dict[Path, dict[str, str]] = {}
    for file in discover_files(paths):
        if isinstance(file, Skipped):
            yield file
        else:
            yield from load_file(file, max_bytes, titles)


def load_file(
    file: Path, max_bytes: int = MAX_FILE_BYTES, titles: dict[Path, dict[str, str]] | None = None
) -> Iterator[Document | Skipped]:
    """The documents of one file: one, or one per line of a `.jsonl(.gz)` collection.

    ``titles`` caches each folder's ``MANIFEST.tsv`` titles between calls.
    """
    from rag.jsonl import is_jsonl, iter_jsonl_documents

    titles = {} if titles is None else titles
    try:
        if is_jsonl(file):
            yield from iter_jsonl_documents(file, max_bytes)
            return
        document = load_document(file, max_bytes=max_bytes)
        if file.parent not in titles:
            titles[file.parent] = read_manifest_titles(file.parent)
        document.title = titles[file.parent].get(file.name) or document.title
        yield document
    except LoadError as exc:
        yield Skipped(display_path(file), str(exc))
    except Exception as exc:  # a parser bug must not stop the batch
        yield Skipped(display_path(file), f"unreadable ({type(exc).__name__}: {exc})")


def discover_files(paths: Iterable[Path]) -> Iterator[Path | Skipped]:
    """Expand directories (recursively, sorted) into files; report missing paths."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if name.startswith(".") or name.upper().startswith(
                        ("README", "MANIFEST", "LICENSE")
                    ):
                        continue
                    yield Path(root) / name
        elif path.exists() or path.is_symlink():  # the loader says what is wrong with it
            yield path
        else:
            yield Skipped(str(raw), "no such file or directory")


def dated_title(title: str, date: object) -> str:
    """``title`` with the document's date, as a contextual header for every chunk.

    Many statements look alike; a question names "the May 2022 Tokyo summit",
    and the date is in no chunk's text. The title is embedded, BM25-indexed,
    shown to the model and to the user, so the date written as words ("23 May
    2022") lets retrieval and the answer checks see it.
    """
    try:
        day = datetime.date.fromisoformat(str(date).strip()[:10]) if date else None
    except ValueError:
        day = None
    if day is None:
        return title
    when = f"{day.day} {day:%B %Y}"
    return title if when in title else f"{title} ({when})"


def read_manifest_titles(directory: Path) -> dict[str, str]:
    """Titles by file name from ``directory/MANIFEST.tsv`` (empty when absent)."""
    manifest = directory / "MANIFEST.tsv"
    if not manifest.is_file():
        return {}
    try:
        with open(manifest, encoding="utf-8", newline="") as fh:
            rows = csv.DictReader(fh, delimiter="\t")
            return {
                r["file"]: dated_title(" ".join(r["title"].split()), r.get("date"))
                for r in rows
                if r.get("file") and r.get("title")
            }
    except (OSError, KeyError, csv.Error):
        return {}


# --- text helpers -----------------------------------------------------------------

_BLANK_LINES = re.compile(r"\n[ \t\u00a0]*\n+")


_UTF16_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def _cp1252_fallback(exc: UnicodeError) -> tuple[str, int]:
    """Codec error handler: decode the bytes UTF-8 rejected as Windows-1252 instead."""
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    bad = exc.object[exc.start : exc.end]
    return bad.decode("cp1252", errors="replace"), exc.end


codecs.register_error("rag-cp1252", _cp1252_fallback)


def decode_text(data: bytes) -> str:
    """Decode text bytes: UTF-8 (with or without BOM); UTF-16/32 with a BOM.

    Invalid UTF-8 is not fatal: only the offending bytes are read as
    Windows-1252, so a file mixing UTF-8 and Latin-1/Windows-1252 keeps both
    parts readable (no mojibake of the UTF-8 part, no U+FFFD for the rest).
    """
    if data.startswith(_UTF16_BOMS):
        encoding = "utf-32" if data.startswith(_UTF16_BOMS[:2]) else "utf-16"
        try:
            return data.decode(encoding)
        except UnicodeDecodeError as exc:
            raise LoadError(f"invalid {encoding.upper()} text") from exc
    if b"\x00" in data[:8192]:
        raise LoadError("binary content in a text file")
    return data.decode("utf-8-sig", errors="rag-cp1252")


# Runs of sentence-ending punctuation and closing quotes ("!!!!...", dot leaders)
# are shortened: the sentence splitter backtracks quadratically on very long runs.
_PUNCT_RUN = re.compile(r"[.!?\"'”’)\]]{17,}")


def cap_punctuation_runs(text: str, keep: int = 16) -> str:
    return _PUNCT_RUN.sub(lambda m: m.group(0)[:keep], text)


def normalize_text(text: str) -> str:
    """Clean whitespace and undo hard line-wrapping inside paragraphs.

    Paragraphs are separated by blank lines. When the text is hard-wrapped
    (most lines short and paragraphs made of several lines), lines inside a
    paragraph are joined with spaces; otherwise each line stays its own line.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
    text = cap_punctuation_runs(text)
    text = re.sub(r"[ \t]+\n", "\n", text)
    paragraphs = [p.strip("\n") for p in _BLANK_LINES.split(text)]
    paragraphs = [p for p in paragraphs if p.strip()]
    lines = [ln for p in paragraphs for ln in p.split("\n") if ln.strip()]
    multi_line = sum(1 for p in paragraphs if "\n" in p)
    wrapped = bool(lines) and multi_line > len(paragraphs) / 3 and _median_len(lines) < 100
    out = []
    for p in paragraphs:
        if wrapped:
            p = " ".join(ln.strip() for ln in p.split("\n"))
        else:
            p = "\n".join(ln.rstrip() for ln in p.split("\n"))
        out.append(re.sub(r"[ \t]{2,}", " ", p).strip())
    return "\n\n".join(out)


def _median_len(lines: list[str]) -> int:
    lengths = sorted(len(ln) for ln in lines)
    return lengths[len(lengths) // 2]


# --- per-format loaders: (bytes, path) -> Loaded ----------------------------------
_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.DOTALL)


def _load_text(data: bytes, path: Path) -> Loaded:
    text = decode_text(data)
    title = ""
    match = _FRONT_MATTER.match(text)
    if match:
        try:
            meta = yaml.safe_load(match.group(1)) or {}
        except yaml.YAMLError:
            meta = {}
        if isinstance(meta, dict):
            title = str(meta.get("title") or "").replace("\u00a0", " ").strip()
            title = dated_title(title, meta.get("date")) if title else title
        text = text[match.end() :]
    if not title and path.suffix.lower() in (".md", ".markdown"):
        heading = re.search(r"^#\s+(.+)$", text, re.MULTILINE)
        title = heading.group(1).strip() if heading else ""
        text = strip_inline_html(text)
    return title, normalize_text(text), [], None


_LINE_BREAK_TAG = re.compile(r"<br\s*/?>", re.IGNORECASE)
_INLINE_TAG = re.compile(
    r"</?(?:span|sup|sub|em|strong|b|i|u|s|a|small|big|font|mark|abbr|cite|code|kbd|ins|del)"
    r"(?:\s[^<>]*)?>",
    re.IGNORECASE,
)


def strip_inline_html(markdown: str) -> str:
    """Drop inline HTML tags that Markdown files carry ("14<sup>th</sup>" -> "14th"),
    keeping their text; ``<br>`` becomes a line break."""
    return _INLINE_TAG.sub("", _LINE_BREAK_TAG.sub("\n", markdown))


def _load_html(data: bytes, path: Path) -> Loaded:
    from bs4 import BeautifulSoup
    from bs4.element import CData, Comment, Declaration, Doctype, ProcessingInstruction

    soup = BeautifulSoup(decode_text(data), "html.parser")
    for tag in soup(["script", "style", "noscript", "template", "head"]):
        if tag.name == "head":
            continue
        tag.decompose()
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    if soup.head:
        soup.head.decompose()
    if not title and soup.h1:
        title = soup.h1.get_text(" ", strip=True)
    # Every text node belongs to its nearest block-level ancestor; consecutive
    # nodes of one block form a paragraph. Text directly inside <div>, <th>,
    # <blockquote>, <dd>, ... is kept, not only text inside <p>/<li>/<td>.
    blocks: list[str] = []
    current: list[str] = []
    owner = None
    for node in soup.find_all(string=True):
        if isinstance(node, (Comment, CData, Declaration, Doctype, ProcessingInstruction)):
            continue
        piece = " ".join(node.split())
        if not piece:
            continue
        parent = node.parent
        while parent is not None and parent.name not in _HTML_BLOCKS:
            parent = parent.parent
        if current and parent is not owner:
            blocks.append(" ".join(current))
            current = []
        owner = parent
        current.append(piece)
    if current:
        blocks.append(" ".join(current))
    return title, normalize_text("\n\n".join(blocks)), [], None


_HTML_BLOCKS = frozenset(
    "p h1 h2 h3 h4 h5 h6 li td th pre div section article main header footer nav aside "
    "blockquote dd dt dl figure figcaption caption table thead tbody tfoot tr ul ol address "
    "form fieldset legend details summary body html [document]".split()
)


def _load_pdf(data: bytes, path: Path) -> Loaded:
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


def _load_docx(data: bytes, path: Path) -> Loaded:
    import zipfile

    import docx

    try:
        document = docx.Document(io.BytesIO(data))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise LoadError(f"corrupt or unreadable DOCX ({exc})") from exc
    except Exception as exc:
        raise LoadError(f"corrupt or unreadable DOCX ({type(exc).__name__})") from exc
    paragraphs = [" ".join(p.text.split()) for p in document.paragraphs]
    paragraphs = [p for p in paragraphs if p]
    title = (document.core_properties.title or "").strip()
    if not title:
        for p in document.paragraphs:
            if p.style is not None and p.style.name.lower().startswith(("title", "heading")):
                if p.text.strip():
                    title = p.text.strip()
                    break
    return title, normalize_text("\n\n".join(paragraphs)), [], None


_LOADERS = {
    ".txt": _load_text,
    ".md": _load_text,
    ".markdown": _load_text,
    ".html": _load_html,
    ".htm": _load_html,
    ".pdf": _load_pdf,
    ".docx": _load_docx,
}
