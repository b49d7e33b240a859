"""FAISS index types: the automatic choice, the manifest record, and incremental
ingest (add, replace, remove) staying correct for HNSW and IVF-PQ, which cannot
remove vectors in place."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import rag.faiss_index as store_mod
from rag.config import Settings
from rag.faiss_index import choose_index_type, faiss_id, index_kind
from rag.index_writer import IndexWriter
from rag.store import IndexStore, Manifest
from rag.types import Chunk, DocumentInfo

DIM = 16


def chunks_and_vectors(doc: str, n: int, seed: int) -> tuple[list[Chunk], np.ndarray]:
    chunks = [
        Chunk(
            chunk_id=f"{doc}-{i:04d}-{seed:08x}",
            doc_id=doc,
            source=f"docs/{doc}.txt",
            title=doc,
            text=f"passage {i} of {doc} version {seed}",
            start=i,
            end=i + 1,
            position=i,
        )
        for i in range(n)
    ]
    vectors = np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return chunks, vectors


def write(root: Path, index_type: str, add: dict[str, tuple[int, int]], remove=()):
    """One ingest-like version: remove docs, (re)add docs as doc -> (chunks, seed)."""
    previous = IndexStore.load(root) if IndexStore.exists(root) else None
    manifest = previous.manifest if previous else Manifest("fake", DIM, {})
    writer = IndexWriter(root, manifest, previous, index_type)
    writer.remove_documents([*remove, *add])
    expected = {}
    for doc, (n, seed) in add.items():
        chunks, vectors = chunks_and_vectors(doc, n, seed)
        writer.add_chunks(chunks, vectors)
        manifest.documents[doc] = DocumentInfo(f"docs/{doc}.txt", doc, "x", chunks=n)
        expected.update({faiss_id(c.chunk_id): v for c, v in zip(chunks, vectors, strict=True)})
    writer.commit()
    if previous is not None:
        previous.close()
    return expected


def test_hnsw_search_breadth_grows_with_size():
    assert store_mod.hnsw_ef_search(1_000) == 128
    assert store_mod.hnsw_ef_search(100_000) == 256
    assert store_mod.hnsw_ef_search(1_000_000) == 2048
    assert store_mod.hnsw_ef_search(50_000_000) == 2048


def test_auto_choice_by_size():
    small = store_mod.AUTO_HNSW_MIN_CHUNKS - 1
    assert choose_index_type("auto", 1_400) == "flat"
    assert choose_index_type("auto", small) == "flat"
    assert choose_index_type("auto", store_mod.AUTO_HNSW_MIN_CHUNKS) == "hnsw"
    assert choose_index_type("hnsw", 10) == "hnsw"
    assert choose_index_type("ivfpq", 10) == "flat"  # too few vectors to train
    with pytest.raises(ValueError, match="index_type"):
        choose_index_type("lsh", 10)
    with pytest.raises(ValueError, match="index_type"):
        Settings(index_type="lsh")


@pytest.mark.parametrize("index_type", ["flat", "hnsw", "ivfpq"])
def test_incremental_ingest_stays_correct(tmp_path: Path, monkeypatch, index_type: str):
    monkeypatch.setattr(store_mod, "IVFPQ_MIN_CHUNKS", 100)
    monkeypatch.setattr(store_mod, "IVFPQ_SUBQUANTIZERS", 4)
    root = tmp_path / "index"
    live = write(root, index_type, {"a": (200, 1), "b": (150, 2), "c": (120, 3)})
    # Replace b, remove c, add d: the removal path HNSW/IVF-PQ cannot do in place.
    changed = write(root, index_type, {"b": (140, 4), "d": (160, 5)}, remove=["c"])
    kept_a = {faiss_id(c.chunk_id) for c in chunks_and_vectors("a", 200, 1)[0]}
    expected = {k: v for k, v in live.items() if k in kept_a} | changed
    store = IndexStore.load(root)
    assert store.manifest.index_type == index_type
    assert index_kind(store.index) == index_type
    assert store.check_consistency() == []
    assert len(store) == len(expected) == 200 + 140 + 160
    # Every stored vector is exact (reconstructed vectors survived the rebuild).
    fids = list(expected)
    np.testing.assert_allclose(
        store.vectors_by_fid(fids), np.stack([expected[f] for f in fids]), atol=1e-6
    )
    # Search finds each vector itself first, with its exact cosine.
    for fid in fids[::37]:
        (chunk, score), *_ = store.search(expected[fid], 5)
        assert faiss_id(chunk.chunk_id) == fid
        assert score == pytest.approx(1.0, abs=1e-5)
    store.close()


def test_auto_switches_type_and_records_it(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(store_mod, "AUTO_HNSW_MIN_CHUNKS", 300)
    root = tmp_path / "index"
    write(root, "auto", {"a": (200, 1)})
    store = IndexStore.load(root)
    assert store.manifest.index_type == "flat" and index_kind(store.index) == "flat"
    store.close()
    write(root, "auto", {"b": (200, 2)})  # 400 chunks: becomes HNSW
    store = IndexStore.load(root)
    assert store.manifest.index_type == "hnsw" and index_kind(store.index) == "hnsw"
    assert store.manifest.index_params["efSearch"] == store_mod.hnsw_ef_search(400) == 128
    assert store.check_consistency() == []
    store.close()
    write(root, "auto", {}, remove=["b"])  # back to 200: flat again
    store = IndexStore.load(root)
    assert store.manifest.index_type == "flat" and len(store) == 200
    assert store.check_consistency() == []
    store.close()
