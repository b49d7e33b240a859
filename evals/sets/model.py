"""The question-set records: gold passages, questions, and a set with its corpus."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


class EvalSetError(Exception):
    """A question set or its data is missing or malformed; the message says which."""


_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u00a0": " "})


def normalize_passage_text(text: str) -> str:
    """Lowercase, straighten quotes and collapse whitespace (for quote matching)."""
    return " ".join(text.translate(_QUOTES).split()).lower()


@dataclass
class Gold:
    """One gold passage: by ``doc_id`` (corpus file stem) or by ``quote`` (+ optional source)."""

    label: str
    doc_id: str | None = None
    source: str | None = None
    quote: str | None = None

    def __post_init__(self) -> None:
        self._norm_quote = normalize_passage_text(self.quote) if self.quote else None

    def matches(self, text: str, source: str) -> bool:
        """True when a chunk with this ``text`` from file ``source`` contains the gold passage."""
        name = Path(source).name
        if self.doc_id is not None:
            return self.doc_id in (name, Path(source).stem)
        if self.source is not None and name != self.source:
            return False
        return bool(self._norm_quote) and self._norm_quote in normalize_passage_text(text)

    def to_dict(self) -> dict:
        d = {"label": self.label}
        for key in ("doc_id", "source", "quote"):
            if getattr(self, key) is not None:
                d[key] = getattr(self, key)
        return d


@dataclass
class Question:
    id: str
    question: str
    answerable: bool
    answers: list[str] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    gold: list[Gold] = field(default_factory=list)
    type: str | None = None
    history: list[dict] = field(default_factory=list)  # earlier turns: {question, answer}
    standalone: str | None = None  # the follow-up as a question on its own
    near_miss: list[Gold] = field(default_factory=list)  # passages that seem to answer, but don't

    def gold_dict(self) -> dict:
        d = {
            "answers": self.answers,
            "keywords": self.keywords,
            "passages": [g.to_dict() for g in self.gold],
        }
        if self.near_miss:
            d["near_miss"] = [g.to_dict() for g in self.near_miss]
        return d


@dataclass
class EvalSet:
    """Questions plus the corpus they are asked against (sampling is recorded by `load_set`)."""

    name: str
    questions: list[Question]
    corpus_dir: Path
    description: str = ""
    total: int = 0  # questions in the full set, before sampling
    limit: int | None = None
    seed: int = 0
    split: str = "all"  # "dev" or "test": a fixed half (see in_split)

    @property
    def answerable(self) -> list[Question]:
        return [q for q in self.questions if q.answerable]

    @property
    def unanswerable(self) -> list[Question]:
        return [q for q in self.questions if not q.answerable]
