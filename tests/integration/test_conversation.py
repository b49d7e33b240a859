"""`rag.conversation.Conversation`: "What about X?" substitution (rag/substitution.py), then
model, then heuristic; and the evaluation harness and `rag chat` answering follow-ups
through `Conversation.follow_up` (the UI: tests/ui)."""

from __future__ import annotations

import numpy as np
import pytest

from rag.config import Settings
from rag.conversation import Conversation, Rewrite, Turn, heuristic_rewrite
from rag.substitution import find_names, short_follow_up_subject, substitute

MALAYSIA = "How much OSA funding did Malaysia receive and for what equipment?"
PHILIPPINES = "How much OSA funding did the Philippines receive and for what equipment?"


def conversation_after(*questions: str, **kwargs) -> Conversation:
    conversation = Conversation(**kwargs)
    for question in questions:
        conversation.add(question, conversation.rewrite(question))
    return conversation


class FakeEmbedder:
    """Unit vectors by name: names sharing an axis are alike, others orthogonal."""

    AXES = {"fiji": 0, "malaysia": 0, "bangladesh": 0, "tokyo": 1, "osaka": 1, "kishida": 2}

    def __init__(self):
        self.calls: list[str] = []

    def encode_query(self, text: str) -> np.ndarray:
        self.calls.append(text)
        vector = np.zeros(4, dtype=np.float32)
        vector[self.AXES.get(text.lower(), 3)] = 1.0
        return vector


@pytest.mark.parametrize(
    "follow_up",
    [
        "And what about the Philippines?",
        "What about the Philippines?",
        "what about the Philippines",
        "And for the Philippines?",
        "How about the Philippines?",
        "And the Philippines?",
        "What about for the Philippines?",
        "And how about the Philippines?",
        "Same for the Philippines?",
        "WHAT ABOUT the Philippines?",
    ],
)
def test_what_about_x_becomes_the_earlier_question_with_x(follow_up):
    rewrite = conversation_after(MALAYSIA).rewrite(follow_up)
    assert rewrite == Rewrite(PHILIPPINES, "substitution")
    assert rewrite.search_query == PHILIPPINES


def test_x_is_kept_as_written_and_stays_grammatical():
    conversation = conversation_after(MALAYSIA)
    assert conversation.rewrite("And Fiji?").query == MALAYSIA.replace("Malaysia", "Fiji")
    assert conversation.rewrite("What about Philippines?").query == (
        "How much OSA funding did Philippines receive and for what equipment?"
    )
    assert conversation.rewrite("And The Philippines?").query == PHILIPPINES  # mid-sentence
    # the other way round: "the Philippines" is replaced with its "the"
    back = conversation_after(PHILIPPINES).rewrite("And what about Malaysia?")
    assert back.query == MALAYSIA
    # a possessive stays a possessive; every occurrence of the name is replaced
    earlier = "What did Malaysia's leaders say Malaysia would buy?"
    assert substitute("And the Philippines?", earlier) == (
        "What did the Philippines' leaders say the Philippines would buy?"
    )


def test_names_found_in_the_earlier_query():
    names = [n.text for n in find_names("Which leaders met at Camp David in August 2023?")]
    assert names == ["Camp David", "August 2023", "2023"]
    names = find_names("What did the United States and the Republic of Korea sign in Japan's city?")
    assert [n.text for n in names] == ["the United States", "the Republic of Korea", "Japan"]
    assert [n.acronym for n in find_names("How much of Japan's OSA budget went to Fiji?")] == [
        False,
        True,
        False,
    ]


def test_acronyms_are_replaced_by_acronyms_and_years_by_years():
    earlier = "Which country will chair ASEAN in 2025 and host the Quad?"
    assert substitute("What about 2026?", earlier) == earlier.replace("2025", "2026")
    assert substitute("And APEC?", earlier) == earlier.replace("ASEAN", "APEC")
    assert substitute("And the G7?", earlier) == earlier.replace("ASEAN", "the G7")
    assert substitute("What about the Pacific Islands Forum?", earlier) == earlier.replace(
        "the Quad", "the Pacific Islands Forum"
    )  # a name, not the acronym


def test_embedder_chooses_the_name_most_like_x():
    earlier = "When did Malaysia sign the agreement in Tokyo?"
    assert substitute("What about Fiji?", earlier) == earlier.replace("Tokyo", "Fiji")  # last
    embedder = FakeEmbedder()
    assert substitute("What about Fiji?", earlier, embedder) == earlier.replace("Malaysia", "Fiji")
    assert substitute("What about Osaka?", earlier, embedder) == earlier.replace("Tokyo", "Osaka")
    assert {"Fiji", "Malaysia", "Tokyo"} <= set(embedder.calls)
    # two names of X's kind: the later one, the question's subject
    earlier = "How much did Kishida's Tokyo give to Bangladesh and to Malaysia?"
    assert substitute("And Fiji?", earlier, FakeEmbedder()) == earlier.replace("Malaysia", "Fiji")


def test_similar_share_comes_from_settings():
    earlier = "When did Malaysia sign the agreement in Tokyo?"
    settings = Settings(substitution_similar_share=0.0)  # every name is of X's kind: the last
    conversation = conversation_after(earlier, embedder=FakeEmbedder(), settings=settings)
    assert conversation.rewrite("What about Fiji?").query == earlier.replace("Tokyo", "Fiji")
    conversation = conversation_after(earlier, embedder=FakeEmbedder())
    assert conversation.rewrite("What about Fiji?").query == earlier.replace("Malaysia", "Fiji")


