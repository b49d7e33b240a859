"""The browser chat UI: Gradio wiring over `rag.pipeline`, with handlers kept testable.

`ChatUI` holds the event handlers as plain methods (data in, data out) so unit
tests call them without a browser; `build_app` only lays out components and
connects events; `serve` adds the queue and launches. Run it with::

    rag serve                      # http://127.0.0.1:7860
    rag serve --host 0.0.0.0 --auth user:secret --concurrency 2
"""

from __future__ import annotations

import logging
import os
import re
import sys
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import gradio as gr

from rag.config import Settings
from rag.conversation import Conversation
from rag.feedback import DEFAULT_FEEDBACK_FILE, append_feedback, feedback_record
from rag.prompt_safety import clean_question
from ui.assets import CSS, JS
from ui.engine import Engine, UploadResult, explain
from ui.render import (
    EMPTY_SOURCES,
    esc,
    render_answer,
    render_banner,
    render_documents,
    render_error,
    render_evidence,
    render_sources,
    render_streaming,
)
from ui.uploads import ALLOWED_SUFFIXES, MAX_UPLOAD_BYTES

log = logging.getLogger("rag.ui")

TITLE = "OSA & ASEAN policy Q&A"
EXAMPLES = (
    "Which countries are the first recipients of Japan's OSA?",
    "What does Japan's Official Security Assistance provide to partner countries?",
    "Which country will chair ASEAN in 2025?",
    "What did the ASEAN-U.S. Comprehensive Strategic Partnership establish?",
)
DEFAULT_UPLOADS_DIR = Path(".rag") / "uploads"
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
_AID = re.compile(r"rag-ans-([0-9a-f]+)")


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


