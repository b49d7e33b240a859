"""HTML for the chat UI, as pure functions of `rag` data (no Gradio here).

Every piece of document, question or answer text goes through `esc` before it
is placed in markup: indexed documents may contain HTML or script, and the
chat renders HTML. Citation markers link to passages in the sources panel by
element id (``rag-src-<answer id>-<n>``); the page script opens the passage.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rag.types import Answer, Citation, ContextSentence, DocumentInfo

if TYPE_CHECKING:
    from ui.engine import UploadResult
    from ui.pages import PageView
    from ui.session import SessionTurn

SNIPPET_CHARS = 260
_BULLET = re.compile(r"^\s*(?:[*\-•]|\d{1,2}[.)])\s+")
MAX_GROUPS = 20


def esc(text: object) -> str:
    """HTML-escape any text (quotes too, so it is safe inside attributes)."""
    return html.escape("" if text is None else str(text), quote=True)


def source_id(aid: str, n: int) -> str:
    return f"rag-src-{aid}-{n}"


def where(c: Citation) -> str:
    """'Title, p. 6' (plain text)."""
    return f"{c.title}, p. {c.page}" if c.page else c.title


# -- citation data -------------------------------------------------------------------
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


# -- chat messages -------------------------------------------------------------------
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


# -- sources panel -------------------------------------------------------------------
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


def render_page_view(view: PageView) -> str:
    """The cited page as an image with a translucent box over each line of evidence."""
    label = f"Page {view.page}" + (" · OCR" if view.ocr else "")
    name = Path(view.source).name
    if view.image is None:
        return (
            f'<figure class="rag-pageview" data-testid="rag-page-view"><figcaption>{esc(label)}: '
            f"{esc(view.problem or 'not available')}</figcaption></figure>"
        )
    marks = "".join(
        f'<span class="rag-page-mark" data-testid="rag-page-mark" style="left:{left * 100:.2f}%;'
        f"top:{top * 100:.2f}%;width:{(right - left) * 100:.2f}%;"
        f'height:{(bottom - top) * 100:.2f}%"></span>'
        for left, top, right, bottom in view.marks
    )
    note = view.problem or ("evidence marked" if view.marks else "no evidence to mark")
    return (
        f'<figure class="rag-pageview" data-testid="rag-page-view"><div class="rag-page-frame">'
        f'<img src="{view.image.uri}" width="{view.image.width}" height="{view.image.height}" '
        f'alt="{esc(label)} of {esc(name)}" data-testid="rag-page-image">{marks}</div>'
        f"<figcaption>{esc(label)} of {esc(name)} · {esc(note)}</figcaption></figure>"
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


# -- banner and documents --------------------------------------------------------------
def render_banner(problems: Sequence[tuple[str, str | None]]) -> str:
    """Setup problems, each with the exact command that fixes it ('' when all is well)."""
    if not problems:
        return ""
    items = "".join(
        f"<li>{esc(msg)}"
        + (f'<div class="rag-fix">Run: <code>{esc(cmd)}</code></div>' if cmd else "")
        + "</li>"
        for msg, cmd in problems
    )
    return (
        f'<div class="rag-banner" role="alert"><strong>Setup needed</strong><ul>{items}</ul></div>'
    )


def render_documents(docs: Sequence[DocumentInfo], uploaded: set[str] | None = None) -> str:
    """The indexed documents with their chunk counts."""
    uploaded = uploaded or set()
    if not docs:
        return '<div class="rag-docs rag-empty">No documents are indexed yet.</div>'
    total = sum(d.chunks for d in docs)
    rows = []
    for d in docs:
        tag = ' <span class="rag-tag">uploaded</span>' if d.source in uploaded else ""
        pages = d.pages or ""
        rows.append(
            f'<tr><td><div class="rag-doc-title">{esc(d.title)}{tag}</div>'
            f'<div class="rag-file">{esc(Path(d.source).name)}</div></td>'
            f'<td class="num">{d.chunks}</td><td class="num">{esc(pages)}</td></tr>'
        )
    return (
        f'<div class="rag-docs"><div class="rag-docs-sum">{len(docs)} documents · '
        f"{total} passages</div><table><thead><tr><th>Document</th>"
        '<th class="num">Chunks</th><th class="num">Pages</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


# -- page and index notes ----------------------------------------------------------------
CHAT_PLACEHOLDER = (
    "<b>Ask about Japan's Official Security Assistance (OSA), ASEAN and the Indo-Pacific.</b>"
    "<br>Pick an example or type a question."
)


def render_header(title: str) -> str:
    return (
        f"<h1>{esc(title)}</h1><p>Answers come only from the indexed documents, with "
        "numbered citations you can click. Runs offline.</p>"
    )


def render_notice(text: str) -> str:
    return f'<div class="rag-empty">{esc(text)}</div>'


def render_deleted(name: str, passages: int) -> str:
    return (
        f'<div class="rag-ok">Deleted {esc(name)} ({passages} passages removed from the '
        "index).</div>"
    )


def render_upload_status(result: UploadResult) -> str:
    """What an upload did, as a short HTML list."""
    lines = []
    if result.added or result.updated:
        names = ", ".join(esc(n) for n in result.added + result.updated)
        lines.append(
            f'<li class="rag-ok">Indexed {names} ({result.chunks_added} passages, '
            f"{result.seconds:.1f} s): searchable now.</li>"
        )
    if result.unchanged:
        lines.append(f"<li>Already indexed: {', '.join(esc(n) for n in result.unchanged)}</li>")
    lines += [f'<li class="rag-bad">Rejected: {esc(msg)}</li>' for msg in result.rejected]
    return f'<div class="rag-upload-status"><ul>{"".join(lines)}</ul></div>'
