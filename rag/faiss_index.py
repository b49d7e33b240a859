"""FAISS index types: which one for how many chunks, how to build and inspect it.

Every type is an IndexIDMap2 (64-bit chunk ids, exact `reconstruct`) over inner
product of normalized vectors (= cosine). The on-disk index (rag/store.py) records
the type in its manifest; rag/index_writer.py builds it at commit.
"""

from __future__ import annotations

import hashlib

import faiss
import numpy as np

from rag.config import IndexType
from rag.store import IndexStoreError


def faiss_id(chunk_id: str) -> int:
    """Stable 60-bit integer id for FAISS from the chunk's string id."""
    return int(hashlib.sha1(chunk_id.encode("utf-8")).hexdigest()[:15], 16)


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
