"""The unit tier itself: no model file can load here, and the hashing embedder with the
scripted generator runs the whole pipeline (ingest, retrieval, evidence, checks)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from testkit import FIXTURE_DOCS, SEED_PHRASE, write_corpus

from rag.embeddings import Embedder
from rag.generation import LlamaCppGenerator
from rag.ingest import ingest
from rag.pipeline import RagPipeline

from .conftest import HashingEmbedder, ModelFilesUsed

# Worded like the passage: a bag of words matches words, not meanings.
QUESTION = "Which countries are the first recipients of OSA?"
RECIPIENTS = "The first recipients of OSA are Malaysia, the Philippines, Bangladesh, and Fiji."


def test_real_embedder_and_gguf_models_cannot_load(tmp_path: Path):
    with pytest.raises(ModelFilesUsed):
        Embedder().encode(["anything"])
    with pytest.raises(ModelFilesUsed):
        LlamaCppGenerator(tmp_path / "model.gguf").warm_up()


@pytest.mark.parametrize("fixture", ["embedder", "tiny_model_path", "tiny_generator"])
def test_model_fixtures_fail_in_the_unit_tier(request: pytest.FixtureRequest, fixture: str):
    with pytest.raises(ModelFilesUsed):
        request.getfixturevalue(fixture)


def test_hashing_embedder_is_deterministic_and_normalized():
    texts = ["Japan gives radars to Malaysia.", "Bakers feed the sourdough starter."]
    a, b = HashingEmbedder().encode(texts), HashingEmbedder().encode(texts)
    assert a.dtype == np.float32 and a.shape == (2, 512)
    assert np.array_equal(a, b)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0)
    query = HashingEmbedder().encode_query("radars for Malaysia")
    assert query @ a[0] > 0.5 and query @ a[1] == 0.0  # shared words, no shared words


def test_answer_cites_the_passage_that_holds_it(
    hashed_settings, hashed_store, hashing_embedder, fake_generator
):
    gen = fake_generator(json.dumps({"evidence": ["1.2"], "answer": RECIPIENTS + " [1]"}))
    pipe = RagPipeline(
        hashed_settings, embedder=hashing_embedder, generator=gen, store=hashed_store
    )
    answer = pipe.ask(QUESTION)
    assert not answer.refused, answer.refusal_reason
    assert len(gen.calls) == 1 and "1.2 " + RECIPIENTS in gen.calls[0]["messages"][-1]["content"]
    assert [Path(c.source).name for c in answer.citations] == ["osa.txt"]
    assert SEED_PHRASE in answer.citations[0].text and answer.answer.endswith("[1].")


def test_off_topic_question_is_refused_before_the_model(
    hashed_settings, hashed_store, hashing_embedder, fake_generator
):
    gen = fake_generator(RECIPIENTS + " [1]")
    pipe = RagPipeline(
        hashed_settings, embedder=hashing_embedder, generator=gen, store=hashed_store
    )
    answer = pipe.ask("What is the melting point of tungsten in kelvin?")
    assert answer.refused and "threshold" in answer.refusal_reason
    assert gen.calls == [] and answer.citations == []


def test_ingest_with_the_hashing_embedder_is_incremental(hashed_settings, tmp_path: Path):
    settings = hashed_settings.replace(index_dir=tmp_path / "index")
    corpus = write_corpus(tmp_path / "corpus")
    first = ingest([corpus], settings, embedder=HashingEmbedder(), progress=False)
    (corpus / "bread.md").write_text("# Rye\n\nRye bread is dense and sour.", encoding="utf-8")
    again = ingest([corpus], settings, embedder=HashingEmbedder(), progress=False)
    assert len(first.added) == len(FIXTURE_DOCS) and first.total_chunks > 0
    assert [Path(s).name for s in again.updated] == ["bread.md"]
    assert len(again.unchanged) == len(FIXTURE_DOCS) - 1
