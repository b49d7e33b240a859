"""`rag serve`: the browser UI's command, added to the `rag` command by `rag_app`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rag.cli import IndexDir, Model, fail, load_settings

app = typer.Typer()


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind (localhost only by default)")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="Port to listen on")] = 7860,
    auth: Annotated[
        str | None,
        typer.Option(envvar="RAG_AUTH", help="Require login: user:password [env: RAG_AUTH]"),
    ] = None,
    index_dir: IndexDir = None,
    model: Model = None,
    concurrency: Annotated[
        int, typer.Option(min=1, help="Answers generated at the same time (others queue)")
    ] = 1,
    uploads_dir: Annotated[
        Path | None, typer.Option(help="Where uploaded documents are kept [default: .rag/uploads]")
    ] = None,
    feedback_file: Annotated[
        Path | None, typer.Option(help="Feedback JSON lines [default: .rag/feedback.jsonl]")
    ] = None,
) -> None:
    """Start the browser chat UI (streaming answers, clickable citations, uploads)."""
    from ui.app import parse_auth  # Gradio loads only when serving, not for `rag --help`
    from ui.app import serve as run_server

    settings = load_settings(index_dir=index_dir, model=model)
    try:
        credentials = parse_auth(auth)
    except ValueError as exc:
        fail(str(exc), 2)
    try:
        run_server(
            settings,
            host=host,
            port=port,
            auth=credentials,
            concurrency=concurrency,
            uploads_dir=uploads_dir,
            feedback_file=feedback_file,
        )
    except OSError as exc:  # e.g. the port is taken
        fail(f"cannot serve on {host}:{port}: {exc}")
