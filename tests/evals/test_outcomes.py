"""Confidently wrong, context recall, risk-coverage and AUROC on hand-made records."""

from __future__ import annotations

import html
import json
from dataclasses import replace
from pathlib import Path

import pytest

from evals.metrics import (
    abstention_auroc,
    abstention_items,
    answer_wrong,
    confidently_wrong,
    context_recall,
    risk_coverage,
    risk_coverage_curve,
    summarize,
)
from evals.records import EvalRecord
from evals.report import TUNING_NOTE, osa_group, write_report
from evals.scoring import best_score, what_was_read
from evals.systems import Passage, SystemAnswer

# -- confidently wrong ------------------------------------------------------------------


def test_answer_wrong_definitions():
    # unanswerable: any answer is wrong, a refusal is not
    assert answer_wrong(False, False, {}) is True
    assert answer_wrong(False, True, {}) is False
    # answerable with keywords: keyword accuracy decides (F1 and containment do not)
    assert answer_wrong(True, False, {"keywords_all": 0.0, "contains": 1.0, "f1": 0.9}) is True
    assert answer_wrong(True, False, {"keywords_all": 1.0, "contains": 0.0, "f1": 0.0}) is False
    # answerable without keywords: not contained AND F1 < 0.2
    assert answer_wrong(True, False, {"contains": 0.0, "f1": 0.19}) is True
    assert answer_wrong(True, False, {"contains": 0.0, "f1": 0.2}) is False
    assert answer_wrong(True, False, {"contains": 1.0, "f1": 0.0}) is False
    # nothing to judge by
    assert answer_wrong(True, False, {"keywords_all": None, "contains": None, "f1": None}) is None


def test_confidently_wrong_counts_only_answered_wrong():
    assert confidently_wrong(False, False, {}) == 1.0  # answered an unanswerable question
    assert confidently_wrong(False, True, {}) == 0.0  # refused it
    assert confidently_wrong(True, True, {"keywords_all": 0.0}) == 0.0  # refusal: not confident
    assert confidently_wrong(True, False, {"keywords_all": 0.0}) == 1.0
    assert confidently_wrong(True, False, {"keywords_all": 1.0}) == 0.0
    assert confidently_wrong(True, False, {"contains": 0.0, "f1": 0.1}) == 1.0
    assert confidently_wrong(True, False, {}) is None


def _rec(answerable, refused, score=None, **metrics):
    return EvalRecord(
        "ours", "q", "Q?", answerable, refused=refused, abstention_score=score, metrics=metrics
    )


def test_confidently_wrong_is_a_share_of_all_questions():
    records = [
        _rec(True, False, keywords_all=0.0),  # confidently wrong
        _rec(True, False, keywords_all=1.0),
        _rec(True, True, keywords_all=0.0),  # refused: not counted as wrong, still in the base
        _rec(False, True),
        _rec(False, False),  # confidently wrong
    ]
    summary = summarize(records, 4)
    assert summary["confidently_wrong"] == pytest.approx(2 / 5)
    assert summary["n_confidently_wrong"] == 5


# -- context recall -----------------------------------------------------------------------


def test_context_recall_matches_across_sentences_and_normalises():
    context = "The first recipients are Malaysia, the\nPhilippines, Bangladesh and Fiji.\nOther."
    assert context_recall(["malaysia, the  Philippines, Bangladesh"], context) == 1.0
    assert context_recall(["Japan’s OSA budget"], "japan's osa budget was cut") == 1.0
    assert context_recall(["not there at all", "Fiji."], context) == 1.0  # any quote counts
    assert context_recall(["Malaysia and the Philippines"], context) == 0.0
    assert context_recall(["anything"], "") == 0.0
    assert context_recall([], context) is None
    assert context_recall(["", "  "], context) is None


class _Sys:
    def __init__(self, name):
        self.name = name


