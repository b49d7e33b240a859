"""Typed records passed between stages: Document -> Chunk -> Hit -> Answer."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace


@dataclass
class Document:
    """Text extracted from one file, with page starts for paged formats.

    ``page_starts[i]`` is the character offset in ``text`` where page ``i + 1``
    begins; it is empty for formats without pages.
    """

    source: str  # path as given to ingest (relative when possible)
    title: str
    text: str
    content_hash: str  # sha256 of the file bytes, then "-l" and the loader version
    page_starts: list[int] = field(default_factory=list)
    ocr_pages: list[int] = field(default_factory=list)  # 1-based pages read by OCR
    skipped_pages: dict[int, str] = field(default_factory=dict)  # page -> why it has no text

    def page_at(self, offset: int) -> int | None:
        """1-based page number containing ``offset``, or None for unpaged text."""
        if not self.page_starts:
            return None
        page = 1
        for i, start in enumerate(self.page_starts):
            if start <= offset:
                page = i + 1
            else:
                break
        return page


@dataclass
class DocumentInfo:
    """What the index manifest records about a document (its text is not kept)."""

    source: str
    title: str
    content_hash: str
    pages: int | None = None
    chars: int = 0
    chunks: int = 0  # passages indexed (set when written)
    ocr_pages: list[int] = field(default_factory=list)  # 1-based pages read by OCR
    skipped_pages: dict[str, str] = field(default_factory=dict)  # page -> why it has no text

    @classmethod
    def of(cls, document: Document) -> DocumentInfo:
        return cls(
            document.source,
            document.title,
            document.content_hash,
            len(document.page_starts) or None,
            len(document.text),
            ocr_pages=list(document.ocr_pages),
            skipped_pages={str(p): r for p, r in document.skipped_pages.items()},
        )

    def with_chunks(self, chunks: int) -> DocumentInfo:
        return replace(self, chunks=chunks)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> DocumentInfo:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class Chunk:
    """A passage of a document; ``text == document.text[start:end]``."""

    chunk_id: str
    doc_id: str
    source: str
    title: str
    text: str
    start: int
    end: int
    page: int | None = None
    position: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Hit:
    """A retrieved chunk with its relevance score (higher is better)."""

    chunk: Chunk
    score: float
    rank: int


@dataclass
class Citation:
    """A numbered passage shown to the user as a source."""

    n: int
    chunk_id: str
    source: str
    title: str
    page: int | None
    text: str
    start: int
    end: int
    score: float

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ContextSentence:
    """A numbered sentence of what the model reads; the model names its evidence by ``id``."""

    id: str  # "2.3": sentence 3 of passage 2
    n: int  # passage number, as in the prompt and the citations
    text: str
    start: int  # offsets into the passage (chunk) text
    end: int
    title: str = ""  # the passage's header: document title (and date)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class AnswerSentence:
    """One sentence of the answer with the citations that support it."""

    text: str
    citations: list[int]
    support: float
    supported: bool
    # (start, end) of the best supporting span inside each cited passage text, keyed by n.
    evidence: dict[int, tuple[int, int]] = field(default_factory=dict)
    # Ids of the context sentences this answer sentence rests on ("2.3").
    evidence_ids: list[str] = field(default_factory=list)
    reason: str | None = None  # why it is unsupported (a failed check)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["evidence"] = {str(k): list(v) for k, v in self.evidence.items()}
        return d

    @classmethod
    def from_dict(cls, data: dict) -> AnswerSentence:
        evidence = {int(k): (int(v[0]), int(v[1])) for k, v in data["evidence"].items()}
        return cls(**{**data, "evidence": evidence})


@dataclass
class Answer:
    """The final, verified answer to one question."""

    question: str
    answer: str
    refused: bool
    citations: list[Citation]
    sentences: list[AnswerSentence]
    timings: dict[str, float]
    model: str
    raw_answer: str = ""
    refusal_reason: str | None = None
    standalone_question: str | None = None
    retrieved: list[Citation] = field(default_factory=list)
    usage: dict[str, int] = field(default_factory=dict)
    # The numbered sentences the model read, and the ids it named as evidence.
    context: list[ContextSentence] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    # Calibrated probability that the answer is right (None: refused before drafting),
    # and the signals it was computed from.
    confidence: float | None = None
    signals: dict[str, float] = field(default_factory=dict)

    def evidence_sentences(self) -> list[ContextSentence]:
        named = set(self.evidence)
        return [s for s in self.context if s.id in named]

    def to_dict(self) -> dict:
        return {
            "question": self.question,
            "answer": self.answer,
            "refused": self.refused,
            "refusal_reason": self.refusal_reason,
            "citations": [c.to_dict() for c in self.citations],
            "sentences": [s.to_dict() for s in self.sentences],
            "timings": self.timings,
            "model": self.model,
            "raw_answer": self.raw_answer,
            "standalone_question": self.standalone_question,
            "retrieved": [c.to_dict() for c in self.retrieved],
            "usage": self.usage,
            "evidence": [s.to_dict() for s in self.evidence_sentences()],
            "context": [s.to_dict() for s in self.context],
            "confidence": self.confidence,
            "signals": self.signals,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Answer:
        """The answer `to_dict` wrote (its ``evidence`` sentences become their ids)."""
        return cls(
            **{k: data[k] for k in _ANSWER_FIELDS},
            citations=[Citation(**c) for c in data["citations"]],
            sentences=[AnswerSentence.from_dict(s) for s in data["sentences"]],
            retrieved=[Citation(**c) for c in data["retrieved"]],
            context=[ContextSentence(**c) for c in data["context"]],
            evidence=[e["id"] for e in data["evidence"]],
        )


_ANSWER_FIELDS = (  # the plain fields of an `Answer` dict
    "question", "answer", "refused", "timings", "model", "raw_answer", "refusal_reason",
    "standalone_question", "usage", "confidence", "signals",
)  # fmt: skip
