"""Tight context selection: the question's best sentences within a budget."""

from __future__ import annotations

import pytest

from rag.context import GAP, question_overlap, select_context
from rag.types import Chunk, Hit

OSA = (
    "Japan created Official Security Assistance in 2023. The first recipients are Malaysia, "
    "the Philippines, Bangladesh, and Fiji. Each receives a quarter of the 2 billion yen budget. "
    "The announcement followed a long debate in the Diet about arms exports."
)
BREAD = "Sourdough rises with wild yeast. Bakers feed the starter every day."
QUAD = "The Quad is a partnership of Australia, India, Japan and the United States."


def _hits(*texts: str) -> list[Hit]:
    return [
        Hit(Chunk(f"c{i}", "d", f"s{i}.txt", f"Doc {i}", t, 0, len(t)), 0.9 - i / 10, i + 1)
        for i, t in enumerate(texts)
    ]


def test_keeps_relevant_sentences_in_document_order(embedder):
    hits = _hits(OSA, BREAD, QUAD)
    question = "Which countries are the first recipients and how much does each receive?"
    passages = select_context(question, hits, embedder, budget_chars=200)
    assert [p.hit.chunk.chunk_id for p in passages] == ["c0"]
    excerpt = passages[0].excerpt
    assert "Malaysia" in excerpt and "quarter" in excerpt
    assert excerpt.index("Malaysia") < excerpt.index("quarter")
    assert "Sourdough" not in excerpt and "Diet" not in excerpt
    assert excerpt.startswith(GAP.strip()) and excerpt.endswith(GAP.strip())
    for start, end in passages[0].spans:  # spans index the full chunk text
        assert OSA[start:end] in excerpt
    assert passages[0].as_hit().chunk.text == excerpt
    assert passages[0].hit.chunk.text == OSA


def test_budget_and_passage_limit(embedder):
    hits = _hits(OSA, QUAD, BREAD)
    question = "Japan partnership recipients yeast"
    tight = select_context(question, hits, embedder, budget_chars=80)
    assert sum(len(p.excerpt) for p in tight) < 80 + 2 * len(GAP) + 100  # best one always fits
    one = select_context(question, hits, embedder, budget_chars=2000, max_passages=1)
    assert len(one) == 1


def test_zero_budget_keeps_whole_passages(embedder):
    hits = _hits(OSA, BREAD, QUAD)
    passages = select_context("anything", hits, embedder, budget_chars=0, max_passages=2)
    assert [p.excerpt for p in passages] == [OSA, BREAD]


def test_duplicate_sentences_from_overlapping_chunks_appear_once(embedder):
    hits = _hits(OSA, OSA.split(". ", 1)[1])
    passages = select_context("Which countries receive assistance?", hits, embedder, 1000)
    joined = " ".join(p.excerpt for p in passages)
    assert joined.count("Malaysia") == 1


@pytest.mark.parametrize(("text", "share"), [("Japan and Fiji", 1.0), ("bread", 0.0)])
def test_question_overlap(text, share):
    assert question_overlap({"japan", "fiji"}, text) == share


def test_no_hits_no_context(embedder):
    assert select_context("Who?", [], embedder, 500) == []


def test_score_drop_and_semantic_weight_shape_the_selection(embedder):
    hits = _hits(OSA, QUAD)
    question = "Which countries are the first recipients?"
    best_only = select_context(question, hits, embedder, 2000, score_drop=0.0)
    assert [len(p.spans) for p in best_only] == [1]  # nothing scores as high as the best
    wide = select_context(question, hits, embedder, 2000, score_drop=1.0)
    assert sum(len(p.spans) for p in wide) == 5  # every sentence is within 1.0 of the best
    lexical = select_context(question, hits, embedder, 2000, semantic_weight=0.0, score_drop=0.0)
    assert "Malaysia" in lexical[0].excerpt


def test_the_pipeline_selects_with_the_settings_tunables(
    fixture_settings, embedder, fake_generator, monkeypatch
):
    import rag.context
    from rag.pipeline import RagPipeline

    seen = {}
    real = rag.context.select_context

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(rag.context, "select_context", spy)
    settings = fixture_settings.replace(context_semantic_weight=0.2, context_score_drop=0.1)
    pipe = RagPipeline(settings, embedder=embedder, generator=fake_generator("No."))
    pipe.ask("Which countries are the first recipients of Japan's OSA?")
    assert seen == {"semantic_weight": 0.2, "score_drop": 0.1}
