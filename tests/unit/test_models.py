"""Model registry: assembling split parts, size/sha256 checks, repair messages."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

import rag.artifacts as artifacts
import rag.models as models
from rag.artifacts import assemble, status, verify
from rag.models import MODELS, ModelError, ModelSpec, ensure_model


@pytest.fixture
def fake_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A 3-part "model" whose parts live in temp dirs standing in for installed packages."""
    parts = [b"GGUF" + os.urandom(1000), os.urandom(777), os.urandom(5)]
    files: dict[tuple[str, str], Path] = {}
    for i, data in enumerate(parts, start=1):
        path = tmp_path / "site" / f"fake_part{i}" / "data" / f"part{i:02d}.bin"
        path.parent.mkdir(parents=True)
        path.write_bytes(data)
        files[(f"fake-part{i}", f"fake_part{i}/data/part{i:02d}.bin")] = path
    whole = b"".join(parts)
    spec = ModelSpec.gguf(
        name="fake-3part",
        description="test model",
        filename="fake-3part.gguf",
        size=len(whole),
        sha256=hashlib.sha256(whole).hexdigest(),
        packages=("fake-part1==1", "fake-part2==1", "fake-part3==1"),
        parts=tuple(files),
    )

    def package_file(dist: str, rel: str) -> Path | None:  # like the real one: None if absent
        path = files.get((dist, rel))
        return path if path is not None and path.exists() else None

    monkeypatch.setattr(artifacts, "package_file", package_file)
    monkeypatch.setitem(MODELS, spec.name, spec)

    def no_pip(spec, force=False):
        raise AssertionError("pip must not run in tests")

    monkeypatch.setattr(artifacts, "install_packages", no_pip)
    return spec, whole, files


def test_assemble_joins_parts_in_order_and_verifies(fake_model, tmp_path):
    spec, whole, _ = fake_model
    cache = tmp_path / "cache"
    progress: list[int] = []
    path = assemble(spec, cache, progress=progress.append)
    assert path == cache / spec.filename
    assert path.read_bytes() == whole
    assert sum(progress) == spec.size
    assert not list(cache.glob("*.partial*"))
    stamp = json.loads((cache / f"{spec.name}.verified.json").read_text())
    assert stamp["files"][spec.filename]["sha256"] == spec.files[0].sha256
    assert stamp["files"][spec.filename]["size"] == spec.size
    verify(spec, cache)  # the stamp makes this instant and it passes


def test_ensure_model_install_then_reuse(fake_model, tmp_path):
    spec, whole, _ = fake_model
    cache = tmp_path / "cache"
    with pytest.raises(ModelError, match="rag models install fake-3part"):
        ensure_model(spec.name, cache)  # parts installed but not assembled
    assert status(spec, cache) == "not assembled"
    path = ensure_model(spec.name, cache, install=True)
    assert path.read_bytes() == whole
    assert ensure_model(spec.name, cache) == path
    assert status(spec, cache) == "ready"


@pytest.mark.parametrize("what", ["size", "sha256"])
def test_wrong_parts_fail_with_repair_command(fake_model, tmp_path, what):
    spec, _, files = fake_model
    first = next(iter(files.values()))
    data = first.read_bytes()
    if what == "size":
        first.write_bytes(data + b"extra")
    else:
        first.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))
    cache = tmp_path / "cache"
    with pytest.raises(ModelError) as err:
        assemble(spec, cache)
    message = str(err.value)
    assert err.value.fix == "rag models install fake-3part --force"
    assert spec.files[0].sha256 in message and f"{spec.size:,}" in message
    assert not (cache / spec.filename).exists()
    assert not list(cache.glob("*.partial*"))


def test_spec_with_wrong_size_or_sha_is_rejected(fake_model, tmp_path):
    spec, _, _ = fake_model
    (good,) = spec.files
    for bad in (
        replace(spec, files=(replace(good, size=good.size + 1),)),
        replace(spec, files=(replace(good, sha256="0" * 64),)),
    ):
        with pytest.raises(ModelError, match="rag models install"):
            assemble(bad, tmp_path / "cache")