def _answer(context_text: str) -> SystemAnswer:
    retrieved = [Passage("c1", "a.txt", "Passage one.", 0.6), Passage("c2", "b.txt", "Two.", 0.4)]
    return SystemAnswer("x", False, retrieved, [], context_text=context_text)


def test_what_was_read_context_fallback_and_baseline():
    assert what_was_read(_Sys("ours"), _answer("Sentence 1.\nSentence 2.")) == (
        "Sentence 1.\nSentence 2.",
        "context",
    )
    assert what_was_read(_Sys("ours"), _answer("")) == ("Passage one.\n\nTwo.", "fallback")
    assert what_was_read(_Sys("baseline"), _answer("Passage one.\n\nTwo."))[1] == "passages"
    assert best_score(_answer("").retrieved) == 0.6
    assert best_score([Passage("c", "s", "t")]) is None


def test_summary_counts_context_fallback():
    records = [
        replace(_rec(True, False, context_recall=1.0), context_from="fallback"),
        replace(_rec(True, False, context_recall=0.0), context_from="context"),
        replace(_rec(False, True, context_recall=None), context_from="context"),
    ]
    summary = summarize(records, 4)
    assert summary["context_recall"] == 0.5
    assert summary["n_context_recall"] == 2
    assert summary["context_fallback"] == 1


# -- risk-coverage and AUROC --------------------------------------------------------------

# (answerable, refused, score, wrong)
ITEMS = [
    (True, False, 0.9, False),
    (True, False, 0.8, True),
    (True, False, 0.6, False),
    (False, False, 0.3, True),
    (False, True, None, False),  # a right refusal
    (True, True, None, True),  # a wrong refusal
]


def test_risk_coverage_rows():
    rows = risk_coverage(ITEMS, thresholds=(0.5, 0.7, 0.9, 0.95))
    own, t5, t7, t9, t95 = rows
    assert own == {"threshold": None, "answered": 4, "coverage": 4 / 6, "risk": 0.5}
    assert t5["answered"] == 3 and t5["coverage"] == 0.5 and t5["risk"] == pytest.approx(1 / 3)
    assert t7["coverage"] == pytest.approx(2 / 6) and t7["risk"] == 0.5
    assert t9["coverage"] == pytest.approx(1 / 6) and t9["risk"] == 0.0  # >= t
    assert t95 == {"threshold": 0.95, "answered": 0, "coverage": 0.0, "risk": None}


def test_risk_coverage_curve():
    coverage, risk = risk_coverage_curve(ITEMS)
    assert coverage == pytest.approx([1 / 6, 2 / 6, 3 / 6, 4 / 6])
    assert risk == pytest.approx([0.0, 0.5, 1 / 3, 0.5])


def test_auroc_answered_only_and_with_refusals():
    out = abstention_auroc(ITEMS)
    # answered: right {0.9, 0.6} vs wrong {0.8, 0.3}: 3 of 4 pairs ordered
    assert out["auroc_answered"] == pytest.approx(0.75)
    # refusals rank below every answer: the wrong refusal is a positive at the bottom,
    # the right refusal a negative there (the two tie: half a pair)
    # positives 0.9, 0.6, floor vs negatives 0.8, 0.3, floor: (3 + 2 + 0.5) / 9
    assert out["auroc"] == pytest.approx(5.5 / 9)
    assert out["n_auroc"] == 6 and out["n_unscored"] == 0


def test_auroc_rewards_right_refusals_and_punishes_wrong_ones():
    right = [it if it[1] is False else (False, True, None, False) for it in ITEMS]
    wrong = [it if it[1] is False else (True, True, None, True) for it in ITEMS]
    # positives 0.9, 0.6 vs negatives 0.8, 0.3, floor, floor: (4 + 3) / 8
    assert abstention_auroc(right)["auroc"] == pytest.approx(7 / 8)
    # positives 0.9, 0.6, floor, floor vs negatives 0.8, 0.3: (2 + 1 + 0 + 0) / 8
    assert abstention_auroc(wrong)["auroc"] == pytest.approx(3 / 8)
    perfect = [(True, False, 0.9, False), (False, False, 0.1, True), (False, True, None, False)]
    assert abstention_auroc(perfect)["auroc"] == 1.0


