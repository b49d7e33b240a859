"""The chat message for an answer, a refusal, a streaming draft or an error."""

from __future__ import annotations

import re

from rag.types import Answer, Citation
from ui.render.markup import esc, source_id, where

_BULLET = re.compile(r"^\s*(?:[*\-•]|\d{1,2}[.)])\s+")


def _marker(aid: str, c: Citation) -> str:
    return f'<a class="rag-cite" href="#{source_id(aid, c.n)}" title="{esc(where(c))}">[{c.n}]</a>'


def _meta(answer: Answer) -> str:
    t = answer.timings or {}
    parts = [esc(answer.model)]
    if t.get("first_token_ms"):
        parts.append(f"first token {t['first_token_ms'] / 1000:.1f} s")
    if t.get("total_ms"):
        parts.append(f"total {t['total_ms'] / 1000:.1f} s")
    return f'<div class="rag-meta">{" · ".join(parts)}</div>'


def render_answer(answer: Answer, aid: str) -> str:
    """The chat message for a finished answer (or refusal)."""
    if answer.refused:
        return render_refusal(answer, aid)
    by_n = {c.n: c for c in answer.citations}
    parts = []
    unsupported = 0
    for s in answer.sentences:
        markers = "".join(_marker(aid, by_n[n]) for n in s.citations if n in by_n)
        text, lead = s.text, ""
        bullet = _BULLET.match(text)
        if bullet:  # a list item: start a new line
            numbered = bullet.group(0).strip()[0].isdigit()
            text = text if numbered else f"• {text[bullet.end() :]}"
            lead = "<br>" if parts else ""
        if s.supported:
            body = esc(text)
            if markers:  # "... Fiji [1]." like the pipeline writes them
                stop = text[-1] if text[-1:] in (".", "!", "?") else ""
                body = f"{esc(text[: len(text) - len(stop)])} {markers}{esc(stop)}"
            parts.append(f'{lead}<span class="rag-sent">{body}</span>')
        else:
            unsupported += 1
            parts.append(
                f'{lead}<span class="rag-unsupported" title="No retrieved passage supports this '
                f'sentence">{esc(text)}</span><span class="rag-flag">unsupported</span>'
            )
    if not parts:  # defensive: an answer without checked sentences
        parts.append(f'<span class="rag-sent">{esc(answer.answer)}</span>')
    note = (
        '<div class="rag-note">Sentences marked <span class="rag-flag">unsupported</span> are '
        "not backed by any retrieved passage.</div>"
        if unsupported
        else ""
    )
    rewrite = (
        f'<div class="rag-rewrite">Follow-up searched as: <q>{esc(answer.standalone_question)}</q>'
        "</div>"
        if answer.standalone_question
        else ""
    )
    return (
        f'<div class="rag-answer" id="rag-ans-{esc(aid)}"><p>{" ".join(parts)}</p>{note}'
        f"{rewrite}{_meta(answer)}</div>"
    )


def render_refusal(answer: Answer, aid: str) -> str:
    """A refusal: says that the documents lack the answer, why, and what was searched."""
    query = answer.standalone_question or answer.question
    if answer.retrieved:
        by_doc: dict[str, list[Citation]] = {}
        for c in answer.retrieved:
            by_doc.setdefault(where(c), []).append(c)
        found = "; ".join(
            "".join(_marker(aid, c) for c in cs)
            + f" {esc(name)} "
            + f'<span class="rag-score">{", ".join(f"{c.score:.2f}" for c in cs)}</span>'
            for name, cs in by_doc.items()
        )
        searched = (
            f'<div class="rag-searched">Searched for <q>{esc(query)}</q>. Closest passages: '
            f"{found}</div>"
        )
    elif query:
        searched = (
            f'<div class="rag-searched">Searched for <q>{esc(query)}</q>: nothing found.</div>'
        )
    else:
        searched = ""
    reason = esc(answer.refusal_reason or "no supported answer")
    draft = " ".join(s.text for s in answer.sentences)
    draft_html = (
        '<details class="rag-draft"><summary>Show the unsupported draft</summary>'
        f"{esc(draft)}</details>"
        if draft
        else ""
    )
    return (
        f'<div class="rag-refusal" id="rag-ans-{esc(aid)}">'
        '<div class="rag-refusal-title">No answer in the documents</div>'
        f"<p>{esc(answer.answer)}</p>"
        f'<div class="rag-reason">Why: {reason}.</div>{searched}{draft_html}{_meta(answer)}</div>'
    )


def render_streaming(text: str, status: str = "Searching the documents…") -> str:
    """The message while tokens arrive (plain escaped text with a cursor)."""
    if not text:
        return f'<div class="rag-streaming rag-status">{esc(status)}</div>'
    return f'<div class="rag-streaming">{esc(text)}<span class="rag-cursor">▍</span></div>'


def render_error(message: str, command: str | None = None) -> str:
    """A problem shown in the chat instead of an answer (never a traceback)."""
    fix = f'<div class="rag-fix">Fix: <code>{esc(command)}</code></div>' if command else ""
    return f'<div class="rag-error"><strong>Cannot answer:</strong> {esc(message)}{fix}</div>'
