"""Follow-up questions -> standalone search queries.

"And how much did each of them get?" cannot be retrieved on its own. When the
conversation has history and the question leans on it (pronouns, "what
about ...", very short questions), the generator rewrites it with a short fixed
prompt. The prompt shows the earlier questions only: with the answers in view,
small models tend to paste the answer into the question ("How much did
Malaysia, the Philippines, ... receive?"), which then reads as a new question.
A rewrite that drops the conversation's subject or the follow-up's own terms,
or no generator at all, falls back to a cheap heuristic that names the earlier
question. Standalone questions are passed through untouched (no model call), and
so are questions over the length limit (the pipeline refuses them anyway).

Example::

    from rag.conversation import Turn, rewrite_question
    history = [Turn("Which countries are the first recipients of Japan's OSA?")]
    rewrite_question("And how much did each of them get?", history).query
    # "And how much did each of them get? (follow-up to: Which countries are the
    #  first recipients of Japan's OSA?)"
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from rag.config import Settings
from rag.pipeline import clean_question, looks_like_refusal

REWRITE_PROMPT = (
    "Rewrite the user's last question as one standalone question that can be understood "
    "without the conversation. Keep the user's wording; only replace words like 'it', 'they' "
    "or 'each of them' with the short noun phrase they refer to, taken from the earlier "
    "question. Do not answer it. Reply with the rewritten question only.\n"
    "Example: earlier question 'Which countries signed the Camp David principles?', last "
    "question 'When did they sign them?' -> 'When did the countries that signed the Camp "
    "David principles sign them?'"
)
MAX_HISTORY_TURNS = 2
MAX_QUESTION_CHARS = Settings.max_question_chars  # the pipeline's default limit
MAX_KEY_TERMS = 8

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

    @property
    def query(self) -> str:
        return self.standalone or self.question


@dataclass
class Rewrite:
    """The retrieval query for a question and how it was obtained."""

    query: str
    method: str  # "none" (used as asked), "model" or "heuristic"

    @property
    def rewritten(self) -> bool:
        return self.method != "none"


def _norm(word: str) -> str:
    word = word.lower().replace("’", "'")
    return word[:-2] if word.endswith("'s") else word


def key_terms(text: str, limit: int = MAX_KEY_TERMS) -> list[str]:
    """Content words of ``text`` in order, as written (stop and question words dropped)."""
    seen: set[str] = set()
    terms: list[str] = []
    for token in _TOKEN.findall(text):
        norm = _norm(token)
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


def acceptable_rewrite(rewrite: str, question: str, history: Sequence[Turn]) -> bool:
    """A model rewrite must be a short question that keeps the conversation's subject."""
    if not rewrite or len(rewrite) > max(300, 3 * len(question)):
        return False
    if looks_like_refusal(rewrite) or re.search(r"\[\d+\]", rewrite):
        return False
    rewrite_words = {_norm(t) for t in _TOKEN.findall(rewrite)}
    context = {_norm(t) for t in key_terms(history[-1].query)} if history else set()
    if context and not context & rewrite_words:
        return False  # the subject of the conversation was lost
    asked = _ASKING.search(question)
    if asked and not re.search(rf"\b{asked.group(1)}\b", rewrite, re.I):
        return False  # "how much ..." must still ask how much
    own = {_norm(t) for t in key_terms(question)}
    return len(own & rewrite_words) * 2 >= len(own)  # keeps most of the follow-up's terms


def model_rewrite(question: str, history: Sequence[Turn], generator, max_tokens: int = 48) -> str:
    """Ask the generator for a standalone version of ``question`` (raw, cleaned)."""
    earlier = "\n".join(f"- {turn.query}" for turn in history[-MAX_HISTORY_TURNS:])
    user = f"Earlier questions:\n{earlier}\n\nLast question: {question}\nStandalone question:"
    messages = [{"role": "system", "content": REWRITE_PROMPT}, {"role": "user", "content": user}]
    return _clean_model_output("".join(generator.stream_chat(messages, max_tokens, 0.0)))


def rewrite_question(
    question: str,
    history: Sequence[Turn],
    generator=None,
    max_tokens: int = 48,
    max_chars: int = MAX_QUESTION_CHARS,
) -> Rewrite:
    """The query to retrieve with for ``question`` given the earlier turns.

    A question longer than ``max_chars`` (the pipeline refuses those) is returned
    unchanged without a model call, and earlier turns longer than that are not
    shown to the model: a huge text must never reach the rewrite prompt.
    """
    question = clean_question(question)
    if len(question) > max_chars:
        return Rewrite(question, "none")
    history = [turn for turn in history if len(turn.query) <= max_chars]
    if not history or not needs_context(question):
        return Rewrite(question, "none")
    if generator is not None:
        try:
            candidate = model_rewrite(question, history, generator, max_tokens)
        except Exception:  # a failed rewrite must never cost the answer
            candidate = ""
        if acceptable_rewrite(candidate, question, history):
            return Rewrite(candidate, "model")
    fallback = heuristic_rewrite(question, history)
    return Rewrite(fallback, "heuristic" if fallback != question else "none")
