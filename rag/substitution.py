"""Substitution for short follow-ups: "What about X?" -> the earlier question with X in it.

No model call: a short "What about X?" / "And for X?" / "How about X?" / "And X?"
follow-up becomes the earlier standalone question with X put in place of the name
of the same kind ("How much OSA funding did Malaysia receive?" + "And what about the
Philippines?" -> "How much OSA funding did the Philippines receive?"). The names
are the capitalised phrases of the earlier query (not its first word; a leading
"the" belongs to the name); acronyms are only replaced by acronyms, years by years.
The name most like X is chosen with the embedder when there is one, else the last.
Used by `rag.conversation.Conversation`, which falls back to a model rewrite.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from rag.config import Settings

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
    if any(norm_word(w.strip(",")) in _NOT_A_NAME for w in words):
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


def choose_name(
    candidates: Sequence[Name],
    subject: str,
    embedder=None,
    similar_share: float = Settings.substitution_similar_share,
) -> Name | None:
    """The candidate ``subject`` replaces: the last of those most like it.

    With an embedder, the candidates whose cosine with ``subject`` is at least
    ``similar_share`` of the best one's are of its kind ("Fiji": Japan and Malaysia,
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
        floor = similar_share * max(scores)
        candidates = [c for c, score in zip(candidates, scores, strict=True) if score >= floor]
    return candidates[-1]


def substitute(
    question: str,
    earlier: str,
    embedder=None,
    similar_share: float = Settings.substitution_similar_share,
) -> str | None:
    """``earlier`` with the subject of a "What about X?" ``question`` in place of the
    name of the same kind (``similar_share`` as in `choose_name`); None when ``question``
    is not such a follow-up or ``earlier`` has no name to replace."""
    subject = short_follow_up_subject(question)
    if subject is None:
        return None
    names = find_names(earlier)
    chosen = choose_name(_candidates(names, subject), subject, embedder, similar_share)
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


def norm_word(word: str) -> str:
    word = word.lower().replace("’", "'")
    return word[:-2] if word.endswith("'s") else word
