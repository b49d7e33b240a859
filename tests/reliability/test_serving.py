"""Safe serving: localhost by default, login, upload limits and names, served files,
a pinned current Gradio, and no pickle on any load path.

The server tests share one `rag serve` (see conftest.py), started with --auth
and without --host, so they also prove the default bind address.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import io
import re
import subprocess
import sys
import textwrap
import tokenize
import uuid
from pathlib import Path

import pytest
from testkit import clean_env

from .relhelpers import REPO, listening_addresses, unsafe_html

FILE_ROUTE = "/gradio_api/file="


# -- binding and login -------------------------------------------------------------------------
def test_server_listens_on_localhost_only_by_default(server):
    assert listening_addresses(server["port"]) == {"127.0.0.1"}
    from ui.app import serve as ui_serve
    from ui.cli import serve as cli_serve

    assert inspect.signature(ui_serve).parameters["host"].default == "127.0.0.1"
    assert inspect.signature(cli_serve).parameters["host"].default == "127.0.0.1"


def test_everything_needs_a_login(server):
    import httpx
    from gradio_client import Client

    base = server["url"].rstrip("/")
    with httpx.Client(base_url=base, timeout=30) as anonymous:
        for method, path in [
            ("GET", "/config"),
            ("GET", "/gradio_api/info"),
            ("GET", f"{FILE_ROUTE}/etc/hostname"),
            ("POST", "/gradio_api/upload"),
            ("POST", "/gradio_api/queue/join"),
        ]:
            r = anonymous.request(method, path)
            assert r.status_code == 401, (path, r.status_code)
        bad = anonymous.post("/login", data={"username": "tester", "password": "wrong"})
        assert bad.status_code in (400, 401) and "access-token" not in str(bad.cookies)
    with pytest.raises(Exception, match="(?i)credentials|login|auth"):
        Client(server["url"], verbose=False)


def test_document_script_is_shown_escaped_end_to_end(server, client):
    question = "How many patients does the Whimbrel clinic treat each day?"
    _, chat, sources, _ = client.predict(question, [], api_name="/respond")
    answer = chat[-1]["content"]
    answer = "".join(p.get("text", "") for p in answer) if isinstance(answer, list) else answer
    assert unsafe_html(answer + sources) == []
    assert "&lt;script&gt;fetch(" in sources and "<script" not in answer + sources


# -- uploads ---------------------------------------------------------------------------------
def test_upload_size_limit_is_enforced_by_the_server(server, http):
    from ui.uploads import MAX_UPLOAD_BYTES

    too_big = b"a" * (MAX_UPLOAD_BYTES + 1)
    r = http.post("/gradio_api/upload", files={"files": ("big.txt", too_big, "text/plain")})
    assert r.status_code == 413, r.status_code
    assert http.get("/config").json()["max_file_size"] == MAX_UPLOAD_BYTES
    assert not list((server["work"] / "gradio-tmp").rglob("big.txt"))


@pytest.mark.parametrize(
    "name,data,message",
    [
        ("evil.exe", b"MZ\x90\x00", "Invalid file type"),
        ("report.pdf.exe", b"MZ\x90\x00", "Invalid file type"),
        ("notes.sh", b"#!/bin/sh\nrm -rf /\n", "Invalid file type"),
        ("fake.pdf", b"<html>not a pdf</html>", "not a PDF file"),
        ("fake.docx", b"plain text", "not a Word (.docx) file"),
        ("binary.txt", b"\x00\x01\x02" * 100, "not a text file"),
    ],
)
def test_upload_types_are_checked(server, client, tmp_path, name, data, message):
    from gradio_client import handle_file

    local = tmp_path / name
    local.write_bytes(data)
    try:
        status, *_ = client.predict([handle_file(str(local))], api_name="/on_upload")
    except Exception as exc:  # rejected by Gradio's own type check (file_types)
        assert message in str(exc)
    else:  # rejected by the app's content check
        assert message in status and "Rejected" in status
        assert unsafe_html(status) == []
    uploads = server["work"] / "uploads"
    assert not (uploads / name).exists()


NAMES = [
    "sub\\..\\..\\evil one.txt",
    "evil<img src=x onerror=alert(1)>.md",
    "Résumé – 日本.md",
    "a" * 240 + ".txt",
    "spaces   and\ttab.txt",
    "CON.txt",
]


def test_upload_names_are_sanitized_and_stay_in_the_uploads_folder(server, client, tmp_path):
    from gradio_client import handle_file

    from ui.uploads import MAX_NAME_CHARS

    uploads = (server["work"] / "uploads").resolve()
    files = []
    for i, name in enumerate(NAMES):
        path = tmp_path / name
        path.write_text(f"Name test {i}: the Zephyr beacon number {i} is blue.", encoding="utf-8")
        files.append(handle_file(str(path)))
    status, docs_html, *_ = client.predict(files, api_name="/on_upload")
    assert "Indexed" in status and unsafe_html(status + docs_html) == []
    stored = sorted(p.name for p in uploads.iterdir())
    assert len(stored) >= len(NAMES) - 1  # (two names may sanitize alike)
    for stored_name in stored:
        assert re.fullmatch(r"[\w.\- ]+", stored_name), stored_name
        assert not stored_name.startswith(".") and ".." not in stored_name.replace("...", "")
        assert len(stored_name) <= MAX_NAME_CHARS
    assert not list(server["work"].glob("evil*")) and not list(tmp_path.parent.glob("evil*"))


def test_traversal_file_names_in_raw_uploads_stay_in_gradio_cache(server, http):
    marker = f"pwned-{uuid.uuid4().hex[:8]}.txt"
    r = http.post(
        "/gradio_api/upload",
        files={"files": (f"../../../../../tmp/{marker}", b"traversal attempt", "text/plain")},
    )
    assert r.status_code == 200, r.text
    (stored,) = r.json()
    cache = (server["work"] / "gradio-tmp").resolve()
    assert Path(stored).resolve().is_relative_to(cache)
    assert not Path("/tmp", marker).exists()


# -- which files are served -------------------------------------------------------------------
def test_only_gradio_cache_files_are_served(server, http):
    work = server["work"]
    (work / "uploads").mkdir(exist_ok=True)
    secret = work / "uploads" / "private.txt"
    secret.write_text("PRIVATE-UPLOAD-CONTENT", encoding="utf-8")
    manifest = (work / "index" / "current" / "manifest.json").resolve()
    forbidden = [
        "/etc/passwd",
        "%2Fetc%2Fpasswd",
        "../../../../../etc/passwd",
        "..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        str(manifest),
        str(work / "index" / "current" / "docstore.sqlite"),
        str(secret),
        "uploads/private.txt",
        "serve.log",
        "feedback.jsonl",
        str(REPO / "rag" / "config.py"),
        str(Path.home() / ".ssh" / "id_rsa"),
    ]
    for target in forbidden:
        r = http.get(FILE_ROUTE + target)
        assert r.status_code in (403, 404), (target, r.status_code)
        assert "PRIVATE-UPLOAD-CONTENT" not in r.text and "root:" not in r.text
        assert '"embedder"' not in r.text
    for path in ["/static/../../../../etc/passwd", "/assets/../../../../etc/passwd"]:
        r = http.get(path)
        assert r.status_code in (403, 404) and "root:" not in r.text
    # What Gradio itself stored (an upload in its cache) is served, to the logged-in user.
    r = http.post("/gradio_api/upload", files={"files": ("ok.txt", b"cache copy", "text/plain")})
    (cached,) = r.json()
    assert http.get(FILE_ROUTE + cached).text == "cache copy"


def test_launch_settings_serve_nothing_extra():
    from ui.app import launch_kwargs

    kwargs = launch_kwargs()
    assert kwargs["allowed_paths"] == [] and kwargs["show_error"] is False
    from ui.uploads import ALLOWED_SUFFIXES, MAX_UPLOAD_BYTES

    assert kwargs["max_file_size"] == MAX_UPLOAD_BYTES <= 20 * 1024 * 1024
    assert set(ALLOWED_SUFFIXES) == {".pdf", ".docx", ".md", ".txt", ".html", ".htm"}


# -- Gradio version --------------------------------------------------------------------------
REVIEWED_GRADIO = (6, 31, 0)  # the newest release on PyPI when this suite was written


def test_gradio_is_pinned_to_a_major_version_and_current():
    import tomllib

    from packaging.requirements import Requirement
    from packaging.version import Version

    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    (spec,) = [Requirement(d) for d in project["dependencies"] if d.startswith("gradio")]
    installed = Version(importlib.metadata.version("gradio"))
    uppers = [s for s in spec.specifier if s.operator in ("<", "<=", "==", "~=")]
    assert uppers, f"gradio is not pinned below the next major version: {spec}"
    assert installed in spec.specifier, f"installed gradio {installed} violates {spec}"
    assert installed.release[:3] >= REVIEWED_GRADIO, f"gradio {installed} is older than reviewed"


# -- no pickle on any load path ------------------------------------------------------------------
FORBIDDEN_NAMES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "shelve"}


def _python_files() -> list[Path]:
    return sorted(p for folder in ("rag", "ui") for p in (REPO / folder).rglob("*.py"))


def pickle_findings(source: str, name: str) -> list[str]:
    """Code (not comments or docstrings) that could unpickle: pickle & co, torch.load,
    yaml.load, allow_pickle other than False, allow_dangerous_deserialization."""
    findings = []
    if "allow_dangerous_deserialization" in source:
        findings.append(f"{name}: allow_dangerous_deserialization")
    tokens = [
        t
        for t in tokenize.generate_tokens(io.StringIO(source).readline)
        if t.type not in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE)
    ]
    for i, tok in enumerate(tokens):
        if tok.type == tokenize.STRING and "pickle" in tok.string.lower():
            if not tok.string.lstrip("rbuRBU").startswith(('"""', "'''")):  # docstrings
                findings.append(f"{name}:{tok.start[0]}: string {tok.string[:40]}")
        if tok.type != tokenize.NAME:
            continue
        nxt = [t.string for t in tokens[i + 1 : i + 4]]
        if tok.string in FORBIDDEN_NAMES or "pickle" in tok.string.lower():
            if tok.string == "allow_pickle" and nxt[:2] == ["=", "False"]:
                continue
            findings.append(f"{name}:{tok.start[0]}: {tok.string} {' '.join(nxt)}")
        if tok.string in ("torch", "yaml") and nxt[:2] == [".", "load"]:
            findings.append(f"{name}:{tok.start[0]}: {tok.string}.load")
    return findings


