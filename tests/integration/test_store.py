"""IndexStore / IndexWriter: layout, search, atomic version swap, lock, no pickle."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
from testkit import REPO

import rag.index_writer as store_mod
from rag.faiss_index import faiss_id
from rag.index_writer import IndexWriter, index_lock
from rag.store import (
    DOCSTORE_FILE,
    MANIFEST_FILE,
    VECTORS_FILE,
    IndexMissing,
    IndexStore,
    IndexStoreError,
    Manifest,
)
from rag.types import Chunk, DocumentInfo

DIM = 8


def unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def make_chunks(doc: str, n: int) -> list[Chunk]:
    return [
        Chunk(
            chunk_id=f"{doc}-{i:04d}-deadbeef",
            doc_id=doc,
            source=f"docs/{doc}.txt",
            title=f"Title {doc}",
            text=f"text {i} of {doc}",
            start=i * 10,
            end=i * 10 + 9,
            page=None if i % 2 else i,
            position=i,
        )
        for i in range(n)
    ]


def write_version(root: Path, docs: dict[str, int], previous: IndexStore | None = None):
    """Write a version holding ``docs`` (doc -> chunk count); vectors seeded by position."""
    manifest = previous.manifest if previous else Manifest("fake-embedder", DIM, {"size": 1})
    writer = IndexWriter(root, manifest, previous)
    for seed, (doc, n) in enumerate(docs.items()):
        chunks = make_chunks(doc, n)
        writer.remove_documents([doc])
        writer.add_chunks(chunks, np.stack([unit(seed * 100 + i) for i in range(n)]))
        manifest.documents[doc] = DocumentInfo(f"docs/{doc}.txt", doc, doc, chunks=n)
    return writer.commit()


def builds(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "builds").iterdir())


def test_missing_index_says_run_rag_ingest(tmp_path: Path):
    assert not IndexStore.exists(tmp_path / "index")
    with pytest.raises(IndexMissing, match="rag ingest"):
        IndexStore.load(tmp_path / "index")


def test_write_and_load_a_version(tmp_path: Path):
    root = tmp_path / "index"
    final = write_version(root, {"a": 3, "b": 2})
    current = root / "current"
    assert current.is_symlink()
    assert os.readlink(current) == str(Path("builds") / final.name)  # relative: movable
    assert {VECTORS_FILE, DOCSTORE_FILE, MANIFEST_FILE} <= {p.name for p in final.iterdir()}
    assert builds(root) == [final.name]

    store = IndexStore.load(root)
    try:
        assert len(store) == 5
        assert store.manifest.dim == DIM and store.manifest.chunk_count == 5
        assert store.check_consistency() == []
        # Exact vector of chunk a-1 finds it first with cosine ~1.
        chunk, score = store.search(unit(1), k=2)[0]
        assert chunk == make_chunks("a", 3)[1]
        assert score == pytest.approx(1.0, abs=1e-5)
        assert store.chunk("b-0001-deadbeef") == make_chunks("b", 2)[1]
        assert store.chunk("nope") is None
        assert [c.chunk_id for c in store.iter_chunks()] == [
            *(c.chunk_id for c in make_chunks("a", 3)),
            *(c.chunk_id for c in make_chunks("b", 2)),
        ]
        assert len(store.search(unit(1), k=50)) == 5  # k beyond the index size
        assert [d.source for d in store.documents()] == ["docs/a.txt", "docs/b.txt"]
        # a whole document's text, its chunks in order (the coverage checks' setting)
        assert store.document_text("b") == "text 0 of b\ntext 1 of b"
        assert store.document_text("nope") == ""
    finally:
        store.close()


def test_incremental_version_replaces_and_cleans_up(tmp_path: Path):
    root = tmp_path / "index"
    first = write_version(root, {"a": 3, "b": 2})
    previous = IndexStore.load(root)
    second = write_version(root, {"a": 1}, previous=previous)  # replace a, keep b
    previous.close()
    assert second != first and builds(root) == [second.name]
    store = IndexStore.load(root)
    try:
        assert store.version_dir == second.resolve()
        assert len(store) == 3 and store.check_consistency() == []
        assert store.chunk("a-0002-deadbeef") is None
        assert store.chunk("b-0001-deadbeef") is not None
    finally:
        store.close()


def test_consistency_check_reports_mismatch(tmp_path: Path):
    root = tmp_path / "index"
    write_version(root, {"a": 3})
    store = IndexStore.load(root)
    try:
        store.manifest.documents["a"].chunks = 7
        assert any("manifest" in p for p in store.check_consistency())
        store.index.remove_ids(np.asarray([faiss_id("a-0000-deadbeef")], dtype=np.int64))
        assert any("FAISS" in p for p in store.check_consistency())
    finally:
        store.close()


def test_add_chunks_rejects_wrong_vector_shape(tmp_path: Path):
    writer = IndexWriter(tmp_path / "index", Manifest("fake", DIM, {}), None)
    try:
        with pytest.raises(ValueError, match="does not match"):
            writer.add_chunks(make_chunks("a", 2), np.zeros((3, DIM), dtype=np.float32))
    finally:
        writer.abort()
    assert builds(tmp_path / "index") == []


def test_faiss_id_is_stable_and_fits_int64():
    assert faiss_id("x-0001-abc") == faiss_id("x-0001-abc")
    assert faiss_id("x-0001-abc") != faiss_id("x-0002-abc")
    assert 0 <= faiss_id("anything") < 2**63


def _snapshot(root: Path) -> tuple[str, list[str], str]:
    store = IndexStore.load(root)
    try:
        return (
            str(store.version_dir),
            [c.chunk_id for c in store.iter_chunks()],
            store.manifest.to_json(),
        )
    finally:
        store.close()


@pytest.mark.parametrize("crash_at", ["before-swap", "manifest-fsync", "symlink-swap"])
def test_crash_during_commit_keeps_previous_version(tmp_path: Path, monkeypatch, crash_at):
    root = tmp_path / "index"
    write_version(root, {"a": 3})
    before = _snapshot(root)
    previous = IndexStore.load(root)

    if crash_at == "before-swap":

        def crash(self):
            self.db.commit()
            (self.draft / VECTORS_FILE).write_bytes(b"half-written")
            raise RuntimeError("simulated crash")

        monkeypatch.setattr(IndexWriter, "commit", crash)
    elif crash_at == "manifest-fsync":
        real_fsync = store_mod._fsync

        def crash(path):
            if Path(path).name == MANIFEST_FILE:
                raise OSError("simulated disk error")
            real_fsync(path)

        monkeypatch.setattr(store_mod, "_fsync", crash)
    else:
        real_replace = os.replace

        def crash(src, dst, *args, **kwargs):
            if Path(dst).name == "current":
                raise OSError("simulated crash at the swap")
            return real_replace(src, dst, *args, **kwargs)

        monkeypatch.setattr(store_mod.os, "replace", crash)

    writer = IndexWriter(root, previous.manifest, previous)
    writer.remove_documents(["a"])
    writer.add_chunks(make_chunks("z", 2), np.stack([unit(7), unit(8)]))
    with pytest.raises((RuntimeError, OSError)):
        try:
            writer.commit()
        except BaseException:
            writer.abort()
            raise
    previous.close()
    monkeypatch.undo()

    assert _snapshot(root) == before
    assert not [n for n in builds(root) if n.startswith(".draft")], "draft left behind"
    # (A crash at the swap may leave a dangling ".current-<pid>" temp link; it is never read.)
    # The next successful write works and removes whatever the crash left.
    previous = IndexStore.load(root)
    final = write_version(root, {"c": 1}, previous=previous)
    previous.close()
    assert builds(root) == [final.name]


def test_lock_blocks_a_second_writer(tmp_path: Path):
    root = tmp_path / "index"
    with index_lock(root):
        with pytest.raises(IndexStoreError, match="another ingest is writing"):
            with index_lock(root):
                pass
        with pytest.raises(IndexStoreError, match="wait for it to finish"):
            with index_lock(root, wait_seconds=0.3):
                pass
    with index_lock(root):  # released again
        pass


def test_manifest_json_round_trip():
    m = Manifest("emb", 384, {"chunk_size": 700}, {"d": DocumentInfo("s", "T", "h", chunks=2)})
    back = Manifest.from_json(m.to_json())
    assert back == m and isinstance(back.documents["d"], DocumentInfo)
    data = json.loads(m.to_json())
    assert {"embedder", "dim", "chunking", "documents", "format_version"} <= set(data)
    # the documents stay plain JSON objects, as indexes written before the records read
    assert data["documents"]["d"] == {"source": "s", "title": "T", "content_hash": "h",
                                      "pages": None, "chars": 0, "chunks": 2,
                                      "ocr_pages": [], "skipped_pages": {}}  # fmt: skip
    older = {**data, "documents": {"d": {"source": "s", "chunks": 2, "content_hash": "h",
                                         "title": "T", "retired": 1}}}  # fmt: skip
    assert Manifest.from_json(json.dumps(older)).documents["d"].chunks == 2


def test_no_pickle_in_the_package():
    pattern = re.compile(
        r"^\s*(import|from)\s+(pickle|cPickle|dill|joblib|cloudpickle)\b"
        r"|\bpickle\.(loads?|dumps?)\b|allow_pickle\s*=\s*True|torch\.load\(",
        re.MULTILINE,
    )
    offenders = [
        f"{path.relative_to(REPO)}: {m.group(0).strip()}"
        for path in sorted((REPO / "rag").rglob("*.py"))
        for m in pattern.finditer(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_index_files_contain_no_pickle(fixture_settings):
    version = (fixture_settings.index_dir / "current").resolve()
    for path in version.rglob("*"):
        if not path.is_file():
            continue
        head = path.read_bytes()[:2]
        assert not (head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")), (
            f"{path.name} looks like a pickle"
        )
        if path.suffix == ".npy":
            np.load(path, allow_pickle=False)
        if path.suffix == ".json":
            json.loads(path.read_text(encoding="utf-8"))
