"""Follow-up rewriting (rag/conversation.py) and feedback records (rag/feedback.py)."""

from __future__ import annotations

import json

import pytest
from uihelpers import make_answer

from rag.config import Settings
from rag.conversation import (
    Turn,
    acceptable_rewrite,
    heuristic_rewrite,
    key_terms,
    needs_context,
    rewrite_question,
)
from rag.feedback import append_feedback, feedback_record, read_feedback
from rag.prompt_safety import clean_question

FIRST = "Which countries are the first recipients of Japan's OSA?"
FOLLOW_UP = "And how much did each of them get?"
HISTORY = [Turn(FIRST)]


def test_key_terms_and_context_detection():
    assert key_terms(FIRST) == ["countries", "recipients", "Japan's", "OSA"]
    assert needs_context(FOLLOW_UP)
    assert needs_context("What about Fiji?")
    assert needs_context("Why?")
    assert not needs_context("What does ASEAN stand for?")
    assert not needs_context("Which country will chair ASEAN in 2025?")


def test_heuristic_rewrite_carries_the_subject():
    query = heuristic_rewrite(FOLLOW_UP, HISTORY)
    assert query == f"{FOLLOW_UP} (follow-up to: {FIRST})"
    chained = [*HISTORY, Turn(FOLLOW_UP, standalone=query)]
    assert heuristic_rewrite("Why?", chained).endswith(f"(follow-up to: {query})")


def test_standalone_question_is_not_rewritten(fake_generator):
    gen = fake_generator("unused")
    assert rewrite_question("What is ASEAN?", HISTORY, gen).method == "none"
    assert rewrite_question(FOLLOW_UP, [], gen).method == "none"
    assert gen.calls == []  # no model call for either


def test_model_rewrite_is_used_when_it_keeps_the_subject(fake_generator):
    gen = fake_generator("Standalone question: How much did each first recipient of OSA get?")
    result = rewrite_question(FOLLOW_UP, HISTORY, gen)
    assert result.method == "model" and result.rewritten
    assert result.query == "How much did each first recipient of OSA get?"
    prompt = gen.calls[0]["messages"][1]["content"]
    assert FIRST in prompt and FOLLOW_UP in prompt


@pytest.mark.parametrize(
    "reply",
    [
        "How much did each of them get?",  # the subject is still missing
        "What countries are the first recipients of Japan's OSA?",  # "how much" is lost
        "The documents do not say.",
        "",
        "Malaysia [1].",
    ],
)
def test_bad_model_rewrite_falls_back_to_heuristic(fake_generator, reply):
    result = rewrite_question(FOLLOW_UP, HISTORY, fake_generator(reply))
    assert result.method == "heuristic"
    assert result.query == heuristic_rewrite(FOLLOW_UP, HISTORY)


def test_failing_generator_falls_back(fake_generator):
    class Broken:
        def stream_chat(self, *args, **kwargs):
            raise RuntimeError("llama.cpp exploded")

    assert rewrite_question(FOLLOW_UP, HISTORY, Broken()).method == "heuristic"
    assert not acceptable_rewrite("x" * 400, FOLLOW_UP, HISTORY)


def test_over_long_question_is_not_sent_to_the_model(fake_generator):
    gen = fake_generator("How much did each first recipient of OSA get?")
    huge = FOLLOW_UP + " Explain it in detail." * 200
    result = rewrite_question(huge, HISTORY, gen)
    assert result.method == "none" and result.query == clean_question(huge)
    assert rewrite_question(FOLLOW_UP + " more", HISTORY, gen, max_chars=20).method == "none"
    assert gen.calls == []  # no model call for either
    assert rewrite_question(FOLLOW_UP, HISTORY, gen, max_chars=len(FIRST)).method == "model"


def test_over_long_earlier_turn_is_not_shown_to_the_model(fake_generator):
    gen = fake_generator("How much did each first recipient of OSA get?")
    history = [*HISTORY, Turn("What about it? " + "word " * 600)]
    result = rewrite_question(FOLLOW_UP, history, gen, max_chars=2000)
    assert result.method == "model"
    prompt = gen.calls[0]["messages"][1]["content"]
    assert FIRST in prompt and "word word" not in prompt
    assert rewrite_question(FOLLOW_UP, history[1:], gen).method == "none"  # nothing left


