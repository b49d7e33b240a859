"""On-disk index: FAISS vectors + SQLite docstore + JSON manifest, swapped atomically.

Layout of an index directory::

    index/
      current -> builds/<version>     symlink, replaced atomically
      builds/<version>/vectors.faiss  FAISS native format (IndexIDMap2 over inner product)
      builds/<version>/docstore.sqlite  chunk rows keyed by the FAISS id
      builds/<version>/manifest.json  embedder, dimension, chunking, documents
      .lock                           held while an ingest writes

A new version is always written to a fresh directory and only then made
current by an atomic symlink replace, so a crash at any point leaves the
previous index intact. Nothing here uses pickle.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import faiss
import numpy as np

from rag.bm25 import Bm25Index
from rag.config import IndexType
from rag.errors import FixableError
from rag.types import Chunk

FORMAT_VERSION = 1
VECTORS_FILE = "vectors.faiss"
DOCSTORE_FILE = "docstore.sqlite"
MANIFEST_FILE = "manifest.json"


class IndexStoreError(FixableError):
    """The index is missing, locked, inconsistent or built with other settings."""


class IndexMissing(IndexStoreError):
    """No index has been built at this location yet."""


def faiss_id(chunk_id: str) -> int:
    """Stable 60-bit integer id for FAISS from the chunk's string id."""
    return int(hashlib.sha1(chunk_id.encode("utf-8")).hexdigest()[:15], 16)


# -- FAISS index types ---------------------------------------------------------------
# Every type is an IndexIDMap2 (64-bit chunk ids, exact `reconstruct`) over inner
# product; "auto" picks by chunk count. Thresholds and parameters come from the
# retrieval benchmark (benchmarks/README.md): exact flat search takes ~1 ms at 10k
# chunks and ~12 ms at 100k; HNSW keeps recall@10 >= 0.97 below a few ms up to 1M.
# IVF-PQ with exact re-ranking of its candidates (recall@10 0.97 at 1M, builds in
# about half the time of HNSW) is used only when asked for.
AUTO_HNSW_MIN_CHUNKS = 50_000  # "auto": flat below, HNSW from here on
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH_RANGE = (128, 2048)  # efSearch grows with size: see hnsw_ef_search
IVFPQ_MIN_CHUNKS = 10_000  # fewer vectors cannot train IVF-PQ well: flat instead
IVFPQ_SUBQUANTIZERS = 48  # bytes per vector code (dim must be divisible)
IVFPQ_NPROBE = 32
IVFPQ_K_FACTOR = 32  # exact re-ranking of k * k_factor PQ candidates
IVFPQ_TRAIN_SAMPLE = 100_000
IVFPQ_RETRAIN_GROWTH = 4  # rebuild when the index grew this much since training


def hnsw_ef_search(n_chunks: int) -> int:
    """HNSW search breadth for ``n_chunks``: the power of two >= n/500, in the range.

    Measured recall@10 (M=32, efConstruction=80, clustered vectors): 0.97 at 100k
    with 128, 0.95 at 1M with 1024 (so 1M gets 2048 for a margin); doubling it
    costs about a millisecond at 1M.
    """
    low, high = HNSW_EF_SEARCH_RANGE
    want = 1 << max(0, int(np.ceil(np.log2(max(1, n_chunks) / 500))))
    return int(min(high, max(low, want)))


def choose_index_type(requested: str, n_chunks: int) -> str:
    """The concrete FAISS index type for ``n_chunks`` ("flat", "hnsw" or "ivfpq")."""
    kind = IndexType.from_str(requested, "index_type")
    if kind is IndexType.AUTO:
        kind = IndexType.HNSW if n_chunks >= AUTO_HNSW_MIN_CHUNKS else IndexType.FLAT
    if kind is IndexType.IVFPQ and n_chunks < IVFPQ_MIN_CHUNKS:
        kind = IndexType.FLAT
    return kind.value


def index_kind(index: faiss.Index) -> str:
    """What an (IndexIDMap2-wrapped) FAISS index is: "flat", "hnsw" or "ivfpq"."""
    inner = faiss.downcast_index(index.index) if hasattr(index, "id_map") else index
    name = type(inner).__name__
    if name.startswith("IndexFlat"):
        return "flat"
    if name.startswith("IndexHNSW"):
        return "hnsw"
    if name.startswith(("IndexRefine", "IndexIVF")):
        return "ivfpq"
    raise IndexStoreError(f"unsupported FAISS index {name}")


