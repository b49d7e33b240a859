"""LangChain adapters: retriever, embeddings and chat model over our own stack.

Thin wrappers so the pieces plug into LangChain chains. They read our FAISS
index directly (native FAISS file + SQLite), never a pickled LangChain store.

Example::

    from rag.langchain import RagRetriever
    retriever = RagRetriever(index_dir="index", k=4)  # hybrid (dense + BM25), as the app
    for doc in retriever.invoke("Which countries receive Japan's OSA?"):
        print(doc.metadata["title"], doc.metadata["score"])
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document as LCDocument
from langchain_core.embeddings import Embeddings
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, PrivateAttr

from rag.config import Settings
from rag.embeddings import Embedder
from rag.retrieval import DenseRetriever, make_retriever
from rag.store import IndexStore


@lru_cache(maxsize=4)
def _shared_embedder(name: str) -> Embedder:
    embedder = Embedder(name)
    embedder.warm_up()
    return embedder


class RagEmbeddings(Embeddings):
    """LangChain `Embeddings` backed by the packaged sentence-transformers model."""

    def __init__(self, model: str = "all-MiniLM-L6-v2"):
        self.model = model

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return _shared_embedder(self.model).encode(list(texts)).tolist()

    def embed_query(self, text: str) -> list[float]:
        return _shared_embedder(self.model).encode_query(text).tolist()


class RagRetriever(BaseRetriever):
    """LangChain `BaseRetriever` over the index built by `rag ingest`.

    It ranks exactly as the app does: ``retrieval`` "hybrid" (default: dense +
    BM25 fused by weighted RRF, weights and MMR from `Settings` / ``RAG_*``) or
    "dense". Each returned Document carries ``chunk_id``, ``source``, ``title``,
    ``page``, ``start``, ``end``, ``score`` (cosine) and ``rank`` in its metadata.
    """

    index_dir: str = "index"
    k: int = 4
    retrieval: str = "hybrid"
    model_config = ConfigDict(arbitrary_types_allowed=True)
    _retriever: DenseRetriever | None = PrivateAttr(default=None)

    def _backend(self) -> DenseRetriever:
        if self._retriever is None:
            settings = Settings.from_env(index_dir=self.index_dir, retrieval=self.retrieval)
            store = IndexStore.load(Path(self.index_dir))
            embedder = _shared_embedder(store.manifest.embedder)
            self._retriever = make_retriever(store, embedder, settings)
        return self._retriever

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, k: int | None = None
    ) -> list[LCDocument]:
        hits = self._backend().search(query, k or self.k)
        return [
            LCDocument(
                page_content=h.chunk.text,
                id=h.chunk.chunk_id,
                metadata={
                    "chunk_id": h.chunk.chunk_id,
                    "source": h.chunk.source,
                    "title": h.chunk.title,
                    "page": h.chunk.page,
                    "start": h.chunk.start,
                    "end": h.chunk.end,
                    "score": h.score,
                    "rank": h.rank,
                },
            )
            for h in hits
        ]


class RagChatModel(BaseChatModel):
    """LangChain chat model over our llama.cpp generator (greedy by default).

    ``model`` is a name from `rag models` or a .gguf path. Settings that the
    LangChain llama.cpp wrappers get wrong by default (rope frequency base,
    batch size) are taken from `Settings`.
    """

    model: str = "qwen2.5-1.5b"
    temperature: float = 0.0
    max_tokens: int = 256
    _generator: Any = PrivateAttr(default=None)

    @property
    def _llm_type(self) -> str:
        return "rag-llama-cpp"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model": self.model, "temperature": self.temperature}

    def _gen(self):
        if self._generator is None:
            from rag.pipeline import make_generator

            self._generator = make_generator(Settings.from_env(model=self.model))
        return self._generator

    @staticmethod
    def _to_messages(messages: list[BaseMessage]) -> list[dict]:
        roles = {"human": "user", "ai": "assistant", "system": "system"}
        return [{"role": roles.get(m.type, "user"), "content": m.text} for m in messages]

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        generator = self._gen()
        for token in generator.stream_chat(
            self._to_messages(messages), self.max_tokens, self.temperature
        ):
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=token))
            if run_manager:
                run_manager.on_llm_new_token(token, chunk=chunk)
            yield chunk
        # One closing chunk carries the token counts and the model name: LangChain adds
        # the chunks up, so only one of them may.
        stats = generator.last_stats
        usage = UsageMetadata(
            input_tokens=stats.prompt_tokens,
            output_tokens=stats.completion_tokens,
            total_tokens=stats.prompt_tokens + stats.completion_tokens,
        )
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content="", usage_metadata=usage, response_metadata={"model_name": self.model}
            )
        )

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        chunks = list(self._stream(messages, stop, run_manager, **kwargs))
        closing = chunks[-1].message
        message = AIMessage(
            content="".join(c.text for c in chunks),
            usage_metadata=closing.usage_metadata,
            response_metadata=closing.response_metadata,
        )
        return ChatResult(generations=[ChatGeneration(message=message)])