def test_auroc_none_without_scores_or_a_class():
    no_scores = [(True, False, None, False), (False, False, None, True)]
    out = abstention_auroc(no_scores)
    assert out["auroc"] is None and out["auroc_answered"] is None and out["n_unscored"] == 2
    all_right = [(True, False, 0.9, False), (True, False, 0.5, False)]
    assert abstention_auroc(all_right)["auroc_answered"] is None


def test_abstention_items_from_records():
    records = [
        _rec(True, False, 0.8, keywords_all=1.0),
        _rec(True, False, 0.7, contains=None, f1=None),  # cannot be judged: left out
        _rec(True, True, None, keywords_all=0.0),
        _rec(False, False, 0.4),
    ]
    assert abstention_items(records) == [
        (True, False, 0.8, False),
        (True, True, None, True),
        (False, False, 0.4, True),
    ]
    summary = summarize(records, 4)
    assert summary["auroc_answered"] == 1.0
    assert summary["risk_coverage"][0]["coverage"] == pytest.approx(2 / 3)


# -- report -------------------------------------------------------------------------------


def test_osa_group_by_gold_and_near_miss_sources():
    seed = {"gold": {"passages": [{"source": "japan-osa-malaysia-visit.txt", "quote": "q"}]}}
    near = {"gold": {"passages": [], "near_miss": [{"source": "japan-osa-malaysia-visit.txt"}]}}
    wh = {"gold": {"passages": [{"source": "2022-05-12-fact-sheet.md", "quote": "q"}]}}
    assert osa_group(seed["gold"]) == osa_group(near["gold"]) == "seed article"
    assert osa_group(wh["gold"]) == "White House"


def _full(system, qid, answerable, refused, score, source, **metrics):
    gold = {"source": source, "quote": "q"}
    return EvalRecord.from_dict({
        "system": system, "id": qid, "type": "single-fact", "question": f"{qid}?",
        "answerable": answerable,
        "gold": {"answers": ["x"], "keywords": ["x"],
                 "passages": [gold] if answerable else [], "near_miss": [gold]},
        "answer": "x", "raw_answer": "x", "refused": refused, "refusal_reason": None,
        "sentences": [], "citations": [], "retrieved": [], "ranked": [],
        "metrics": metrics, "abstention_score": score, "context_from": "context",
        "timings": {"retrieve_ms": 1.0, "first_token_ms": 5.0, "total_s": 1.0,
                    "prompt_tokens": 10, "completion_tokens": 5, "tokens_per_s": 9.0},
    })  # fmt: skip


