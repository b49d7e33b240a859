"""Follow-up questions -> standalone search queries, in one `Conversation`.

"And how much did each of them get?" cannot be retrieved on its own. A
`Conversation` keeps the earlier turns (question, standalone query, method) and
rewrites each new question that leans on them, in this order:

1. **Substitution** (no model call, rag/substitution.py): a short "What about
   X?" follow-up becomes the earlier standalone question with X in place of the
   name of the same kind.
2. **Model rewrite**: the generator rewrites it with a short fixed prompt that
   shows the earlier questions only: with the answers in view, small models tend
   to paste the answer into the question ("How much did Malaysia, the
   Philippines, ... receive?"), which then reads as a new question.
3. **Heuristic**: a rewrite that drops the conversation's subject or the
   follow-up's own terms, or no generator at all, falls back to the question
   naming the earlier one.

Standalone questions are passed through untouched (no model call), and so are
questions over the length limit (the pipeline refuses them anyway). The chat UI,
`rag chat` and the evaluation harness all answer through `Conversation.follow_up`:
rewrite, stream the pipeline with the rewritten search query, keep the turn.

Example::

    from rag.conversation import Conversation
    conv = Conversation()
    first = "How much OSA funding did Malaysia receive and for what equipment?"
    conv.add(first, conv.rewrite(first))
    conv.rewrite("And what about the Philippines?").query
    # "How much OSA funding did the Philippines receive and for what equipment?"
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from rag.config import Settings
from rag.prompt_safety import clean_question, looks_like_refusal
from rag.substitution import norm_word, short_follow_up_subject, substitute

if TYPE_CHECKING:
    from rag.drafting import StreamEvent
    from rag.types import Answer

REWRITE_PROMPT = (
    "Rewrite the user's last question as one standalone question that can be understood "
    "without the conversation. Keep the user's wording; only replace words like 'it', 'they' "
    "or 'each of them' with the short noun phrase they refer to, taken from the earlier "
    "question. Do not answer it. Reply with the rewritten question only.\n"
    "Example: earlier question 'Which countries signed the Camp David principles?', last "
    "question 'When did they sign them?' -> 'When did the countries that signed the Camp "
    "David principles sign them?'"
)

_REFERRING = re.compile(
    r"\b(it|its|it's|they|them|their|theirs|these|those|this|that one|he|him|his|she|her|"
    r"there|each of them|all of them|both|either|neither|the same|the former|the latter|"
    r"such|former|latter|above|previous|mentioned)\b",
    re.IGNORECASE,
)
_CONTINUATION = re.compile(
    r"^\s*(and|but|so|also|then|what about|how about|and what|why|how come|which one|"
    r"what else|anything else|more)\b",
    re.IGNORECASE,
)
_ASKING = re.compile(
    r"^\W*(?:(?:and|but|so|also|then)\W+)*(how much|how many|how long|when|where|why|who)\b",
    re.IGNORECASE,
)
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’.\-]*[A-Za-z0-9]|[A-Za-z0-9]")
_QUESTION_WORDS = {"which", "what", "who", "whom", "whose", "when", "where", "why", "how", "did"}


@dataclass
class Turn:
    """An earlier question of the conversation."""

    question: str
    standalone: str | None = None  # the query used for retrieval, when rewritten
    method: str = "none"  # how the standalone query was obtained (see `Rewrite`)
    answer: str | None = None  # the answer text, when kept

    @property
    def query(self) -> str:
        return self.standalone or self.question

    def to_dict(self) -> dict:
        return {
            "question": self.question,
            "standalone": self.standalone,
            "method": self.method,
            "answer": self.answer,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Turn:
        """The turn `to_dict` wrote."""
        standalone = data.get("standalone") or None
        method = data.get("method") or ("heuristic" if standalone else "none")
        return cls(str(data["question"]), standalone, method, data.get("answer"))


@dataclass
class Rewrite:
    """The retrieval query for a question and how it was obtained."""

    query: str
    method: str  # "none" (used as asked), "substitution", "model" or "heuristic"

    @property
    def rewritten(self) -> bool:
        return self.method != "none"

    @property
    def search_query(self) -> str | None:
        """What to pass as ``RagPipeline.stream(search_query=...)``."""
        return self.query if self.rewritten else None


def key_terms(text: str, limit: int = Settings.followup_key_terms) -> list[str]:
    """Content words of ``text`` in order, as written (stop and question words dropped)."""
    seen: set[str] = set()
    terms: list[str] = []
    for token in _TOKEN.findall(text):
        norm = norm_word(token)
        if norm in ENGLISH_STOP_WORDS or norm in _QUESTION_WORDS or norm in seen:
            continue
        seen.add(norm)
        terms.append(token)
        if len(terms) >= limit:
            break
    return terms


def needs_context(question: str) -> bool:
    """True when a question probably refers back to the conversation."""
    q = question.strip()
    if not q:
        return False
    if _REFERRING.search(q) or _CONTINUATION.search(q):
        return True
    return not key_terms(q)  # "Why?", "How much?": nothing of its own to search


def heuristic_rewrite(question: str, history: Sequence[Turn]) -> str:
    """The question with the earlier query it follows up (for retrieval and the model)."""
    if not history:
        return question
    return f"{question} (follow-up to: {history[-1].query})"


def _clean_model_output(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    line = re.sub(
        r"^(standalone|rewritten|rephrased)?\s*(question|query)?\s*:\s*", "", lines[0], flags=re.I
    )
    return clean_question(line.strip().strip("\"'`“”").strip())


def acceptable_rewrite(
    rewrite: str,
    question: str,
    history: Sequence[Turn],
    terms: int = Settings.followup_key_terms,
) -> bool:
    """A model rewrite must be a short question that keeps the conversation's subject
    (``terms``: how many content words of a question are compared)."""
    if not rewrite or len(rewrite) > max(300, 3 * len(question)):
        return False
    if looks_like_refusal(rewrite) or re.search(r"\[\d+\]", rewrite):
        return False
    rewrite_words = {norm_word(t) for t in _TOKEN.findall(rewrite)}
    context = {norm_word(t) for t in key_terms(history[-1].query, terms)} if history else set()
    if context and not context & rewrite_words:
        return False  # the subject of the conversation was lost
    asked = _ASKING.search(question)
    if asked and not re.search(rf"\b{asked.group(1)}\b", rewrite, re.I):
        return False  # "how much ..." must still ask how much
    own = {norm_word(t) for t in key_terms(question, terms)}
    return len(own & rewrite_words) * 2 >= len(own)  # keeps most of the follow-up's terms


def model_rewrite(question: str, history: Sequence[Turn], generator, max_tokens: int = 48) -> str:
    """Ask the generator for a standalone version of ``question`` after the earlier
    questions ``history`` (raw, cleaned)."""
    earlier = "\n".join(f"- {turn.query}" for turn in history)
    user = f"Earlier questions:\n{earlier}\n\nLast question: {question}\nStandalone question:"
    messages = [{"role": "system", "content": REWRITE_PROMPT}, {"role": "user", "content": user}]
    return _clean_model_output("".join(generator.stream_chat(messages, max_tokens, 0.0)))


@dataclass
class FollowUp:
    """A question of a conversation on its way to an answer: its rewrite is known;
    `events` streams the pipeline's answer and keeps the turn once it is in."""

    question: str
    rewrite: Rewrite
    conversation: Conversation
    answer: Answer | None = None
    turn: Turn | None = None  # the kept turn, after the answer event

    def events(self) -> Iterator[StreamEvent]:
        """The pipeline's events for the question, retrieved with the rewritten query."""
        pipeline = self.conversation.pipeline
        for event in pipeline.stream(self.question, search_query=self.rewrite.search_query):
            if event.kind == "answer":
                self.answer = event.answer
                self.turn = self.conversation.add(self.question, self.rewrite, event.answer)
            yield event


