"""rag.checks: each check rejects a hand-made near-miss draft and passes a right one.

The drafts are built with `make_draft` over hand-made numbered context sentences,
as the pipeline builds them from the model's reply. Every function of
`CLAIM_CHECKS` and `ANSWER_CHECKS` has a case here, and each near miss is caught
*only* by its own check: removing that check from its list lets the near miss
through, so no check can be dropped without a test failing.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from rag.checks import (
    ANSWER_CHECKS,
    CLAIM_CHECKS,
    adds_information,
    asked_thing_covered,
    evidence_text,
    facts_about_question_countries,
    first_failure,
    make_draft,
    names_evidence,
    names_in_evidence,
    number_when_asked,
    numbers_in_evidence,
    question_figures_covered,
    question_names_covered,
    undated_event_date,
    words_in_evidence,
)
from rag.types import ContextSentence

KISHIDA = "Kishida visit to the Philippines"
RADAR = "Under OSA, Japan gifted to Manila a coastal radar system valued at $4 million."
RECIPIENTS = "The first recipients of OSA are Malaysia, the Philippines, Bangladesh, and Fiji."
OSA_TITLE = "Japan's Official Security Assistance"
# The seed sentence behind the reported near miss: the radar went to Manila.
OUTREACH = (
    "Beyond his outreach to Malaysia, he visited the Philippines, where Japan gifted "
    "to Manila a coastal radar system valued at $4 million."
)

ANWAR = "Prime Minister Anwar Ibrahim hosted the President in Kuala Lumpur."
STATEMENT_OF_7_FEBRUARY = "United States-Japan Joint Leaders' Statement (7 February 2025)"
VISIT = "President Trump accepted an invitation for an official visit to Japan in the near future."
VISIT_DATED = "President Trump will make an official visit to Japan on 7 February 2025."


def context(*texts: str, title: str = KISHIDA, n: int = 1) -> list[ContextSentence]:
    """Numbered sentences of one passage, as `number_context` makes them."""
    out, at = [], 0
    for s, text in enumerate(texts, start=1):
        out.append(ContextSentence(f"{n}.{s}", n, text, at, at + len(text), title))
        at += len(text) + 1
    return out


@dataclass
class Case:
    """A question over evidence, with a near-miss answer and a right one."""

    question: str
    sentences: list[ContextSentence]
    near_miss: str
    right: str
    reason: str  # part of the near miss's reason
    named: list[str] | None = None  # ids the model names in the near miss (default: all)
    right_context: list[ContextSentence] | None = None  # when the right case differs
    right_question: str | None = None


CLAIM_CASES: dict[str, Case] = {
    "numbers_in_evidence": Case(
        "How much OSA funding did the Philippines receive?",
        context(RADAR),
        near_miss="The radar system given to the Philippines was valued at $6 million [1].",
        right="The radar system given to the Philippines was valued at $4 million [1].",
        reason="its figure 6 is not in the evidence",
    ),
    "undated_event_date": Case(
        # h7-041: the statement's date given as the date of a visit it leaves undated
        "On what date was Trump's official visit to Japan scheduled?",
        context(VISIT, title=STATEMENT_OF_7_FEBRUARY),
        near_miss="The official visit to Japan was scheduled for 7 February 2025 [1].",
        right="The official visit to Japan was scheduled for 7 February 2025 [1].",
        right_context=context(VISIT_DATED, title=STATEMENT_OF_7_FEBRUARY),
        reason="its date 7, 2025 comes from the document's date",
    ),
    "names_in_evidence": Case(
        "Which countries receive OSA?",
        context(RECIPIENTS, title=OSA_TITLE),
        near_miss="Vietnam and Indonesia are recipients, with Malaysia, the Philippines, "
        "Bangladesh and Fiji [1].",
        right="The recipients are Malaysia, the Philippines, Bangladesh and Fiji [1].",
        reason="it names indonesia, vietnam, which the evidence does not",
    ),
    "words_in_evidence": Case(
        "What does OSA pay for?",
        context("OSA gives partner militaries coastal radars and patrol boats.", title=OSA_TITLE),
        near_miss="OSA pays for submarines, fighter jets and missiles [1].",
        right="OSA gives partner militaries coastal radars and patrol boats [1].",
        reason="most of what it says is not in the evidence",
    ),
    "facts_about_question_countries": Case(
        "How much was the coastal radar system that Japan gave Malaysia worth?",
        context(OUTREACH),
        near_miss="The coastal radar system Japan gave Malaysia was worth $4 million [1].",
        # Manila is the Philippines' capital: the same clause, the right country.
        right="The coastal radar system Japan gave the Philippines was worth $4 million [1].",
        right_question="How much was the radar system that Japan gave the Philippines worth?",
        reason="its evidence says this about Manila, not about the country the question names",
    ),
    "question_names_in_its_passages": Case(
        "Who hosted Kishida in Kuala Lumpur?",
        context("Kishida made a two-day visit to Malaysia.", title="Kishida in Malaysia")
        + context(ANWAR, title="The President's visit to Malaysia", n=2),
        # Anwar hosted the President (passage 2); Kishida's visit is only in passage 1
        near_miss="Prime Minister Anwar Ibrahim hosted Kishida in Kuala Lumpur [2].",
        right="Prime Minister Anwar Ibrahim hosted the President in Kuala Lumpur [2].",
        right_question="Who hosted the President in Kuala Lumpur?",
        reason="it ties kishida, which the question names, to a passage that does not mention it",
    ),
}

ANSWER_CASES: dict[str, Case] = {
    "names_evidence": Case(
        "How much does it cost?",
        context(RADAR),
        near_miss="It costs $4 million [1].",
        right="It costs $4 million [1].",
        reason="the model named no evidence for an answer",
        named=[],
    ),
    "question_names_covered": Case(
        "How much OSA funding did Malaysia receive?",
        context(RADAR),
        near_miss="Malaysia received $4 million [1].",
        right="The Philippines received $4 million [1].",
        right_question="How much OSA funding did the Philippines receive?",
        reason="the evidence does not mention malaysia, which the question names",
    ),
    "question_figures_covered": Case(
        "How much OSA funding did the Philippines receive in 2025?",
        context(RADAR),
        near_miss="The Philippines received $4 million in 2025 [1].",
        right="The Philippines received $4 million in 2023 [1].",
        right_question="How much OSA funding did the Philippines receive in 2023?",
        right_context=context(RADAR, title=KISHIDA + " (4 November 2023)"),
        reason="the evidence does not mention 2025, which the question names",
    ),
    "asked_thing_covered": Case(
        "How many patrol vessels did Japan give the Philippines?",
        context(RADAR),
        near_miss="Japan gave the Philippines 4 patrol vessels [1].",
        right="Japan gave the Philippines one coastal radar system [1].",
        right_question="How many radar systems did Japan give the Philippines?",
        reason="the evidence does not mention the patrol vessels the question asks about",
    ),
    "adds_information": Case(
        "Which countries are the first recipients of OSA?",
        context(RECIPIENTS, title=OSA_TITLE),
        near_miss="The first recipients of OSA are countries [1].",
        right="Malaysia, the Philippines, Bangladesh and Fiji [1].",
        reason="the drafted answer only restates the question",
    ),
    "number_when_asked": Case(
        "How many countries are the first recipients of OSA?",
        context(RECIPIENTS, title=OSA_TITLE),
        near_miss="The recipients are Malaysia and the Philippines [1].",
        right="Four countries: Malaysia, the Philippines, Bangladesh and Fiji [1].",
        reason="gives no number, date or figure, which the question asks for",
    ),
}


def _args(kind: str, question: str, answer: str, named: list[str], sentences):
    """The arguments the pipeline passes a claim check or an answer check."""
    draft = make_draft(answer, named, sentences)
    if kind == "claim":
        (claim,) = draft.claims
        return question, claim, claim.evidence
    return question, draft, [s for s in sentences if s.id in set(draft.evidence_ids)]


def _near_miss(kind: str, case: Case):
    named = [s.id for s in case.sentences] if case.named is None else case.named
    return _args(kind, case.question, case.near_miss, named, case.sentences)


def _right(kind: str, case: Case):
    sentences = case.right_context or case.sentences
    question = case.right_question or case.question
    return _args(kind, question, case.right, [s.id for s in sentences], sentences)


ALL_CASES = [("claim", name, case) for name, case in CLAIM_CASES.items()] + [
    ("answer", name, case) for name, case in ANSWER_CASES.items()
]
CHECKS = {c.__name__: c for c in CLAIM_CHECKS + ANSWER_CHECKS}


@pytest.mark.parametrize(("kind", "name", "case"), ALL_CASES, ids=[n for _, n, _ in ALL_CASES])
def test_check_rejects_its_near_miss_and_passes_the_right_draft(kind, name, case):
    check = CHECKS[name]
    reason = check(*_near_miss(kind, case))
    assert reason is not None and case.reason in reason, reason
    assert check(*_right(kind, case)) is None


@pytest.mark.parametrize(("kind", "name", "case"), ALL_CASES, ids=[n for _, n, _ in ALL_CASES])
def test_removing_a_check_lets_its_near_miss_through(kind, name, case):
    checks = CLAIM_CHECKS if kind == "claim" else ANSWER_CHECKS
    assert name in [c.__name__ for c in checks], f"{name} is no longer in its list"
    args = _near_miss(kind, case)
    reason = first_failure(checks, *args)
    assert reason is not None and case.reason in reason, reason
    assert first_failure([c for c in checks if c.__name__ != name], *args) is None
    assert first_failure(checks, *_right(kind, case)) is None  # the right draft passes all


def test_every_check_has_a_near_miss_case():
    assert [c.__name__ for c in CLAIM_CHECKS] == list(CLAIM_CASES)
    assert [c.__name__ for c in ANSWER_CHECKS] == list(ANSWER_CASES)


def test_the_brief_near_misses():
    """The near misses that motivated the checks, each against the full lists."""
    radar = context(RADAR.replace("Under OSA, ", ""))
    q = "How much OSA funding did Malaysia receive?"
    draft = make_draft("Malaysia received $4 million [1].", ["1.1"], radar)
    assert question_names_covered(q, draft, radar) is not None
    assert "malaysia" in first_failure(ANSWER_CHECKS, q, draft, radar)
    q = "How much did the Philippines receive in 2025?"
    draft = make_draft("The Philippines received $4 million in 2025 [1].", ["1.1"], radar)
    assert "2025" in question_figures_covered(q, draft, radar)
    q = "Which countries received OSA?"
    recipients = context(RECIPIENTS)
    (claim,) = make_draft("Vietnam and Indonesia [1].", ["1.1"], recipients).claims
    assert "vietnam" in names_in_evidence(q, claim, claim.evidence)
    q = "How many patrol vessels did Japan give the Philippines?"
    draft = make_draft("Japan gave 4 patrol vessels [1].", ["1.1"], radar)
    assert "patrol vessels" in asked_thing_covered(q, draft, radar)


def test_facts_may_be_bound_to_the_question_names_in_any_evidence_sentence():
    """The clause holding the facts decides; another clause of the sentence, a
    sentence that also says it about the question's name, or a question without
    names leaves the claim alone."""
    q = "Which country did Kishida visit after Malaysia?"
    (claim,) = make_draft("He visited the Philippines [1].", ["1.1"], context(OUTREACH)).claims
    assert facts_about_question_countries(q, claim, claim.evidence) is None
    both = context(OUTREACH, "Japan also gave Malaysia a coastal radar system worth $4 million.")
    q = "How much was the coastal radar system that Japan gave Malaysia worth?"
    (claim,) = make_draft("Malaysia's radar was worth $4 million [1].", ["1.1", "1.2"], both).claims
    assert len(claim.evidence) == 2
    assert facts_about_question_countries(q, claim, claim.evidence) is None
    q = "How much was the coastal radar system worth?"
    (claim,) = make_draft("It was worth $4 million [1].", ["1.1"], context(OUTREACH)).claims
    assert facts_about_question_countries(q, claim, claim.evidence) is None
    # Only countries bind: "Blue Pacific" is not the "Pacific Islands Forum" of the other
    # clause, and the founders' clause names no country the question asks about.
    forum = context(
        "Australia and New Zealand are members of the Pacific Islands Forum; Japan and the "
        "United States are founding partners."
    )
    q = "Which countries founded the Partners in the Blue Pacific?"
    answer = "Japan and the United States founded the Partners in the Blue Pacific [1]."
    (claim,) = make_draft(answer, ["1.1"], forum).claims
    assert facts_about_question_countries(q, claim, claim.evidence) is None


def test_make_draft_rests_each_claim_on_the_named_sentences_of_its_passage():
    sentences = context(RADAR, "The radar watches the South China Sea.") + context(
        RECIPIENTS, title=OSA_TITLE, n=2
    )
    answer = "Japan gave Manila a radar [1]. Fiji is a recipient [2]. It is Japan's programme."
    draft = make_draft(answer, ["2.1", "1.1", "9.9"], sentences)
    assert draft.evidence_ids == ["1.1", "2.1"]  # context order; unknown ids dropped
    first, second, third = draft.claims
    assert first.text == "Japan gave Manila a radar." and first.citations == [1]
    assert [s.id for s in first.evidence] == ["1.1"]  # 1.2 was not named
    assert [s.id for s in second.evidence] == ["2.1"] and second.citations == [2]
    # no marker: all named sentences, narrowed to those that say what it adds ("Japan")
    assert [s.id for s in third.evidence] == ["1.1"] and third.citations == [1]
    assert draft.text == "Japan gave Manila a radar. Fiji is a recipient. It is Japan's programme."


def test_make_draft_cites_the_evidence_when_the_marker_is_wrong():
    draft = make_draft("Fiji is a recipient [7].", ["1.1"], context(RECIPIENTS))
    (claim,) = draft.claims
    assert claim.citations == [1] and [s.id for s in claim.evidence] == ["1.1"]


def test_make_draft_folds_a_trailing_marker_into_its_sentence():
    draft = make_draft("Fiji is a recipient. [1]", ["1.1"], context(RECIPIENTS))
    assert len(draft.claims) == 1 and draft.claims[0].citations == [1]


def test_evidence_text_holds_the_titles_once_and_the_sentences():
    sentences = context(RADAR, "Second sentence.")
    assert evidence_text(sentences) == f"{KISHIDA}\n{RADAR}\nSecond sentence."


def test_a_date_from_the_document_is_the_event_s_date_unless_the_event_is_still_to_come():
    question = "On what date was the memorandum on critical minerals signed?"
    signed = "The two countries signed a memorandum on critical minerals in Kuala Lumpur."
    header = "Fact Sheet (26 October 2025)"
    answer = "The memorandum on critical minerals was signed on 26 October 2025 [1]."
    # a statement is often the event itself: a plain or past sentence keeps its date
    (claim,) = make_draft(answer, ["1.1"], context(signed, title=header)).claims
    assert undated_event_date(question, claim, claim.evidence) is None
    # the same date for a signing still to come is the statement's date, not the event's
    to_come = "The two countries will sign a memorandum on critical minerals in Kuala Lumpur."
    (claim,) = make_draft(answer, ["1.1"], context(to_come, title=header)).claims
    assert "still to come" in undated_event_date(question, claim, claim.evidence)
    # "met today" places the meeting on the document's date, whatever else it says
    met = context(
        "President Biden met today with Prime Minister Kishida and will visit Japan.",
        title="Readout (13 January 2023)",
    )
    (claim,) = make_draft("They met on 13 January 2023 [1].", ["1.1"], met).claims
    assert undated_event_date("On what date did Biden meet Kishida?", claim, claim.evidence) is None
    # the claim rests on the sentence about its event, not on a neighbour saying "today"
    visit = context(
        VISIT,
        "The two leaders held their first official meeting today in February.",
        title=STATEMENT_OF_7_FEBRUARY,
    )
    answer = "The official visit to Japan was scheduled for 7 February 2025 [1]."
    (claim,) = make_draft(answer, ["1.1", "1.2"], visit).claims
    assert len(claim.evidence) == 2  # both named sentences say something the claim adds
    assert undated_event_date(CLAIM_CASES["undated_event_date"].question, claim, claim.evidence)
    # not a date question: the document's date may support any figure, as before
    (claim,) = make_draft(
        "They met in 2025 [1].", ["1.1"], context(VISIT, title=STATEMENT_OF_7_FEBRUARY)
    ).claims
    assert undated_event_date("Who did Trump meet in 2025?", claim, claim.evidence) is None


def test_question_figures_may_come_from_the_title_date():
    dated = context(RADAR, title=KISHIDA + " (4 November 2023)")
    q = "What did Japan give the Philippines in 2023?"
    draft = make_draft("A coastal radar system [1].", ["1.1"], dated)
    assert question_figures_covered(q, draft, dated) is None
    assert question_figures_covered(q, draft, context(RADAR)) is not None


def test_numbers_one_arithmetic_step_away_are_supported():
    evidence = context("Each of the 4 recipients receives 500 million yen.", title=OSA_TITLE)
    q = "How much do the recipients receive in total?"
    (claim,) = make_draft("They receive 2 billion yen in total [1].", ["1.1"], evidence).claims
    assert numbers_in_evidence(q, claim, claim.evidence) is None


def test_words_share_follows_min_share():
    evidence = context("OSA gives partner militaries coastal radars.", title=OSA_TITLE)
    q = "What does OSA give?"
    (claim,) = make_draft("OSA gives coastal radars and submarines [1].", ["1.1"], evidence).claims
    # added: coastal, radars, submarines -> 2 of 3 in the evidence
    assert words_in_evidence(q, claim, claim.evidence, min_share=0.5) is None
    assert words_in_evidence(q, claim, claim.evidence, min_share=0.9) is not None


def test_names_from_the_question_need_no_evidence_in_a_claim():
    evidence = context(RADAR)
    (claim,) = make_draft("Malaysia got nothing like it [1].", ["1.1"], evidence).claims
    assert names_in_evidence("Did Malaysia get a radar?", claim, claim.evidence) is None
    assert names_in_evidence("Did it get a radar?", claim, claim.evidence) is not None


def test_no_evidence_refuses_first():
    q = "How much OSA funding did Malaysia receive?"
    draft = make_draft("Malaysia received $4 million [1].", [], context(RADAR))
    assert first_failure(ANSWER_CHECKS, q, draft, []) == names_evidence(q, draft, [])
    assert adds_information(q, draft, []) is None and number_when_asked(q, draft, []) is None


def test_question_names_may_be_in_the_evidence_passage_but_not_in_another():
    from rag.checks import make_draft, question_names_covered
    from rag.types import ContextSentence

    context = [
        ContextSentence("1.1", 1, "Kishida toured Southeast Asia in November.", 0, 40, "Seed"),
        ContextSentence("1.2", 1, "Japan gifted Manila a coastal radar.", 41, 77, "Seed"),
        ContextSentence("2.1", 2, "Fiji joined the Pacific Islands Forum.", 0, 38, "Forum"),
    ]
    question = "What did Japan give Manila during the Southeast Asia tour?"
    draft = make_draft("A coastal radar [1].", ["1.2"], context)
    assert question_names_covered(question, draft, draft.claims[0].evidence) is None
    # the name is only in a passage the evidence does not come from
    fiji = "What did Japan give Fiji?"
    assert "fiji" in question_names_covered(fiji, draft, draft.claims[0].evidence)


def test_a_claim_rests_only_on_named_sentences_that_say_what_it_adds():
    from rag.checks import make_draft
    from rag.types import ContextSentence

    context = [
        ContextSentence("1.1", 1, "The OSA's first recipients are Malaysia and Fiji.", 0, 50, "A"),
        ContextSentence("2.1", 2, "Japan's OSA program gives defense grants.", 0, 41, "B"),
        ContextSentence("3.1", 3, "Japan revised its security strategy.", 0, 36, "C"),
    ]
    question = "Which countries are the first recipients of Japan's OSA?"
    draft = make_draft("Malaysia and Fiji [1][2][3].", ["1.1", "2.1", "3.1"], context, question)
    (claim,) = draft.claims
    assert [s.id for s in claim.evidence] == ["1.1"] and claim.citations == [1]
    # nothing named says what the claim adds: it keeps all its evidence (and fails a check)
    vague = make_draft("Somewhere else [2][3].", ["2.1", "3.1"], context, question)
    assert [s.id for s in vague.claims[0].evidence] == ["2.1", "3.1"]


def test_a_word_capitalized_only_because_it_opens_the_question_is_no_name():
    from rag.checks import make_draft, question_names_covered
    from rag.types import ContextSentence

    context = [ContextSentence("1.1", 1, "Japan gifted Manila a coastal radar.", 0, 36, "Seed")]
    draft = make_draft("A coastal radar [1].", ["1.1"], context)
    evidence = draft.claims[0].evidence
    for opening in ("Apart from patrol boats", "Alongside the boats", "Speaking in Manila"):
        question = f"{opening}, what did Japan give Manila?"
        assert question_names_covered(question, draft, evidence) is None, question
    # an opening country is still a name the evidence must mention
    assert "fiji" in question_names_covered("Fiji got what from Japan?", draft, evidence)
    # and so is an opening word the question capitalizes again later
    asked = "Kishida visited Manila, and what did Kishida give?"
    assert "kishida" in question_names_covered(asked, draft, evidence)


def test_a_country_s_adjective_names_the_country():
    from rag.checks import CLAIM_CHECKS, first_failure, make_draft, question_names_covered
    from rag.types import ContextSentence

    context = [
        ContextSentence(
            "1.1",
            1,
            "Japan Coast Guard vessel Akitsushima visited Manila in June.",
            0,
            60,
            "Readout",
        )
    ]
    draft = make_draft("The Akitsushima [1].", ["1.1"], context)
    evidence = draft.claims[0].evidence
    asked = "Which Japanese coast guard vessel visited Manila?"
    assert question_names_covered(asked, draft, evidence) is None
    assert question_names_covered("Japanese ships went where?", draft, evidence) is None
    # the other way round: a claim's adjective is found as the evidence's country
    claim = make_draft("A Japanese vessel visited Manila [1].", ["1.1"], context).claims[0]
    assert first_failure(CLAIM_CHECKS, "Which vessel visited Manila?", claim, evidence) is None
    # another country's adjective is still missing from the evidence
    malaysian = "Which Malaysian coast guard vessel visited Manila?"
    assert "malaysia" in question_names_covered(malaysian, draft, evidence)


def test_a_repeated_question_name_may_be_in_any_passage_the_sentence_cites():
    from rag.checks import question_names_in_its_passages

    sentences = context("Japan and Korea met at Camp David.", title="Statement") + context(
        "The exercise is called Freedom Edge.", title="Readout", n=2
    )
    question = "What exercise did Japan and Korea hold?"
    # the fact rests on passage 2; the question's names are in passage 1, also cited
    cited = make_draft(
        "Japan and Korea hold Freedom Edge [1], [2].", ["1.1", "2.1"], sentences, question
    )
    (claim,) = cited.claims
    assert [s.n for s in claim.evidence] == [2]
    assert question_names_in_its_passages(question, claim, claim.evidence) is None
    # cited alone, passage 2 does not mention them
    alone = make_draft(
        "Japan and Korea hold Freedom Edge [2].", ["1.1", "2.1"], sentences, question
    )
    (claim,) = alone.claims
    assert "japan" in question_names_in_its_passages(question, claim, claim.evidence)


def test_a_question_name_is_covered_by_the_evidence_s_other_names_for_it():
    from rag.checks import make_draft, question_names_covered

    sentences = context(
        "Japan and the U.S. will give $16 million for cables with the ROK.",
        title="United States-Japan Joint Leaders' Statement (10 April 2024)",
    )
    draft = make_draft("$16 million [1].", ["1.1"], sentences)
    evidence = draft.claims[0].evidence
    for question in (
        "What sum did Washington and Tokyo pledge for cables?",  # capitals: the governments
        "What sum did the American and Japanese governments pledge?",  # U.S.
        "What sum did South Korea see pledged, per the White House?",  # ROK; the publisher
        "What did Seoul pledge?",  # the ROK's capital
    ):
        assert question_names_covered(question, draft, evidence) is None, question
    # a capital, a country or a leader the evidence does not name is still missing
    assert "manila" in question_names_covered("What did Manila pledge?", draft, evidence)
    assert "marco" in question_names_covered("What did Marcos pledge?", draft, evidence)
    # "Latin America" does not name the United States
    latin = context("China built ports as far as Latin America.", title="Commentary")
    draft = make_draft("Ports [1].", ["1.1"], latin)
    reason = question_names_covered("Which American ports?", draft, draft.claims[0].evidence)
    assert "american" in reason


def test_a_leader_is_not_covered_by_his_country():
    from rag.checks import make_draft, question_names_covered, question_names_in_its_passages

    # a statement of his term naming his country may be about another meeting
    # (osa-heldout3 h3-016: "Biden, Ishiba and Marcos on their January 2025 call")
    question = "What did Kishida pledge?"
    sentences = context("Japan pledged $16 million for cables.", title="Statement (10 April 2024)")
    draft = make_draft("Kishida pledged $16 million [1].", ["1.1"], sentences, question)
    (claim,) = draft.claims
    assert "kishida" in question_names_covered(question, draft, claim.evidence)
    assert "kishida" in question_names_in_its_passages(question, claim, claim.evidence)


def test_a_claim_may_name_a_country_by_another_of_its_names_but_not_its_leader():
    from rag.checks import names_in_evidence

    sentences = context(
        "Software security standards are led by the U.S. and Japan.",
        title="Quad Joint Leaders' Statement (24 May 2022)",
    )
    question = "Which area does each partner lead?"
    for answer, missing in (
        ("The United States leads software security standards [1].", None),
        ("Kishida leads software security standards [1].", "kishida"),
    ):
        claim = make_draft(answer, ["1.1"], sentences, question).claims[0]
        reason = names_in_evidence(question, claim, claim.evidence)
        assert (reason is None) if missing is None else missing in reason, answer


def test_a_sum_or_figure_asked_for_is_the_kind_of_answer_not_a_thing_to_find():
    from rag.checks import asked_thing_covered

    sentences = context("Japan and the U.S. will contribute $16 million for undersea cables.")
    draft = make_draft("$16 million [1].", ["1.1"], sentences)
    for question in (
        "What sum did Japan pledge for cables?",
        "What total did Japan give?",
        "What reason does Japan give for the cables?",  # osa-heldout5: reason, field, terms
        "Which field did Japan single out?",
        "On what terms do Japan and the U.S. give?",
    ):
        assert asked_thing_covered(question, draft, draft.claims[0].evidence) is None, question
    # a thing the evidence does not mention is still missing
    assert "radar" in asked_thing_covered("What radar did Japan give?", draft, sentences)


def test_a_person_or_place_may_be_named_elsewhere_in_the_document_but_a_country_may_not():
    from rag.checks import make_draft, names, question_names_covered, question_names_in_its_passages

    # the passage that answers; its document names the visit's leader and the summit's
    # place once, at its start (osa-heldout4/5: "Kishida's April 2024 visit", "Wilmington")
    sentences = context(
        "Yaskawa will invest $200 million in plants expected to employ 1,750 workers.",
        title="FACT SHEET: Japan Official Visit (10 April 2024)",
    )
    document = "Today, President Biden welcomed Prime Minister Kishida of Japan in Wilmington."
    question = "How many workers will Yaskawa employ, per the fact sheet on Kishida's visit?"
    answer = "Kishida's visit saw Yaskawa plan 1,750 workers [1]."
    alone = make_draft(answer, ["1.1"], sentences, question)
    with_document = make_draft(answer, ["1.1"], sentences, question, {1: names(document)})
    for draft, missing in ((alone, "kishida"), (with_document, None)):
        reason = question_names_covered(question, draft, draft.claims[0].evidence)
        assert (reason is None) if missing is None else missing in reason
        # a sentence that repeats the name still needs it in a passage it rests on
        # (osa-heldout5 h5-052: "the Tokyo Olympic Games ... opened on" the statement's date)
        (claim,) = draft.claims
        assert "kishida" in question_names_in_its_passages(question, claim, claim.evidence)
    # a country must be in the passages read, wherever else its document names it
    # (the reported near miss: a fact about Manila passing for Malaysia)
    malaysia = "How many workers will Malaysia's plants employ?"
    draft = make_draft("1,750 [1].", ["1.1"], sentences, malaysia, {1: names("Malaysia")})
    assert "malaysia" in question_names_covered(malaysia, draft, draft.claims[0].evidence)
    for country in ("Kuala Lumpur", "China", "Beijing"):  # nor its capital
        draft = make_draft("1,750 [1].", ["1.1"], sentences, "", {1: names(country)})
        asked = f"How many workers will {country} employ?"
        assert question_names_covered(asked, draft, draft.claims[0].evidence), country


def test_other_names_of_china_and_europe_and_of_two_word_capitals():
    from rag.checks import question_names_covered

    sentences = context("The PRC, Malaysia and the EU condemned the European attacks.")
    draft = make_draft("They condemned them [1].", ["1.1"], sentences)
    for question in ("What did Beijing and Kuala Lumpur condemn?", "What did Europe condemn?"):
        assert question_names_covered(question, draft, draft.claims[0].evidence) is None
