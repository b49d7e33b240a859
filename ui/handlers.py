"""The chat page's event handlers, as plain methods (data in, named results out).

Each handler returns a NamedTuple whose fields are, in order, the Gradio outputs it
updates (ui/app.py wires them), so tests read results by name without a browser.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import gradio as gr

from rag.feedback import append_feedback, feedback_record
from rag.prompt_safety import clean_question
from ui.engine import Engine, explain
from ui.pages import ocr_pages, view_for_request
from ui.render import (
    EMPTY_SOURCES,
    render_answer,
    render_banner,
    render_deleted,
    render_documents,
    render_error,
    render_evidence,
    render_notice,
    render_sources,
    render_streaming,
    render_upload_status,
)
from ui.session import ChatSession, PendingRating, SessionTurn

log = logging.getLogger("rag.ui")

_AID = re.compile(r"rag-ans-([0-9a-f]+)")
Update = Any  # a value, or a `gr.update(...)` / `gr.skip()` for a Gradio component


class ChatUpdate(NamedTuple):
    """The outputs of asking: question box, chat, session, sources panel, banner."""

    textbox: Update
    chat: Update
    session: ChatSession
    sources: Update
    banner: Update


class ClearUpdate(NamedTuple):
    chat: Update
    session: ChatSession
    sources: Update
    feedback_row: Update
    textbox: Update


class FeedbackUpdate(NamedTuple):
    """After a rating or comment: session, comment row, comment box, note."""

    session: ChatSession
    feedback_row: Update
    feedback_text: Update
    feedback_note: Update


class DocumentsView(NamedTuple):
    table: str
    dropdown: Update


class StatusUpdate(NamedTuple):
    """On page load: banner, documents table, delete dropdown."""

    banner: Update
    table: str
    dropdown: Update


class IndexUpdate(NamedTuple):
    """After an upload or delete: status note, documents table, delete dropdown, banner."""

    status: Update
    table: Update
    dropdown: Update
    banner: Update


class UploadUpdate(NamedTuple):
    """`IndexUpdate` plus the file input (cleared)."""

    status: Update
    table: Update
    dropdown: Update
    banner: Update
    files: Update


# -- chat history helpers ---------------------------------------------------------------
def message_text(content: object) -> str:
    """Text of a chat message whether Gradio sends a string, a part dict or a list of parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        if "text" in content:
            return str(content.get("text") or "")
        if "content" in content:
            return message_text(content["content"])
        return ""
    if isinstance(content, list | tuple):
        return "".join(message_text(part) for part in content)
    return str(content)


def normalize_history(history: Sequence | None) -> list[dict]:
    """Chatbot value as ``[{"role", "content": str}]`` whatever shape it arrived in."""
    messages = []
    for m in history or []:
        if isinstance(m, dict):
            role, content = m.get("role", "assistant"), m.get("content")
        else:  # a ChatMessage dataclass
            role, content = getattr(m, "role", "assistant"), getattr(m, "content", "")
        messages.append({"role": role, "content": message_text(content)})
    return messages


def too_long_message(length: int, limit: int) -> str:
    """The polite refusal of an over-long question."""
    return (
        f"your question is {length:,} characters long and the limit is {limit:,}. "
        "Please shorten it (ask about one thing at a time) and send it again; "
        "your text is still in the box."
    )


def banner_update(problems: Sequence[tuple[str, str | None]]) -> dict:
    return gr.update(value=render_banner(problems), visible=bool(problems))