def new_session() -> dict:
    """Per-browser-session state: finished turns and feedback ids by answer id."""
    return {"turns": [], "feedback": {}, "pending": None}


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
    """Event handlers of the chat page; each takes and returns plain values."""

    def __init__(self, engine: Engine):
        self.engine = engine

    # -- asking ---------------------------------------------------------------------
    def respond(
        self,
        message: object,
        history: Sequence | None,
        session: dict | None,
        top_k: float | None = None,
        model: str | None = None,
        temperature: float | None = None,
        threshold: float | None = None,
        context_chars: float | None = None,
        drop_unsupported: bool | None = None,
    ) -> Iterator[tuple]:
        """Stream an answer: yields (textbox, chat, session, sources, banner) updates."""
        question = message_text(message).strip()
        chat = normalize_history(history)
        session = session or new_session()
        if not question:
            yield "", chat, session, gr.skip(), gr.skip()
            return
        chat.append({"role": "user", "content": question})

        def show(content: str, sources=None, banner=None) -> tuple:
            """The update with ``content`` as the (new) last assistant message."""
            if chat[-1]["role"] == "assistant":
                chat.pop()
            chat.append({"role": "assistant", "content": content})
            skip = gr.skip()
            return "", list(chat), session, sources or skip, banner or skip

        limit = self.engine.settings.max_question_chars
        length = len(clean_question(question))
        if length > limit:  # refused before any model call, and not kept as a turn
            chat.append(
                {"role": "assistant", "content": render_error(too_long_message(length, limit))}
            )
            yield question, chat, session, gr.skip(), gr.skip()  # the text stays to be shortened
            return
        yield show(render_streaming(""))
        try:
            pipe = self.engine.pipeline(
                top_k, model, temperature, threshold, context_chars, drop_unsupported
            )
            conversation = Conversation.for_pipeline(pipe, session["turns"])
            if conversation.needs_rewrite(question):
                yield show(render_streaming("", "Reading the follow-up in context…"))
            rewrite = conversation.rewrite(question)
            search_query = rewrite.search_query
            answer, text = None, ""
            for event in pipe.stream(question, search_query=search_query):
                if event.kind == "evidence":  # highlighted before the answer is written
                    panel = render_evidence(event.evidence or [], search_query or question)
                    yield show(
                        render_streaming("", "Writing from the highlighted evidence…"), panel
                    )
                elif event.kind == "token":
                    text += event.text
                    yield show(render_streaming(text))
                elif event.kind == "answer":
                    answer = event.answer
            if answer is None:  # pragma: no cover - the pipeline always ends with one
                raise RuntimeError("the pipeline ended without an answer")
        except Exception as exc:
            log.exception("answering %r failed", question)
            message_, command = explain(exc, self.engine.settings)
            yield show(
                render_error(message_, command), banner=banner_update(self.engine.problems())
            )
            return
        aid = uuid.uuid4().hex[:10]
        turn = conversation.add(question, rewrite, answer)
        session["turns"].append(  # the conversation's turn, as plain values, with the answer
            {
                "aid": aid,
                "question": turn.question,
                "answer": answer,
                "search_query": turn.standalone,
                "method": turn.method,
            }
        )
        yield show(render_answer(answer, aid), sources=render_sources(session["turns"]))

    def clear(self) -> tuple:
        return [], new_session(), EMPTY_SOURCES, gr.update(visible=False), ""

    # -- feedback ---------------------------------------------------------------------
    def _turn(self, session: dict, value: object) -> dict | None:
        match = _AID.search(message_text(value))
        if not match:
            return None
        return next((t for t in session["turns"] if t["aid"] == match.group(1)), None)

    def like(self, liked: object, value: object, session: dict | None) -> tuple:
        """Record a thumbs up/down at once; returns (session, comment row, comment box, note)."""
        session = session or new_session()
        turn = self._turn(session, value)
        if turn is None or liked is None:
            return session, gr.update(visible=False), gr.skip(), gr.skip()
        rating = "up" if liked is True or str(liked).lower() in ("like", "true") else "down"
        record = self._record(turn, rating, "", session)
        session["pending"] = {"aid": turn["aid"], "rating": rating, "id": record["id"]}
        note = "Thanks, your 👍 is saved." if rating == "up" else "Thanks, your 👎 is saved."
        return session, gr.update(visible=True), "", f"{note} Add a comment (optional):"

    def comment(self, text: str, session: dict | None) -> tuple:
        """Save a comment for the last rated answer; returns (session, row, box, note)."""
        session = session or new_session()
        pending = session.get("pending")
        turn = pending and next((t for t in session["turns"] if t["aid"] == pending["aid"]), None)
        if not turn or not (text or "").strip():
            return session, gr.update(visible=False), "", ""
        self._record(turn, pending["rating"], text, session, feedback_id=pending["id"])
        session["pending"] = None
        gr.Info("Comment saved. Thank you!", duration=3)
        return session, gr.update(visible=False), "", ""

    def _record(
        self, turn: dict, rating: str, comment: str, session: dict, feedback_id: str | None = None
    ) -> dict:
        record = feedback_record(
            turn["answer"],
            rating,
            comment,
            feedback_id=feedback_id,
            search_method=turn.get("method"),
        )
        append_feedback(self.engine.feedback_file, record)
        session["feedback"][turn["aid"]] = record["id"]
        return record

    # -- documents --------------------------------------------------------------------
    def documents_view(self) -> tuple:
        """(documents table, delete dropdown) for the current index."""
        docs = self.engine.documents()
        uploaded = self.engine.uploaded_sources(docs)
        choices = [(f"{d.get('title') or d['source']} ({Path(d['source']).name})", d["source"])
                   for d in docs]  # fmt: skip
        return render_documents(docs, uploaded), gr.update(choices=choices, value=None)

    def status(self) -> tuple:
        """On page load: (banner, documents table, delete dropdown)."""
        table, dropdown = self.documents_view()
        return banner_update(self.engine.problems()), table, dropdown

    def upload(self, files: Sequence | None, progress=None) -> tuple:
        """Ingest uploaded files; returns (status, table, dropdown, banner, file input)."""
        paths = []
        for f in files or []:
            path = getattr(f, "name", None) or getattr(f, "path", None) or str(f)
            paths.append((Path(path), Path(path).name))
        if not paths:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), None
        if progress is not None:
            progress(0, desc=f"Indexing {len(paths)} file(s)…")
        try:
            result = self.engine.add_files(paths, progress=progress is not None)
            status = upload_status(result)
        except Exception as exc:
            log.exception("upload failed")
            message, command = explain(exc, self.engine.settings)
            status = render_error(message, command)
        table, dropdown = self.documents_view()
        return status, table, dropdown, banner_update(self.engine.problems()), None

    def delete(self, source: str | None) -> tuple:
        """Remove a document; returns (status, table, dropdown, banner)."""
        if not source:
            return '<div class="rag-empty">Choose a document to delete.</div>', *(
                gr.skip() for _ in range(3)
            )
        try:
            removed = self.engine.delete_document(source)
            status = (
                f'<div class="rag-ok">Deleted {esc(Path(source).name)} '
                f"({removed} passages removed from the index).</div>"
            )
        except Exception as exc:
            log.exception("delete failed")
            message, command = explain(exc, self.engine.settings)
            status = render_error(message, command)
        table, dropdown = self.documents_view()
        return status, table, dropdown, banner_update(self.engine.problems())


def upload_status(result: UploadResult) -> str:
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


