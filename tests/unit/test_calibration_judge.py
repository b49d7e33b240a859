"""rag.calibration (calibrated abstention) and rag.judge (the entailment judge)."""

from __future__ import annotations

import json
import math

import pytest
from testkit import FakeGenerator

from rag.calibration import Calibration, CalibrationError
from rag.checks import make_draft
from rag.judge import JUDGE_PROMPT, Judge, answers_messages, claim_messages
from rag.types import ContextSentence

MODEL = {
    "features": ["judge", "best_cosine"],
    "coef": [2.0, -1.0],
    "intercept": 0.5,
    "mean": [0.5, 0.4],
    "scale": [0.25, 0.1],
}


def test_confidence_is_the_logistic_of_the_standardized_signals():
    model = Calibration(**MODEL)
    z = 0.5 + 2.0 * (0.9 - 0.5) / 0.25 - 1.0 * (0.6 - 0.4) / 0.1
    assert model.confidence({"judge": 0.9, "best_cosine": 0.6}) == round(1 / (1 + math.exp(-z)), 4)
    assert model.confidence({"judge": 0.9, "best_cosine": 0.6}) == 0.8455  # sigmoid(1.7)
    # At the means only the intercept is left; a missing signal counts as its mean.
    assert model.confidence({"judge": 0.5, "best_cosine": 0.4}) == round(
        1 / (1 + math.exp(-0.5)), 4
    )
    assert model.confidence({"judge": 0.5}) == model.confidence({"judge": 0.5, "best_cosine": 0.4})
    assert model.confidence({}) == round(1 / (1 + math.exp(-0.5)), 4)
    # Signals it was not fitted on are ignored; the judge raises, the cosine lowers.
    base = model.confidence({"judge": 0.5, "best_cosine": 0.4, "other": 99.0})
    assert base == model.confidence({})
    assert model.confidence({"judge": 0.9}) > base > model.confidence({"best_cosine": 0.9})
    # Extreme signals (a feature with a tiny scale) saturate instead of overflowing.
    assert model.confidence({"judge": -100.0}) == 0.0
    assert model.confidence({"judge": 100.0}) == 1.0
    assert model.confidence({"judge": 0.3}) == round(1 / (1 + math.exp(1.1)), 4)  # z = -1.1


def test_load_save_round_trip(tmp_path):
    path = tmp_path / "calibration.json"
    Calibration(**MODEL, trained_on="osa-calib", notes={"n": 40}).save(path)
    data = json.loads(path.read_text())
    assert data["features"] == MODEL["features"] and data["trained_on"] == "osa-calib"
    loaded = Calibration.load(path)
    assert loaded == Calibration(**MODEL, trained_on="osa-calib", notes={"n": 40})
    assert Calibration.load(str(path)) == loaded


def test_load_of_no_path_or_a_missing_file_is_none(tmp_path):
    assert Calibration.load(None) is None
    assert Calibration.load("") is None
    assert Calibration.load(tmp_path / "absent.json") is None
    assert Calibration.load(tmp_path) is None  # a directory is not a calibration file


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        json.dumps({k: v for k, v in MODEL.items() if k != "coef"}),  # a field missing
        json.dumps({**MODEL, "scale": [0.25, 0.0]}),  # a zero scale
        json.dumps({**MODEL, "coef": [2.0]}),  # lengths differ
        json.dumps({**MODEL, "features": [], "coef": [], "mean": [], "scale": []}),
    ],
    ids=["not-json", "missing-field", "zero-scale", "short-coef", "empty"],
)
def test_bad_file_is_a_calibration_error(tmp_path, text):
    path = tmp_path / "calibration.json"
    path.write_text(text)
    with pytest.raises(CalibrationError, match="calibration"):
        Calibration.load(path)


@pytest.mark.parametrize("field", ["coef", "mean", "scale"])
def test_mismatched_lengths_are_refused(field):
    with pytest.raises(CalibrationError, match="same non-zero length"):
        Calibration(**{**MODEL, field: MODEL[field] + [1.0]})


def test_negative_scale_is_refused():
    with pytest.raises(CalibrationError, match="scale"):
        Calibration(**{**MODEL, "scale": [0.25, -0.1]})


EVIDENCE = [
    ContextSentence(
        "1.2", 1, "Japan gifted to Manila a coastal radar system.", 0, 47, "Kishida visit"
    ),
    ContextSentence("2.1", 2, "The radar cost $4 million.", 0, 26, "OSA budget"),
]
QUESTION = "What did Japan give the Philippines?"


def test_judge_messages_hold_the_evidence_first_then_the_claim_or_question():
    system, user = claim_messages("A coastal radar system.", EVIDENCE)
    assert system == {"role": "system", "content": JUDGE_PROMPT}
    content = user["content"]
    for text in ("Kishida visit", "OSA budget", EVIDENCE[0].text, EVIDENCE[1].text):
        assert text in content
    assert "Claim: A coastal radar system." in content
    assert content.index("Evidence:") < content.index("Claim:")
    assert content.rstrip().endswith("Reply Yes or No.")
    system2, asked = answers_messages(QUESTION, EVIDENCE)
    assert system2 == system and f"Question: {QUESTION}" in asked["content"]
    # both start with the same evidence block, so llama.cpp reuses its KV cache
    shared = content.split("Claim:")[0]
    assert asked["content"].startswith(shared)


def test_judge_passes_the_generator_probabilities_through():
    generator = FakeGenerator("unused", judge=0.73219)
    draft = make_draft("Japan gave a coastal radar system [1].", ["1.2"], EVIDENCE)
    signals = Judge(generator).signals(QUESTION, draft, EVIDENCE[:1])
    assert signals == {"judge": 0.7322, "judge_answers": 0.7322}
    claim, answers = generator.judged
    assert claim == claim_messages(draft.text, EVIDENCE[:1])
    assert answers == answers_messages(QUESTION, EVIDENCE[:1])
    assert "[1]" not in claim[1]["content"]  # the answer is judged without markers
    assert EVIDENCE[1].text not in claim[1]["content"]  # only the evidence given
    assert generator.calls == []  # forward passes only, no generation
