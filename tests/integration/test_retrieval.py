"""Retrieval over the small fixture index: the obviously relevant passage ranks first."""

from __future__ import annotations

from pathlib import Path

import numpy as np
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


def test_mmr_prefers_a_different_item_over_a_near_duplicate():
    from rag.retrieval import maximal_marginal_relevance

    a = np.array([1.0, 0.0])
    near_a = np.array([0.995, 0.0999])
    b = np.array([0.6, 0.8])
    vectors = np.vstack([a, near_a, b]).astype(np.float32)
    relevance = np.array([0.9, 0.88, 0.7])
    assert maximal_marginal_relevance(relevance, vectors, 3, 1.0) == [0, 1, 2]
    assert maximal_marginal_relevance(relevance, vectors, 2, 0.5) == [0, 2]
    assert maximal_marginal_relevance(relevance, vectors, 5, 0.5) == [0, 2, 1]  # k > n
    assert maximal_marginal_relevance(np.array([]), vectors[:0], 3, 0.5) == []
    assert maximal_marginal_relevance(np.array([0.5, 0.5]), vectors[:2], 1, 0.7) == [0]


@pytest.mark.parametrize("mode", MODES)
def test_mmr_retrieval_keeps_the_best_passage_and_spreads_the_rest(
    fixture_store, embedder, fixture_settings, mode
):
    """With MMR on, the best passage stays first, scores stay cosines, and the k hits
    come from at least as many documents as without it."""
    query = QUERIES[0][0]
    plain = make(mode, fixture_store, embedder, fixture_settings).search(query, k=4)
    settings = fixture_settings.replace(retrieval=mode, mmr_lambda=0.3)
    diverse = retrieval.make_retriever(fixture_store, embedder, settings).search(query, k=4)
    assert diverse[0].chunk.chunk_id == plain[0].chunk.chunk_id
    assert [h.rank for h in diverse] == [1, 2, 3, 4]
    assert len({h.chunk.chunk_id for h in diverse}) == 4
    by_id = {h.chunk.chunk_id: h.score for h in plain}
    for h in diverse:  # the hit score is the cosine, whatever the order
        assert h.score == pytest.approx(by_id.get(h.chunk.chunk_id, h.score), abs=1e-5)
        assert -1.0 <= h.score <= 1.0 + 1e-6
    sources = lambda hits: len({h.chunk.source for h in hits})  # noqa: E731
    assert sources(diverse) >= sources(plain)


def test_mmr_lambda_is_validated(fixture_settings):
    with pytest.raises(ValueError, match="mmr_lambda"):
        fixture_settings.replace(mmr_lambda=1.5)


@pytest.mark.parametrize(
    ("question", "dates"),
    [
        ("What did the May 2022 Tokyo statement say?", [("2022", "May")]),
        ("Who will chair ASEAN in 2025?", []),  # a bare year dates the subject, not the text
        ("Compare the September 2021 and May 2022 Quad statements", [("2021", "September"),
                                                                     ("2022", "May")]),
        ("What was decided in fiscal year 2024?", []),
    ],
)  # fmt: skip
def test_dates_named(question, dates):
    assert retrieval.dates_named(question) == dates


def test_matches_date_needs_month_and_year_in_the_title():
    title = "Quad Leaders' Joint Statement (24 May 2022)"
    assert retrieval.matches_date(title, [("2022", "May")])
    assert not retrieval.matches_date(title, [("2022", "September")])
    assert not retrieval.matches_date(title, [("2023", "May")])


def test_a_named_month_and_year_ranks_that_documents_passage_first(tmp_path, embedder):
    from rag.config import Settings
    from rag.ingest import ingest
    from rag.store import IndexStore

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    docs = {
        "2022-05-24": "Where did the Quad leaders meet? The Quad leaders met in Tokyo for "
        "their joint statement, and the Quad leaders' joint statement says where they met.",
        "2023-05-20": "The leaders gathered in Hiroshima.",
    }
    for date, text in docs.items():
        (corpus / f"{date}-quad.md").write_text(
            f"---\ntitle: Statement\ndate: {date}\n---\n\n{text}\n", encoding="utf-8"
        )
    settings = Settings(index_dir=tmp_path / "index", top_k=2)
    ingest([corpus], settings, embedder=embedder, progress=False)
    store = IndexStore.load(settings.index_dir)
    question = "Where did the Quad leaders meet, according to their May 2023 joint statement?"
    off = retrieval.make_retriever(store, embedder, settings.replace(date_weight=0.0))
    on = retrieval.make_retriever(store, embedder, settings.replace(date_weight=3.0))
    assert "Tokyo" in off.search(question, 2)[0].chunk.text  # the wordier look-alike wins
    assert "Hiroshima" in on.search(question, 2)[0].chunk.text  # the named date wins
