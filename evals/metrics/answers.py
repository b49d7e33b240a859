"""Answer metrics (SQuAD v2 definitions: exact match, token F1), answer containment,
keyword accuracy, and the follow-up rewrite's query keyword recall."""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCT = set(string.punctuation) | {"\u2019", "\u2018", "\u201c", "\u201d", "\u2013", "\u2014"}
_MARKERS = re.compile(r"\s*\[\d+(?:\s*[,;-]\s*\d+)*\]")


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lowercase, drop punctuation and articles, collapse spaces."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCT)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def strip_citations(text: str) -> str:
    """Remove ``[n]`` citation markers from an answer."""
    return " ".join(_MARKERS.sub("", text or "").split())


def _tokens(text: str) -> list[str]:
    return normalize_answer(text).split()


def exact_match(prediction: str, golds: Sequence[str]) -> float | None:
    """1.0 when the normalised prediction equals any normalised gold answer."""
    golds = [g for g in golds if g.strip()]
    if not golds:
        return None
    pred = normalize_answer(prediction)
    return float(any(pred == normalize_answer(g) for g in golds))


def _f1(pred_tokens: list[str], gold_tokens: list[str]) -> float:
    if not pred_tokens or not gold_tokens:
        return float(pred_tokens == gold_tokens)
    common = Counter(pred_tokens) & Counter(gold_tokens)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision = same / len(pred_tokens)
    recall = same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def token_f1(prediction: str, golds: Sequence[str]) -> float | None:
    """SQuAD token F1: the best F1 of the prediction's bag of words against any gold answer."""
    golds = [g for g in golds if g.strip()]
    if not golds:
        return None
    pred = _tokens(prediction)
    return max(_f1(pred, _tokens(g)) for g in golds)


# Joiners that separate words in running text: "Tagalog-language" contains "Tagalog".
_JOINERS = re.compile("[-/\u2010-\u2015]")
_POSSESSIVE = re.compile(r"(?<=\w)['\u2019]s\b")


def _words(text: str) -> str:
    """``text`` normalised for whole-word search, a joined compound counting as its words
    (SQuAD's normalisation, kept for EM and F1, glues them: "tagaloglanguage") and a
    possessive as its word ("indonesias" missed the keyword Indonesia: h8-031)."""
    return normalize_answer(_JOINERS.sub(" ", _POSSESSIVE.sub("", text)))


def contains_answer(prediction: str, golds: Sequence[str]) -> float | None:
    """1.0 when any normalised gold answer occurs (as whole words) in the normalised prediction."""
    golds = [g for g in golds if _words(g)]
    if not golds:
        return None
    pred = f" {_words(prediction)} "
    return float(any(f" {_words(g)} " in pred for g in golds))


def keyword_scores(prediction: str, keywords: Sequence[str]) -> tuple[float | None, float | None]:
    """(all keywords present: 0/1, share of keywords present); ``None`` without keywords."""
    keywords = [k for k in keywords if _words(k)]
    if not keywords:
        return None, None
    pred = f" {_words(prediction)} "
    hits = [f" {_words(k)} " in pred for k in keywords]
    return float(all(hits)), sum(hits) / len(hits)


def answer_scores(
    prediction: str, refused: bool, answers: Sequence[str], keywords: Sequence[str] = ()
) -> dict[str, float | None]:
    """All answer metrics for one question; a refusal is scored as the empty answer."""
    pred = "" if refused else strip_citations(prediction)
    kw_all, kw_share = keyword_scores(pred, keywords)
    return {
        "em": exact_match(pred, answers),
        "f1": token_f1(pred, answers),
        "contains": contains_answer(pred, answers),
        "keywords_all": kw_all,
        "keywords_share": kw_share,
    }


# -- follow-up rewriting ------------------------------------------------------------------

_WORD = re.compile(r"[a-z0-9]+(?:['.\-][a-z0-9]+)*")
_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'"})
_AUX = {"did", "does", "do", "get", "got"}  # asked with, not asked about


def content_words(text: str) -> set[str]:
    """Lowercased words minus stop words; possessive 's and plural -s/-ies are undone."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    words = set()
    for word in _WORD.findall((text or "").lower().translate(_QUOTES)):
        word = word.removesuffix("'s").strip(".")
        if not word or word in ENGLISH_STOP_WORDS or word in _AUX:
            continue
        if len(word) > 4 and word.endswith("ies"):
            word = word[:-3] + "y"
        elif len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        words.add(word)
    return words


def query_keyword_recall(query: str, standalone: str | None) -> float | None:
    """Share of the standalone question's content words found in the search query.

    ``None`` without a reference standalone question (or one with no content words).
    """
    wanted = content_words(standalone or "")
    if not wanted:
        return None
    return len(wanted & content_words(query)) / len(wanted)
