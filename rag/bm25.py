"""Lexical BM25 index (bm25s) kept beside the FAISS vectors.

Saved as bm25s's own numpy/JSON files (no pickle) plus ``ids.npy`` mapping
BM25 document positions to the FAISS ids of the chunks; loaded memory-mapped.
bm25s has no in-place update, so each ingest rebuilds it from the docstore
(about a second per 10k chunks).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

BM25_DIR = "bm25"
IDS_FILE = "ids.npy"

logging.getLogger("bm25s").setLevel(logging.ERROR)


def _stemmer():
    try:
        import Stemmer

        return Stemmer.Stemmer("english")
    except ImportError:  # stemming is a bonus, not a requirement
        return None


class Bm25Index:
    """Sparse keyword search over chunk texts."""

    def __init__(self, model, fids: np.ndarray):
        self.model = model
        self.fids = fids
        self.stemmer = _stemmer()

    @classmethod
    def build(cls, texts: list[str], fids: list[int]) -> Bm25Index:
        import bm25s

        stemmer = _stemmer()
        tokens = bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False)
        model = bm25s.BM25()
        model.index(tokens, show_progress=False)
        return cls(model, np.asarray(fids, dtype=np.int64))

    def save(self, directory: Path) -> None:
        target = Path(directory) / BM25_DIR
        target.mkdir(parents=True, exist_ok=True)
        self.model.save(str(target), show_progress=False)
        np.save(target / IDS_FILE, self.fids, allow_pickle=False)

    @classmethod
    def load(cls, directory: Path) -> Bm25Index | None:
        import bm25s

        target = Path(directory) / BM25_DIR
        if not (target / IDS_FILE).is_file():
            return None
        model = bm25s.BM25.load(str(target), mmap=True, show_progress=False)
        return cls(model, np.load(target / IDS_FILE, allow_pickle=False))

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """Top-``k`` (faiss id, BM25 score) pairs; empty when no query term matches."""
        import bm25s

        if len(self.fids) == 0:
            return []
        tokens = bm25s.tokenize(
            [query], stopwords="en", stemmer=self.stemmer, show_progress=False, return_ids=False
        )
        if not tokens or not tokens[0]:
            return []
        # Score every document and select the top k of those matching a query term
        # ourselves: bm25s's retrieve() partitions from the wrong end
        # (np.argpartition(scores, -k)), which took ~12 ms at 100k chunks; this
        # takes ~0.3 ms (benchmarks/README.md, retrieval).
        scores = self.model.get_scores(tokens[0])
        matched = np.flatnonzero(scores > 0)
        if len(matched) > k:
            matched = matched[np.argpartition(-scores[matched], k - 1)[:k]]
        best = matched[np.argsort(-scores[matched], kind="stable")]
        return [(int(self.fids[d]), float(scores[d])) for d in best]