def test_follow_up_tunables_come_from_settings(fake_generator):
    reply = "How much did each first recipient of OSA get?"  # keeps "OSA", not "countries"
    history = [Turn("What does ASEAN stand for?"), *HISTORY]
    for turns, older_shown in ((2, True), (1, False)):
        gen = fake_generator(reply)
        settings = Settings(followup_turns=turns)
        assert rewrite_question(FOLLOW_UP, history, gen, settings=settings).method == "model"
        prompt = gen.calls[0]["messages"][1]["content"]
        assert FIRST in prompt and ("ASEAN stand for" in prompt) is older_shown
    # the earlier question's subject read as its first key term only: "OSA" is not in it
    settings = Settings(followup_key_terms=1)
    assert rewrite_question(FOLLOW_UP, HISTORY, gen, settings=settings).method == "heuristic"


def test_follow_up_query_retrieves_the_right_passage(fixture_settings, embedder):
    """The expanded follow-up finds the OSA passage the bare follow-up may miss."""
    from rag.pipeline import RagPipeline

    pipe = RagPipeline(fixture_settings, embedder=embedder)
    hits = pipe.retrieve(heuristic_rewrite(FOLLOW_UP, HISTORY), k=1)
    assert hits[0].chunk.source.endswith("osa.txt")


def test_feedback_lines(tmp_path):
    path = tmp_path / "fb" / "feedback.jsonl"
    first = feedback_record(make_answer(), "up", feedback_id="f1")
    append_feedback(path, first)
    append_feedback(path, feedback_record(make_answer(), "up", "  very\nclear ", feedback_id="f1"))
    append_feedback(path, feedback_record(make_answer(refused=True).to_dict(), "down"))
    records = read_feedback(path)
    assert len(path.read_text().splitlines()) == 3
    assert [r["rating"] for r in records] == ["up", "up", "down"]
    assert records[1]["comment"] == "very clear" and records[1]["id"] == "f1"
    rec = records[0]
    assert rec["question"] == FIRST and rec["answer"].startswith("The first recipients")
    assert [c["n"] for c in rec["citations"]] == [1, 2]
    assert rec["citations"][1]["page"] == 6 and "timestamp" in rec
    assert records[2]["refused"] is True
    json.dumps(records)  # plain JSON
    with pytest.raises(ValueError, match="rating"):
        feedback_record(make_answer(), "meh")


def test_ui_rewrites_follow_ups_through_the_conversation(ui_settings, make_engine, monkeypatch):
    """ChatUI.respond builds a `Conversation` from the session, rewrites with it (a spy sees
    every question) and keeps its turns; "What about X?" is substituted, with no model call."""
    from test_ui_handlers import ask

    from rag.conversation import Conversation
    from ui.handlers import ChatUI

    malaysia = "How much OSA funding did Malaysia receive and for what equipment?"
    philippines = "How much OSA funding did the Philippines receive and for what equipment?"
    seen: list[tuple[int, str]] = []
    real_rewrite = Conversation.rewrite

    def spy(self, question):
        seen.append((len(self.turns), question))
        return real_rewrite(self, question)

    monkeypatch.setattr(Conversation, "rewrite", spy)
    added: list[str] = []
    real_add = Conversation.add
    monkeypatch.setattr(
        Conversation, "add", lambda self, q, *a, **k: added.append(q) or real_add(self, q, *a, **k)
    )
    engine = make_engine(ui_settings, "Each recipient receives a quarter of the budget [1].")
    ui = ChatUI(engine)
    *_, first = ask(ui, malaysia)
    calls = len(engine.fake.calls)
    *_, last = ask(ui, "And what about the Philippines?", first[1], first[2])
    assert seen == [(0, malaysia), (1, "And what about the Philippines?")]
    assert added == [malaysia, "And what about the Philippines?"]
    turn = last[2].turns[-1]
    assert turn.method == "substitution" and turn.search_query == philippines
    assert turn.answer.standalone_question == philippines
    assert len(engine.fake.calls) == calls + 1  # the answer only: no rewrite call
    assert Conversation(last[2].conversation_turns()).turns[-1].standalone == philippines
