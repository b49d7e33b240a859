"""Files to `Document`s: the suffix picks a format's loader (`LOADERS`); directories are
walked, a ``MANIFEST.tsv`` supplies titles, and problems become `Skipped` records so one
bad file never stops a batch.
"""

from __future__ import annotations

import csv
import hashlib
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from rag.loaders.common import LOADER_VERSION, Loaded, LoadError, Skipped, dated_title, display_path
from rag.loaders.docx import load_docx
from rag.loaders.html import load_html
from rag.loaders.pdf import load_pdf
from rag.loaders.text import load_text
from rag.ocr import PageTexts
from rag.types import Document

# One entry per suffix: a function (file bytes, path) -> (title, text, page starts, PDF pages).
LOADERS: dict[str, Callable[[bytes, Path], Loaded]] = {
    ".txt": load_text,
    ".md": load_text,
    ".markdown": load_text,
    ".html": load_html,
    ".htm": load_html,
    ".pdf": load_pdf,
    ".docx": load_docx,
}
SUPPORTED_SUFFIXES = tuple(LOADERS)
MAX_FILE_BYTES = 100 * 1024 * 1024


def _mb(n: int) -> str:
    """Bytes as MB (MiB, like the limit): '200 MB', or '0.5 MB' for small limits."""
    mb = n / (1024 * 1024)
    return f"{mb:.0f} MB" if mb >= 10 else f"{mb:.1f} MB"


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
    title, text, page_starts, scan = LOADERS[suffix](data, path)
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
