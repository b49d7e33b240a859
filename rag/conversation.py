"""Follow-up questions -> standalone search queries, in one `Conversation`.

"And how much did each of them get?" cannot be retrieved on its own. A
`Conversation` keeps the earlier turns (question, standalone query, method) and
rewrites each new question that leans on them, in this order:

1. **Substitution** (no model call): a short "What about X?" / "And for X?" /
   "How about X?" / "And X?" follow-up becomes the earlier standalone question
   with X put in place of the name of the same kind ("How much OSA funding did
   Malaysia receive?" + "And what about the Philippines?" -> "How much OSA
   funding did the Philippines receive?"). The names are the capitalised phrases
   of the earlier query (not its first word; a leading "the" belongs to the
   name); acronyms are only replaced by acronyms, years by years. The name most
   like X is chosen with the embedder when there is one, else the last name.
2. **Model rewrite**: the generator rewrites it with a short fixed prompt that
   shows the earlier questions only: with the answers in view, small models tend
   to paste the answer into the question ("How much did Malaysia, the
   Philippines, ... receive?"), which then reads as a new question.
3. **Heuristic**: a rewrite that drops the conversation's subject or the
   follow-up's own terms, or no generator at all, falls back to the question
   naming the earlier one.

Standalone questions are passed through untouched (no model call), and so are
questions over the length limit (the pipeline refuses them anyway). The chat UI,
`rag chat` and the evaluation harness all go through `Conversation`.

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
from collections.abc import Sequence
from dataclasses import dataclass

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from rag.config import Settings
from rag.prompt_safety import clean_question, looks_like_refusal

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


# -- substitution: "What about X?" -------------------------------------------------------
# The short follow-up forms, matched on the question without its final punctuation.
_SHORT_FORMS = (
    re.compile(  # "What about X?", "And how about for X?", "OK, what about in X?"
        r"^(?:(?:and|but|so|ok|okay|then|now|also)\b[\s,]*)*(?:what|how)\s+about\s+"
        r"(?:(?:for|in|with|on|regarding)\s+)?(?P<x>.+)$",
        re.IGNORECASE,
    ),
    re.compile(  # "Same for X?", "And the same for X?"
        r"^(?:(?:and|but|so|then|now)\b[\s,]*)*(?:the\s+)?same\s+(?:for|with|about)\s+(?P<x>.+)$",
        re.IGNORECASE,
    ),
    re.compile(r"^(?:and\s+)?what\s+of\s+(?P<x>.+)$", re.IGNORECASE),  # "What of X?"
    re.compile(  # "And for X?", "And in X?", "And X?"
        r"^and\b[\s,]*(?:(?:for|in|with|on|regarding)\s+)?(?P<x>.+)$", re.IGNORECASE
    ),
)
MAX_SUBJECT_WORDS = 6
SIMILAR_SHARE = 0.65  # names with at least this share of the best cosine are of X's kind
# Words that make X a question of its own rather than a name ("And how much?", "What about it?").
_NOT_A_NAME = {
    "how", "what", "which", "who", "whom", "whose", "when", "where", "why", "did", "do", "does",
    "is", "are", "was", "were", "will", "would", "can", "could", "should", "has", "have", "had",
    "it", "its", "they", "them", "their", "this", "that", "these", "those", "he", "him", "his",
    "she", "her", "each", "else", "more", "other", "others", "all", "both", "same", "there",
    "then", "so", "now", "you", "i", "me", "we", "us",
}  # fmt: skip
_NAME_JOINERS = {"of", "and", "&", "the"}
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’.\-]*")
_NUMBER = re.compile(r"^\d[\d,.]*$")
_MONTHS = {
    "january", "february", "march", "april", "may", "june", "july", "august", "september",
    "october", "november", "december",
}  # fmt: skip


@dataclass
class Name:
    """One occurrence of a name (or number) in a query: ``text`` spans ``start:end``."""

    text: str  # as written, with a leading "the" when there is one
    start: int
    end: int

    @property
    def core(self) -> str:
        """The name without a leading "the", for comparing and embedding."""
        return re.sub(r"^the\s+", "", self.text, flags=re.IGNORECASE)

    @property
    def key(self) -> str:
        return self.core.lower()

    @property
    def acronym(self) -> bool:
        return is_acronym(self.core)

    @property
    def number(self) -> bool:
        return bool(_NUMBER.match(self.core))


def is_acronym(name: str) -> bool:
    """ "OSA", "U.S.", "ASEAN-U.S.", "COVID-19": every letter a capital, and some letters."""
    core = re.sub(r"^the\s+", "", name.strip(), flags=re.IGNORECASE)
    letters = [c for c in core if c.isalpha()]
    return bool(letters) and len(letters) <= 12 and all(c.isupper() for c in letters)


def short_follow_up_subject(question: str) -> str | None:
    """X of a short "What about X?" / "And for X?" / "And X?" follow-up, as written; else None.

    X must look like a name: at most six words, none of them a question word, pronoun or
    verb, and (unless the user writes everything in lower case) each word capitalised,
    a number, or "the" / "of" / "and".
    """
    text = re.sub(r"[\s?.!]+$", "", question.strip())
    for pattern in _SHORT_FORMS:
        match = pattern.match(text)
        if match:
            break
    else:
        return None
    subject = match.group("x").strip(" ,;:\"'“”")
    words = subject.split()
    if not words or len(words) > MAX_SUBJECT_WORDS or len(subject) > 80:
        return None
    if any(_norm(w.strip(",")) in _NOT_A_NAME for w in words):
        return None
    if question == question.lower():  # a lower-case writer: any short subject is a name
        return subject
    named = False
    for word in words:
        word = word.strip(",")
        if word.lower() in _NAME_JOINERS:
            continue
        if not (word[:1].isupper() or word[:1].isdigit()):
            return None  # "What about the budget?" is not about a name
        named = True
    return subject if named else None


def find_names(query: str) -> list[Name]:
    """Capitalised phrases of ``query`` after its first word, and its numbers, in order.

    Consecutive capitalised words make one name ("Camp David", "Prime Minister
    Anwar"), a month takes its year ("September 2021"), "of" joins two ("the
    Republic of Korea"), a leading "the" is part of it ("the Philippines") and a
    possessive "'s" is not ("Japan's" -> "Japan").
    """
    words = list(_WORD.finditer(query))
    names: list[Name] = []
    for match in words:  # every number is a name of its own, also inside "September 2021"
        text = match.group().rstrip(".,")
        if _NUMBER.match(text):
            names.append(Name(text, match.start(), match.start() + len(text)))
    i = 1  # the first word is capitalised anyway
    while i < len(words):
        word = words[i].group()
        if not word[:1].isupper():
            i += 1
            continue
        first = last = i
        while last + 1 < len(words):
            nxt = words[last + 1].group()
            gap = query[words[last].end() : words[last + 1].start()]
            if gap.strip() or words[last].group().endswith(("'s", "’s")):
                break  # "Malaysia, the Philippines", "Japan's OSA": two names
            if _NUMBER.match(nxt.rstrip(".,")) and words[last].group().lower() in _MONTHS:
                last += 1  # "September 2021"
                break
            if nxt[:1].isupper():
                last += 1
            elif (
                nxt == "of"
                and last + 2 < len(words)
                and words[last + 2].group()[:1].isupper()
                and not query[words[last + 1].end() : words[last + 2].start()].strip()
            ):
                last += 2
            else:
                break
        start, end = words[first].start(), words[last].end()
        text = query[start:end]
        possessive = re.search(r"(?:'s|’s)$", text)
        if possessive:
            end -= len(possessive.group())
        elif text.endswith(".") and text.count(".") == 1:
            end -= 1  # a sentence's full stop, not "U.S."
        if words[first - 1].group().lower() == "the":
            gap = query[words[first - 1].end() : start]
            if not gap.strip():
                start = words[first - 1].start()
        names.append(Name(query[start:end], start, end))
        i = last + 1
    return sorted(names, key=lambda name: name.start)


def _candidates(names: Sequence[Name], subject: str) -> list[Name]:
    """The names of the same kind as ``subject`` (one per name, last occurrence order)."""
    kind = (
        "number"
        if _NUMBER.match(subject.strip())
        else ("acronym" if is_acronym(subject) else "name")
    )
    key = re.sub(r"^the\s+", "", subject.strip(), flags=re.IGNORECASE).lower()

    def kind_of(name: Name) -> str:
        return "number" if name.number else ("acronym" if name.acronym else "name")

    same = [n for n in names if kind_of(n) == kind and n.key != key]
    if not same and kind != "number":  # any name rather than none (no numbers for a name)
        same = [n for n in names if not n.number and n.key != key]
    unique: dict[str, Name] = {}
    for name in same:
        unique.pop(name.key, None)
        unique[name.key] = name  # ordered by last occurrence
    return list(unique.values())


def choose_name(candidates: Sequence[Name], subject: str, embedder=None) -> Name | None:
    """The candidate ``subject`` replaces: the last of those most like it.

    With an embedder, the candidates whose cosine with ``subject`` is at least
    `SIMILAR_SHARE` of the best one's are of its kind ("Fiji": Japan and Malaysia,
    not September 2023; "President Marcos": the two leaders, not Tokyo); among them,
    as without an embedder, the last one wins: a question names its subject late
    ("How much of Japan's OSA budget was allotted to Malaysia?"). Single names are
    embedded out of context, so this only sorts out kinds, not roles.
    """
    if not candidates:
        return None
    if embedder is not None and len(candidates) > 1:
        try:
            target = embedder.encode_query(re.sub(r"^the\s+", "", subject, flags=re.I))
            scores = [float(target @ embedder.encode_query(c.core)) for c in candidates]
        except Exception:  # a failing embedder must never cost the answer
            return candidates[-1]
        floor = SIMILAR_SHARE * max(scores)
        candidates = [c for c, score in zip(candidates, scores, strict=True) if score >= floor]
    return candidates[-1]


def substitute(question: str, earlier: str, embedder=None) -> str | None:
    """``earlier`` with the subject of a "What about X?" ``question`` in place of the
    name of the same kind; None when ``question`` is not such a follow-up or ``earlier``
    has no name to replace."""
    subject = short_follow_up_subject(question)
    if subject is None:
        return None
    names = find_names(earlier)
    chosen = choose_name(_candidates(names, subject), subject, embedder)
    if chosen is None:
        return None
    result = earlier
    for name in sorted((n for n in names if n.key == chosen.key), key=lambda n: -n.start):
        replacement = subject
        if name.start == 0:
            replacement = replacement[:1].upper() + replacement[1:]
        elif replacement[:4] == "The ":
            replacement = "the " + replacement[4:]  # mid-sentence article
        after = result[name.end : name.end + 2]
        if after in ("'s", "’s") and replacement.endswith("s"):
            result = result[: name.start] + replacement + after[0] + result[name.end + 2 :]
        else:
            result = result[: name.start] + replacement + result[name.end :]
    return result


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
        """From `to_dict`, or a chat UI session turn (``search_query``, an `Answer`)."""
        standalone = data.get("standalone", data.get("search_query"))
        answer = data.get("answer")
        if answer is not None and not isinstance(answer, str):
            answer = getattr(answer, "answer", None)
        method = data.get("method") or ("heuristic" if standalone else "none")
        return cls(str(data["question"]), standalone or None, method, answer)


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


class Conversation:
    """The turns of one chat and the rewriting of each new question into a search query.

    ``generator`` (model rewrites) and ``embedder`` (choosing the name a "What about
    X?" replaces) are optional; `for_pipeline` takes both from a `RagPipeline`, the
    generator only when a model rewrite is needed. Typical use, per question::

        rewrite = conversation.rewrite(question)
        answer = pipeline.ask(question, search_query=rewrite.search_query)  # or stream
        conversation.add(question, rewrite, answer)
    """

    def __init__(
        self,
        turns: Sequence[Turn | dict] = (),
        generator=None,
        embedder=None,
        max_chars: int = MAX_QUESTION_CHARS,
        max_tokens: int = 48,
    ):
        self.turns: list[Turn] = [t if isinstance(t, Turn) else Turn.from_dict(t) for t in turns]
        self._generator = generator
        self.embedder = embedder
        self.max_chars = max_chars
        self.max_tokens = max_tokens
        self._pipeline = None

    @classmethod
    def for_pipeline(cls, pipeline, turns: Sequence[Turn | dict] = ()) -> Conversation:
        """A conversation rewriting with ``pipeline``'s generator, embedder and limit."""
        conversation = cls(
            turns,
            embedder=getattr(pipeline, "embedder", None),
            max_chars=pipeline.settings.max_question_chars,
        )
        conversation._pipeline = pipeline
        return conversation

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
                candidate = model_rewrite(question, history, generator, self.max_tokens)
            except Exception:  # a failed rewrite must never cost the answer
                candidate = ""
            if acceptable_rewrite(candidate, question, history):
                return Rewrite(candidate, "model")
        fallback = heuristic_rewrite(question, history)
        return Rewrite(fallback, "heuristic" if fallback != question else "none")

    def substitution(self, question: str, history: Sequence[Turn]) -> str | None:
        """A "What about X?" ``question`` as the latest standalone earlier query with X in it.

        Heuristic queries ("... (follow-up to: ...)") are not standalone questions and are
        skipped; only the last `MAX_HISTORY_TURNS` turns are looked at.
        """
        if short_follow_up_subject(question) is None:
            return None
        for turn in reversed(history[-MAX_HISTORY_TURNS:]):
            if turn.method == "heuristic":
                continue
            result = substitute(question, turn.query, self.embedder)
            if result is None:
                return None
            result = clean_question(result)
            return result if len(result) <= self.max_chars and result != turn.query else None
        return None

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
    max_chars: int = MAX_QUESTION_CHARS,
    embedder=None,
) -> Rewrite:
    """`Conversation.rewrite` for ``question`` after the turns ``history``."""
    conversation = Conversation(history, generator, embedder, max_chars, max_tokens)
    return conversation.rewrite(question)