class ChatUI:
    """Event handlers of the chat page; each takes plain values and returns named ones."""

    def __init__(self, engine: Engine):
        self.engine = engine

    # -- asking ---------------------------------------------------------------------
    def respond(
        self,
        message: object,
        history: Sequence | None,
        session: ChatSession | None,
        top_k: float | None = None,
        model: str | None = None,
        temperature: float | None = None,
        threshold: float | None = None,
        context_chars: float | None = None,
        drop_unsupported: bool | None = None,
    ) -> Iterator[ChatUpdate]:
        """Stream an answer as `ChatUpdate`s."""
        question = message_text(message).strip()
        chat = normalize_history(history)
        session = session or ChatSession()
        if not question:
            yield ChatUpdate("", chat, session, gr.skip(), gr.skip())
            return
        chat.append({"role": "user", "content": question})

        def show(content: str, sources=None, banner=None) -> ChatUpdate:
            """The update with ``content`` as the (new) last assistant message."""
            if chat[-1]["role"] == "assistant":
                chat.pop()
            chat.append({"role": "assistant", "content": content})
            skip = gr.skip()
            return ChatUpdate("", list(chat), session, sources or skip, banner or skip)

        limit = self.engine.settings.max_question_chars
        length = len(clean_question(question))
        if length > limit:  # refused before any model call, and not kept as a turn
            chat.append(
                {"role": "assistant", "content": render_error(too_long_message(length, limit))}
            )
            # the text stays in the box, to be shortened
            yield ChatUpdate(question, chat, session, gr.skip(), gr.skip())
            return
        yield show(render_streaming(""))
        options = {
            "top_k": top_k, "model": model, "temperature": temperature,
            "refusal_threshold": threshold, "context_chars": context_chars,
            "drop_unsupported": drop_unsupported,
        }  # fmt: skip
        try:  # Engine.answer: in this process, or on the Ray Serve replicas
            answer, kept, text, query = None, None, "", question
            for event in self.engine.answer(question, session.conversation_turns(), **options):
                if event.kind == "rewriting":
                    yield show(render_streaming("", "Reading the follow-up in context…"))
                elif event.kind == "search":
                    query = event.text
                elif event.kind == "evidence":  # highlighted before the answer is written
                    panel = render_evidence(event.evidence or [], query)
                    yield show(
                        render_streaming("", "Writing from the highlighted evidence…"), panel
                    )
                elif event.kind == "token":
                    text += event.text
                    yield show(render_streaming(text))
                elif event.kind == "answer":
                    answer, kept = event.answer, event.turn
            if answer is None or kept is None:  # pragma: no cover - always ends with one
                raise RuntimeError("the pipeline ended without an answer")
        except Exception as exc:
            log.exception("answering %r failed", question)
            message_, command = explain(exc, self.engine.settings)
            yield show(
                render_error(message_, command), banner=banner_update(self.engine.problems())
            )
            return
        turn = SessionTurn(uuid.uuid4().hex[:10], answer, kept.standalone, kept.method)
        session.turns.append(turn)
        sources = render_sources(session.turns, ocr_pages(self.engine.documents()))
        yield show(render_answer(answer, turn.aid), sources=sources)

    def show_page(self, request: str, session: ChatSession | None) -> Update:
        """The sources panel with the page of the clicked PDF citation beside its text."""
        turns = (session or ChatSession()).turns
        view = view_for_request(turns, request or "")
        if view is None:
            return gr.skip()
        return render_sources(turns, ocr_pages(self.engine.documents()), view)

    def clear(self) -> ClearUpdate:
        return ClearUpdate([], ChatSession(), EMPTY_SOURCES, gr.update(visible=False), "")

    # -- feedback ---------------------------------------------------------------------
    def _turn(self, session: ChatSession, value: object) -> SessionTurn | None:
        match = _AID.search(message_text(value))
        return session.turn(match.group(1)) if match else None

    def like(self, liked: object, value: object, session: ChatSession | None) -> FeedbackUpdate:
        """Record a thumbs up/down at once, then offer a comment box."""
        session = session or ChatSession()
        turn = self._turn(session, value)
        if turn is None or liked is None:
            return FeedbackUpdate(session, gr.update(visible=False), gr.skip(), gr.skip())
        rating = "up" if liked is True or str(liked).lower() in ("like", "true") else "down"
        record = self._record(turn, rating, "", session)
        session.pending = PendingRating(turn.aid, rating, record["id"])
        note = "Thanks, your 👍 is saved." if rating == "up" else "Thanks, your 👎 is saved."
        return FeedbackUpdate(
            session, gr.update(visible=True), "", f"{note} Add a comment (optional):"
        )

    def comment(self, text: str, session: ChatSession | None) -> FeedbackUpdate:
        """Save a comment for the last rated answer."""
        session = session or ChatSession()
        pending = session.pending
        turn = session.turn(pending.aid) if pending else None
        if pending is None or turn is None or not (text or "").strip():
            return FeedbackUpdate(session, gr.update(visible=False), "", "")
        self._record(turn, pending.rating, text, session, feedback_id=pending.feedback_id)
        session.pending = None
        gr.Info("Comment saved. Thank you!", duration=3)
        return FeedbackUpdate(session, gr.update(visible=False), "", "")

    def _record(
        self,
        turn: SessionTurn,
        rating: str,
        comment: str,
        session: ChatSession,
        feedback_id: str | None = None,
    ) -> dict:
        record = feedback_record(
            turn.answer, rating, comment, feedback_id=feedback_id, search_method=turn.method
        )
        append_feedback(self.engine.feedback_file, record)
        session.feedback[turn.aid] = record["id"]
        return record

    # -- documents --------------------------------------------------------------------
    def documents_view(self) -> DocumentsView:
        """The documents table and the delete dropdown for the current index."""
        docs = self.engine.documents()
        uploaded = self.engine.uploaded_sources(docs)
        choices = [(f"{d.title or d.source} ({Path(d.source).name})", d.source) for d in docs]
        return DocumentsView(
            render_documents(docs, uploaded), gr.update(choices=choices, value=None)
        )

    def status(self) -> StatusUpdate:
        """On page load: the setup banner and the documents."""
        view = self.documents_view()
        return StatusUpdate(banner_update(self.engine.problems()), view.table, view.dropdown)

    def upload(self, files: Sequence | None, progress=None) -> UploadUpdate:
        """Ingest uploaded files."""
        paths = []
        for f in files or []:
            path = getattr(f, "name", None) or getattr(f, "path", None) or str(f)
            paths.append((Path(path), Path(path).name))
        if not paths:
            return UploadUpdate(gr.skip(), gr.skip(), gr.skip(), gr.skip(), None)
        if progress is not None:
            progress(0, desc=f"Indexing {len(paths)} file(s)…")
        try:
            result = self.engine.add_files(paths, progress=progress is not None)
            status = render_upload_status(result)
        except Exception as exc:
            log.exception("upload failed")
            status = render_error(*explain(exc, self.engine.settings))
        view = self.documents_view()
        return UploadUpdate(
            status, view.table, view.dropdown, banner_update(self.engine.problems()), None
        )

    def delete(self, source: str | None) -> IndexUpdate:
        """Remove a document from the index."""
        if not source:
            skip = gr.skip()
            return IndexUpdate(render_notice("Choose a document to delete."), skip, skip, skip)
        try:
            removed = self.engine.delete_document(source)
            status = render_deleted(Path(source).name, removed)
        except Exception as exc:
            log.exception("delete failed")
            status = render_error(*explain(exc, self.engine.settings))
        view = self.documents_view()
        return IndexUpdate(status, view.table, view.dropdown, banner_update(self.engine.problems()))
