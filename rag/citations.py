"""Text helpers for checking answers: content words, ``[n]`` markers, numbers, names.

`rag.checks` uses them to compare an answer sentence with the evidence the model
named: which numbers it states (and whether one arithmetic step from the
evidence's numbers yields them), which names it uses, what it adds to the question.
"""

from __future__ import annotations

import re

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

_MARKER = re.compile(r"\s*\[(\d+(?:\s*[,;-]\s*\d+)*)\]")
_WORD = re.compile(r"[a-z0-9]+(?:[.,][0-9]+)*")


def content_words(text: str) -> list[str]:
    """Lowercased words and numbers that carry meaning (stop words removed)."""
    return [w for w in _WORD.findall(text.lower()) if w not in ENGLISH_STOP_WORDS]


def parse_markers(sentence: str) -> tuple[str, list[int]]:
    """Strip ``[n]``/``[1, 2]``/``[1-3]`` markers; return clean text and the numbers."""
    numbers: list[int] = []
    for match in _MARKER.finditer(sentence):
        for part in re.split(r"\s*[,;]\s*", match.group(1)):
            if "-" in part:
                lo, hi = (int(x) for x in part.split("-", 1))
                numbers.extend(range(lo, min(hi, lo + 20) + 1))
            elif part:
                numbers.append(int(part))
    clean = _MARKER.sub("", sentence).strip()
    clean = re.sub(r"\s+([.,;:!?])", r"\1", clean)
    return clean, list(dict.fromkeys(numbers))


