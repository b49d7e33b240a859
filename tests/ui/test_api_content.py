"""The API's message content and its reading of a conversation (no server; see
tests/reliability/test_openai_api.py for the API through real clients)."""

from __future__ import annotations

import dataclasses

import pytest
from uihelpers import make_answer

from ui.api import ApiError, answer_content, split_conversation
from ui.api_schema import ChatCompletionRequest


def test_content_is_the_answer_then_one_line_per_cited_place():
    answer = make_answer()
    same_file = dataclasses.replace(answer.citations[0], n=3, chunk_id="seed-1")
    answer.citations.append(same_file)
    assert answer_content(answer) == (
        f"{answer.answer}\n\nSources:\n"
        "[1][3] Japan's OSA <seed> (seed.txt)\n"
        "[2] Joint Vision, page 6 (vision.pdf)"
    )


def test_refusal_content_gives_the_reason():
    answer = make_answer(refused=True)
    assert answer_content(answer) == (
        "The documents do not say.\n\n"
        "Reason: no passage is relevant enough (best score 0.21 < threshold 0.30)."
    )


def request(*messages: tuple[str, object]) -> ChatCompletionRequest:
    return ChatCompletionRequest(
        model="m", messages=[{"role": role, "content": content} for role, content in messages]
    )


def test_conversation_pairs_questions_with_answers_and_skips_instructions():
    question, exchanges = split_conversation(
        request(
            ("system", "Be brief."),
            ("user", "Q1"),
            ("assistant", "A1"),
            ("user", [{"type": "text", "text": "Q"}, {"type": "text", "text": "2"}]),
            ("developer", "ignored"),
            ("user", "Q3"),
            ("assistant", "A3"),
            ("user", "Q4"),
        )
    )
    assert question == "Q4"
    assert exchanges == [("Q1", "A1"), ("Q2", ""), ("Q3", "A3")]


@pytest.mark.parametrize(
    "messages,code",
    [
        ((("system", "Be brief."),), "no_question"),
        ((("user", "Q1"), ("assistant", "A1")), "invalid_role"),
    ],
)
def test_conversation_must_end_with_a_question(messages, code):
    with pytest.raises(ApiError) as caught:
        split_conversation(request(*messages))
    assert caught.value.status == 400 and caught.value.detail.code == code
