"""One browser session's state: its answered turns and its feedback (no Gradio here).

Gradio keeps a `ChatSession` per browser tab (``gr.State``); the handlers read and
return it. `to_dict` / `from_dict` give it as plain JSON values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from rag.conversation import Turn
from rag.types import Answer


@dataclass
class SessionTurn:
    """An answered question: its answer id in the page, the answer, how it was searched."""

    aid: str  # the answer's element id suffix in the chat (rag-ans-<aid>)
    answer: Answer
    search_query: str | None = None  # the standalone rewrite, when it was rewritten
    method: str = "none"  # how the rewrite was obtained (rag.conversation.Rewrite)

    def conversation_turn(self) -> Turn:
        """The turn as `rag.conversation.Conversation` keeps it."""
        return Turn(self.answer.question, self.search_query, self.method, self.answer.answer)

    def to_dict(self) -> dict:
        return {
            "aid": self.aid,
            "answer": self.answer.to_dict(),
            "search_query": self.search_query,
            "method": self.method,
        }

    @classmethod
    def from_dict(cls, data: dict) -> SessionTurn:
        return cls(
            data["aid"], Answer.from_dict(data["answer"]), data["search_query"], data["method"]
        )


@dataclass
class PendingRating:
    """A thumbs up/down already saved, waiting for an optional comment."""

    aid: str
    rating: str  # "up" or "down"
    feedback_id: str  # the saved record the comment updates


@dataclass
class ChatSession:
    """The turns answered in this tab and the feedback given on them."""

    turns: list[SessionTurn] = field(default_factory=list)
    feedback: dict[str, str] = field(default_factory=dict)  # answer id -> feedback record id
    pending: PendingRating | None = None

    def turn(self, aid: str) -> SessionTurn | None:
        return next((t for t in self.turns if t.aid == aid), None)

    def conversation_turns(self) -> Sequence[Turn]:
        return [t.conversation_turn() for t in self.turns]

    def to_dict(self) -> dict:
        return {
            "turns": [t.to_dict() for t in self.turns],
            "feedback": dict(self.feedback),
            "pending": asdict(self.pending) if self.pending else None,
        }

    @classmethod
    def from_dict(cls, data: dict) -> ChatSession:
        pending = data.get("pending")
        return cls(
            [SessionTurn.from_dict(t) for t in data.get("turns", [])],
            dict(data.get("feedback", {})),
            PendingRating(**pending) if pending else None,
        )
