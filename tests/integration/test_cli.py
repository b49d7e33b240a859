"""The `rag` command line, run in-process with typer's CliRunner.

The session embedder is shared with the CLI (monkeypatched constructor) so no
test loads MiniLM twice; `ask` uses the real tiny model, smollm2-135m.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import click
import pytest
import typer
from testkit import FIXTURE_DOCS, REPO, FakeGenerator, normalize_ws, write_corpus
from typer.testing import CliRunner

from rag_app.cli import app

QUESTIONS = [
    "Which countries are the first recipients of Japan's Official Security Assistance?",
    "What is the melting point of tungsten in kelvin?",
]
ANSWER_KEYS = {"question", "answer", "refused", "citations", "sentences", "timings", "model",
               "evidence", "context", "confidence", "signals"}  # fmt: skip
CITATION_KEYS = {"n", "chunk_id", "source", "title", "page", "text", "start", "end", "score"}


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, embedder, model_cache: Path):
    """Invoke `rag ...` in a temp working directory; returns the click Result."""
    # (`rag.ingest` the attribute is the function re-exported by rag/__init__, not the module.)
    monkeypatch.setattr(importlib.import_module("rag.ingest"), "Embedder", lambda *a, **k: embedder)
    monkeypatch.setattr(
        importlib.import_module("rag.pipeline"), "Embedder", lambda *a, **k: embedder
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RAG_MODEL_CACHE", str(model_cache))
    monkeypatch.setenv("RAG_MAX_TOKENS", "40")  # keep the tiny model's replies short
    monkeypatch.setenv("RAG_N_THREADS", "2")
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None):
        return runner.invoke(app, list(args), input=input, catch_exceptions=False)

    return invoke


def test_ingest_prints_summary_and_skipped_files(cli, tmp_path: Path):
    docs = write_corpus(tmp_path / "docs")
    (docs / "empty.txt").write_bytes(b"")
    (docs / "broken.docx").write_bytes(b"definitely not a zip file")
    (docs / "data.csv").write_text("a,b\n1,2\n")

    result = cli("ingest", "docs", "--index-dir", "idx", "--quiet")
    assert result.exit_code == 0, result.output
    out = normalize_ws(result.stdout)
    n = len(FIXTURE_DOCS)
    assert f"{n} added, 0 updated, 0 unchanged, 0 removed, 3 skipped;" in out
    assert "chunks in idx/" in out and "embedded at" in out
    err = normalize_ws(result.stderr)
    assert "skipped docs/empty.txt: empty file" in err
    assert "skipped docs/broken.docx: corrupt or unreadable DOCX" in err
    assert "skipped docs/data.csv: unsupported file type '.csv'" in err
    assert (tmp_path / "idx" / "current").is_symlink()

    again = cli("ingest", "docs", "--index-dir", "idx", "--quiet")
    assert again.exit_code == 0
    assert f"0 added, 0 updated, {n} unchanged" in normalize_ws(again.stdout)
    assert "index is up to date" in normalize_ws(again.stdout)

    changed = cli("ingest", "docs", "--index-dir", "idx", "--quiet", "--chunk-size", "400")
    assert changed.exit_code == 1
    assert "--rebuild" in normalize_ws(changed.stderr)
    rebuilt = cli(
        "ingest", "docs", "--index-dir", "idx", "--quiet", "--chunk-size", "400", "--rebuild"
    )
    assert rebuilt.exit_code == 0 and f"{n} added" in normalize_ws(rebuilt.stdout)

    listing = cli("docs", "--index-dir", "idx")
    assert listing.exit_code == 0
    assert "osa.txt" in listing.stdout and "all-MiniLM-L6-v2" in listing.stdout


def test_ingest_engine_options_are_checked(cli, tmp_path: Path, monkeypatch):
    import rag.distributed

    write_corpus(tmp_path / "docs")
    bad = cli("ingest", "docs", "--index-dir", "idx", "--engine", "spark")
    assert bad.exit_code == 2 and "--engine must be local or ray, got 'spark'" in bad.stderr
    bad = cli("ingest", "docs", "--index-dir", "idx", "--workers", "2")
    assert bad.exit_code == 2 and "--address and --workers need --engine ray" in bad.stderr

    def no_ray():
        raise rag.distributed.RayUnavailable(rag.distributed.RAY_MISSING)

    monkeypatch.setattr(rag.distributed, "require_ray", no_ray)
    missing = cli("ingest", "docs", "--index-dir", "idx", "--engine", "ray")
    assert missing.exit_code == 1
    assert 'Ray is not installed; install the extra with `pip install -e ".[ray]"`' in (
        normalize_ws(missing.stderr)
    )
    assert not (tmp_path / "idx").exists()


def test_ask_json_reads_questions_from_stdin(cli, fixture_settings):
    stdin = f"{QUESTIONS[0]}\n\n{QUESTIONS[1]}\n"  # the blank line is ignored
    result = cli(
        "ask", "-", "--json", "--index-dir", str(fixture_settings.index_dir),
        "--model", "smollm2-135m", input=stdin,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = [ln for ln in result.stdout.splitlines() if ln.strip()]
    assert len(lines) == 2
    answers = [json.loads(ln) for ln in lines]
    assert [a["question"] for a in answers] == QUESTIONS
    for a in answers:
        assert ANSWER_KEYS <= set(a)
        assert set(a["timings"]) >= {"retrieve_ms", "first_token_ms", "total_ms"}
        assert a["model"] == "smollm2-135m"
        for c in a["citations"]:
            assert set(c) == CITATION_KEYS
            assert 1 <= c["n"] <= len(a["retrieved"])
            assert c["chunk_id"] == a["retrieved"][c["n"] - 1]["chunk_id"]
    first, second = answers
    assert Path(first["retrieved"][0]["source"]).name == "osa.txt"
    assert second["refused"] and "threshold" in second["refusal_reason"]


def test_ask_json_has_the_evidence_of_each_answer(cli, fixture_settings, monkeypatch):
    """`rag ask --json` prints Answer.to_dict: the named evidence sentences with id, n, text."""
    reply = "The first recipients of OSA are Malaysia, the Philippines, Bangladesh, and Fiji [1]."
    monkeypatch.setattr(
        importlib.import_module("rag.pipeline"), "make_generator", lambda s: FakeGenerator(reply)
    )
    monkeypatch.setenv("RAG_CALIBRATION", str(fixture_settings.index_dir / "no-calibration.json"))
    result = cli(
        "ask", "-", "--json", "--index-dir", str(fixture_settings.index_dir),
        input=f"{QUESTIONS[0]}\n{QUESTIONS[1]}\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    first, second = (json.loads(ln) for ln in result.stdout.splitlines() if ln.strip())
    assert not first["refused"] and first["answer"] == reply
    assert [(e["id"], e["n"]) for e in first["evidence"]] == [("1.1", 1), ("1.2", 1)]
    assert "Malaysia, the Philippines, Bangladesh, and Fiji" in first["evidence"][1]["text"]
    for e in first["evidence"]:
        assert {"id", "n", "text"} <= set(e) and e in first["context"]
    assert first["signals"]["judge"] == 0.9
    assert second["refused"] and second["evidence"] == [] and second["context"] == []


def test_ask_plain_text_refusal(cli, fixture_settings):
    result = cli(
        "ask", QUESTIONS[0], "--index-dir", str(fixture_settings.index_dir),
        "--model", "smollm2-135m", "--threshold", "0.99",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    out = normalize_ws(result.stdout)
    assert "The documents do not say." in out
    assert "no passage is relevant enough" in out and "Searched passages" in out


def test_ask_without_index_tells_to_run_ingest(cli, tmp_path: Path):
    result = cli("ask", "What is OSA?", "--index-dir", str(tmp_path / "nothing-here"))
    assert result.exit_code != 0
    assert "rag ingest" in normalize_ws(result.stderr)
    assert result.stdout.strip() == ""


def test_ask_with_unknown_model_fails_cleanly(cli, fixture_settings):
    result = cli(
        "ask", "What is OSA?", "--index-dir", str(fixture_settings.index_dir),
        "--model", "no-such-model",
    )  # fmt: skip
    assert result.exit_code != 0
    assert "unknown model 'no-such-model'" in normalize_ws(result.stderr)


def test_invalid_setting_is_reported(cli):
    result = cli("ingest", "--chunk-size", "10", "--quiet")
    assert result.exit_code == 2
    assert "chunk_size must be >= 50" in normalize_ws(result.stderr)


def test_models_list_and_path(cli, tiny_model_path: Path):
    listing = cli("models")
    assert listing.exit_code == 0
    out = listing.stdout
    assert "smollm2-135m" in out and "qwen2.5-1.5b" in out and "rag models install" in out
    path = cli("models", "path", "smollm2-135m")
    assert path.exit_code == 0 and path.stdout.strip() == str(tiny_model_path)
    unknown = cli("models", "install", "no-such-model")
    assert unknown.exit_code == 1 and "unknown model" in normalize_ws(unknown.stderr)


def test_entry_point_help():
    proc = subprocess.run(
        [sys.executable, "-m", "rag_app", "--help"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0
    for command in ("ingest", "ask", "chat", "docs", "serve", "eval", "models"):
        assert command in proc.stdout
    # the core commands, then `serve` (ui/cli.py) and `eval` (evals/cli.py), then `models`
    group = typer.main.get_command(app)
    listed = group.list_commands(click.Context(group))
    assert listed == ["ingest", "ask", "chat", "docs", "serve", "eval", "models"]


def test_installed_script_is_the_full_command():
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, attr = scripts["rag"].partition(":")
    assert getattr(importlib.import_module(module), attr) is app
