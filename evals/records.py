"""`EvalRecord`: one system's result for one question, one line of results.jsonl.

Records round-trip through `to_dict` / `from_dict`. Reading accepts the records of
older runs: a field they lack takes its default, and a field this version does not
know is kept in ``extra`` and written back unchanged.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

# results.jsonl field order: an answering run's record, then a retrieval-only run's
ANSWER_FIELDS = (
    "system", "id", "type", "question", "answerable", "gold", "answer", "raw_answer",
    "refused", "refusal_reason", "sentences", "citations", "retrieved", "ranked", "metrics",
    "context_from", "confidence", "signals", "top_score", "abstention_score", "passages",
)  # fmt: skip
FOLLOW_UP_FIELDS = ("history", "standalone", "search_query", "rewrite_method")
RETRIEVAL_FIELDS = (
    "system", "id", "type", "question", "answerable", "gold", "top_score", "retrieved",
    "ranked", "metrics",
)  # fmt: skip
IN_MEMORY = ("gold_labels", "extra")  # never written


@dataclass
class EvalRecord:
    """A question, the system's answer (``answer`` is None in a retrieval-only run), what
    it retrieved and cited, every metric and the timings."""

    system: str
    id: str
    question: str
    answerable: bool
    type: str | None = None
    gold: dict = field(default_factory=dict)  # answers, keywords, passages, near_miss
    retrieved: list[dict] = field(default_factory=list)  # passages shown, rank order
    ranked: list[dict] = field(default_factory=list)  # the top 10 the metrics score
    metrics: dict[str, float | None] = field(default_factory=dict)
    timings: dict[str, float | None] = field(default_factory=dict)
    top_score: float | None = None  # the best retrieved passage's cosine
    answer: str | None = None
    raw_answer: str = ""
    refused: bool = False
    refusal_reason: str | None = None
    sentences: list[dict] = field(default_factory=list)  # {text, citations}
    citations: list[dict] = field(default_factory=list)  # {n, chunk_id, source}
    context_from: str | None = None  # "context", "passages" or "fallback" (context recall)
    confidence: float | None = None  # ours: Answer.confidence
    signals: dict[str, float] = field(default_factory=dict)
    abstention_score: float | None = None  # higher = surer the answer is right
    history: list[dict] = field(default_factory=list)  # a follow-up's earlier turns
    standalone: str | None = None
    search_query: str | None = None
    rewrite_method: str | None = None
    resumed: bool = False  # reused from an earlier run (--resume, --reuse-baseline)
    # passage number -> text of what it cited: a later run can judge a reused record
    passages: dict[int, str] = field(default_factory=dict, repr=False)
    # in memory only: the gold labels to find
    gold_labels: list[str] = field(default_factory=list, repr=False)
    extra: dict[str, Any] = field(default_factory=dict, repr=False)  # unknown fields, as read

    def to_dict(self) -> dict[str, Any]:
        """The results.jsonl line (in-memory fields left out)."""
        retrieval_only = self.answer is None
        names = list(RETRIEVAL_FIELDS if retrieval_only else ANSWER_FIELDS)
        if self.history and not retrieval_only:
            names += FOLLOW_UP_FIELDS
        names.append("timings")
        out = {name: getattr(self, name) for name in names}
        if "passages" in out:  # the cited ones: what the citation judges read
            cited = {n for c in self.citations for n in [c.get("n")] if n is not None}
            cited |= {n for s in self.sentences for n in s.get("citations", [])}
            out["passages"] = {str(n): t for n, t in sorted(self.passages.items()) if n in cited}
        out.update(self.extra)
        if self.resumed:
            out["resumed"] = True
        return out

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> EvalRecord:
        """A record from a results.jsonl line of this or an older version."""
        known = {f.name for f in dataclasses.fields(cls)} - set(IN_MEMORY)
        values = {key: value for key, value in row.items() if key in known}
        for key in ("history", "sentences", "citations", "retrieved", "ranked"):
            values[key] = values.get(key) or []
        for key in ("gold", "metrics", "timings", "signals"):
            values[key] = values.get(key) or {}
        values["resumed"] = bool(values.get("resumed"))
        values["passages"] = {int(n): text for n, text in (values.get("passages") or {}).items()}
        extra = {key: value for key, value in row.items() if key not in known}
        return cls(**values, extra=extra)


Records = dict[str, list[EvalRecord]]  # a run's records per system ("ours", "baseline")
