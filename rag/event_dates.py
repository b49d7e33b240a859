"""A date asked for must be the event's date, not the date of the document.

Every passage's header carries its document's date, and `rag.checks` lets a claim's
numbers come from the header (the question's "May 2022 Tokyo statement" is there).
For "on what date / when" questions that opens a near miss: a statement of
7 February 2025 says Trump "accepted an invitation ... for an official visit to Japan
in the near future", and the model answers that the visit was scheduled for
7 February 2025 (osa-heldout7 h7-041; osa-heldout5 h5-052 likewise). The header date
is not the event's date when the evidence speaks of the event as still to come ("in
the near future", "will"), unless it also ties it to the day of writing ("today"). A
statement is often the event itself (a signing, a summit), so a past or plain
sentence keeps the document's date (osa-heldout5 h5-006, osa-heldout6 h6-037 were
refused by a first version that asked for "today").

Example::

    undated_event_date("On what date was the visit scheduled?", claim, evidence)
    # "its date 7 comes from the document's date, but the evidence speaks of the event ..."
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from rag.citations import number_values
from rag.types import ContextSentence

if TYPE_CHECKING:
    from rag.checks import Claim

_ASKS_DATE = re.compile(
    r"\b(?:when|(?:what|which)\s+(?:\w+\s+)?(?:date|day|month|year))\b", re.IGNORECASE
)
# The sentence speaks of the event as still to come: the document's date is not its date.
_TO_COME = re.compile(
    r"\b(?:will|shall|plans?\s+to|intends?\s+to|upcoming|forthcoming|soon|invit\w*|"
    r"in\s+the\s+(?:near\s+)?future|look(?:s|ing)?\s+forward|next\s+(?:year|month|week)|"
    r"later\s+this\s+(?:year|month)|this\s+(?:spring|summer|fall|autumn|winter))\b",
    re.IGNORECASE,
)
# The sentence places the event on the day of writing: the document's date is its date.
_DAY_OF_WRITING = re.compile(
    r"\b(?:today|tonight|yesterday|this\s+(?:morning|afternoon|evening|week))\b", re.IGNORECASE
)


def _closest(claim: Claim, evidence: list[ContextSentence]) -> list[ContextSentence]:
    """The evidence sentences sharing most words with the claim: the ones about its event
    (a model often names a neighbouring sentence too, "met today" beside "a visit in the
    near future")."""
    words = set(re.findall(r"[a-z]{3,}", claim.text.lower()))
    shared = [len(words & set(re.findall(r"[a-z]{3,}", s.text.lower()))) for s in evidence]
    return [s for s, n in zip(evidence, shared, strict=True) if n == max(shared, default=0)]


def undated_event_date(question: str, claim: Claim, evidence: list[ContextSentence]) -> str | None:
    """A date the claim gives for a "when" question is in its evidence sentences, not
    only in their documents' dates, when the evidence speaks of the event as still to
    come (a statement is often the event itself: a signing, a summit, a meeting)."""
    if not _ASKS_DATE.search(question) or not evidence:
        return None
    about = _closest(claim, evidence)
    if not all(_TO_COME.search(s.text) and not _DAY_OF_WRITING.search(s.text) for s in about):
        return None
    stated = " ".join(s.text for s in evidence)
    headers = " ".join(dict.fromkeys(s.title for s in evidence if s.title))
    in_text = {v for vals in number_values(stated).values() for v in vals}
    in_header = {v for vals in number_values(headers).values() for v in vals}
    asked = set(number_values(question))
    only_header = [
        token
        for token, values in number_values(claim.text).items()
        if token not in asked and not values & in_text and values & in_header
    ]
    if only_header:
        return (
            f"its date {', '.join(only_header)} comes from the document's date, but the "
            "evidence speaks of the event as still to come"
        )
    return None