def test_corrupted_assembled_file_is_detected(fake_model, tmp_path):
    spec, _, _ = fake_model
    cache = tmp_path / "cache"
    path = ensure_model(spec.name, cache, install=True)
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))  # a new identity: the stamp is stale
    with pytest.raises(ModelError, match=r"sha256 .*rag models install fake-3part --force"):
        ensure_model(spec.name, cache)
    path.write_bytes(bytes(data[:-10]))
    with pytest.raises(ModelError, match=r"truncated or wrong file.*install fake-3part --force"):
        ensure_model(spec.name, cache)
    assert status(spec, cache) == "wrong size"


def test_missing_part_is_a_clear_error(fake_model, tmp_path):
    spec, _, files = fake_model
    list(files.values())[1].unlink()
    with pytest.raises(ModelError, match=r"missing package\(s\) fake-part2.*rag models install"):
        assemble(spec, tmp_path / "cache")
    assert not list((tmp_path / "cache").glob("*.partial*"))
    with pytest.raises(ModelError, match=r"not installed .*; run `rag models install fake-3part`"):
        ensure_model(spec.name, tmp_path / "other-cache")
    assert status(spec, tmp_path / "other-cache") == "not installed"


def test_unknown_model_name(tmp_path):
    with pytest.raises(ModelError, match="unknown model 'no-such-model'") as err:
        ensure_model("no-such-model", tmp_path)
    assert "qwen2.5-1.5b" in str(err.value) and "smollm2-135m" in str(err.value)


def test_local_gguf_paths(tmp_path):
    good = tmp_path / "mine.gguf"
    good.write_bytes(b"GGUF" + b"\x00" * 64)
    assert ensure_model(str(good), tmp_path / "cache") == good
    not_gguf = tmp_path / "weights.gguf"
    not_gguf.write_bytes(b"PK\x03\x04 this is a zip")
    with pytest.raises(ModelError, match="is not a GGUF model file"):
        ensure_model(str(not_gguf), tmp_path / "cache")
    other_ext = tmp_path / "model.bin"
    other_ext.write_bytes(b"\x00" * 64)
    with pytest.raises(ModelError, match="is not a GGUF model file"):
        ensure_model(str(other_ext), tmp_path / "cache")
    with pytest.raises(ModelError, match="does not exist"):
        ensure_model(str(tmp_path / "missing.gguf"), tmp_path / "cache")
    with pytest.raises(ModelError, match="does not exist"):
        ensure_model(str(tmp_path), tmp_path / "cache")  # a directory


def test_registry_is_well_formed():
    assert {"qwen2.5-1.5b", "smollm2-135m"} <= set(MODELS)
    assert models.DEFAULT_MODEL in MODELS and models.TEST_MODEL in MODELS
    for name, spec in MODELS.items():
        assert spec.name == name and spec.filename.endswith(".gguf")
        assert spec.size > 0 and len(spec.files[0].sha256) == 64
        assert len(spec.parts) == len(spec.packages) >= 1
        for (dist, _), package in zip(spec.parts, spec.packages, strict=True):
            assert package.startswith(dist + "==")


def test_thread_settings(monkeypatch):
    """Decoding leaves a core free, the prompt uses all of them; both validated and
    overridable from the environment; the generator gets both."""
    from rag.config import Settings
    from rag.pipeline import make_generator

    cores = os.cpu_count() or 1
    settings = Settings()
    assert settings.n_threads == max(1, cores - 1) and settings.n_threads_batch == cores
    with pytest.raises(ValueError, match="n_threads_batch"):
        Settings(n_threads_batch=0)
    monkeypatch.setenv("RAG_N_THREADS_BATCH", "1")
    assert Settings.from_env().n_threads_batch == 1
    monkeypatch.setattr("rag.pipeline.ensure_model", lambda name, cache: Path("m.gguf"))
    gen = make_generator(Settings(n_threads=1, n_threads_batch=3))
    assert (gen.n_threads, gen.n_threads_batch) == (1, 3)