# -- layout --------------------------------------------------------------------------
def build_app(
    settings: Settings | None = None,
    *,
    engine: Engine | None = None,
    uploads_dir: Path | None = None,
    feedback_file: Path | None = None,
) -> gr.Blocks:
    """The chat page. Pass `launch_kwargs()` to ``launch`` for its CSS and script."""
    settings = settings or Settings.from_env()
    engine = engine or Engine(
        settings,
        uploads_dir=uploads_dir or DEFAULT_UPLOADS_DIR,
        feedback_file=feedback_file or DEFAULT_FEEDBACK_FILE,
    )
    ui = ChatUI(engine)
    problems = engine.problems()
    models = engine.installed_models()
    s = engine.settings

    with gr.Blocks(title=TITLE, delete_cache=(3600, 3600)) as demo:
        gr.HTML(
            f"<h1>{esc(TITLE)}</h1><p>Answers come only from the indexed documents, with "
            "numbered citations you can click. Runs offline.</p>",
            elem_id="rag-header",
        )
        banner = gr.HTML(render_banner(problems), visible=bool(problems), elem_id="rag-banner")
        session = gr.State(new_session())
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=320):
                chatbot = gr.Chatbot(
                    elem_id="rag-chat",
                    label="Chat",
                    show_label=False,
                    height="62vh",
                    min_height=360,
                    render_markdown=False,
                    sanitize_html=True,
                    latex_delimiters=[],
                    examples=[{"text": q} for q in EXAMPLES],
                    placeholder=(
                        "<b>Ask about Japan's Official Security Assistance (OSA), ASEAN and the "
                        "Indo-Pacific.</b><br>Pick an example or type a question."
                    ),
                    feedback_options=("Like", "Dislike"),
                    buttons=["copy"],
                )
                with gr.Row():
                    textbox = gr.Textbox(
                        placeholder="Ask about the documents…",
                        show_label=False,
                        container=False,
                        scale=8,
                        max_lines=6,
                        autofocus=True,
                        elem_id="rag-question",
                    )
                    send = gr.Button("Ask", variant="primary", scale=1, min_width=70)
                with gr.Row(visible=False, elem_id="rag-feedback") as feedback_row:
                    feedback_note = gr.Markdown("")
                    feedback_text = gr.Textbox(
                        placeholder="What was good or wrong?", show_label=False, scale=4,
                        max_lines=3, container=False,
                    )  # fmt: skip
                    feedback_send = gr.Button("Send comment", scale=1, min_width=120)
                new_chat = gr.Button("New chat", size="sm", variant="secondary")
            with gr.Column(scale=2, min_width=320, elem_id="rag-side"):
                with gr.Tabs():
                    with gr.Tab("Sources", id="sources"):
                        sources = gr.HTML(EMPTY_SOURCES, elem_id="rag-sources")
                    with gr.Tab("Documents", id="documents"):
                        docs_html = gr.HTML(elem_id="rag-docs")
                        upload = gr.File(
                            label=(
                                "Add documents (.pdf .docx .md .txt .html, up to "
                                f"{MAX_UPLOAD_BYTES // (1024 * 1024)} MB each)"
                            ),
                            file_count="multiple",
                            file_types=list(ALLOWED_SUFFIXES),
                            type="filepath",
                            height=150,
                            elem_id="rag-upload",
                        )
                        upload_note = gr.HTML(elem_id="rag-upload-status")
                        with gr.Row():
                            to_delete = gr.Dropdown(
                                label="Delete a document", choices=[], scale=3,
                                elem_id="rag-delete-choice",
                            )  # fmt: skip
                            delete = gr.Button("Delete", variant="stop", scale=1, min_width=80)
                    with gr.Tab("Settings", id="settings"):
                        top_k = gr.Slider(
                            1, 10, value=s.top_k, step=1, label="Passages to retrieve"
                        )
                        model = gr.Dropdown(
                            models, value=s.model, label="Model (installed)",
                            allow_custom_value=False,
                        )  # fmt: skip
                        temperature = gr.Slider(
                            0.0, 1.5, value=s.temperature, step=0.05,
                            label="Temperature (0 = deterministic)",
                        )  # fmt: skip
                        threshold = gr.Slider(
                            0.0, 0.9, value=s.refusal_threshold, step=0.01,
                            label="Refusal threshold (best passage score needed to answer)",
                        )  # fmt: skip
                        context_chars = gr.Slider(
                            0, 4000, value=s.context_chars, step=100,
                            label="Context budget (characters of the best sentences; "
                            "0 = whole passages)",
                        )  # fmt: skip
                        drop_unsupported = gr.Checkbox(
                            value=s.drop_unsupported,
                            label="Hide answer sentences no passage supports "
                            "(otherwise they are shown, marked unsupported)",
                        )
                        reset = gr.Button("Reset to defaults", size="sm")

        options = [top_k, model, temperature, threshold, context_chars, drop_unsupported]
        chat_inputs = [textbox, chatbot, session, *options]
        chat_outputs = [textbox, chatbot, session, sources, banner]
        for trigger in (textbox.submit, send.click):
            trigger(
                ui.respond, chat_inputs, chat_outputs, concurrency_id="generate",
                show_progress="hidden",
            )  # fmt: skip

        def ask_example(evt: gr.SelectData, *values):
            value = evt.value if isinstance(evt.value, dict) else {"text": evt.value}
            yield from ui.respond(value.get("text", ""), *values)

        chatbot.example_select(
            ask_example, chat_inputs[1:], chat_outputs, concurrency_id="generate",
            show_progress="hidden",
        )  # fmt: skip

        def on_like(data: gr.LikeData, state):
            return ui.like(data.liked, data.value, state)

        feedback_outputs = [session, feedback_row, feedback_text, feedback_note]
        chatbot.like(on_like, [session], feedback_outputs, concurrency_limit=None)
        for trigger in (feedback_send.click, feedback_text.submit):
            trigger(ui.comment, [feedback_text, session], feedback_outputs, concurrency_limit=None)
        new_chat.click(
            ui.clear, None, [chatbot, session, sources, feedback_row, textbox],
            concurrency_limit=None,
        )  # fmt: skip
        chatbot.clear(ui.clear, None, [chatbot, session, sources, feedback_row, textbox])

        def on_upload(files, progress=gr.Progress(track_tqdm=True)):  # noqa: B008
            return ui.upload(files, progress)

        upload.upload(
            on_upload, [upload], [upload_note, docs_html, to_delete, banner, upload],
            concurrency_id="index",
        )  # fmt: skip
        delete.click(
            ui.delete, [to_delete], [upload_note, docs_html, to_delete, banner],
            concurrency_id="index",
            js="(source) => (source && confirm('Delete this document from the index?')) "
            "? source : null",
        )  # fmt: skip
        reset.click(
            lambda: (s.top_k, s.model, s.temperature, s.refusal_threshold, s.context_chars,
                     s.drop_unsupported),
            None, options, concurrency_limit=None,
        )  # fmt: skip
        demo.load(ui.status, None, [banner, docs_html, to_delete], concurrency_limit=None)
    demo.rag_engine = engine  # type: ignore[attr-defined]
    return demo


