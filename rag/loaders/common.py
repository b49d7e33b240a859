"""What every loader shares: the `Loaded` result, `LoadError`, `Skipped`, source paths
and dated titles."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

from rag.ocr import PageTexts

# Part of every document's content hash: when text extraction or sentence splitting
# changes, the next incremental ingest re-reads every file instead of keeping stale chunks.
LOADER_VERSION = 5  # 4: titles carry the document's date; 5: OCR of scanned PDF pages

Loaded = tuple[str, str, list[int], PageTexts | None]  # title, text, page starts, PDF pages


class LoadError(Exception):
    """A file could not be turned into text; the message says why."""


@dataclass
class Skipped:
    """A file left out of ingestion, with the one-line reason shown to the user."""

    path: str
    reason: str


def display_path(path: Path) -> str:
    """Path relative to the working directory when inside it, else absolute."""
    resolved = path.resolve()
    try:
        return resolved.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return resolved.as_posix()


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
