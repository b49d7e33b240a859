"""LangChain standard conformance suites for our adapters (retriever, embeddings, chat model
with the tiny model), plus checks of our own."""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage
from langchain_tests.integration_tests import (
    ChatModelIntegrationTests,
    EmbeddingsIntegrationTests,
    RetrieversIntegrationTests,
)
from langchain_tests.unit_tests import ChatModelUnitTests, EmbeddingsUnitTests

from rag.config import Settings
from rag.ingest import ingest
from rag.langchain import RagChatModel, RagEmbeddings, RagRetriever

FACTS = {
    "osa.txt": "Japan's Official Security Assistance gives defense equipment to partners. "
    "The first recipients are Malaysia, the Philippines, Bangladesh and Fiji.",
    "quad.txt": "The Quad brings together Australia, India, Japan and the United States. "
    "Its leaders meet every year to discuss the Indo-Pacific.",
    "asean.txt": "ASEAN and the United States launched a Comprehensive Strategic Partnership "
    "in November 2022 in Phnom Penh.",
    "fiji.txt": "Fiji joined the Indo-Pacific Economic Framework for Prosperity in May 2022.",
}


@pytest.fixture(scope="module")
def lc_index(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("lc")
    docs = root / "docs"
    docs.mkdir()
    for name, text in FACTS.items():
        (docs / name).write_text(text)
    index_dir = root / "index"
    ingest([docs], Settings(index_dir=index_dir), progress=False)
    return index_dir


class TestRagRetrieverStandard(RetrieversIntegrationTests):
    @pytest.fixture(autouse=True)
    def _index(self, lc_index):
        type(self)._index_dir = str(lc_index)

    @property
    def retriever_constructor(self) -> type[RagRetriever]:
        return RagRetriever

    @property
    def retriever_constructor_params(self) -> dict:
        return {"index_dir": self._index_dir}

    @property
    def retriever_query_example(self) -> str:
        return "Which countries receive Japan's security assistance?"


class RagEmbeddingsSuite:
    @property
    def embeddings_class(self) -> type[RagEmbeddings]:
        return RagEmbeddings

    @property
    def embedding_model_params(self) -> dict:
        return {"model": "all-MiniLM-L6-v2"}


class TestRagEmbeddingsStandard(RagEmbeddingsSuite, EmbeddingsUnitTests):
    pass


class TestRagEmbeddingsIntegration(RagEmbeddingsSuite, EmbeddingsIntegrationTests):
    pass


class RagChatModelSuite:
    """What the chat-model suites need to know about `RagChatModel` (tiny model). The
    adapter streams plain text from one local GGUF model: no tool calls, structured
    output, JSON mode or non-text inputs (tests/README.md lists the tests this skips)."""

    @property
    def chat_model_class(self) -> type[RagChatModel]:
        return RagChatModel

    @property
    def chat_model_params(self) -> dict:
        return {"model": "smollm2-135m"}

    @property
    def has_tool_calling(self) -> bool:
        return False

    @property
    def has_structured_output(self) -> bool:
        return False

    @property
    def supports_json_mode(self) -> bool:
        return False

    @property
    def returns_usage_metadata(self) -> bool:
        return True  # token counts from llama.cpp, in one closing chunk


class TestRagChatModelUnit(RagChatModelSuite, ChatModelUnitTests):
    pass


class TestRagChatModelIntegration(RagChatModelSuite, ChatModelIntegrationTests):
    @property
    def standard_chat_model_params(self) -> dict:
        return {**super().standard_chat_model_params, "max_tokens": 24}  # short replies


def test_retriever_metadata_and_ranking(lc_index):
    docs = RagRetriever(index_dir=str(lc_index), k=2).invoke("first recipients of OSA")
    assert docs[0].metadata["source"].endswith("osa.txt")
    assert {"chunk_id", "title", "page", "start", "end", "score"} <= set(docs[0].metadata)
    assert [d.metadata["rank"] for d in docs] == [1, 2]
    dense = RagRetriever(index_dir=str(lc_index), k=2, retrieval="dense").invoke(
        "first recipients of OSA"
    )
    assert dense[0].metadata["score"] >= dense[1].metadata["score"]  # cosine order


def test_retriever_ranks_like_the_app(lc_index):
    """Hybrid by default, with the app's settings: the same chunks as the pipeline."""
    from rag.pipeline import RagPipeline

    query = "How many vaccine doses did the Quad pledge?"
    docs = RagRetriever(index_dir=str(lc_index), k=3).invoke(query)
    hits = RagPipeline(Settings.from_env(index_dir=lc_index)).retrieve(query, 3)
    assert [d.metadata["chunk_id"] for d in docs] == [h.chunk.chunk_id for h in hits]


def test_embeddings_are_normalized_384d():
    vector = RagEmbeddings().embed_query("Japan")
    assert len(vector) == 384
    assert abs(sum(v * v for v in vector) - 1.0) < 1e-3


def test_chat_model_streams_with_tiny_model():
    chat = RagChatModel(model="smollm2-135m", max_tokens=8)
    chunks = list(chat.stream([HumanMessage(content="Say hello.")]))
    assert chunks and "".join(c.text for c in chunks).strip()
    assert chat.invoke([HumanMessage(content="Say hello.")]).text.strip()
