"""evals/replay.py: recorded drafts are streamed back; anything else goes to the real model."""

from __future__ import annotations

import json

import pytest

from evals.replay import ReplayError, ReplayGenerator, recorded_replies, stale_settings
from rag.evidence import evidence_schema


class RealModel:
    name = "real"
    last_stats = None

    def __init__(self):
        self.asked = []

    def warm_up(self):
        pass

    def stream_chat(self, messages, max_tokens=256, temperature=0.0, schema=None):
        self.asked.append(messages)
        yield "OK"

    def yes_probability(self, messages):
        return 0.25


def prompt(question: str) -> list[dict]:
    return [{"role": "system", "content": "rules"}, {"role": "user", "content": f"Q: {question}"}]


def test_the_recorded_draft_of_the_question_in_the_prompt_is_streamed(tmp_path):
    draft = json.dumps({"evidence": ["1.2"], "answer": "Four countries [1]."})
    other = json.dumps({"evidence": ["2.1"], "answer": "Fiji [2]."})
    records = [
        {"system": "ours", "question": "Which  countries? ", "raw_answer": draft},
        {"system": "ours", "question": "And Fiji?", "search_query": "Which countries? Only Fiji.",
         "raw_answer": other},
        {"system": "baseline", "question": "Which countries?", "raw_answer": "nope"},
    ]  # fmt: skip
    (tmp_path / "results.jsonl").write_text("\n".join(json.dumps(r) for r in records))
    real = RealModel()
    replay = ReplayGenerator(recorded_replies(tmp_path), real)
    schema = evidence_schema(["1.1", "1.2", "2.1"])
    assert "".join(replay.stream_chat(prompt("Which countries?"), schema=schema)) == draft
    # a follow-up's prompt holds its search query
    assert (
        "".join(replay.stream_chat(prompt("Which countries? Only Fiji."), schema=schema)) == other
    )
    assert real.asked == [] and replay.yes_probability(prompt("x")) == 0.25
    assert "".join(replay.stream_chat(prompt("Say OK."))) == "OK"  # no schema: the real model
    with pytest.raises(ReplayError, match="no recorded reply"):
        list(replay.stream_chat(prompt("Something else?"), schema=schema))
    with pytest.raises(ReplayError, match="retrieval or context selection changed"):
        list(replay.stream_chat(prompt("Which countries?"), schema=evidence_schema(["1.1"])))


def test_settings_recorded_otherwise_than_today_s_defaults_are_named():
    """A replay keeps the recorded run's settings: one whose default changed since is
    named (unless the --config changes it), so a new default is not silently left out."""
    from rag.config import Settings

    defaults = Settings().to_dict()
    recorded = dict(defaults, reground_claims=not defaults["reground_claims"], top_k=9)
    assert stale_settings(recorded, {}) == {
        "reground_claims": (not defaults["reground_claims"], defaults["reground_claims"]),
        "top_k": (9, defaults["top_k"]),
    }
    assert stale_settings(recorded, {"reground_claims": True, "top_k": 9}) == {}
    assert stale_settings(defaults, {}) == {}
