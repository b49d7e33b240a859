"""Judges (verdict parsing, lexical check, agreement maths) and report writing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.judge import LexicalJudge, LLMJudge, agreement, load_cases, parse_verdict
from evals.records import EvalRecord
from evals.report import failures, headline_markdown, rerender, write_report

# -- judges -------------------------------------------------------------------------------


def test_parse_verdict():
    assert parse_verdict("Yes.") and parse_verdict(" yes") and parse_verdict("**Yes**")
    assert not parse_verdict("No") and not parse_verdict("") and not parse_verdict("Maybe yes")


def test_lexical_judge():
    judge = LexicalJudge(0.75)
    passage = "Each recipient would be allotted a quarter of the 2 billion yen OSA budget."
    assert judge.entails(passage, "Each recipient is allotted a quarter of the budget.")
    assert not judge.entails(passage, "Each recipient gets 5 billion yen.")  # number missing
    assert not judge.entails(passage, "Fiji received radar systems and patrol boats.")
    assert judge.entails(passage, "This is it.")  # only stop words: nothing to check


def test_judge_cases_file_is_complete():
    cases = load_cases()
    assert len(cases) == 30
    assert {type(c["supported"]) for c in cases} == {bool}
    assert len({c["id"] for c in cases}) == 30
    assert all(c["claim"].strip() and c["passage"].strip() for c in cases)


class _ScriptedJudge:
    name = "scripted"

    def __init__(self, verdicts):
        self.verdicts = iter(verdicts)

    def entails(self, premise, claim):
        return next(self.verdicts)


def test_agreement_accuracy_and_kappa():
    cases = [{"id": str(i), "passage": "p", "claim": "c", "supported": i < 2} for i in range(4)]
    perfect = agreement(_ScriptedJudge([True, True, False, False]), cases)
    assert perfect["accuracy"] == 1.0 and perfect["kappa"] == pytest.approx(1.0)
    always_yes = agreement(_ScriptedJudge([True] * 4), cases)
    assert always_yes["accuracy"] == 0.5 and always_yes["kappa"] == pytest.approx(0.0)
    assert always_yes["false_positive"] == 2 and len(always_yes["errors"]) == 2


def test_llm_judge_prompt_and_memo(fake_generator):
    gen = fake_generator("Yes")
    judge = LLMJudge(gen)
    assert judge.entails("The sky is blue.", "The sky is blue.")
    assert judge.entails("The sky is blue.", "The sky is blue.")
    assert judge.calls == 1 and len(gen.calls) == 1  # memoised within the run
    call = gen.calls[0]
    assert call["max_tokens"] == 2 and call["temperature"] == 0.0
    assert "Claim: The sky is blue." in call["messages"][-1]["content"]
    assert not LLMJudge(fake_generator("No, it is not.")).entails("p", "c")


def test_llm_judge_runs_on_the_tiny_model(tiny_generator):
    judge = LLMJudge(tiny_generator)
    result = agreement(judge, load_cases()[:3])
    assert result["cases"] == 3 and judge.calls == 3
    assert result["true_positive"] + result["true_negative"] + len(result["errors"]) == 3


def test_add_citation_metrics_prefetches_passage_major(fake_generator):
    from evals.records import EvalRecord
    from evals.scoring import add_citation_metrics

    gen = fake_generator("yes")
    records = [
        EvalRecord(
            "ours",
            "q1",
            "Q1?",
            True,
            refused=False,
            sentences=[
                {"text": "S one.", "citations": [1, 2]},
                {"text": "S two.", "citations": [1, 2]},
            ],
            passages={1: "P1", 2: "P2"},
        ),
        EvalRecord("ours", "q2", "Q2?", True, refused=True),
    ]
    add_citation_metrics(records, [LexicalJudge(), LLMJudge(gen)], progress=False)
    premises = [c["messages"][-1]["content"].split("<<<\n")[1][:2] for c in gen.calls]
    assert premises == ["P1", "P1", "P2", "P2"]  # passage-major: reuses the prompt cache
    m = records[0].metrics
    assert m["citation_recall_llm"] == 1.0 and m["citation_precision_llm"] == 1.0
    assert m["citation_recall_lex"] == 0.0  # "S one." words are not in "P1"/"P2"
    assert records[1].metrics["citation_recall_llm"] is None  # refused: not scored


def test_reused_records_are_judged_only_by_the_judges_they_lack(fake_generator):
    """A run with the LLM judge that reuses a `--no-judge` run's answers judges them
    now; reused scores it already has stay as they were."""
    from evals.records import EvalRecord
    from evals.scoring import add_citation_metrics

    def reused(qid: str, **metrics) -> EvalRecord:
        record = EvalRecord(
            "baseline", qid, "Q?", True, refused=False,
            sentences=[{"text": "S one.", "citations": [1]}], passages={1: "P1"},
        )  # fmt: skip
        record.resumed, record.metrics = True, dict(metrics)
        return record

    unjudged = reused("q1", citation_recall_lex=0.5, citation_precision_lex=0.5)
    judged = reused(
        "q2", citation_recall_lex=0.5, citation_precision_lex=0.5,
        citation_recall_llm=0.25, citation_precision_llm=0.25,
    )  # fmt: skip
    textless = reused("q3", citation_recall_lex=0.5, citation_precision_lex=0.5)
    textless.passages = {}  # written before records kept their cited passages
    gen = fake_generator("yes")
    records = [unjudged, judged, textless]
    add_citation_metrics(records, [LexicalJudge(), LLMJudge(gen)], progress=False)
    assert unjudged.metrics["citation_recall_llm"] == 1.0  # judged now
    assert unjudged.metrics["citation_recall_lex"] == 0.5  # its lexical score kept
    assert judged.metrics["citation_recall_llm"] == 0.25 and len(gen.calls) == 1
    assert "citation_recall_llm" not in textless.metrics  # unjudged, not scored 0


# -- report ------------------------------------------------------------------------------


def _record(system, qid, answerable, refused, **metrics):
    return EvalRecord.from_dict(
        {
            "system": system,
            "id": qid,
            "type": "single-fact" if answerable else "unanswerable",
            "question": f"Question {qid}?",
            "answerable": answerable,
            "gold": {"answers": ["x"] if answerable else [], "keywords": [], "passages": []},
            "answer": "The documents do not say." if refused else "An answer [1].",
            "raw_answer": "",
            "refused": refused,
            "refusal_reason": "because" if refused else None,
            "sentences": [],
            "citations": [],
            "retrieved": [],
            "ranked": [],
            "metrics": metrics,
            "timings": {
                "retrieve_ms": 10.0,
                "first_token_ms": 0.0 if refused else 900.0,
                "total_s": 0.2 if refused else 3.0,
                "prompt_tokens": 700,
                "completion_tokens": 0 if refused else 30,
                "tokens_per_s": None if refused else 25.0,
            },  # fmt: skip
        }
    )


def _meta():
    return {
        "set": "tiny", "description": "hand-made", "questions": 2, "answerable": 1,
        "unanswerable": 1, "set_size": 2, "limit": None, "seed": 0, "corpus_dir": "c",
        "index_dir": "i", "index_chunks": 3, "model": "m", "top_k": 4,
        "settings": {"n_ctx": 4096, "n_threads": 2, "embedder": "all-MiniLM-L6-v2"},
        "command": "rag eval --set tiny", "date": "2025-01-01T00:00:00+00:00",
        "git_commit": "abc", "machine": {"cpu": "cpu", "cores": 2, "memory_gb": 8,
                                         "platform": "linux"},
        "runtime_s": {"total_s": 1.0}, "systems": ["ours", "baseline"], "baseline": None,
        "judge": {"llm_enabled": False, "lexical_threshold": 0.75,
                  "agreement": {"lexical": {"cases": 30, "accuracy": 0.9, "kappa": 0.8,
                                            "false_positive": 2, "false_negative": 1}}},
        "unreachable_gold_passages": [{"id": "q1", "label": "g0", "quote": "front matter"}],
    }  # fmt: skip


def test_failures_reasons():
    assert failures(_record("ours", "q", True, True, contains=0.0)) == ["wrongly refused"]
    assert failures(_record("ours", "q", False, False)) == ["answered an unanswerable question"]
    assert failures(_record("ours", "q", False, True)) == []
    ok = _record("ours", "q", True, False, contains=1.0, citation_recall_lex=1.0)
    assert failures(ok) == []
    partial = _record("ours", "q", True, False, contains=1.0, citation_recall_llm=0.5)
    assert failures(partial) == ["citation recall 0.50"]


def test_write_report_files(tmp_path: Path):
    from evals.metrics import summarize

    records = {
        "ours": [
            _record(
                "ours", "q1", True, False, em=0.0, f1=0.5, contains=1.0, citation_recall_lex=1.0
            ),
            _record("ours", "q2", False, True),
        ],
        "baseline": [
            _record("baseline", "q1", True, False, em=0.0, f1=0.2, contains=0.0),
            _record("baseline", "q2", False, False),
        ],
    }
    summaries = {name: summarize(recs, 4) for name, recs in records.items()}
    write_report(tmp_path, _meta(), summaries, records)
    for name in ("results.jsonl", "summary.json", "report.md", "report.html",
                 "plots/metrics.png", "plots/latency.png"):  # fmt: skip
        assert (tmp_path / name).is_file(), name
    lines = (tmp_path / "results.jsonl").read_text().splitlines()
    assert len(lines) == 4 and "_passages" not in json.loads(lines[0])
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert set(summary["systems"]) == {"ours", "baseline"}
    md = (tmp_path / "report.md").read_text()
    assert "| Metric | ours | baseline (LangChain) | n |" in md
    assert "rag eval --set tiny" in md and "answered an unanswerable question" in md
    assert "q1" in md  # the unreachable gold passage is reported
    assert "<img src='plots/metrics.png'" in (tmp_path / "report.html").read_text()

    # The report can be rebuilt from results.jsonl + summary.json alone.
    (tmp_path / "report.md").unlink()
    rerender(tmp_path)
    assert (tmp_path / "report.md").read_text() == md

    table = headline_markdown([tmp_path])
    assert table.splitlines()[0] == "| Metric | tiny (2 q) ours | tiny (2 q) baseline |"
    assert "| Token F1 ↑ | 0.50 | 0.20 |" in table
