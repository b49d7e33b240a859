"""Retrievers: query text -> ranked `Hit`s."""

from __future__ import annotations

from rag.embeddings import Embedder
from rag.store import IndexStore
from rag.types import Hit


class DenseRetriever:
    """Top-k passages by cosine similarity of MiniLM embeddings (FAISS inner product)."""

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