BAD_SAMPLE = """
import pickle
from joblib import load
x = pickle.loads(data)
v = np.load(path, allow_pickle=True)
store = FAISS.load_local(path, emb, allow_dangerous_deserialization=True)
w = torch.load(path)
c = yaml.load(text)
"""
GOOD_SAMPLE = '''
"""Saved as numpy files (no pickle)."""
# never pickle
v = np.load(path, allow_pickle=False)
c = yaml.safe_load(text)
'''


def test_the_pickle_scan_catches_what_it_should():
    assert len(pickle_findings(BAD_SAMPLE, "bad.py")) == 7, pickle_findings(BAD_SAMPLE, "bad.py")
    assert pickle_findings(GOOD_SAMPLE, "good.py") == []


def test_no_pickle_or_dangerous_deserialization_in_rag_and_ui():
    findings = []
    for path in _python_files():
        findings += pickle_findings(path.read_text(encoding="utf-8"), str(path.relative_to(REPO)))
    assert findings == []


def test_loading_everything_unpickles_nothing(fixture_settings, tiny_model_path):
    """Load the index (FAISS, SQLite, JSON, BM25), the embedder and the model and answer a
    question in a fresh interpreter that records every unpickling attempt."""
    script = textwrap.dedent(
        f"""
        import pickle, sys
        seen = []
        sys.addaudithook(lambda event, args: event == "pickle.find_class" and seen.append(args))
        def trap(name, real):
            def wrapper(*a, **k):
                seen.append(name)
                return real(*a, **k)
            return wrapper
        pickle.load = trap("pickle.load", pickle.load)
        pickle.loads = trap("pickle.loads", pickle.loads)
        pickle.Unpickler = type("Trap", (pickle.Unpickler,), {{
            "__init__": lambda self, *a, **k: (seen.append("Unpickler"),
                                              pickle._Unpickler.__init__(self, *a, **k))[1]}})
        import numpy as np
        from rag.config import Settings
        from rag.pipeline import RagPipeline
        from rag.store import IndexStore
        from rag.retrieval import HybridRetriever
        settings = Settings(index_dir={str(fixture_settings.index_dir)!r},
                            model={str(tiny_model_path)!r}, max_tokens=4, n_threads=2)
        store = IndexStore.load(settings.index_dir)
        assert store.bm25 is not None
        pipe = RagPipeline(settings, store=store)
        pipe.warm_up()
        HybridRetriever(store, pipe.embedder).search("Which countries receive OSA?", 3)
        answer = pipe.ask("Which countries are the first recipients of OSA?")
        print("SEEN", seen)
        print("OK", len(answer.retrieved))
        pickle.loads(pickle.dumps(Settings))  # control: the trap does see unpickling
        print("CONTROL", len(seen))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
        env=clean_env(),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "SEEN []" in result.stdout, result.stdout
    assert "OK " in result.stdout
    assert "CONTROL 0" not in result.stdout, "the unpickling trap does not work"
