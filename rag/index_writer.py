"""Writing the on-disk index: a draft version beside the current one, swapped in atomically.

Writers hold `index_lock`; a draft copies the previous version's docstore and
vectors, takes removals and additions, and `commit` writes the FAISS index, BM25,
docstore and manifest, fsyncs them and replaces the ``current`` symlink. A killed
writer leaves only a draft, removed by the next writer (`remove_leftovers`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import faiss
import numpy as np

from rag.bm25 import Bm25Index
from rag.faiss_index import (
    IVFPQ_RETRAIN_GROWTH,
    build_faiss_index,
    choose_index_type,
    faiss_id,
    hnsw_ef_search,
    index_contents,
    index_kind,
    index_params,
)
from rag.store import (
    DOCSTORE_FILE,
    MANIFEST_FILE,
    SCHEMA,
    VECTORS_FILE,
    IndexStore,
    IndexStoreError,
    Manifest,
)
from rag.types import Chunk


@contextlib.contextmanager
def index_lock(root: Path, wait_seconds: float = 0.0) -> Iterator[None]:
    """Hold an exclusive lock on the index while writing it.

    A second writer waits up to ``wait_seconds`` and then fails with a clear
    message instead of racing the first one.
    """
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as fh:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise IndexStoreError(
                        f"another ingest is writing {root}/ right now; "
                        "wait for it to finish and run the command again"
                    ) from None
                time.sleep(0.2)
        try:
            remove_leftovers(root)  # we hold the lock: any draft is a dead writer's
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def remove_leftovers(root: Path) -> None:
    """Delete what writers that were killed left: drafts, temporary links and
    versions that are not current (as a commit does). Call only under `index_lock`."""
    root = Path(root)
    builds = root / "builds"
    current = root / "current"
    keep = current.resolve() if current.is_dir() else None
    if builds.is_dir():
        for entry in builds.iterdir():
            if keep is None or entry.resolve() != keep:
                shutil.rmtree(entry, ignore_errors=True)
    for link in root.glob(".current-*"):
        link.unlink(missing_ok=True)


class IndexWriter:
    """Write a new index version from the previous one plus changes.

    Usage: ``w = IndexWriter(root, manifest, previous)``, then ``remove_documents``
    and ``add_chunks`` any number of times, then ``commit()``. Until commit the
    previous version stays current; ``abort()`` (or an exception) discards the draft.

    ``index_type`` ("auto", "flat", "hnsw", "ivfpq") is resolved at commit from the
    final chunk count (`choose_index_type`) and recorded in the manifest. HNSW and
    IVF-PQ cannot remove vectors, so a removal first turns the draft into an exact
    flat index of the same vectors (reconstructed exactly) and commit rebuilds the
    chosen type from it.
    """

    def __init__(
        self,
        root: Path,
        manifest: Manifest,
        previous: IndexStore | None,
        index_type: str = "auto",
    ):
        choose_index_type(index_type, 0)  # validate before creating anything
        self.root = Path(root)
        self.manifest = manifest
        self.index_type = index_type
        builds = self.root / "builds"
        builds.mkdir(parents=True, exist_ok=True)
        self.draft = builds / f".draft-{os.getpid()}-{time.time_ns()}"
        self.draft.mkdir()
        if previous is not None:
            shutil.copyfile(previous.version_dir / DOCSTORE_FILE, self.draft / DOCSTORE_FILE)
            self.index = faiss.clone_index(previous.index)
        else:
            self.index = faiss.IndexIDMap2(faiss.IndexFlatIP(manifest.dim))
        self.db = sqlite3.connect(self.draft / DOCSTORE_FILE)
        self.db.executescript(SCHEMA)

    def remove_documents(self, doc_ids: list[str]) -> int:
        removed = 0
        for doc_id in doc_ids:
            fids = [
                r[0] for r in self.db.execute("SELECT fid FROM chunks WHERE doc_id=?", (doc_id,))
            ]
            if fids:
                self._editable()
                self.index.remove_ids(np.asarray(fids, dtype=np.int64))
                self.db.execute("DELETE FROM chunks WHERE doc_id=?", (doc_id,))
                removed += len(fids)
            self.manifest.documents.pop(doc_id, None)
        return removed

    def add_chunks(self, chunks: list[Chunk], vectors: np.ndarray) -> None:
        if not chunks:
            return
        if vectors.shape != (len(chunks), self.manifest.dim):
            raise ValueError(f"vectors shape {vectors.shape} does not match {len(chunks)} chunks")
        fids = np.asarray([faiss_id(c.chunk_id) for c in chunks], dtype=np.int64)
        self.index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), fids)
        self.db.executemany(
            "INSERT INTO chunks (fid, chunk_id, doc_id, source, title, page, position, start, "
            '"end", text) VALUES (?,?,?,?,?,?,?,?,?,?)',
            [
                (int(f), c.chunk_id, c.doc_id, c.source, c.title, c.page, c.position, c.start,
                 c.end, c.text)
                for f, c in zip(fids, chunks, strict=True)
            ],
        )  # fmt: skip

    def _editable(self) -> None:
        """Make the draft index an exact flat one, which supports `remove_ids`."""
        if index_kind(self.index) != "flat":
            ids, vectors = index_contents(self.index)
            self.index = build_faiss_index("flat", self.manifest.dim, vectors, ids)

    def _finish_index(self) -> None:
        """Turn the draft index into the type chosen for its size; note it in the manifest."""
        n = int(self.index.ntotal)
        kind = choose_index_type(self.index_type, n)
        have = index_kind(self.index)
        trained_on = int(self.manifest.index_params.get("trained_on") or n)
        stale = have == "ivfpq" and n > IVFPQ_RETRAIN_GROWTH * trained_on
        if kind != have or stale:
            ids, vectors = index_contents(self.index)
            self.index = build_faiss_index(kind, self.manifest.dim, vectors, ids)
            self.manifest.index_params = index_params(self.index)
        elif kind == "hnsw":  # grown or shrunk in place: search breadth follows the size
            faiss.downcast_index(self.index.index).hnsw.efSearch = hnsw_ef_search(n)
            self.manifest.index_params = index_params(self.index)
        elif kind != "ivfpq" or not self.manifest.index_params:
            self.manifest.index_params = index_params(self.index)
        self.manifest.index_type = kind

    def commit(self, before_swap: Callable[[], None] | None = None) -> Path:
        """Finish the draft and make it the current version atomically
        (``before_swap`` is called once the draft is complete and synced)."""
        self._finish_index()
        self.db.commit()
        rows = self.db.execute("SELECT fid, title, text FROM chunks ORDER BY fid").fetchall()
        self.db.close()
        if rows:
            texts = [f"{title}\n{text}" for _, title, text in rows]
            Bm25Index.build(texts, [r[0] for r in rows]).save(self.draft)
        faiss.write_index(self.index, str(self.draft / VECTORS_FILE))
        self.manifest.updated = time.time()
        (self.draft / MANIFEST_FILE).write_text(self.manifest.to_json(), encoding="utf-8")
        for name in (VECTORS_FILE, DOCSTORE_FILE, MANIFEST_FILE):
            _fsync(self.draft / name)
        if before_swap is not None:
            before_swap()
        final = self.draft.with_name(f"v{time.strftime('%Y%m%d-%H%M%S')}-{time.time_ns() % 10**9}")
        os.rename(self.draft, final)
        link_tmp = self.root / f".current-{os.getpid()}"
        link_tmp.unlink(missing_ok=True)
        os.symlink(Path("builds") / final.name, link_tmp)
        os.replace(link_tmp, self.root / "current")
        _fsync(self.root)
        remove_leftovers(self.root)  # older versions, and drafts of crashed writers
        return final

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self.db.close()
        shutil.rmtree(self.draft, ignore_errors=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