def launch_kwargs() -> dict:
    """CSS, script and upload limits for ``demo.launch`` (Gradio 6 takes them there)."""
    theme = gr.themes.Default(
        primary_hue="blue",
        font=["ui-sans-serif", "system-ui", "Segoe UI", "Roboto", "Liberation Sans", "sans-serif"],
        font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "DejaVu Sans Mono", "monospace"],
    )
    return {
        "theme": theme,
        "css": CSS,
        "js": JS,
        "max_file_size": MAX_UPLOAD_BYTES,
        "allowed_paths": [],
        "footer_links": [],
        "show_error": False,
    }


def parse_auth(value: str | None) -> tuple[str, str] | None:
    """``user:password`` -> (user, password); empty -> None."""
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise ValueError("auth must look like user:password")
    return user, password


def serve(
    settings: Settings,
    host: str = "127.0.0.1",
    port: int = 7860,
    auth: tuple[str, str] | None = None,
    concurrency: int = 1,
    uploads_dir: Path | None = None,
    feedback_file: Path | None = None,
    warm_up: bool = True,
) -> None:
    """Load everything once, then serve the chat page until interrupted."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    log.setLevel(logging.INFO)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    if host not in LOCAL_HOSTS and auth is None:
        print(
            f"warning: serving on {host} without --auth: anyone who can reach this machine "
            "can use the chatbot and change its index. Set --auth user:password or RAG_AUTH.",
            file=sys.stderr,
        )
    engine = Engine(
        settings,
        uploads_dir=uploads_dir or DEFAULT_UPLOADS_DIR,
        feedback_file=feedback_file or DEFAULT_FEEDBACK_FILE,
    )
    if warm_up:
        print(f"loading the index in {settings.index_dir}/ and model {settings.model}…", flush=True)
        for message, command in engine.warm_up():
            print(f"warning: {message}" + (f" Fix: {command}" if command else ""), file=sys.stderr)
    demo = build_app(settings, engine=engine)
    demo.queue(default_concurrency_limit=concurrency)
    demo.launch(server_name=host, server_port=port, auth=auth, **launch_kwargs())
