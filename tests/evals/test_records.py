"""`EvalRecord` round-trips through results.jsonl, including records of older runs."""

from __future__ import annotations

from evals.records import EvalRecord

ANSWERED = {
    "system": "ours", "id": "q1", "type": "list", "question": "Who?", "answerable": True,
    "gold": {"answers": ["Fiji"], "keywords": [], "passages": []}, "answer": "Fiji [1].",
    "raw_answer": "{}", "refused": False, "refusal_reason": None,
    "sentences": [{"text": "Fiji [1].", "citations": [1]}],
    "citations": [{"n": 1, "chunk_id": "c1", "source": "a.txt"}],
    "retrieved": [{"n": 1, "chunk_id": "c1", "source": "a.txt", "score": 0.6, "gold": []}],
    "ranked": [{"chunk_id": "c1", "source": "a.txt", "gold": []}],
    "metrics": {"f1": 1.0}, "context_from": "context", "confidence": 0.7,
    "signals": {"judge": 0.9}, "top_score": 0.6, "abstention_score": 0.7,
    "passages": {"1": "Fiji received a patrol boat."},
    "history": [{"question": "Earlier?", "answer": ""}], "standalone": "Who alone?",
    "search_query": "Who, alone?", "rewrite_method": "model",
    "timings": {"total_s": 1.0},
}  # fmt: skip
RETRIEVED = {
    "system": "ours", "id": "q2", "type": None, "question": "What?", "answerable": False,
    "gold": {"answers": [], "keywords": [], "passages": []}, "top_score": 0.2,
    "retrieved": [], "ranked": [], "metrics": {"recall@k": None},
    "timings": {"retrieve_ms": 3.0},
}  # fmt: skip


def test_records_round_trip_with_the_field_order_of_results_jsonl():
    for row in (ANSWERED, RETRIEVED, {**ANSWERED, "resumed": True}):
        record = EvalRecord.from_dict(row)
        assert list(record.to_dict().items()) == list(row.items())
    assert EvalRecord.from_dict(RETRIEVED).answer is None  # a retrieval-only record
    no_follow_up = {k: v for k, v in ANSWERED.items() if k not in
                    ("history", "standalone", "search_query", "rewrite_method")}  # fmt: skip
    assert EvalRecord.from_dict(no_follow_up).to_dict() == no_follow_up


def test_older_records_still_read():
    """A record from before context recall and abstention (no such fields, an unknown one)."""
    old = {k: v for k, v in ANSWERED.items() if k not in
           ("context_from", "confidence", "signals", "abstention_score", "type",
            "passages")}  # fmt: skip
    old["judged_by"] = "llm"  # a field this version does not know
    record = EvalRecord.from_dict(old)
    assert record.context_from is None and record.abstention_score is None
    assert record.signals == {} and record.type is None and not record.resumed
    assert record.to_dict()["judged_by"] == "llm"  # kept as read
    assert record.passages == {} and "gold_labels" not in record.to_dict()


def test_only_the_cited_passages_are_written_and_read_back_by_number():
    """The citation judges read them, so a later run can judge a reused record."""
    record = EvalRecord.from_dict(ANSWERED)
    assert record.passages == {1: "Fiji received a patrol boat."}
    record.passages[2] = "A retrieved passage nothing cites."
    assert record.to_dict()["passages"] == {"1": "Fiji received a patrol boat."}
