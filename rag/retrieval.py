"""Retrievers: query text -> ranked `Hit`s.

`DenseRetriever` ranks by cosine similarity of embeddings. `HybridRetriever`
fuses the dense ranking with BM25 keyword ranking by weighted reciprocal rank
fusion (RRF), which rescues exact names and numbers that embeddings blur.
Hit scores stay cosine similarities in both, so the refusal threshold means
the same thing whichever retriever is used. Either can re-rank its candidates by
maximal marginal relevance (MMR, ``mmr_lambda`` < 1) so that near-duplicate
passages do not crowd out a second source.
"""

from __future__ import annotations

import re

import numpy as np

from rag.config import Retrieval, Settings
from rag.embeddings import Embedder
from rag.store import IndexStore
from rag.types import Hit


def maximal_marginal_relevance(
    relevance: np.ndarray, vectors: np.ndarray, k: int, lambda_: float
) -> list[int]:
    """Indices of ``k`` items chosen greedily by MMR (Carbonell & Goldstein, 1998).

    Each step takes the item maximizing ``lambda_ * relevance - (1 - lambda_) *
    max cosine to the items already taken``; ``relevance`` is divided by its
    maximum first so the two terms are comparable (the best item scores 1).
    ``lambda_ = 1`` keeps the given order.
    """
    n = len(relevance)
    if n == 0 or k <= 0:
        return []
    rel = np.asarray(relevance, dtype=np.float64)
    rel = rel - min(0.0, rel.min())  # non-negative; cosines may be below 0
    rel = rel / rel.max() if rel.max() > 0 else np.ones(n)
    sims = vectors @ vectors.T
    chosen = [int(np.argmax(rel))]
    redundancy = sims[chosen[0]].astype(np.float64)
    while len(chosen) < min(k, n):
        score = lambda_ * rel - (1.0 - lambda_) * redundancy
        score[chosen] = -np.inf
        best = int(np.argmax(score))
        chosen.append(best)
        redundancy = np.maximum(redundancy, sims[best])
    return chosen


class DenseRetriever:
    """Top-k passages by cosine similarity of embeddings (FAISS inner product)."""

    def __init__(
        self,
        store: IndexStore,
        embedder: Embedder,
        mmr_lambda: float = 1.0,
        candidates: int = 20,
    ):
        if store.manifest.embedder != embedder.name:
            raise ValueError(
                f"index was built with embedder {store.manifest.embedder}, "
                f"but the query embedder is {embedder.name}"
            )
        self.store = store
        self.embedder = embedder
        self.mmr_lambda = mmr_lambda
        self.candidates = candidates

    def search(self, query: str, k: int = 4) -> list[Hit]:
        vector = self.embedder.encode_query(query)
        if self.mmr_lambda >= 1.0:
            pairs = self.store.search(vector, k)
            return [Hit(chunk, score, rank) for rank, (chunk, score) in enumerate(pairs, start=1)]
        if len(self.store) == 0:
            return []
        scores, ids = self.store.index.search(vector.reshape(1, -1), max(self.candidates, k))
        pairs = [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i != -1]
        ranked = self._diversify([fid for fid, _ in pairs], [s for _, s in pairs], k)
        return self._hits(ranked, dict(pairs))

    def _diversify(self, fids: list[int], relevance: list[float], k: int) -> list[int]:
        """The top ``k`` of ``fids`` (best first), re-ranked by MMR when it is on."""
        if self.mmr_lambda >= 1.0 or len(fids) <= 1:
            return fids[:k]
        vectors = self.store.vectors_by_fid(fids)
        order = maximal_marginal_relevance(np.asarray(relevance), vectors, k, self.mmr_lambda)
        return [fids[i] for i in order]

    def _hits(self, fids: list[int], cosine: dict[int, float]) -> list[Hit]:
        chunks = self.store.chunks_by_fid(fids)
        return [
            Hit(chunks[fid], cosine[fid], rank)
            for rank, fid in enumerate((f for f in fids if f in chunks), start=1)
        ]


_MONTHS = (
    "january february march april may june july august september october november december"
).split()
_YEAR = re.compile(r"\b(19[5-9]\d|20\d\d)\b")
_MONTH = re.compile(r"\b(" + "|".join(m.capitalize() for m in _MONTHS) + r")\b")


def dates_named(question: str) -> list[tuple[str, str]]:
    """(year, month) pairs the question names: "the May 2022 Tokyo summit" -> [("2022",
    "May")]. A bare year is left out: it more often dates the subject ("chair ASEAN in
    2025", "fiscal year 2024") than the document (osa dev half, evals/README.md)."""
    found = []
    for year in _YEAR.finditer(question):
        month = _MONTH.search(question[max(0, year.start() - 12) : year.start()])
        if month:
            found.append((year.group(1), month.group(1)))
    return found


def matches_date(title: str, dates: list[tuple[str, str]]) -> bool:
    """True when a chunk's title (which carries its document's date) has one of ``dates``."""
    return any(year in title and month in title for year, month in dates)


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
        mmr_lambda: float = 1.0,
        date_weight: float = 0.0,
    ):
        super().__init__(store, embedder, mmr_lambda=mmr_lambda, candidates=candidates)
        self.dense_weight = dense_weight
        self.bm25_weight = bm25_weight
        self.rrf_k = rrf_k
        self.date_weight = date_weight

    def search(self, query: str, k: int = 4) -> list[Hit]:
        if self.store.bm25 is None:
            return super().search(query, k)
        n = max(self.candidates, k)
        vector = self.embedder.encode_query(query)
        scores, ids = self.store.index.search(vector.reshape(1, -1), n)
        dense = [int(i) for i in ids[0] if i != -1]
        cosine = {int(i): float(s) for i, s in zip(ids[0], scores[0], strict=True) if i != -1}
        sparse = [fid for fid, _ in self.store.bm25.search(query, n)]
        rankings, weights = [dense, sparse], [self.dense_weight, self.bm25_weight]
        dates = dates_named(query) if self.date_weight > 0 else []
        if dates:
            # A third ranking: the candidates from documents of the date the question
            # names (in fused order), so "the May 2022 statement" beats a look-alike.
            pool = [fid for fid, _ in reciprocal_rank_fusion(rankings, weights, self.rrf_k)]
            titles = {fid: c.title for fid, c in self.store.chunks_by_fid(pool).items()}
            rankings.append([fid for fid in pool if matches_date(titles.get(fid, ""), dates)])
            weights.append(self.date_weight)
        fused = reciprocal_rank_fusion(rankings, weights, self.rrf_k)
        top = self._diversify([fid for fid, _ in fused], [score for _, score in fused], k)
        missing = [fid for fid in top if fid not in cosine]
        if missing:
            vectors = self.store.vectors_by_fid(missing)
            cosine.update(zip(missing, (vectors @ vector).tolist(), strict=True))
        return self._hits(top, cosine)


def make_retriever(store: IndexStore, embedder: Embedder, settings: Settings) -> DenseRetriever:
    """The retriever named by ``settings.retrieval``."""
    if settings.retrieval == Retrieval.DENSE:
        return DenseRetriever(
            store, embedder, mmr_lambda=settings.mmr_lambda, candidates=settings.candidates
        )
    return HybridRetriever(
        store,
        embedder,
        dense_weight=settings.dense_weight,
        bm25_weight=settings.bm25_weight,
        candidates=settings.candidates,
        mmr_lambda=settings.mmr_lambda,
        date_weight=settings.date_weight,
    )
