"""Retrieval over the small fixture index: the obviously relevant passage ranks first."""

from __future__ import annotations

from pathlib import Path

import pytest

import rag.retrieval as retrieval
from rag.retrieval import DenseRetriever

QUERIES = [
    ("Which countries are the first recipients of Japan's Official Security Assistance?",
     "osa.txt"),
    ("Why did the yen weaken against the dollar?", "yen.md"),
    ("What causes coral reefs to bleach?", "coral.html"),
    ("How many vaccine doses did the Quad pledge?", "quad.txt"),
    ("How do you feed a sourdough starter?", "bread.md"),
]  # fmt: skip

MODES = ["dense"] + (["hybrid"] if hasattr(retrieval, "make_retriever") else [])


def make(mode: str, store, embedder, settings):
    if mode == "dense":
        return DenseRetriever(store, embedder)
    return retrieval.make_retriever(store, embedder, settings.replace(retrieval=mode))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("query", "expected"), QUERIES)
def test_relevant_passage_ranks_first(fixture_store, embedder, fixture_settings, mode, query,
                                      expected):  # fmt: skip
    hits = make(mode, fixture_store, embedder, fixture_settings).search(query, k=3)
    assert Path(hits[0].chunk.source).name == expected
    assert [h.rank for h in hits] == [1, 2, 3]
    assert hits[0].score > 0.3


def test_scores_are_cosines_in_descending_order(fixture_store, embedder):
    hits = DenseRetriever(fixture_store, embedder).search(QUERIES[0][0], k=5)
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert all(-1.0 <= s <= 1.0 + 1e-6 for s in scores)
    assert len({h.chunk.chunk_id for h in hits}) == len(hits)


def test_k_larger_than_index(fixture_store, embedder):
    hits = DenseRetriever(fixture_store, embedder).search("anything", k=50)
    assert len(hits) == len(fixture_store)


def test_embedder_mismatch_is_rejected(fixture_store, embedder, monkeypatch):
    monkeypatch.setattr(fixture_store.manifest, "embedder", "another-model")
    with pytest.raises(ValueError, match="another-model"):
        DenseRetriever(fixture_store, embedder)


def test_offtopic_question_scores_low(fixture_store, embedder):
    hits = DenseRetriever(fixture_store, embedder).search(
        "What is the melting point of tungsten in kelvin?", k=1
    )
    assert hits[0].score < 0.30  # below the default refusal threshold
