"""A date asked for must be the event's date, not the date of the document.

Every passage's header carries its document's date, and `rag.checks` lets a claim's
numbers come from the header (the question's "May 2022 Tokyo statement" is there).
For "on what date / when" questions that opens a near miss: a statement of
7 February 2025 says Trump "accepted an invitation ... for an official visit to Japan
in the near future", and the model answers that the visit was scheduled for
7 February 2025 (osa-heldout7 h7-041; osa-heldout5 h5-052 likewise). The header date
is the event's date only when the evidence ties the event to the day the document
was written ("met today", "this week").

Example::

    undated_event_date("On what date was the visit scheduled?", claim, evidence)
    # "its date 7 comes from the document's date, not from what the evidence says ..."
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
# The evidence places the event on the day of writing: the header date is its date.
_DAY_OF_WRITING = re.compile(
    r"\b(?:today|tonight|yesterday|this\s+(?:morning|afternoon|evening|week))\b", re.IGNORECASE
)


def undated_event_date(question: str, claim: Claim, evidence: list[ContextSentence]) -> str | None:
    """A date the claim gives for a "when" question is in its evidence sentences, not
    only in their documents' dates (unless the evidence says "today")."""
    if not _ASKS_DATE.search(question):
        return None
    stated = " ".join(s.text for s in evidence)
    if _DAY_OF_WRITING.search(stated):
        return None
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
            f"its date {', '.join(only_header)} comes from the document's date, not from "
            "what the evidence says of the event"
        )
    return None