def test_report_has_tuning_note_groups_and_risk_coverage(tmp_path: Path):
    seed, wh = "japan-osa-malaysia-visit.txt", "2024-01-01-statement.md"
    records = {
        name: [
            _full(name, "ho-001", True, False, 0.9, seed, keywords_all=1.0, **{"recall@k": 1.0}),
            _full(name, "ho-002", True, False, 0.4, wh, keywords_all=0.0, **{"recall@k": 0.0}),
            _full(name, "ho-003", False, True, None, seed),
            _full(name, "ho-004", False, False, 0.5, wh),
        ]
        for name in ("ours", "baseline")
    }
    summaries = {name: summarize(recs, 4) for name, recs in records.items()}
    meta = {
        "set": "osa-heldout", "description": "d", "questions": 4, "answerable": 2,
        "unanswerable": 2, "set_size": 4, "limit": None, "seed": 0, "split": "test",
        "corpus_dir": "corpus", "index_dir": "i", "index_chunks": 3, "model": "m", "top_k": 4,
        "settings": {"n_ctx": 4096, "n_threads": 2, "embedder": "e"}, "command": "c",
        "date": "d", "git_commit": "abc",
        "machine": {"cpu": "cpu", "cores": 2, "memory_gb": 8, "platform": "linux"},
        "runtime_s": {"total_s": 1.0}, "systems": ["ours", "baseline"], "baseline": None,
        "judge": {"llm_enabled": False, "lexical_threshold": 0.75, "agreement": {}},
        "unreachable_gold_passages": [],
    }  # fmt: skip
    write_report(tmp_path, meta, summaries, records)
    md = (tmp_path / "report.md").read_text()
    page = (tmp_path / "report.html").read_text()
    assert TUNING_NOTE in md and html.escape(TUNING_NOTE) in page
    assert "osa test half is therefore not fully untouched" in md
    # headline: 2 of 4 questions answered and wrong
    assert "| Confidently wrong (answered and wrong, share of all) ↓ | 0.500 | 0.500 | 4 |" in md
    # groups: seed questions are right or refused, White House ones wrong
    assert "## Seed article vs White House statements" in md
    row = next(line for line in md.splitlines() if line.startswith("| Confidently wrong"))
    assert row  # headline row exists
    group_rows = md.split("## Seed article vs White House statements")[1].split("##")[0]
    assert "| Confidently wrong (answered and wrong, share of all) ↓ | 0.000 | 1.000 |" in (
        group_rows
    )
    # risk-coverage: own decisions 3 of 4 answered, 2 of them wrong
    assert "| own decisions | 0.750 | 0.667 |" in md
    assert "| score ≥ 0.5 | 0.500 | 0.500 |" in md
    assert (tmp_path / "plots" / "risk_coverage.png").is_file()
    assert "plots/risk_coverage.png" in page
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["systems"]["ours"]["auroc_answered"] == pytest.approx(1.0)


class _FakeSystem:
    """A system without a model: fixed answer, context and scores."""

    def __init__(self, name, answer: SystemAnswer, ranked_score=0.7):
        self.name = name
        self._answer = answer
        self._ranked = [Passage("r1", "a.txt", "Ranked passage.", ranked_score)]

    def answer(self, question, history=()):
        return self._answer

    def ranked(self, question, k):
        return self._ranked


def test_answer_one_records_outcome_fields():
    from evals.scoring import answer_one
    from evals.sets import Gold, Question

    q = Question(
        "q1", "Who?", True, answers=["Fiji"], keywords=["Fiji"],
        gold=[Gold("g0", source="a.txt", quote="recipients include Fiji")],
    )  # fmt: skip
    passages = [Passage("c1", "a.txt", "The recipients include Fiji and others.", 0.55)]
    ours = SystemAnswer(
        "Malaysia [1].", False, passages, [("Malaysia [1].", [1])],
        context_text="Unrelated sentence.", confidence=0.8,
    )  # fmt: skip
    rec = answer_one(_FakeSystem("ours", ours), q)
    assert rec.metrics["confidently_wrong"] == 1.0  # keyword Fiji missing
    assert rec.metrics["context_recall"] == 0.0  # the context sentences lack the quote
    assert rec.context_from == "context"
    assert rec.abstention_score == 0.8 and rec.top_score == 0.55

    ours.context_text = ""  # no context recorded: the passages stand in
    rec = answer_one(_FakeSystem("ours", ours), q)
    assert rec.metrics["context_recall"] == 1.0 and rec.context_from == "fallback"

    base = SystemAnswer(
        "Fiji.", False, [Passage("c1", "a.txt", passages[0].text)], [("Fiji.", [1])],
        context_text=passages[0].text,
    )  # fmt: skip
    rec = answer_one(_FakeSystem("baseline", base, ranked_score=0.61), q)
    assert rec.metrics["confidently_wrong"] == 0.0
    assert rec.context_from == "passages" and rec.metrics["context_recall"] == 1.0
    assert rec.abstention_score == 0.61  # no passage score: the top-ranked chunk's
