"""`rag ingest --engine ray` builds the index the local engine builds (local Ray, 2 CPUs)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
from testkit import normalize_ws, write_corpus
from typer.testing import CliRunner

from rag.config import Settings
from rag.faiss_index import index_contents
from rag.ingest import ingest
from rag.store import IndexStore
from rag_app.cli import app

COLLECTION = [
    {"id": "tea", "title": "Green tea", "date": "2024-02-01", "text": "Matcha is ground tea."},
    {"id": "rail", "title": "Rail", "text": "The Shinkansen opened in 1964. " * 40},
    {"id": "rice", "text": "Rice terraces in Banaue are two thousand years old."},
]
QUERIES = [
    "Which countries receive OSA?",
    "Why did the yen fall?",
    "coral bleaching",
    "When did the bullet train open?",
    "sourdough starter",
]


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = write_corpus(tmp_path / "docs")
    (folder / "long.txt").write_text("Sentence number %d is here. " * 300 % tuple(range(300)))
    rows = "\n".join(json.dumps(r) for r in COLLECTION) + "\n{broken\n"
    (folder / "more.jsonl.gz").write_bytes(gzip.compress(rows.encode()))
    (folder / "bad.pdf").write_bytes(b"not a pdf")
    return folder


def snapshot(settings: Settings, embedder) -> dict:
    """Everything an index holds that the engines must agree on."""
    store = IndexStore.load(settings.index_dir)
    try:
        ids, vectors = index_contents(store.index)
        hits = []
        for q in QUERIES:
            hits.append([(c.chunk_id, s) for c, s in store.search(embedder.encode_query(q), 5)])
        return {
            "chunks": [c.to_dict() for c in store.iter_chunks()],
            "documents": store.manifest.documents,
            "index_type": store.manifest.index_type,
            "ids": ids.tolist(),  # insertion order too: an HNSW graph depends on it
            "vectors": dict(zip(ids.tolist(), vectors, strict=True)),
            "hits": hits,
            "problems": store.check_consistency(),
        }
    finally:
        store.close()


def assert_same_index(local: dict, distributed: dict) -> None:
    assert distributed["problems"] == [] and local["problems"] == []
    assert distributed["chunks"] == local["chunks"]  # ids, texts, offsets, pages, positions
    assert distributed["documents"] == local["documents"]
    assert distributed["index_type"] == local["index_type"]
    assert distributed["ids"] == local["ids"]
    for fid, vector in local["vectors"].items():
        np.testing.assert_allclose(distributed["vectors"][fid], vector, atol=2e-5)
    for want, got in zip(local["hits"], distributed["hits"], strict=True):
        assert [c for c, _ in got] == [c for c, _ in want]
        np.testing.assert_allclose([s for _, s in got], [s for _, s in want], atol=2e-5)


def test_ray_ingest_equals_local_ingest_and_stays_equal_incrementally(
    ray_cluster, corpus, tmp_path, embedder
):
    from rag.distributed.ingest import ray_ingest

    # HNSW (what `auto` picks past 50k chunks): its graph depends on the insertion order
    common = {"chunk_size": 300, "chunk_overlap": 60, "index_type": "hnsw"}
    local = Settings(index_dir=tmp_path / "local", **common)
    ray = Settings(index_dir=tmp_path / "ray", **common)
    skipped = []

    def both(**kwargs):
        a = ingest([corpus], local, embedder=embedder, progress=False, **kwargs)
        b = ray_ingest([corpus], ray, workers=2, progress=False, on_skip=skipped.append, **kwargs)
        for field in ("added", "updated", "unchanged", "removed", "chunks_added", "total_chunks"):
            assert getattr(b, field) == getattr(a, field), field
        assert [(s.path, s.reason) for s in b.skipped] == [(s.path, s.reason) for s in a.skipped]
        return a, b

    a, b = both()
    assert len(a.added) == 6 + 3 and a.chunks_added > 20
    assert {Path(s.path).name for s in b.skipped} == {"bad.pdf", "more.jsonl.gz line 4"}
    assert skipped == b.skipped  # reported as they are found, like the local engine
    built = snapshot(local, embedder)
    assert built["index_type"] == "hnsw" and len(built["ids"]) == a.chunks_added
    assert_same_index(built, snapshot(ray, embedder))

    # incremental: one edit, one new line in the collection, one deletion with --prune
    (corpus / "quad.txt").write_text("The Quad met in Tokyo. Leaders discussed maritime security.")
    rows = [*COLLECTION, {"id": "kimchi", "text": "Kimchi is fermented cabbage."}]
    (corpus / "more.jsonl.gz").write_bytes(
        gzip.compress("\n".join(json.dumps(r) for r in rows).encode())
    )
    (corpus / "bread.md").unlink()
    a, b = both(prune=True)
    assert len(a.updated) == 1 and len(a.added) == 1 and len(a.removed) == 1
    assert_same_index(snapshot(local, embedder), snapshot(ray, embedder))

    # the command, on the running cluster: nothing changed, nothing embedded
    result = CliRunner().invoke(
        app,
        ["ingest", str(corpus), "--index-dir", str(ray.index_dir), "--engine", "ray",
         "--chunk-size", "300", "--chunk-overlap", "60", "--quiet"],
        catch_exceptions=False,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    out = normalize_ws(result.stdout)
    assert f"0 added, 0 updated, {len(a.unchanged) + 2} unchanged, 0 removed" in out
    assert "index is up to date" in out
