"""The page around the chat: header, setup banner, indexed documents, upload and delete notes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rag.types import DocumentInfo
from ui.render.markup import esc

if TYPE_CHECKING:
    from ui.engine import UploadResult


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