def _ivf_nlist(n: int) -> int:
    # ~4 sqrt(n) lists, at least 39 training points each (FAISS's minimum advice).
    return int(max(16, min(4 * np.sqrt(n), n // 39, 65_536)))


def build_faiss_index(
    kind: str, dim: int, vectors: np.ndarray, ids: np.ndarray, seed: int = 0
) -> faiss.Index:
    """A new IndexIDMap2 of ``kind`` holding ``vectors`` (unit rows) under ``ids``."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, dim)
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    n = len(ids)
    if kind == "flat":
        inner = faiss.IndexFlatIP(dim)
    elif kind == "hnsw":
        inner = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        inner.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        inner.hnsw.efSearch = hnsw_ef_search(n)
    elif kind == "ivfpq":
        m = max(d for d in range(1, IVFPQ_SUBQUANTIZERS + 1) if dim % d == 0)
        nlist = _ivf_nlist(n)
        ivf = faiss.IndexIVFPQ(faiss.IndexFlatIP(dim), dim, nlist, m, 8, faiss.METRIC_INNER_PRODUCT)
        ivf.nprobe = min(IVFPQ_NPROBE, nlist)
        inner = faiss.IndexRefineFlat(ivf)  # keeps the exact vectors: re-ranking, reconstruct
        inner.k_factor = IVFPQ_K_FACTOR
        sample = vectors
        if n > IVFPQ_TRAIN_SAMPLE:
            rows = np.random.default_rng(seed).choice(n, IVFPQ_TRAIN_SAMPLE, replace=False)
            sample = vectors[np.sort(rows)]
        inner.train(sample)
    else:
        raise ValueError(f"unknown index type {kind!r}")
    index = faiss.IndexIDMap2(inner)
    if n:
        index.add_with_ids(vectors, ids)
    return index


def index_contents(index: faiss.Index) -> tuple[np.ndarray, np.ndarray]:
    """(ids, exact vectors) held by an IndexIDMap2 of any supported kind."""
    ids = faiss.vector_to_array(index.id_map).astype(np.int64)
    if len(ids) == 0:
        return ids, np.zeros((0, index.d), dtype=np.float32)
    return ids, index.index.reconstruct_n(0, len(ids))


def index_params(index: faiss.Index) -> dict:
    """Search and build parameters of an index, for the manifest."""
    kind = index_kind(index)
    inner = faiss.downcast_index(index.index)
    if kind == "hnsw":
        return {
            "M": HNSW_M,
            "efConstruction": int(inner.hnsw.efConstruction),
            "efSearch": int(inner.hnsw.efSearch),
        }
    if kind == "ivfpq":
        ivf = faiss.extract_index_ivf(index)
        return {
            "nlist": int(ivf.nlist),
            "nprobe": int(ivf.nprobe),
            "pq_bytes": int(faiss.downcast_index(ivf).pq.M),
            "k_factor": float(inner.k_factor),
            "trained_on": int(index.ntotal),
        }
    return {}


@dataclass
class Manifest:
    """What an index was built with and which documents it holds."""

    embedder: str
    dim: int
    chunking: dict
    documents: dict[str, dict] = field(default_factory=dict)  # doc_id -> info
    format_version: int = FORMAT_VERSION
    # The FAISS index in use ("flat", "hnsw", "ivfpq"; indexes written before the
    # choice existed say "IDMap2,Flat,IP") and its parameters; set on each commit.
    index_type: str = "flat"
    index_params: dict = field(default_factory=dict)
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)

    @property
    def chunk_count(self) -> int:
        return sum(int(d.get("chunks", 0)) for d in self.documents.values())

    def to_json(self) -> str:
        return json.dumps(self.__dict__, indent=2, sort_keys=True, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        data = json.loads(text)
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS chunks (
    fid INTEGER PRIMARY KEY,
    chunk_id TEXT UNIQUE NOT NULL,
    doc_id TEXT NOT NULL,
    source TEXT NOT NULL,
    title TEXT NOT NULL,
    page INTEGER,
    position INTEGER NOT NULL,
    start INTEGER NOT NULL,
    "end" INTEGER NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id);
"""

_COLUMNS = 'chunk_id, doc_id, source, title, text, start, "end", page, position'


def _row_to_chunk(row: tuple) -> Chunk:
    return Chunk(*row)


class IndexStore:
    """A loaded, read-only index version: vector search plus chunk lookup."""

    def __init__(
        self,
        root: Path,
        version_dir: Path,
        manifest: Manifest,
        index: faiss.Index,
        bm25: Bm25Index | None = None,
    ):
        self.root = root
        self.version_dir = version_dir
        self.manifest = manifest
        self.index = index
        self.bm25 = bm25
        self._db = sqlite3.connect(
            f"file:{version_dir / DOCSTORE_FILE}?mode=ro", uri=True, check_same_thread=False
        )

    # -- loading ----------------------------------------------------------------
    @classmethod
    def exists(cls, root: Path) -> bool:
        return (Path(root) / "current" / MANIFEST_FILE).is_file()

    @classmethod
    def load(cls, root: Path) -> IndexStore:
        """Open the current version of the index at ``root``."""
        root = Path(root)
        current = root / "current"
        if not (current / MANIFEST_FILE).is_file():
            raise IndexMissing(f"no index found in {root}/", "rag ingest")
        version_dir = current.resolve()
        manifest = Manifest.from_json((version_dir / MANIFEST_FILE).read_text(encoding="utf-8"))
        if manifest.format_version != FORMAT_VERSION:
            raise IndexStoreError(
                f"index in {root}/ has format {manifest.format_version}, this version reads "
                f"{FORMAT_VERSION}",
                "rag ingest --rebuild",
            )
        index = faiss.read_index(str(version_dir / VECTORS_FILE))
        return cls(root, version_dir, manifest, index, Bm25Index.load(version_dir))

    def close(self) -> None:
        self._db.close()

    # -- queries ----------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.index.ntotal)

    def search(self, vector: np.ndarray, k: int) -> list[tuple[Chunk, float]]:
        """Top-``k`` chunks by inner product with a normalized query vector."""
        if len(self) == 0:
            return []
        scores, ids = self.index.search(np.asarray(vector, dtype=np.float32).reshape(1, -1), k)
        pairs = [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i != -1]
        rows = self.chunks_by_fid([i for i, _ in pairs])
        return [(rows[i], s) for i, s in pairs if i in rows]

    def chunks_by_fid(self, fids: list[int]) -> dict[int, Chunk]:
        if not fids:
            return {}
        marks = ",".join("?" * len(fids))
        cur = self._db.execute(f"SELECT fid, {_COLUMNS} FROM chunks WHERE fid IN ({marks})", fids)
        return {row[0]: _row_to_chunk(row[1:]) for row in cur}

    def vectors_by_fid(self, fids: list[int]) -> np.ndarray:
        """Stored (normalized) vectors of the given FAISS ids."""
        if not fids:
            return np.zeros((0, self.manifest.dim), dtype=np.float32)
        return np.vstack([self.index.reconstruct(int(f)) for f in fids])

    def chunk(self, chunk_id: str) -> Chunk | None:
        row = self._db.execute(
            f"SELECT {_COLUMNS} FROM chunks WHERE chunk_id = ?", (chunk_id,)
        ).fetchone()
        return _row_to_chunk(row) if row else None

    def iter_chunks(self) -> Iterator[Chunk]:
        yield from (
            _row_to_chunk(r)
            for r in self._db.execute(f"SELECT {_COLUMNS} FROM chunks ORDER BY source, position")
        )

    def documents(self) -> list[dict]:
        """Indexed documents with their chunk counts, sorted by source."""
        docs = [{"doc_id": k, **v} for k, v in self.manifest.documents.items()]
        return sorted(docs, key=lambda d: d["source"])

    def check_consistency(self) -> list[str]:
        """Problems found comparing FAISS ids, docstore rows, BM25 ids and the manifest.

        An empty list means: every FAISS id has exactly one docstore row and vice
        versa, no id is stored twice, the BM25 index (absent in indexes built
        before hybrid retrieval) covers the same ids, and the manifest's
        per-document chunk counts match the docstore.
        """
        problems = []
        db_ids = {r[0] for r in self._db.execute("SELECT fid FROM chunks")}
        faiss_list = faiss.vector_to_array(self.index.id_map).tolist()
        faiss_ids = set(faiss_list)
        if len(faiss_list) != len(faiss_ids):
            problems.append(f"FAISS holds {len(faiss_list) - len(faiss_ids)} duplicate ids")
        if int(self.index.ntotal) != len(faiss_list):
            problems.append(f"FAISS has {self.index.ntotal} vectors but {len(faiss_list)} ids")
        if db_ids != faiss_ids:
            problems.append(
                f"FAISS has {len(faiss_ids)} ids, docstore {len(db_ids)}; "
                f"{len(faiss_ids ^ db_ids)} differ"
            )
        if self.bm25 is not None:
            bm25_list = [int(i) for i in self.bm25.fids]
            if len(bm25_list) != len(set(bm25_list)) or set(bm25_list) != db_ids:
                problems.append(
                    f"BM25 has {len(bm25_list)} ids, docstore {len(db_ids)}; they differ"
                )
        per_doc = dict(self._db.execute("SELECT doc_id, COUNT(*) FROM chunks GROUP BY doc_id"))
        expected = {k: int(v["chunks"]) for k, v in self.manifest.documents.items()}
        if per_doc != expected:
            problems.append("manifest chunk counts differ from the docstore")
        return problems


# -- writing -------------------------------------------------------------------


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
        self.db.executescript(_SCHEMA)

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

    def commit(self) -> Path:
        """Finish the draft and make it the current version atomically."""
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
        final = self.draft.with_name(f"v{time.strftime('%Y%m%d-%H%M%S')}-{time.time_ns() % 10**9}")
        os.rename(self.draft, final)
        link_tmp = self.root / f".current-{os.getpid()}"
        link_tmp.unlink(missing_ok=True)
        os.symlink(Path("builds") / final.name, link_tmp)
        os.replace(link_tmp, self.root / "current")
        _fsync(self.root)
        _remove_stale_builds(self.root, keep=final)
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


def _remove_stale_builds(root: Path, keep: Path) -> None:
    """Delete versions other than ``keep`` and drafts left by crashed writers."""
    for entry in (root / "builds").iterdir():
        if entry.resolve() != keep.resolve():
            shutil.rmtree(entry, ignore_errors=True)
    for link in root.glob(".current-*"):  # left by a writer killed mid-swap
        link.unlink(missing_ok=True)
