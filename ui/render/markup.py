"""Escaping and highlighting: every text placed in the chat's HTML goes through `esc`."""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence

from rag.types import Citation


def esc(text: object) -> str:
    """HTML-escape any text (quotes too, so it is safe inside attributes)."""
    return html.escape("" if text is None else str(text), quote=True)


def source_id(aid: str, n: int) -> str:
    return f"rag-src-{aid}-{n}"


def where(c: Citation) -> str:
    """'Title, p. 6' (plain text)."""
    return f"{c.title}, p. {c.page}" if c.page else c.title


def merge_spans(spans: Iterable[tuple[int, int]], length: int) -> list[tuple[int, int]]:
    """Clip to ``[0, length]``, drop empty spans, merge overlaps; sorted."""
    clipped = sorted(
        (max(0, int(s)), min(length, int(e))) for s, e in spans if min(length, e) > max(0, s)
    )
    merged: list[tuple[int, int]] = []
    for s, e in clipped:
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(e, merged[-1][1]))
        else:
            merged.append((s, e))
    return merged


def highlight(text: str, spans: Sequence[tuple[int, int]]) -> str:
    """Escaped ``text`` with each span wrapped in ``<mark>``."""
    out, cursor = [], 0
    for s, e in merge_spans(spans, len(text)):
        out.append(esc(text[cursor:s]))
        out.append(f"<mark>{esc(text[s:e])}</mark>")
        cursor = e
    out.append(esc(text[cursor:]))
    return "".join(out)