class Conversation:
    """The turns of one chat and the rewriting of each new question into a search query.

    ``generator`` (model rewrites) and ``embedder`` (choosing the name a "What about
    X?" replaces) are optional; `for_pipeline` takes both from a `RagPipeline`, the
    generator only when a model rewrite is needed. ``settings`` supplies the follow-up
    tunables and, unless ``max_chars`` is given, the question length limit. Typical
    use, per question::

        follow_up = conversation.follow_up(question)  # rewritten when it leans on earlier turns
        for event in follow_up.events():  # the pipeline's events; the turn is kept at the end
            ...
    """

    def __init__(
        self,
        turns: Sequence[Turn | dict] = (),
        generator=None,
        embedder=None,
        max_chars: int | None = None,
        max_tokens: int = 48,
        settings: Settings | None = None,
    ):
        self.turns: list[Turn] = [t if isinstance(t, Turn) else Turn.from_dict(t) for t in turns]
        self._generator = generator
        self.embedder = embedder
        self.settings = settings or Settings()
        self.max_chars = self.settings.max_question_chars if max_chars is None else max_chars
        self.max_tokens = max_tokens
        self._pipeline = None

    @classmethod
    def for_pipeline(cls, pipeline, turns: Sequence[Turn | dict] = ()) -> Conversation:
        """A conversation rewriting with ``pipeline``'s generator, embedder and settings."""
        conversation = cls(
            turns, embedder=getattr(pipeline, "embedder", None), settings=pipeline.settings
        )
        conversation._pipeline = pipeline
        return conversation

    @property
    def pipeline(self):
        if self._pipeline is None:
            raise ValueError("this conversation has no pipeline: make it with for_pipeline")
        return self._pipeline

    @property
    def generator(self):
        if self._generator is None and self._pipeline is not None:
            self._generator = self._pipeline.generator  # loads the model on first use
        return self._generator

    def history(self) -> list[Turn]:
        """The turns a rewrite may use: those whose query fits the length limit."""
        return [turn for turn in self.turns if len(turn.query) <= self.max_chars]

    def needs_rewrite(self, question: str) -> bool:
        """True when ``question`` will be rewritten (it leans on earlier turns)."""
        question = clean_question(question)
        return (
            len(question) <= self.max_chars
            and bool(self.history())
            and (needs_context(question) or short_follow_up_subject(question) is not None)
        )

    def rewrite(self, question: str) -> Rewrite:
        """The query to retrieve with for ``question``: substitution, model or heuristic.

        A question longer than ``max_chars`` (the pipeline refuses those) is returned
        unchanged without a model call, and earlier turns longer than that are not
        used: a huge text must never reach the rewrite prompt.
        """
        question = clean_question(question)
        if not self.needs_rewrite(question):
            return Rewrite(question, "none")
        history = self.history()
        substituted = self.substitution(question, history)
        if substituted:
            return Rewrite(substituted, "substitution")
        try:
            generator = self.generator
        except Exception:  # the model cannot load: the answer will say so, not the rewrite
            generator = None
        if generator is not None:
            try:
                earlier = history[-self.settings.followup_turns :]
                candidate = model_rewrite(question, earlier, generator, self.max_tokens)
            except Exception:  # a failed rewrite must never cost the answer
                candidate = ""
            if acceptable_rewrite(candidate, question, history, self.settings.followup_key_terms):
                return Rewrite(candidate, "model")
        fallback = heuristic_rewrite(question, history)
        return Rewrite(fallback, "heuristic" if fallback != question else "none")

    def substitution(self, question: str, history: Sequence[Turn]) -> str | None:
        """A "What about X?" ``question`` as the latest standalone earlier query with X in it.

        Heuristic queries ("... (follow-up to: ...)") are not standalone questions and are
        skipped; only the last ``settings.followup_turns`` turns are looked at.
        """
        if short_follow_up_subject(question) is None:
            return None
        for turn in reversed(history[-self.settings.followup_turns :]):
            if turn.method == "heuristic":
                continue
            share = self.settings.substitution_similar_share
            result = substitute(question, turn.query, self.embedder, share)
            if result is None:
                return None
            result = clean_question(result)
            return result if len(result) <= self.max_chars and result != turn.query else None
        return None

    def follow_up(self, question: str) -> FollowUp:
        """Rewrite ``question`` for this conversation; answer it with `FollowUp.events`."""
        return FollowUp(question, self.rewrite(question), self)

    def add(self, question: str, rewrite: Rewrite | None = None, answer: object = None) -> Turn:
        """Keep ``question`` as a turn, with its rewrite and (optionally) its answer."""
        rewrite = rewrite or Rewrite(clean_question(question), "none")
        if answer is not None and not isinstance(answer, str):
            answer = getattr(answer, "answer", None)
        turn = Turn(clean_question(question), rewrite.search_query, rewrite.method, answer)
        self.turns.append(turn)
        return turn

    def to_dicts(self) -> list[dict]:
        return [turn.to_dict() for turn in self.turns]

    def __len__(self) -> int:
        return len(self.turns)


def rewrite_question(
    question: str,
    history: Sequence[Turn],
    generator=None,
    max_tokens: int = 48,
    max_chars: int | None = None,
    embedder=None,
    settings: Settings | None = None,
) -> Rewrite:
    """`Conversation.rewrite` for ``question`` after the turns ``history``."""
    conversation = Conversation(history, generator, embedder, max_chars, max_tokens, settings)
    return conversation.rewrite(question)
