"""Retrievers: query text -> ranked `Hit`s.

`DenseRetriever` ranks by cosine similarity of embeddings. `HybridRetriever`
fuses the dense ranking with BM25 keyword ranking by weighted reciprocal rank
fusion (RRF), which rescues exact names and numbers that embeddings blur.
Hit scores stay cosine similarities in both, so the refusal threshold means
the same thing whichever retriever is used.
"""

from __future__ import annotations

from rag.embeddings import Embedder
from rag.store import IndexStore
from rag.types import Hit


class DenseRetriever:
    """Top-k passages by cosine similarity of embeddings (FAISS inner product)."""

    def __init__(self, store: IndexStore, embedder: Embedder):
        if store.manifest.embedder != embedder.name:
            raise ValueError(
                f"index was built with embedder {store.manifest.embedder}, "
                f"but the query embedder is {embedder.name}"
            )
        self.store = store
        self.embedder = embedder

    def search(self, query: str, k: int = 4) -> list[Hit]:
        vector = self.embedder.encode_query(query)
        pairs = self.store.search(vector, k)
        return [Hit(chunk, score, rank) for rank, (chunk, score) in enumerate(pairs, start=1)]


def reciprocal_rank_fusion(
    rankings: list[list[int]], weights: list[float], k: int = 60
) -> list[tuple[int, float]]:
    """Fuse ranked id lists: score(id) = sum_i w_i / (k + rank_i(id)) (Cormack et al., 2009)."""
    scores: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda kv: -kv[1])


class HybridRetriever(DenseRetriever):
    """Dense + BM25 candidates fused by weighted RRF; falls back to dense without BM25."""

    def __init__(
        self,
        store: IndexStore,
        embedder: Embedder,
        dense_weight: float = 1.0,
        bm25_weight: float = 1.0,
        candidates: int = 20,
        rrf_k: int = 60,
    ):
        super().__init__(store, embedder)
        self.dense_weight = dense_weight
        self.bm25_weight = bm25_weight
        self.candidates = candidates
        self.rrf_k = rrf_k

    def search(self, query: str, k: int = 4) -> list[Hit]:
        if self.store.bm25 is None:
            return super().search(query, k)
        n = max(self.candidates, k)
        vector = self.embedder.encode_query(query)
        scores, ids = self.store.index.search(vector.reshape(1, -1), n)
        dense = [int(i) for i in ids[0] if i != -1]
        cosine = {int(i): float(s) for i, s in zip(ids[0], scores[0], strict=True) if i != -1}
        sparse = [fid for fid, _ in self.store.bm25.search(query, n)]
        fused = reciprocal_rank_fusion(
            [dense, sparse], [self.dense_weight, self.bm25_weight], self.rrf_k
        )[:k]
        top = [fid for fid, _ in fused]
        missing = [fid for fid in top if fid not in cosine]
        if missing:
            vectors = self.store.vectors_by_fid(missing)
            cosine.update(zip(missing, (vectors @ vector).tolist(), strict=True))
        chunks = self.store.chunks_by_fid(top)
        return [
            Hit(chunks[fid], cosine[fid], rank)
            for rank, fid in enumerate(top, start=1)
            if fid in chunks
        ]


def make_retriever(store: IndexStore, embedder: Embedder, settings) -> DenseRetriever:
    """The retriever named by ``settings.retrieval`` ("dense" or "hybrid")."""
    if settings.retrieval == "hybrid":
        return HybridRetriever(
            store,
            embedder,
            dense_weight=settings.dense_weight,
            bm25_weight=settings.bm25_weight,
            candidates=settings.candidates,
        )
    if settings.retrieval != "dense":
        raise ValueError(f"retrieval must be 'dense' or 'hybrid', got {settings.retrieval!r}")
    return DenseRetriever(store, embedder)
