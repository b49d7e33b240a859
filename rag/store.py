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

import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import faiss
import numpy as np

from rag.bm25 import Bm25Index
from rag.errors import FixableError
from rag.types import Chunk, DocumentInfo

FORMAT_VERSION = 1
VECTORS_FILE = "vectors.faiss"
DOCSTORE_FILE = "docstore.sqlite"
MANIFEST_FILE = "manifest.json"


class IndexStoreError(FixableError):
    """The index is missing, locked, inconsistent or built with other settings."""


class IndexMissing(IndexStoreError):
    """No index has been built at this location yet."""


@dataclass
class Manifest:
    """What an index was built with and which documents it holds."""

    embedder: str
    dim: int
    chunking: dict
    documents: dict[str, DocumentInfo] = field(default_factory=dict)  # by doc_id
    format_version: int = FORMAT_VERSION
    # The FAISS index in use ("flat", "hnsw", "ivfpq"; indexes written before the
    # choice existed say "IDMap2,Flat,IP") and its parameters; set on each commit.
    index_type: str = "flat"
    index_params: dict = field(default_factory=dict)
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)

    @property
    def chunk_count(self) -> int:
        return sum(d.chunks for d in self.documents.values())

    def to_dict(self) -> dict:
        documents = {k: d.to_dict() for k, d in self.documents.items()}
        return {**self.__dict__, "documents": documents}

    @classmethod
    def from_dict(cls, data: dict) -> Manifest:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        documents = {k: DocumentInfo.from_dict(d) for k, d in known.get("documents", {}).items()}
        return cls(**{**known, "documents": documents})

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        return cls.from_dict(json.loads(text))


SCHEMA = """
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

    def document_text(self, doc_id: str) -> str:
        """The text of a document's chunks in order (overlaps repeated), "" if unknown."""
        rows = self._db.execute(
            "SELECT text FROM chunks WHERE doc_id = ? ORDER BY position", (doc_id,)
        )
        return "\n".join(row[0] for row in rows)

    def iter_chunks(self) -> Iterator[Chunk]:
        yield from (
            _row_to_chunk(r)
            for r in self._db.execute(f"SELECT {_COLUMNS} FROM chunks ORDER BY source, position")
        )

    def documents(self) -> list[DocumentInfo]:
        """Indexed documents with their chunk counts, sorted by source."""
        return sorted(self.manifest.documents.values(), key=lambda d: d.source)

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
        expected = {k: d.chunks for k, d in self.manifest.documents.items()}
        if per_doc != expected:
            problems.append("manifest chunk counts differ from the docstore")
        return problems
