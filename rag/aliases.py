"""Other names a question may use for what its evidence names (`rag.checks`).

A question says "Tokyo" or "Washington" for the governments, "American" for the
United States, "South Korea" for "the ROK". The coverage checks (is every name of the
question in the evidence?) refused right answers for those (most of the 15 coverage
refusals of answerable questions on osa-heldout4, see evals/README.md): here a name
counts as covered by its other names.

A name an answer adds may likewise be in its evidence by another name of the same
country ("the United States" for "the U.S."). A leader is not covered by his country
(see `covered_names`).
"""

from __future__ import annotations

import re

from rag.citations import _stem
from rag.countries import CAPITALS, COUNTRIES


def _stem_set(*words: str) -> frozenset[str]:
    return frozenset(_stem(w) for w in words)


# Words of the evidence that together name a country, beyond its own name.
_NAMED_BY = {  # country -> sets of evidence words that name it
    # not "America" alone: "Latin America" is not the United States (osa-heldout4 h4-058)
    "united": (_stem_set("united", "states"), _stem_set("u", "s"), _stem_set("usa")),
    "korea": (_stem_set("rok"), _stem_set("dprk")),
    "britain": (_stem_set("uk"), _stem_set("united", "kingdom"), _stem_set("british")),
    "china": (_stem_set("prc"),),
    "europe": (_stem_set("european"), _stem_set("eu")),
}
# Question words that stand for a country (a capital stands for its own: `CAPITALS`,
# by its last word; here the first words of two-word capitals).
_STANDS_FOR = {
    "america": "united", "american": "united", "kingdom": "britain", "uk": "britain",
    "kuala": "malaysia", "phnom": "cambodia", "bandar": "brunei", "seri": "brunei",
}  # fmt: skip
# Names a fact can be misattributed between: they must be in the passages read.
_COUNTRY_WORDS = frozenset(
    _stem(word)
    for word in (*COUNTRIES, *CAPITALS, *_NAMED_BY, *_STANDS_FOR, "rok", "dprk", "prc", "usa", "eu")
)


# The tables above as stems, built once (the checks run on every answer):
# country -> evidence word sets naming it; (word, country) pairs a word stands for.
_NAMED_BY_STEMS = {_stem(country): names for country, names in _NAMED_BY.items()}
_STANDS_FOR_STEMS = [
    (_stem(word), _stem(country)) for word, country in (*_STANDS_FOR.items(), *CAPITALS.items())
]


def names_a_country(name: str) -> bool:
    """Whether a name (stem) is a country, its capital or another name of it."""
    return name in _COUNTRY_WORDS


# Words a question names only as a setting the statements share: "the White House"
# is their publisher, "South"/"North" qualify Korea, which the evidence may call the
# ROK / DPRK. (So coverage no longer tells the two Koreas apart: a known loss.)
_SETTING = re.compile(r"\b(?:the\s+)?White\s+House\b|\b(?:South|North)(?=\s+Korea)", re.I)


def strip_setting(question: str) -> str:
    """The question without the names that only say where the statements come from."""
    return _SETTING.sub(" ", question)


def covered_names(have: set[str]) -> set[str]:
    """``have`` (stems of the evidence) with the names it covers by other words: a
    country's other names and its capital. Not a leader by his country: "Biden,
    Ishiba and Marcos on their January 2025 call" was let through by a statement of
    that month naming Japan and the Philippines (osa-heldout3 h3-016, a wrong answer)."""
    covered = set(have)
    for country, names in _NAMED_BY_STEMS.items():
        if any(words <= have for words in names):
            covered.add(country)
    covered |= {word for word, country in _STANDS_FOR_STEMS if country in covered}
    return covered
