"""Systems under evaluation behind one small interface.

`OursSystem` wraps `RagPipeline.stream`, the exact code path of `rag ask` and
`rag chat`; a follow-up question (one with earlier turns) is first rewritten into
a standalone search query by `rag.conversation.Conversation`, exactly as the
chat UI (`ui.app.ChatUI.respond`) and `rag chat` do. The LangChain baseline lives in
`evals.baseline`. Both return a `SystemAnswer`, and both time the call the same
way (the harness clock around the stream), so their costs are comparable.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from rag.pipeline import RagPipeline


@dataclass
class Passage:
    """A retrieved chunk as the metrics need it."""

    chunk_id: str
    source: str
    text: str
    score: float | None = None


@dataclass
class SystemAnswer:
    """One answer of one system, with what it retrieved and cited and how long it took."""

    answer: str
    refused: bool
    retrieved: list[Passage]  # the passages given to the generator, rank order
    sentences: list[tuple[str, list[int]]]  # (sentence, cited passage numbers, 1-based)
    raw_answer: str = ""
    refusal_reason: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    search_query: str | None = None  # what was retrieved with, when not the question itself
    rewrite_method: str = "none"  # follow-ups: "substitution", "model", "heuristic" or "none"
    context_text: str = ""  # what the model read (ours: Answer.context sentences, one a line)
    confidence: float | None = None  # ours: Answer.confidence; the baseline has none
    signals: dict[str, float] = field(default_factory=dict)  # ours: what calibration reads

    @property
    def cited(self) -> list[int]:
        return sorted({n for _, refs in self.sentences for n in refs})


class System(Protocol):
    name: str
    label: str

    def warm_up(self) -> None: ...

    def prime(self) -> None: ...

    def answer(self, question: str, history: Sequence[dict] = ()) -> SystemAnswer: ...

    def ranked(self, question: str, k: int) -> list[Passage]: ...


def cost_fields(
    retrieve_ms: float,
    started: float,
    first_token: float | None,
    last_token: float | None,
    ended: float,
    prompt_tokens: int,
    completion_tokens: int,
) -> dict[str, float]:
    """Cost record from ``time.perf_counter()`` stamps (first/last token may be None)."""
    decode_s = (last_token - first_token) if first_token and last_token else 0.0
    rate = (completion_tokens - 1) / decode_s if completion_tokens > 1 and decode_s > 0 else None
    return {
        "retrieve_ms": round(retrieve_ms, 1),
        "first_token_ms": round((first_token - started) * 1000, 1) if first_token else 0.0,
        "total_s": round(ended - started, 3),
        "prompt_tokens": int(prompt_tokens),
        "completion_tokens": int(completion_tokens),
        "tokens_per_s": round(rate, 2) if rate else None,
    }


class OursSystem:
    """The project's pipeline: retrieval, generation, citation verification, refusal."""

    name = "ours"
    label = "ours (RagPipeline)"

    def __init__(self, pipeline: RagPipeline):
        self.pipeline = pipeline

    def warm_up(self) -> None:
        self.pipeline.warm_up()

    def prime(self) -> None:
        """One untimed generation, so page-in and first-call costs do not hit question 1."""
        self.warm_up()
        for _ in self.pipeline.generator.stream_chat(
            [{"role": "user", "content": "Say OK."}], max_tokens=1, temperature=0.0
        ):
            pass

    def conversation(self, history: Sequence[dict] = ()):
        """A `rag.conversation.Conversation` holding ``history``'s questions, each rewritten
        in turn as the chat UI rewrites it (``ui.app.ChatUI.respond``)."""
        from rag.conversation import Conversation

        conversation = Conversation.for_pipeline(self.pipeline)
        for turn in history:
            question = turn["question"].strip()
            conversation.add(question, conversation.rewrite(question), turn.get("answer"))
        return conversation

    def earlier_turns(self, history: Sequence[dict]) -> list:
        """The earlier questions as the chat UI keeps them: each with its own rewrite."""
        return self.conversation(history).turns

    def answer(self, question: str, history: Sequence[dict] = ()) -> SystemAnswer:
        """Answer ``question``; with ``history`` it is a follow-up, rewritten as in the UI.

        The earlier turns' own rewrites happened in earlier turns of the chat and are
        not timed; the follow-up's rewrite is (``rewrite_ms``, and inside the total).
        """
        conversation = self.conversation(history)
        started = time.perf_counter()
        follow_up = conversation.follow_up(question.strip())  # the chat's own flow
        rewrite_ms = round((time.perf_counter() - started) * 1000, 1)
        first = last = None
        for event in follow_up.events():
            if event.kind == "token":
                last = time.perf_counter()
                first = first or last
        ended = time.perf_counter()
        final = follow_up.answer
        retrieved = [Passage(c.chunk_id, c.source, c.text, c.score) for c in final.retrieved]
        sentences = [] if final.refused else [(s.text, list(s.citations)) for s in final.sentences]
        usage = final.usage or {}
        return SystemAnswer(
            answer=final.answer,
            refused=final.refused,
            retrieved=retrieved,
            sentences=sentences,
            raw_answer=final.raw_answer,
            refusal_reason=final.refusal_reason,
            timings=cost_fields(
                final.timings.get("retrieve_ms", 0.0),
                started,
                first,
                last,
                ended,
                usage.get("prompt_tokens", 0),
                usage.get("completion_tokens", 0),
            )
            | ({"rewrite_ms": rewrite_ms} if history else {})
            # when the evidence was shown, and what the judge cost (pipeline clock)
            | {k: final.timings[k] for k in ("evidence_ms", "judge_ms") if k in final.timings},
            search_query=follow_up.rewrite.search_query,
            rewrite_method=follow_up.rewrite.method,
            context_text="\n".join(s.text for s in final.context),
            confidence=final.confidence,
            signals=dict(final.signals),
        )

    def ranked(self, question: str, k: int) -> list[Passage]:
        from rag.prompt_safety import clean_question

        hits = self.pipeline.retrieve(clean_question(question), k)
        return [Passage(h.chunk.chunk_id, h.chunk.source, h.chunk.text, h.score) for h in hits]

    @property
    def generator(self):
        return self.pipeline.generator
