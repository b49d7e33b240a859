"""The text helpers of rag.citations: markers, content words, numbers, new information."""

from __future__ import annotations

import pytest

from rag.citations import (
    asks_for_number,
    content_words,
    derivable,
    new_information,
    parse_markers,
    states_number,
    unsupported_numbers,
    with_markers,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Fiji is a recipient [1].", ("Fiji is a recipient.", [1])),
        ("Fiji is a recipient [1, 2].", ("Fiji is a recipient.", [1, 2])),
        ("Fiji is a recipient [1][2].", ("Fiji is a recipient.", [1, 2])),
        ("Fiji is a recipient [1] [2] [1].", ("Fiji is a recipient.", [1, 2])),
        ("Fiji is a recipient [1-3].", ("Fiji is a recipient.", [1, 2, 3])),
        ("Fiji is a recipient [2; 3]", ("Fiji is a recipient", [2, 3])),
        ("No markers here.", ("No markers here.", [])),
        ("[1][2]", ("", [1, 2])),
    ],
)
def test_parse_markers(raw, expected):
    assert parse_markers(raw) == expected


def test_content_words_keep_numbers_and_drop_stop_words():
    assert content_words("The budget is 2 billion yen, or 1,500.5 million.") == [
        "budget", "2", "billion", "yen", "1,500.5", "million"
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("sentence", "missing"),
    [
        ("Each gets 500 million yen.", set()),  # a quarter of 2 billion
        ("Each gets 25% of the budget.", set()),  # a quarter as a percentage
        ("The budget is 2 billion yen.", set()),
        ("Each gets 700 million yen.", {"700"}),
        ("It was announced in 2024.", {"2024"}),  # years are never derived
    ],
)
def test_numbers_derived_in_one_step_count_as_supported(sentence, missing):
    passage = "Each would be allotted a quarter of this fiscal year's 2 billion yen OSA budget."
    assert unsupported_numbers(sentence, passage, set(content_words(passage))) == missing


def test_new_information_ignores_restated_question_words():
    question = "What equipment did Japan provide to Fiji under the OSA?"
    assert new_information("Japan provided equipment to Fiji under the OSA [2].", question) == set()
    assert new_information("The seed article says Japan provides equipment.", question) == set()
    assert "radar" in new_information("Japan provided a coastal radar [1].", question)


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("How many students will the Quad Fellowship sponsor each year?", True),
        ("How much did Japan budget for OSA?", True),
        ("In what year was ODA first created?", True),
        ("On what date is the Roman Space Telescope due to launch?", True),
        ("What reciprocal tariff rate did the United States set?", True),
        ("What share of the budget does each recipient get?", True),
        ("Which countries are the first recipients of OSA?", False),
        ("How far do China's port-building efforts stretch?", False),
        ("What new body did the three countries announce?", False),
    ],
)
def test_questions_that_ask_for_a_number(question, expected):
    assert asks_for_number(question) is expected


def test_states_number():
    assert states_number("It sponsors 100 students.") and states_number("twelve vessels")
    assert states_number("the 14th member") and states_number("a quarter each")
    assert not states_number("The Senkaku Islands.")
    # a number inside a name is no quantity (h8-050 answered "how many" with COVID-19)
    assert not states_number("Filipino Americans on the frontlines of the COVID-19 pandemic.")
    assert not states_number("a squadron of F-16 fighters")
    assert states_number("12 F-16 fighters") and states_number("COVID-19 cost 3 million jobs")


def test_with_markers_puts_the_markers_before_the_final_stop():
    assert with_markers("Fiji is a recipient.", [1, 2]) == "Fiji is a recipient [1][2]."
    assert with_markers("Fiji is a recipient", [3]) == "Fiji is a recipient [3]"
    assert with_markers("Yes.", []) == "Yes."


def test_derivable_in_one_step():
    assert derivable(500e6, {2e9, 0.25}) and derivable(4e9, {2e9, 2.0})
    assert not derivable(700e6, {2e9, 0.25})
