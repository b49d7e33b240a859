"""Unit tier: no model files. A deterministic hashing embedder stands in for the real
one, `FakeGenerator` (tests/conftest.py) for the model; anything that would load the
real embedder or a GGUF fails the test instead (`forbid_model_files`)."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import numpy as np
import pytest
from testkit import open_index, write_corpus

from rag.config import Settings

HASHING_EMBEDDER = "hashing-test"


class ModelFilesUsed(AssertionError):
    """A unit test tried to load the real embedder or a GGUF model."""


class HashingEmbedder:
    """The `Embedder` interface over hashed bags of words (scikit-learn's
    `HashingVectorizer`): same text, same vector, on any machine, with no model file.

    English stop words are dropped, so texts share a dimension only when they share a
    content word; vectors are L2-normalized float32 like the real embedder's.
    """

    def __init__(self, dim: int = 512, name: str = HASHING_EMBEDDER):
        from sklearn.feature_extraction.text import HashingVectorizer

        self.name = name
        self.dim = dim
        self.batch_size = 32
        self.encoded: list[str] = []  # every text encoded, in order
        self._vectorizer = HashingVectorizer(
            n_features=dim, alternate_sign=False, norm="l2", stop_words="english"
        )

    def warm_up(self) -> None:
        pass

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        self.encoded.extend(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._vectorizer.transform(texts).toarray().astype(np.float32)

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode([text])[0]

    def encode_cached(self, texts: list[str]) -> np.ndarray:
        return self.encode(texts)


def _refuse(what: str):
    def refuse(*args, **kwargs):
        raise ModelFilesUsed(f"a unit test loaded {what}; use HashingEmbedder / FakeGenerator")

    return refuse


@pytest.fixture(autouse=True)
def forbid_model_files(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading the real embedder or any GGUF raises `ModelFilesUsed`."""
    import rag.embeddings
    import rag.generation

    monkeypatch.setattr(rag.embeddings.Embedder, "warm_up", _refuse("the real embedder"))
    monkeypatch.setattr(rag.generation.LlamaCppGenerator, "warm_up", _refuse("a GGUF model"))
    # The libraries themselves too, when something imported them.
    if "llama_cpp" in sys.modules:
        monkeypatch.setattr(sys.modules["llama_cpp"].Llama, "__init__", _refuse("a GGUF model"))
    if "sentence_transformers" in sys.modules:
        st = sys.modules["sentence_transformers"].SentenceTransformer
        monkeypatch.setattr(st, "__init__", _refuse("a sentence-transformers model"))


# The session fixtures of tests/conftest.py that load model files fail here.
@pytest.fixture(scope="session")
def embedder():
    raise ModelFilesUsed("the `embedder` fixture loads the real embedder: use `hashing_embedder`")


@pytest.fixture(scope="session")
def tiny_model_path():
    raise ModelFilesUsed("`tiny_model_path` needs the tiny GGUF model: not in the unit tier")


@pytest.fixture(scope="session")
def tiny_generator():
    raise ModelFilesUsed("`tiny_generator` loads a GGUF model: use `fake_generator`")


@pytest.fixture(scope="session")
def hashing_embedder() -> HashingEmbedder:
    return HashingEmbedder()


@pytest.fixture(scope="session")
def hashed_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings whose index_dir holds the fixture corpus indexed with `HashingEmbedder`."""
    from rag.ingest import ingest

    corpus = write_corpus(tmp_path_factory.mktemp("unit-corpus"))
    settings = Settings(
        index_dir=tmp_path_factory.mktemp("unit-index") / "index",
        embedder=HASHING_EMBEDDER,
        model="smollm2-135m",  # never loaded: tests pass a FakeGenerator
        model_cache=tmp_path_factory.mktemp("unit-model-cache"),
        calibration="off",
    )
    ingest([corpus], settings, embedder=HashingEmbedder(), progress=False)
    return settings


@pytest.fixture
def hashed_store(hashed_settings: Settings) -> Iterator:
    yield from open_index(hashed_settings)
