"""Answer feedback (thumbs up/down plus an optional comment) as local JSON lines.

Each record is one line of ``.rag/feedback.jsonl`` (configurable). A comment
added after the rating is appended as a new record with the same ``id``; the
last record per ``id`` is the current one.

Example::

    from rag.feedback import append_feedback, feedback_record
    append_feedback(".rag/feedback.jsonl", feedback_record(answer, "up", comment="clear"))
"""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path

from rag.prompt_safety import clean_question
from rag.types import Answer

DEFAULT_FEEDBACK_FILE = Path(".rag") / "feedback.jsonl"
RATINGS = ("up", "down")
MAX_COMMENT_CHARS = 2000

_write_lock = threading.Lock()


def feedback_record(
    answer: Answer | dict,
    rating: str,
    comment: str = "",
    feedback_id: str | None = None,
    **extra: object,
) -> dict:
    """One feedback line: question, answer, citations, rating, comment, timestamp."""
    if rating not in RATINGS:
        raise ValueError(f"rating must be one of {RATINGS}, got {rating!r}")
    data = answer.to_dict() if isinstance(answer, Answer) else dict(answer)
    comment = clean_question(comment or "")[:MAX_COMMENT_CHARS]
    citations = [
        {k: c.get(k) for k in ("n", "title", "source", "page", "score", "chunk_id")}
        for c in data.get("citations", [])
    ]
    record = {
        "id": feedback_id or uuid.uuid4().hex[:12],
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "rating": rating,
        "comment": comment,
        "question": data.get("question", ""),
        "search_query": data.get("standalone_question"),
        "answer": data.get("answer", ""),
        "refused": bool(data.get("refused", False)),
        "citations": citations,
        "model": data.get("model"),
    }
    record.update(extra)
    return record


def append_feedback(path: str | Path, record: dict) -> Path:
    """Append ``record`` as one JSON line (parent folders are created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, ensure_ascii=False) + "\n"
    with _write_lock, open(path, "a", encoding="utf-8") as fh:
        fh.write(line)
    return path


def read_feedback(path: str | Path) -> list[dict]:
    """All records in the file, oldest first (missing file: none)."""
    path = Path(path)
    if not path.is_file():
        return []
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]
