"""Shared fixtures: ../shared, a small fixture corpus and index, the embedder and the
tiny generator model (each loaded once per session), and factories of scripted fake
generators, of pipelines over the fixture index and of UI engines for tests that need
no LLM. The data and classes behind them are
in testkit.py."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from testkit import (  # noqa: F401 - re-exported: older tests import them from conftest
    CI,
    E2E_COMPANIONS,
    FIXTURE_DOCS,
    GOOD_REPLY,
    REPO,
    SEED_NAME,
    SEED_PHRASE,
    SHARED,
    FakeGenerator,
    evidence_reply,
    normalize_ws,
    open_index,
    write_corpus,
)

from rag.config import Settings


def pytest_configure(config: pytest.Config) -> None:
    """Under CI=true the default run (`-m 'not slow'`) also selects the `ci_model` set:
    answer quality with the default model, a few minutes with one pipeline load."""
    if CI and config.option.markexpr == "not slow":
        config.option.markexpr = "not slow or ci_model"


@pytest.fixture(scope="session")
def ocr_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ocr-cache")


@pytest.fixture(autouse=True)
def _no_rag_env(monkeypatch: pytest.MonkeyPatch, ocr_cache: Path) -> None:
    """Tests must not depend on the developer's RAG_* settings (the model cache may stay);
    OCR results are cached in a folder of this test session, not in the user's cache."""
    for key in list(os.environ):
        if key.startswith("RAG_") and key != "RAG_MODEL_CACHE":
            monkeypatch.delenv(key)
    monkeypatch.setenv("RAG_OCR_CACHE", str(ocr_cache))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not (SHARED / "corpus").is_dir():
        pytest.skip(f"shared data not found at {SHARED} (expected ../shared beside the repo)")
    return SHARED


@pytest.fixture(scope="session")
def osa_corpus(shared_dir: Path) -> Path:
    path = shared_dir / "corpus" / "osa"
    if not (path / SEED_NAME).is_file():
        pytest.skip(f"seed article missing: {path / SEED_NAME}")
    return path


@pytest.fixture(scope="session")
def embedder():
    """The real all-MiniLM-L6-v2 embedder, loaded once."""
    from rag.embeddings import Embedder, EmbedderError

    emb = Embedder()
    try:
        emb.warm_up()
    except EmbedderError as exc:  # pragma: no cover - depends on the environment
        pytest.skip(str(exc))
    return emb


@pytest.fixture(scope="session")
def fixture_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("fixture-corpus"))


@pytest.fixture(scope="session")
def fixture_settings(tmp_path_factory: pytest.TempPathFactory, fixture_corpus: Path, embedder):
    """Settings whose index_dir holds an index of the fixture corpus (built once)."""
    from rag.ingest import ingest

    settings = Settings(
        index_dir=tmp_path_factory.mktemp("fixture-index") / "index",
        model="smollm2-135m",
        model_cache=tmp_path_factory.mktemp("unused-model-cache"),
        n_threads=2,
        calibration="off",  # fitted on the real model's signals, not a fake's
    )
    report = ingest([fixture_corpus], settings, embedder=embedder, progress=False)
    assert len(report.added) == len(FIXTURE_DOCS), report
    return settings


@pytest.fixture
def fixture_store(fixture_settings: Settings) -> Iterator:
    yield from open_index(fixture_settings)


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private model cache, so verification stamps never touch the user's cache."""
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture(scope="session")
def tiny_model_path(model_cache: Path) -> Path:
    from rag.models import ModelError, ensure_model

    try:
        return ensure_model("smollm2-135m", model_cache)
    except ModelError as exc:
        pytest.skip(f"tiny test model unavailable: {exc}")


@pytest.fixture(scope="session")
def tiny_generator(tiny_model_path: Path):
    """SmolLM2-135M through llama.cpp, loaded once (greedy decoding is deterministic)."""
    from rag.generation import LlamaCppGenerator

    generator = LlamaCppGenerator(tiny_model_path, name="smollm2-135m", n_ctx=2048, n_threads=2)
    generator.warm_up()
    return generator


@pytest.fixture
def fake_generator():
    """Factory: ``fake_generator("reply text")`` -> a FakeGenerator."""
    return FakeGenerator


@pytest.fixture
def make_pipeline(fixture_settings, fixture_store, embedder, fake_generator):
    """Factory: ``make_pipeline(reply, generator=None, judge=0.9, **settings)`` ->
    ``(pipeline, generator)`` over the fixture index, answering with ``generator`` or a
    fake model that replies ``reply`` (and judges with P(yes) = ``judge``)."""
    from rag.pipeline import RagPipeline

    def make(reply: str | list[str] = GOOD_REPLY, generator=None, judge: float = 0.9, **settings):
        generator = generator or fake_generator(reply, judge=judge)
        pipe = RagPipeline(
            fixture_settings.replace(**settings),
            embedder=embedder,
            generator=generator,
            store=fixture_store,
        )
        return pipe, generator

    return make


@pytest.fixture
def make_engine(tmp_path: Path, embedder, fake_generator):
    """Factory: ``make_engine(settings, reply)`` -> a UI Engine whose model is a fake
    (``engine.fake``), with uploads and feedback under ``tmp_path``."""
    from rag.pipeline import RagPipeline
    from ui.engine import Engine

    def make(settings: Settings, reply: str = "The documents do not say."):
        generator = fake_generator(reply, name=settings.model)
        pipe = RagPipeline(settings, embedder=embedder, generator=generator)
        engine = Engine(
            settings,
            uploads_dir=tmp_path / "uploads",
            feedback_file=tmp_path / "feedback.jsonl",
            pipeline=pipe,
        )
        engine.fake = generator
        return engine

    return make
