"""The sources panel: each answer's passages with their evidence highlighted, newest first."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rag.types import Answer, ContextSentence
from ui.render.markup import esc, highlight, merge_spans, source_id, where
from ui.render.pdf_page import render_page_view

if TYPE_CHECKING:
    from ui.pages import PageView
    from ui.session import SessionTurn

SNIPPET_CHARS = 260
MAX_GROUPS = 20


def evidence_spans(answer: Answer) -> dict[int, list[tuple[int, int]]]:
    """For each cited passage, the spans of the evidence sentences the answer rests on."""
    spans: dict[int, list[tuple[int, int]]] = {}
    context = {s.id: s for s in answer.context}
    for sentence in answer.sentences:
        if not sentence.supported:
            continue
        named = [context[i] for i in sentence.evidence_ids if i in context]
        for s in named:
            spans.setdefault(s.n, []).append((s.start, s.end))
        if named:
            continue
        for n in sentence.citations:
            span = sentence.evidence.get(n) or sentence.evidence.get(str(n))  # type: ignore[call-overload]
            if span:
                spans.setdefault(n, []).append((int(span[0]), int(span[1])))
    return spans


def _snippet(text: str, spans: list[tuple[int, int]]) -> str:
    """The first supporting sentence (highlighted), or the passage opening."""
    if spans:
        s, e = spans[0]
        e = min(e, s + SNIPPET_CHARS)
        lead = "… " if s > 0 else ""
        tail = " …" if e < len(text) else ""
        return f"{lead}<mark>{esc(text[s:e].strip())}</mark>{tail}"
    cut = text[:SNIPPET_CHARS].strip()
    return esc(cut) + (" …" if len(text) > SNIPPET_CHARS else "")


def citation_panel_data(answer: Answer, ocr: Mapping[str, set[int]] | None = None) -> list[dict]:
    """The passages the sources panel lists: cited ones, or all searched ones for a refusal.

    ``ocr`` gives the pages read by OCR by document source (the index manifest)."""
    passages = answer.retrieved if answer.refused else answer.citations
    marks = {} if answer.refused else evidence_spans(answer)
    rows = []
    for c in passages:
        spans = merge_spans(marks.get(c.n, []), len(c.text))
        rows.append(
            {
                "n": c.n,
                "title": c.title,
                "source": c.source,
                "page": c.page,
                "score": c.score,
                "text": c.text,
                "highlights": spans,
                "cited": not answer.refused,
                "ocr": bool(c.page) and c.page in (ocr or {}).get(c.source, ()),
            }
        )
    return rows


EMPTY_SOURCES = (
    '<div class="rag-sources rag-empty">Sources for each answer appear here. Click a '
    "<b>[n]</b> marker in an answer to open its passage.</div>"
)


def _passage(aid: str, row: dict, view: PageView | None = None) -> str:
    ocr = " · OCR" if row.get("ocr") else ""
    page = f'<span class="rag-page">p. {esc(row["page"])}{ocr}</span>' if row["page"] else ""
    name = Path(str(row["source"])).name
    full = highlight(row["text"], row["highlights"])
    key = f"{aid}:{row['n']}"
    is_pdf = bool(row["page"]) and name.lower().endswith(".pdf")
    button = (f'<button type="button" class="rag-page-btn" data-page="{esc(key)}" '
              f'data-testid="rag-page-button">Show page {esc(row["page"])}</button>'
              if is_pdf and view is None else "")  # fmt: skip
    body = f'<div class="rag-passage">{full}</div>'
    if view is not None:  # the page beside the text (stacked on a narrow screen)
        body = f'<div class="rag-passage-body">{body}{render_page_view(view)}</div>'
    return (
        f'<details class="rag-src" id="{source_id(aid, row["n"])}"'
        + (f' data-page="{esc(key)}"' if is_pdf else "")
        + (" open>" if view is not None else ">")
        + f'<summary><span class="rag-src-head"><span class="rag-n">[{row["n"]}]</span> '
        f'<span class="rag-title">{esc(row["title"])}</span>{page}'
        f'<span class="rag-score" title="relevance (cosine similarity)">score '
        f"{row['score']:.2f}</span></span>"
        f'<span class="rag-snippet">{_snippet(row["text"], row["highlights"])}</span></summary>'
        f'{body}<div class="rag-file">{esc(name)}{button}</div></details>'
    )


def render_sources_group(
    answer: Answer, aid: str, search_query: str | None = None, method: str = "none",
    ocr: Mapping[str, set[int]] | None = None, view: PageView | None = None,
) -> str:  # fmt: skip
    """One answer's sources: the query searched and each passage with its highlight
    (``ocr``: pages read by OCR by source; ``view``: a passage's page, shown beside it)."""
    query = search_query or answer.standalone_question or answer.question
    tag = {
        "model": '<span class="rag-tag">follow-up rewritten by the model</span>',
        "heuristic": '<span class="rag-tag">follow-up expanded with earlier terms</span>',
    }.get(method, "")
    rows = citation_panel_data(answer, ocr)
    if answer.refused:
        heading = (
            f'<div class="rag-group-note">No answer: {esc(answer.refusal_reason or "")}. '
            "Passages searched:</div>"
            if rows
            else '<div class="rag-group-note">Nothing was retrieved.</div>'
        )
    else:
        heading = ""
    shown = {view.n: view} if view and view.aid == aid else {}
    items = "".join(f"<li>{_passage(aid, r, shown.get(r['n']))}</li>" for r in rows)
    also = ""
    if not answer.refused:
        cited = {c.n for c in answer.citations}
        rest: dict[str, list[float]] = {}
        for c in answer.retrieved:
            if c.n not in cited:
                rest.setdefault(where(c), []).append(c.score)
        if rest:
            names = "; ".join(
                f"{esc(name)} ({', '.join(f'{x:.2f}' for x in scores)})"
                for name, scores in rest.items()
            )
            also = f'<div class="rag-also">Also retrieved, not cited: {names}</div>'
    return (
        f'<section class="rag-group" id="rag-grp-{esc(aid)}">'
        f'<div class="rag-query">Searched for: <q>{esc(query)}</q> {tag}</div>'
        f'{heading}<ol class="rag-src-list">{items}</ol>{also}</section>'
    )


def render_evidence(evidence: Sequence[ContextSentence], query: str) -> str:
    """The sources panel while the answer is written: the sentences the model named."""
    by_title: dict[str, list[str]] = {}
    for s in evidence:
        by_title.setdefault(f"[{s.n}] {s.title}", []).append(f"<mark>{esc(s.text)}</mark>")
    items = "".join(
        f'<li class="rag-evidence"><div class="rag-src-title">{esc(title)}</div>'
        f"{' '.join(marks)}</li>"
        for title, marks in by_title.items()
    )
    return (
        f'<section class="rag-group rag-pending"><div class="rag-query">Searched for: '
        f'<q>{esc(query)}</q></div><div class="rag-group-note">Evidence the answer is '
        f'being written from:</div><ol class="rag-src-list">{items}</ol></section>'
    )


def render_sources(
    turns: Sequence[SessionTurn], ocr: Mapping[str, set[int]] | None = None,
    view: PageView | None = None,
) -> str:  # fmt: skip
    """The sources panel: the latest answer open, earlier ones folded (newest first).

    ``turns`` are the session's answered turns, oldest first; ``ocr`` and ``view``
    as in `render_sources_group`.
    """
    shown = list(turns)[-MAX_GROUPS:]
    if not shown:
        return EMPTY_SOURCES
    blocks = []
    for i, t in enumerate(reversed(shown)):
        body = render_sources_group(t.answer, t.aid, t.search_query, t.method, ocr, view)
        if i == 0:
            blocks.append(body)
        else:
            opened = " open" if view and view.aid == t.aid else ""
            blocks.append(
                f'<details class="rag-older"{opened}><summary>Earlier: '
                f"{esc(t.answer.question)}</summary>{body}</details>"
            )
    return f'<div class="rag-sources">{"".join(blocks)}</div>'
