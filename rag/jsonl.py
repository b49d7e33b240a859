"""Document collections in JSON Lines: one document per line (`.jsonl`, `.jsonl.gz`).

Each line is an object with ``text`` and optionally ``id``, ``title`` and
``date`` (the White House briefing archive in ``corpus/scale`` has these, plus
``url_or_path``). Every line becomes its own `Document`, with the source
``<file>#<id>`` (``#line-N`` without an id), so incremental ingest, ``--prune``
and `rag docs` work per document. A bad line is skipped with its line number;
the rest of the file is still read.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import stat
import zlib
from collections.abc import Iterator
from pathlib import Path

from rag.loaders import LOADER_VERSION, Skipped, dated_title, display_path, normalize_text
from rag.types import Document

JSONL_SUFFIXES = (".jsonl", ".jsonl.gz")
MEMBER_MARK = "#"


def is_jsonl(path: Path) -> bool:
    return Path(path).name.lower().endswith(JSONL_SUFFIXES)


def source_file(source: str) -> Path:
    """The file a document's ``source`` came from: the collection for a member."""
    for suffix in JSONL_SUFFIXES:
        head, mark, _ = source.partition(suffix + MEMBER_MARK)
        if mark:
            return Path(head + suffix)
    return Path(source)


def iter_jsonl_documents(path: Path, max_bytes: int) -> Iterator[Document | Skipped]:
    """Yield a `Document` per line of ``path`` (or a `Skipped` saying what is wrong).

    ``max_bytes`` limits each line (one document), not the file: a collection is
    streamed, so its size costs no memory.
    """
    source = display_path(Path(path))
    try:
        info = Path(path).stat()
    except OSError as exc:
        yield Skipped(source, f"cannot read file: {exc.strerror or exc}")
        return
    if not stat.S_ISREG(info.st_mode):
        yield Skipped(source, "not a regular file")
        return
    seen: set[str] = set()
    found = bad = 0
    lineno = 0
    opener = gzip.open if source.lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as fh:
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                where = f"{source} line {lineno}"
                if len(line) > max_bytes:
                    bad += 1
                    yield Skipped(where, f"document too large ({len(line):,} bytes)")
                    continue
                try:
                    row = json.loads(line)
                except (ValueError, UnicodeDecodeError) as exc:
                    bad += 1
                    yield Skipped(where, f"invalid JSON ({str(exc)[:80]})")
                    continue
                document = _document(row, lineno, source, seen)
                if isinstance(document, str):
                    bad += 1
                    yield Skipped(where, document)
                    continue
                digest = hashlib.sha256(line.strip()).hexdigest()
                document.content_hash = f"{digest}-l{LOADER_VERSION}"
                found += 1
                yield document
    except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        yield Skipped(source, f"corrupt or truncated file after line {lineno} ({exc})")
        return
    if not found and not bad:
        yield Skipped(source, "empty file" if lineno == 0 else "no documents found (blank lines)")


def _document(row: object, lineno: int, source: str, seen: set[str]) -> Document | str:
    """The line's `Document`, or the reason it is not one."""
    if not isinstance(row, dict):
        return f"not a JSON object ({type(row).__name__})"
    text = row.get("text")
    if not isinstance(text, str) or not text.strip():
        return "no text (a 'text' string is required)"
    key = str(row.get("id") or f"line-{lineno}").strip()
    if key in seen:
        return f"duplicate id '{key[:80]}'"
    seen.add(key)
    title = " ".join(str(row.get("title") or "").split()) or key
    return Document(
        source=f"{source}{MEMBER_MARK}{key}",
        title=dated_title(title, row.get("date")),
        text=normalize_text(text),
        content_hash="",
    )
