"""One HTTP server for the chat page and the ``/v1`` API: FastAPI + uvicorn, Gradio at ``/``.

The API routes are added first, then the Gradio app is mounted at ``/`` with
the same login, upload limit and served-file rules `demo.launch` would apply
(`ui.app.launch_kwargs`), so both share one host and port.
"""

from __future__ import annotations

import socket

import gradio as gr
import uvicorn
from fastapi import FastAPI

from ui.api import api_keys, create_app
from ui.engine import Engine

GRACEFUL_SHUTDOWN_SECONDS = 5  # open answer streams are cut after this on Ctrl+C / SIGTERM


def server_app(
    demo: gr.Blocks,
    engine: Engine,
    launch_kwargs: dict,
    host: str = "127.0.0.1",
    port: int = 7860,
    auth: tuple[str, str] | None = None,
    api_key: str | None = None,
    concurrency: int = 1,
) -> FastAPI:
    """The API (bearer ``api_key`` or ``user:password`` when either is set) and the page."""
    app = create_app(engine, api_keys(api_key, auth), concurrency)
    return gr.mount_gradio_app(
        app, demo, path="/", server_name=host, server_port=port, auth=auth, **launch_kwargs
    )


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``; OSError (e.g. the port is taken) surfaces here."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def run(app: FastAPI, host: str, port: int) -> None:
    """Serve ``app`` until interrupted."""
    sock = bind(host, port)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
    shown = f"[{host}]" if ":" in host else host
    print(f"serving the chat page on http://{shown}:{port}/ and the API on /v1", flush=True)
    uvicorn.Server(config).run(sockets=[sock])