_NUMBER = re.compile(
    r"(?<![\w.])(\d+(?:[.,]\d+)*)(?:\s*(thousand|million|billion|trillion|percent|%))?",
    re.IGNORECASE,
)
_SCALES = {"thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12}
_NUMBER_WORDS = {
    "half": 0.5, "quarter": 0.25, "third": 1 / 3, "fourth": 0.25, "fifth": 0.2,
    "twice": 2, "double": 2, "triple": 3, "fourfold": 4, "tenfold": 10,
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "hundred": 100,
}  # fmt: skip


def _is_year(value: float) -> bool:
    return value.is_integer() and 1800 <= value <= 2200


def number_values(text: str) -> dict[str, set[float]]:
    """Numbers in ``text``: token (as `content_words` spells it) -> its possible values
    ("2 billion" -> {2, 2e9}; "25%" -> {25, 0.25})."""
    values: dict[str, set[float]] = {}
    for match in _NUMBER.finditer(text):
        token, unit = match.group(1), (match.group(2) or "").lower()
        try:
            base = float(token.replace(",", ""))
        except ValueError:
            continue
        found = values.setdefault(token.lower(), set())
        found.add(base)
        if unit in _SCALES:
            found.add(base * _SCALES[unit])
        elif unit in ("percent", "%"):
            found.add(base / 100)
    return values


def _passage_numbers(text: str) -> set[float]:
    numbers = {v for vals in number_values(text).values() for v in vals}
    words = set(re.findall(r"[a-z]+", text.lower()))
    numbers.update(float(v) for w, v in _NUMBER_WORDS.items() if w in words)
    return numbers


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-6 * max(1.0, abs(a), abs(b))


def derivable(value: float, passage_numbers: set[float]) -> bool:
    """True when ``value`` is in the passage or one arithmetic step from two of its
    numbers ("a quarter of 2 billion" -> 500 million). Years are never derived."""
    if any(_close(value, p) for p in passage_numbers):
        return True
    if _is_year(value):
        return False
    pool = [p for p in passage_numbers if not _is_year(p)]
    for a in pool:
        for b in pool:
            candidates = (a * b, a + b, a - b, a / b if b else None, a * b * 100)
            if any(c is not None and _close(value, c) for c in candidates):
                return True
    return False


def unsupported_numbers(sentence: str, passage: str, passage_words: set[str]) -> set[str]:
    """Number tokens of ``sentence`` that ``passage`` neither states nor yields by one
    arithmetic step (a percentage from a fraction, a share of a total, a sum)."""
    missing = {w for w in content_words(sentence) if any(ch.isdigit() for ch in w)} - passage_words
    if not missing:
        return set()
    values = number_values(sentence)
    pool = _passage_numbers(passage)
    return {
        token for token in missing if not any(derivable(v, pool) for v in values.get(token, set()))
    }


# Words an answer uses to talk about its sources rather than the subject.
_META_WORDS = {
    "seed", "article", "passage", "passages", "document", "documents", "text", "source",
    "states", "stated", "state", "says", "said", "according", "mentions", "mentioned",
    "provided", "information", "answer", "question", "fact", "sheet", "statement",
}  # fmt: skip
_STEMMER = None


def _stem(word: str) -> str:
    global _STEMMER
    if _STEMMER is None:
        import Stemmer  # PyStemmer, also used by the BM25 index

        _STEMMER = Stemmer.Stemmer("english")
    return _STEMMER.stemWord(word)


def new_information(answer: str, question: str) -> set[str]:
    """Content words (stemmed) of ``answer`` that the question did not already say.

    An empty set means the answer only restates the question ("Japan provided
    equipment to Fiji under the OSA." for "What equipment did Japan provide to
    Fiji under the OSA?"): a small model's way of not knowing.
    """
    asked = {_stem(w) for w in content_words(question)}
    said = {_stem(w) for w in content_words(parse_markers(answer)[0]) if w not in _META_WORDS}
    return said - asked


# Capitalized words that name something (not all-caps acronyms, whose expansions vary).
_CAPITALIZED = re.compile(r"\b[A-Z][a-z][A-Za-z]*")
_CALENDAR = {
    "january", "february", "march", "april", "may", "june", "july", "august", "september",
    "october", "november", "december", "monday", "tuesday", "wednesday", "thursday",
    "friday", "saturday", "sunday",
}  # fmt: skip
# "How many ...", "What percentage ...", "In what year ...", "On what date ..." ask for a
# number (a date without one, "later this year", does not answer: osa-heldout5 h5-045).
_ASKS_NUMBER = re.compile(
    r"\bhow\s+(many|much|old)\b|\b(what|which)\s+(\w+\s+){0,2}"
    r"(year|date|number|amount|value|percentage|share|rate|total|sum|size|figure|price|cost)s?\b",
    re.IGNORECASE,
)


def asks_for_number(question: str) -> bool:
    """True when the question asks for a quantity, a year or another figure."""
    return bool(_ASKS_NUMBER.search(question))


# A number that is part of a name ("COVID-19", "F-16") states no quantity.
_NAMED_NUMBER = re.compile(r"\b[A-Za-z]+-\d+\b")


def states_number(text: str) -> bool:
    """True when ``text`` contains a number (digits or a number word), not counting
    numbers inside names: "the contributions of Filipino Americans during COVID-19" does
    not answer "how many Filipinos served" (osa-heldout8 h8-050)."""
    text = _NAMED_NUMBER.sub(" ", text)
    words = set(re.findall(r"[a-z]+", text.lower()))
    return bool(number_values(text)) or any(w in words for w in _NUMBER_WORDS)


def question_names(question: str) -> set[str]:
    """Stemmed capitalized content words of the question (countries, people, programmes)."""
    names = {w.lower() for w in _CAPITALIZED.findall(question)}
    ignored = ENGLISH_STOP_WORDS | _META_WORDS | _CALENDAR
    return {_stem(w) for w in names if w not in ignored}


def missing_names(sentence: str, names: set[str], passage_stems: set[str]) -> set[str]:
    """Names from the question that ``sentence`` uses but the passage never mentions.

    A small model answering from a passage about another country or programme
    tends to carry the question's name over ("the tariff rate for Fiji" from a
    passage on Bangladesh): such a sentence is not supported by that passage.
    """
    used = {_stem(w.lower()) for w in _CAPITALIZED.findall(sentence)}
    return (used & names) - passage_stems


def lexical_support(sentence_words: list[str], passage_words: set[str]) -> float:
    if not sentence_words:
        return 0.0
    return sum(1 for w in sentence_words if w in passage_words) / len(sentence_words)


def _merge_marker_only(answer: str, spans: list) -> tuple[list, list[tuple[str, list[int]]]]:
    """Fold a span holding only markers (``... Fiji. [1][2]``) into the sentence before it."""
    kept_spans: list = []
    pieces: list[tuple[str, list[int]]] = []
    for span in spans:
        clean, numbers = parse_markers(answer[span.start : span.end])
        if not clean and kept_spans:
            prev_clean, prev_numbers = pieces[-1]
            pieces[-1] = (prev_clean, list(dict.fromkeys(prev_numbers + numbers)))
            kept_spans[-1] = type(span)(kept_spans[-1].start, span.end)
            continue
        if not clean and not numbers:
            continue
        kept_spans.append(span)
        pieces.append((clean, numbers))
    return kept_spans, pieces


def with_markers(text: str, numbers: list[int]) -> str:
    if not numbers:
        return text
    marks = "".join(f"[{n}]" for n in numbers)
    if text and text[-1] in ".!?":
        return f"{text[:-1]} {marks}{text[-1]}"
    return f"{text} {marks}"
