"""The browser chat UI: Gradio layout and wiring over `rag.pipeline`.

`ui.handlers.ChatUI` holds the event handlers as plain methods (data in, named
results out) so unit tests call them without a browser; `build_app` only lays out
components and connects events; `serve` adds the queue and launches. Run it with::

    rag serve                      # http://127.0.0.1:7860
    rag serve --host 0.0.0.0 --auth user:secret --concurrency 2
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import gradio as gr

from rag.config import Settings
from rag.feedback import DEFAULT_FEEDBACK_FILE
from ui.assets import CSS, JS
from ui.engine import Engine
from ui.handlers import ChatUI
from ui.render import CHAT_PLACEHOLDER, EMPTY_SOURCES, render_banner, render_header
from ui.session import ChatSession
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
        gr.HTML(render_header(TITLE), elem_id="rag-header")
        banner = gr.HTML(render_banner(problems), visible=bool(problems), elem_id="rag-banner")
        session = gr.State(ChatSession())
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
                    placeholder=CHAT_PLACEHOLDER,
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
                # the page script writes "answer id:passage n" here when a PDF citation is opened
                page_request = gr.Textbox(visible="hidden", elem_id="rag-page-request")

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
        page_request.change(ui.show_page, [page_request, session], [sources],
                            concurrency_id="pages", show_progress="hidden")  # fmt: skip

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
    answerer=None,
    api_key: str | None = None,
) -> None:
    """Load everything once, then serve the chat page and the ``/v1`` API (`ui/api.py`)
    on one port until interrupted.

    ``answerer`` (`rag.distributed.serve.RemoteAnswerer`) answers on Ray Serve replicas
    instead of in this process."""
    from ui.server import run, server_app

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    log.setLevel(logging.INFO)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    if host not in LOCAL_HOSTS and auth is None:
        print(
            f"warning: serving on {host} without --auth: anyone who can reach this machine "
            "can use the chatbot and change its index. Set --auth user:password or RAG_AUTH.",
            file=sys.stderr,
        )
    if host not in LOCAL_HOSTS and auth is None and api_key is None:
        print("warning: the /v1 API needs no key either (set RAG_API_KEY).", file=sys.stderr)
    engine = Engine(
        settings,
        uploads_dir=uploads_dir or DEFAULT_UPLOADS_DIR,
        feedback_file=feedback_file or DEFAULT_FEEDBACK_FILE,
        answerer=answerer,
    )
    if warm_up:
        print(f"loading the index in {settings.index_dir}/ and model {settings.model}…", flush=True)
        for message, command in engine.warm_up():
            print(f"warning: {message}" + (f" Fix: {command}" if command else ""), file=sys.stderr)
    demo = build_app(settings, engine=engine)
    demo.queue(default_concurrency_limit=concurrency)
    app = server_app(demo, engine, launch_kwargs(), host, port, auth, api_key, concurrency)
    run(app, host, port)
