"""`rag serve`: the chat UI and the /v1 API, added to the `rag` command by `rag_app`."""

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
    replicas: Annotated[
        int,
        typer.Option(min=0, help="Answer on N Ray Serve replicas (0: in this process)"),
    ] = 0,
    address: Annotated[
        str | None,
        typer.Option(
            help="Ray cluster for --replicas: auto (`ray start --head` on this machine) or "
            "HOST:PORT [default: a local cluster while serving]"
        ),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(
            envvar="RAG_API_KEY",
            help="Bearer key of the /v1 API (besides --auth's user:password) [env: RAG_API_KEY]",
        ),
    ] = None,
) -> None:
    """Start the browser chat UI and the OpenAI-compatible API under /v1 on the same port."""
    from ui.app import parse_auth  # Gradio loads only when serving, not for `rag --help`
    from ui.app import serve as run_server

    settings = load_settings(index_dir=index_dir, model=model)
    try:
        credentials = parse_auth(auth)
    except ValueError as exc:
        fail(str(exc), 2)
    if address and not replicas:
        fail("--address needs --replicas N", 2)
    options = {
        "host": host, "port": port, "auth": credentials, "concurrency": concurrency,
        "uploads_dir": uploads_dir, "feedback_file": feedback_file, "api_key": api_key,
    }  # fmt: skip
    try:
        if replicas:
            serve_on_ray(settings, replicas, address, run_server, options)
        else:
            run_server(settings, **options)
    except OSError as exc:  # e.g. the port is taken
        fail(f"cannot serve on {host}:{port}: {exc}")


def serve_on_ray(settings, replicas: int, address: str | None, run_server, options: dict) -> None:
    """Serve the page here while ``replicas`` Ray Serve replicas answer (`rag.distributed`)."""
    from rag.distributed import RayUnavailable, ray_session

    try:
        with ray_session(address):
            from rag.distributed.serve import RemoteAnswerer, deploy, undeploy

            print(f"starting {replicas} answer replicas on Ray Serve…", flush=True)
            answerer = RemoteAnswerer(deploy(settings, replicas), settings)
            try:  # one answer per replica at a time; more would only queue in Serve
                options = {**options, "concurrency": max(options["concurrency"], replicas)}
                run_server(settings, answerer=answerer, **options)
            finally:
                undeploy()
    except RayUnavailable as exc:
        fail(str(exc))
