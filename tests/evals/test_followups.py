"""The follow-up set (osa-followups), its metric, and how the harness asks follow-ups."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.metrics import content_words, query_keyword_recall, summarize
from evals.scoring import answer_one
from evals.sets import EvalSetError, Question, load_jsonl_set, load_set
from evals.systems import OursSystem
from rag.conversation import needs_context

REPO = Path(__file__).resolve().parents[2]
FIRST = "Which countries are the first recipients of Japan's OSA?"
FOLLOW_UP = "And how much did each of them get?"


def test_followup_set_loads_with_history_and_standalone():
    evalset = load_set("osa-followups")
    assert evalset.name == "osa-followups" and evalset.corpus_dir == REPO / "corpus"
    assert len(evalset.questions) == 19 and len(evalset.unanswerable) == 4
    for q in evalset.questions:
        assert 1 <= len(q.history) <= 2, q.id
        assert all(t["question"].strip() and t["answer"].strip() for t in q.history), q.id
        assert q.standalone and q.standalone != q.question, q.id
        assert needs_context(q.question), q.id  # a follow-up, not a question on its own
        assert q.answerable == bool(q.gold) == bool(q.answers) == bool(q.keywords), q.id
    canonical = evalset.questions[0]
    assert [t["question"] for t in canonical.history] == [FIRST]
    assert canonical.question == FOLLOW_UP and "quarter" in canonical.keywords
    assert len(load_set("osa-followups", limit=2).questions) == 2


def test_followup_gold_quotes_are_in_the_loaded_corpus():
    """Every gold quote occurs in the text the loader gives the index (front matter aside)."""
    from rag.loaders import iter_documents

    docs = [d for d in iter_documents([REPO / "corpus"]) if hasattr(d, "text")]
    for q in load_set("osa-followups").questions:
        for g in q.gold:
            assert any(g.matches(d.text, d.source) for d in docs), (q.id, g.quote)
            for kw in q.keywords:  # the keywords are in the quoted passage's document
                assert any(
                    g.matches(d.text, d.source) and kw.lower() in " ".join(d.text.split()).lower()
                    for d in docs
                ), (q.id, kw)


def test_history_must_be_a_list_of_turns(tmp_path: Path):
    path = tmp_path / "bad.jsonl"
    for history in ({"question": "x"}, [{"answer": "no question"}], ["just text"]):
        row = {"id": "1", "question": "And then?", "history": history}
        path.write_text(json.dumps(row) + "\n", encoding="utf-8")
        with pytest.raises(EvalSetError, match="history"):
            load_jsonl_set(path, corpus=tmp_path)


def test_query_keyword_recall():
    standalone = "How much of Japan's OSA budget did each of the first recipient countries get?"
    assert content_words(standalone) == {"japan", "osa", "budget", "recipient", "country"}
    assert query_keyword_recall(FOLLOW_UP, standalone) == 0.0
    heuristic = f"{FOLLOW_UP} (follow-up to: {FIRST})"
    assert query_keyword_recall(heuristic, standalone) == pytest.approx(0.8)  # not "budget"
    assert query_keyword_recall(standalone, standalone) == 1.0
    assert query_keyword_recall("anything", None) is None
    assert query_keyword_recall("anything", "How did they?") is None  # no content words


def test_follow_up_is_rewritten_like_the_chat_ui(fixture_settings, embedder, fake_generator):
    """Ours: rewrite from the earlier questions, retrieve with the rewrite, record both."""
    from rag.pipeline import RagPipeline

    rewrite = "How much did each first recipient of OSA get?"
    gen = fake_generator(rewrite)
    pipe = RagPipeline(fixture_settings, embedder=embedder, generator=gen)
    q = Question(
        id="f1",
        question=FOLLOW_UP,
        answerable=True,
        answers=["a quarter"],
        history=[{"question": FIRST, "answer": "Malaysia, the Philippines, Bangladesh and Fiji."}],
        standalone="How much of Japan's OSA budget did each of the first recipients get?",
    )
    record = answer_one(OursSystem(pipe), q)
    assert record.rewrite_method == "model" and record.search_query == rewrite
    assert record.history == q.history and record.standalone == q.standalone
    prompt = gen.calls[0]["messages"][1]["content"]
    assert FIRST in prompt and FOLLOW_UP in prompt and "Malaysia" not in prompt  # questions only
    assert record.metrics["query_keyword_recall"] == pytest.approx(2 / 4)  # osa, recipient
    assert record.timings["rewrite_ms"] >= 0
    assert record.retrieved[0]["source"].endswith("osa.txt")
    assert summarize([record], 4)["query_keyword_recall"] == pytest.approx(0.5)

    plain = answer_one(OursSystem(pipe), Question(id="p1", question=FIRST, answerable=True))
    assert "search_query" not in plain.to_dict() and "query_keyword_recall" not in plain.metrics


def test_earlier_follow_ups_are_rewritten_in_turn(fixture_settings, embedder, fake_generator):
    """A two-turn history: the second earlier question keeps its own rewrite, as in the UI."""
    from rag.pipeline import RagPipeline

    gen = fake_generator("Which recipients of Japan's OSA get a quarter of the budget?")
    system = OursSystem(RagPipeline(fixture_settings, embedder=embedder, generator=gen))
    turns = system.earlier_turns(
        [{"question": FIRST, "answer": ""}, {"question": FOLLOW_UP, "answer": ""}]
    )
    assert [t.question for t in turns] == [FIRST, FOLLOW_UP]
    assert turns[0].standalone is None  # asked on its own: not rewritten
    assert turns[1].standalone  # the follow-up's rewrite (model or heuristic)
    assert len(gen.calls) == 1
