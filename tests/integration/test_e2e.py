"""End to end: real index of the seed article (+3 small statements), real models.

The tiny model (smollm2-135m) writes poor prose, so its test asserts what is
deterministic: retrieval ranks the seed passage first and, if the answer is
not refused, every citation points into the retrieved passages. The default-model
tests (qwen2.5-1.5b, one pipeline load) check the answers themselves: marked `slow`
and `ci_model`, so they run with `-m slow` and in every CI=true run (tests/conftest.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from testkit import CI, E2E_COMPANIONS, SEED_NAME, SEED_PHRASE, normalize_ws

from rag.config import Settings, default_model_cache
from rag.ingest import ingest
from rag.pipeline import RagPipeline

QUESTION = "Which countries are the first recipients of Japan's OSA?"
OFF_TOPIC = "What is the GDP of Fiji in 2023?"
# Near miss: the seed passage is retrieved, but it names Japan's programme, not Korea's.
NEAR_MISS = "Which countries are the first recipients of South Korea's security assistance program?"
# Near miss inside one sentence: the seed sentence gives the $4 million radar to Manila.
RADAR_NEAR_MISS = "How much was the coastal radar system that Japan gave Malaysia worth?"


def default_model_check(test):
    """In the default-model answer-quality set: `slow`, and selected under CI=true."""
    return pytest.mark.ci_model(pytest.mark.slow(test))


@pytest.fixture(scope="module")
def e2e_settings(tmp_path_factory, osa_corpus: Path, embedder) -> Settings:
    files = [osa_corpus / SEED_NAME, *(osa_corpus / name for name in E2E_COMPANIONS)]
    missing = [f.name for f in files if not f.is_file()]
    if missing:  # CI has ../shared beside the clone: there it is a failure
        (pytest.fail if CI else pytest.skip)(f"corpus files missing: {missing}")
    settings = Settings(index_dir=tmp_path_factory.mktemp("e2e") / "index", n_threads=2, n_ctx=4096)
    report = ingest(files, settings, embedder=embedder, progress=False)
    assert len(report.added) == len(files) and not report.skipped
    return settings


def is_seed_passage(citation) -> bool:
    return Path(citation.source).name == SEED_NAME and SEED_PHRASE in normalize_ws(citation.text)


def check_citations_point_into_retrieved(answer) -> None:
    for c in answer.citations:
        assert 1 <= c.n <= len(answer.retrieved)
        assert c.chunk_id == answer.retrieved[c.n - 1].chunk_id
    for s in answer.sentences:
        assert all(1 <= n <= len(answer.retrieved) for n in s.citations)


def test_tiny_model_end_to_end(e2e_settings, embedder, tiny_generator):
    settings = e2e_settings.replace(model="smollm2-135m", max_tokens=96)
    pipe = RagPipeline(settings, embedder=embedder, generator=tiny_generator)
    events = list(pipe.stream(QUESTION))
    answer = events[-1].answer
    assert events[-1].kind == "answer"
    kinds = [e.kind for e in events[:-1]]
    # the evidence (if the model named any) comes before every answer token
    assert set(kinds) <= {"evidence", "token"} and kinds.count("evidence") <= 1
    assert "evidence" not in kinds or kinds.index("evidence") == 0

    # Deterministic: the seed passage with the recipients is retrieved first.
    assert is_seed_passage(answer.retrieved[0]), answer.retrieved[0]
    assert answer.retrieved[0].title.startswith("Japan's Official Security Assistance (OSA)")
    assert answer.retrieved[0].score >= settings.refusal_threshold
    assert answer.raw_answer, "the tiny model produced no text"
    assert answer.model == "smollm2-135m"
    if answer.refused:
        assert answer.refusal_reason and answer.citations == []
    else:
        assert answer.citations
        check_citations_point_into_retrieved(answer)
        assert any(s.supported and s.citations for s in answer.sentences)


@pytest.fixture(scope="module")
def default_pipeline(e2e_settings, embedder) -> RagPipeline:
    from rag.models import DEFAULT_MODEL, ModelError, ensure_model

    cache = default_model_cache()
    try:
        ensure_model(DEFAULT_MODEL, cache)
    except ModelError as exc:  # CI installs it (scripts/test.sh): there it is a failure
        (pytest.fail if CI else pytest.skip)(f"default model not installed: {exc}")
    pipe = RagPipeline(
        e2e_settings.replace(model=DEFAULT_MODEL, model_cache=cache), embedder=embedder
    )
    pipe.warm_up()
    return pipe


@default_model_check
def test_default_model_answers_with_citation(default_pipeline):
    answer = default_pipeline.ask(QUESTION)
    assert not answer.refused, (answer.refusal_reason, answer.raw_answer)
    for country in ("Malaysia", "Philippines", "Bangladesh", "Fiji"):
        assert country in answer.answer, answer.answer
    check_citations_point_into_retrieved(answer)
    # The seed sentence is named as evidence, and a supported sentence cites its passage.
    named = [s.text for s in answer.evidence_sentences()]
    assert any(SEED_PHRASE in normalize_ws(text) for text in named), named
    seed = {c.n for c in answer.citations if is_seed_passage(c)}
    assert any(s.supported and seed & set(s.citations) for s in answer.sentences), answer.sentences


@default_model_check
def test_default_model_refuses_off_topic_question(default_pipeline):
    answer = default_pipeline.ask(OFF_TOPIC)
    assert answer.refused, answer.answer
    assert answer.citations == []


@default_model_check
def test_default_model_refuses_near_miss_question(default_pipeline):
    answer = default_pipeline.ask(NEAR_MISS)
    assert Path(answer.retrieved[0].source).name == SEED_NAME  # near: the seed article first
    assert answer.refused, (answer.answer, answer.raw_answer)
    assert answer.citations == []


@default_model_check
def test_default_model_refuses_a_fact_given_to_another_country(default_pipeline):
    """The model drafts "$4 million" from the seed sentence; the claim check sees that
    the radar's clause is about Manila, not Malaysia (rag.checks)."""
    answer = default_pipeline.ask(RADAR_NEAR_MISS)
    assert answer.refused, (answer.answer, answer.raw_answer)
    assert answer.citations == []
    assert "Manila" in answer.refusal_reason, answer.refusal_reason
