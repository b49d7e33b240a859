"""HTML for the chat UI, as pure functions of `rag` data (no Gradio here).

Every piece of document, question or answer text goes through `esc` before it
is placed in markup: indexed documents may contain HTML or script, and the
chat renders HTML. Citation markers link to passages in the sources panel by
element id (``rag-src-<answer id>-<n>``); the page script opens the passage.

One module per part of the page: `answer` (the chat message), `sources` (the
sources panel), `pdf_page` (a cited page as an image), `page` (header, banner,
documents, notes) and `markup` (escaping and highlighting they all use).
"""

from ui.render.answer import render_answer, render_error, render_refusal, render_streaming
from ui.render.markup import esc, highlight, merge_spans, source_id, where
from ui.render.page import (
    CHAT_PLACEHOLDER,
    render_banner,
    render_deleted,
    render_documents,
    render_header,
    render_notice,
    render_upload_status,
)
from ui.render.pdf_page import render_page_view
from ui.render.sources import (
    EMPTY_SOURCES,
    citation_panel_data,
    evidence_spans,
    render_evidence,
    render_sources,
    render_sources_group,
)

__all__ = [
    "CHAT_PLACEHOLDER",
    "EMPTY_SOURCES",
    "citation_panel_data",
    "esc",
    "evidence_spans",
    "highlight",
    "merge_spans",
    "render_answer",
    "render_banner",
    "render_deleted",
    "render_documents",
    "render_error",
    "render_evidence",
    "render_header",
    "render_notice",
    "render_page_view",
    "render_refusal",
    "render_sources",
    "render_sources_group",
    "render_streaming",
    "render_upload_status",
    "source_id",
    "where",
]
