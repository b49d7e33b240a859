"""Offline, cited question answering over policy documents.

Quick start::

    from rag import RagPipeline, Settings
    pipe = RagPipeline(Settings())          # index in ./index, default model
    answer = pipe.ask("Which countries are the first recipients of Japan's OSA?")
    print(answer.answer)
    for c in answer.citations:
        print(c.n, c.title, c.page)
"""

from rag.config import Settings
from rag.ingest import IngestReport, ingest
from rag.types import Answer, AnswerSentence, Chunk, Citation, Document, Hit


def __getattr__(name: str):
    # The pipeline pulls in scikit-learn (seconds): loaded on first use, so that
    # `rag ingest` and Ray's worker processes, which never answer, start fast.
    if name in ("RagPipeline", "StreamEvent"):
        from rag import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'rag' has no attribute {name!r}")


__all__ = [
    "Answer",
    "AnswerSentence",
    "Chunk",
    "Citation",
    "Document",
    "Hit",
    "IngestReport",
    "RagPipeline",
    "Settings",
    "StreamEvent",
    "ingest",
]