def test_conversation_passes_its_pipeline_embedder(fake_generator):
    class Pipe:
        embedder = FakeEmbedder()
        generator = fake_generator("unused")

        settings = Settings()

    conversation = Conversation.for_pipeline(Pipe())
    earlier = "When did Malaysia sign the agreement in Tokyo?"
    conversation.add(earlier, conversation.rewrite(earlier))
    assert conversation.rewrite("And for Fiji?").query == earlier.replace("Malaysia", "Fiji")
    assert Pipe.generator.calls == []  # no model call for a substitution


@pytest.mark.parametrize(
    "follow_up",
    ["What about it?", "And how much did each of them get?", "What about the budget?", "And why?"],
)
def test_not_a_name_is_not_substituted(follow_up):
    assert short_follow_up_subject(follow_up) is None
    assert conversation_after(MALAYSIA).rewrite(follow_up).method == "heuristic"


def test_no_name_in_the_earlier_query_falls_back_to_model_then_heuristic(fake_generator):
    earlier = "what is the total budget of the programme?"
    assert substitute("What about Fiji?", earlier) is None
    assert conversation_after(earlier).rewrite("What about Fiji?") == Rewrite(
        heuristic_rewrite("What about Fiji?", [Turn(earlier)]), "heuristic"
    )
    gen = fake_generator("What is the total budget of the programme for Fiji?")
    rewrite = conversation_after(earlier, generator=gen).rewrite("What about Fiji?")
    assert rewrite.method == "model" and "Fiji" in rewrite.query and len(gen.calls) == 1


def test_turns_chain_and_heuristic_turns_are_not_substituted_into():
    conversation = conversation_after(MALAYSIA, "And what about the Philippines?")
    assert conversation.turns[1] == Turn(
        "And what about the Philippines?", PHILIPPINES, "substitution"
    )
    assert conversation.rewrite("And Fiji?").query == MALAYSIA.replace("Malaysia", "Fiji")
    conversation.add("Why?", conversation.rewrite("Why?"))  # a heuristic turn
    assert conversation.turns[-1].method == "heuristic"
    # the latest standalone question is used, not "Why? (follow-up to: ...)"
    assert conversation.rewrite("And Fiji?").query == MALAYSIA.replace("Malaysia", "Fiji")
    assert conversation.rewrite("What is ASEAN?").method == "none"  # standalone


def test_turns_round_trip_as_plain_dicts():
    conversation = conversation_after(MALAYSIA, "And the Philippines?")
    conversation.add("And Fiji?", conversation.rewrite("And Fiji?"), answer="A quarter [1].")
    data = conversation.to_dicts()
    assert data[-1] == {
        "question": "And Fiji?",
        "standalone": MALAYSIA.replace("Malaysia", "Fiji"),
        "method": "substitution",
        "answer": "A quarter [1].",
    }
    assert Conversation(data).turns == conversation.turns


def test_over_long_follow_up_is_not_substituted():
    conversation = conversation_after(MALAYSIA, max_chars=75)
    assert conversation.rewrite("What about the Philippines?").method == "substitution"
    too_long = conversation_after(MALAYSIA, max_chars=70).rewrite("What about the Philippines?")
    assert too_long.method == "heuristic"  # the substituted question would be over the limit
    assert conversation_after(MALAYSIA, max_chars=60).rewrite("And Fiji?").method == "none"


def test_eval_system_rewrites_through_the_conversation(
    fixture_settings, embedder, fake_generator, monkeypatch
):
    """OursSystem's follow-ups and earlier turns go through `Conversation` (a spy)."""
    from evals.systems import OursSystem
    from rag.pipeline import RagPipeline

    calls: list[str] = []
    real_rewrite = Conversation.rewrite

    def spy(self, question):
        calls.append(question)
        return real_rewrite(self, question)

    monkeypatch.setattr(Conversation, "rewrite", spy)
    gen = fake_generator("The documents do not say.")
    system = OursSystem(RagPipeline(fixture_settings, embedder=embedder, generator=gen))
    history = [{"question": MALAYSIA, "answer": "A quarter of the budget."}]
    answer = system.answer("And what about the Philippines?", history)
    assert calls == [MALAYSIA, "And what about the Philippines?"]
    assert answer.rewrite_method == "substitution" and answer.search_query == PHILIPPINES
    assert "Philippines" in gen.calls[-1]["messages"][-1]["content"]  # the model sees it
    assert [t.method for t in system.earlier_turns(history)] == ["none"]


def test_rag_chat_rewrites_follow_ups_through_the_conversation(
    fixture_settings, embedder, fake_generator, monkeypatch
):
    from typer.testing import CliRunner

    from rag import cli
    from rag.pipeline import RagPipeline

    gen = fake_generator("The documents do not say.")
    pipe = RagPipeline(fixture_settings, embedder=embedder, generator=gen)
    monkeypatch.setattr(cli, "_load_pipeline", lambda settings: pipe)
    queries: list[str | None] = []
    real_stream = pipe.stream

    def stream(question, search_query=None):
        queries.append(search_query)
        return real_stream(question, search_query=search_query)

    monkeypatch.setattr(pipe, "stream", stream)
    added: list[str] = []
    real_add = Conversation.add
    monkeypatch.setattr(
        Conversation, "add", lambda self, q, *a, **k: added.append(q) or real_add(self, q, *a, **k)
    )
    result = CliRunner().invoke(
        cli.app, ["chat"], input=f"{MALAYSIA}\nAnd what about the Philippines?\n\n"
    )
    assert result.exit_code == 0, result.output
    assert queries == [None, PHILIPPINES]
    assert added == [MALAYSIA, "And what about the Philippines?"]
    assert f"searching for: {PHILIPPINES}" in " ".join(result.output.split())
