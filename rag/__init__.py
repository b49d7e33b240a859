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
from rag.pipeline import RagPipeline, StreamEvent
from rag.types import Answer, AnswerSentence, Chunk, Citation, Document, Hit

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
