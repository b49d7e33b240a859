"""`rag eval --retrieval-only`: retrieval metrics on the tiny fixture set, no generator.

The session MiniLM embedder is shared with the run (monkeypatched constructor), and
the generator is made unreachable, so the test proves that no LLM is loaded.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from testkit import FIXTURE_DOCS, write_corpus
from typer.testing import CliRunner

from evals.metrics import retrieval_scores, run_labels, summarize_retrieval
from evals.records import EvalRecord

QUESTIONS = [
    {
        "id": "t1",
        "question": "Which countries are the first recipients of OSA?",
        "answers": ["Malaysia, the Philippines, Bangladesh, and Fiji"],
        "gold_passages": [
            {"source": "osa.txt", "quote": "The first recipients of OSA are Malaysia"}
        ],
        "type": "list",
    },
    {
        "id": "t2",
        "question": "How many vaccine doses did Quad leaders pledge?",
        "answers": ["one billion"],
        "gold_passages": ["quad"],
        "type": "numeric",
    },
    {
        "id": "t3",
        "question": "How often do bakers feed a sourdough starter?",
        "answers": ["every day"],
        "gold_passages": ["bread.md"],
        "type": "single-fact",
    },
    {"id": "t4", "question": "What is the boiling point of mercury on Mars?", "answerable": False},
]


@pytest.fixture
def tiny_set(tmp_path: Path) -> Path:
    write_corpus(tmp_path / "corpus", FIXTURE_DOCS)
    path = tmp_path / "tiny.jsonl"
    rows = [{**q, "corpus": "corpus"} for q in QUESTIONS]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def no_llm(monkeypatch: pytest.MonkeyPatch, embedder):
    """Share the session embedder; fail if anything asks for the generator."""
    import rag.embeddings
    import rag.pipeline

    monkeypatch.setattr(rag.embeddings, "Embedder", lambda *a, **k: embedder)

    def forbidden(*args, **kwargs):
        raise AssertionError("--retrieval-only must not load the generator")

    monkeypatch.setattr(rag.pipeline, "make_generator", forbidden)


def _run(*args: str):
    from rag_app.cli import app

    return CliRunner().invoke(app, ["eval", *args])


@pytest.mark.parametrize("mode", ["dense", "hybrid"])
def test_retrieval_only_writes_report_without_generator(
    tiny_set: Path, tmp_path: Path, monkeypatch, no_llm, mode: str
):
    monkeypatch.setenv("RAG_EVAL_CACHE", str(tmp_path / "cache"))
    out = tmp_path / f"report-{mode}"
    ignored = []

    def commit(ignore=()):
        ignored.extend(ignore)
        return "abc1234"

    monkeypatch.setattr("evals.runner.git_commit", commit)
    result = _run(
        "--set", str(tiny_set), "--retrieval-only", "--retrieval", mode, "--k", "2",
        "--out", str(out), "--quiet",
    )  # fmt: skip
    assert result.exit_code == 0, result.output + repr(result.exception)
    for name in ("results.jsonl", "summary.json", "report.md", "report.html",
                 "plots/retrieval.png"):  # fmt: skip
        assert (out / name).is_file(), name

    summary = json.loads((out / "summary.json").read_text())
    meta = summary["meta"]
    assert meta["mode"] == "retrieval-only" and meta["model"] is None
    assert meta["retrieval"] == mode and meta["settings"]["retrieval"] == mode
    assert meta["embedder"] == "all-MiniLM-L6-v2" and meta["top_k"] == 2
    assert meta["command"].endswith("--retrieval-only")
    assert f"--retrieval {mode}" in meta["command"]
    # The run's own report folder does not count as a local change of the code.
    assert meta["git_commit"] == "abc1234" and out in ignored
    ours = summary["systems"]["ours"]
    for key in ("recall@k", "recall@5", "recall@10", "mrr@10", "ndcg@10",
                "retrieve_ms_p50", "retrieve_ms_p95", "early_refusal_answerable",
                "early_refusal_unanswerable", "top_score_answerable_p50"):  # fmt: skip
        assert ours[key] is not None, key
    assert ours["questions"] == 4 and ours["n_recall@k"] == 3 and ours["n_unanswerable"] == 1
    # Each gold passage is the only document on its topic: found first every time.
    assert ours["recall@k"] == 1.0 and ours["mrr@10"] == 1.0
    assert ours["retrieve_ms_p50"] > 0

    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ["t1", "t2", "t3", "t4"]
    for r in rows:
        assert len(r["retrieved"]) <= 2 and len(r["ranked"]) == len(FIXTURE_DOCS)
        assert "answer" not in r and r["timings"]["retrieve_ms"] > 0
        # the refusal gate's score: the best cosine of the candidate pool
        assert r["top_score"] >= max((p["score"] for p in r["retrieved"]), default=0.0)
    md = (out / "report.md").read_text()
    assert "Retrieval report" in md and "Recall@2" in md and "Recall@5" in md
    assert "retrieval only" in md and f"{mode}, embedder all-MiniLM-L6-v2" in md


def test_retrieval_only_reads_what_the_pipeline_gives_the_model(
    fixture_settings, embedder, fake_generator
):
    """A retrieval-only record holds the passages `RagPipeline.stream` numbers in the
    prompt (context selected from the candidate pool) and the refusal gate's score."""
    from evals.scoring import retrieve_one
    from evals.sets import Question
    from rag.pipeline import RagPipeline

    settings = fixture_settings.replace(top_k=2, context_pool=5, judge_threshold=0.0)
    pipe = RagPipeline(settings, embedder=embedder, generator=fake_generator("No."))
    gated = 0
    for row in QUESTIONS:
        record = retrieve_one(pipe, Question(row["id"], row["question"], True))
        answer = pipe.ask(row["question"])
        pool = pipe.retrieve(row["question"], 5)
        assert record.top_score == round(max(h.score for h in pool), 4)
        if record.top_score < settings.refusal_threshold:  # refused before drafting
            gated += 1
            assert record.retrieved == [] and "relevant enough" in answer.refusal_reason
            continue
        assert [p["chunk_id"] for p in record.retrieved] == [c.chunk_id for c in answer.retrieved]
        # the pool, not the top k: a passage from below rank 2 can be what the model reads
        assert set(p["chunk_id"] for p in record.retrieved) <= {h.chunk.chunk_id for h in pool}
    assert gated < len(QUESTIONS)


def test_eval_index_cache_key_includes_embedder(tiny_set: Path, tmp_path: Path, monkeypatch):
    from evals.sets import eval_index_dir, load_set
    from rag.config import Settings

    monkeypatch.setenv("RAG_EVAL_CACHE", str(tmp_path / "cache"))
    evalset = load_set(str(tiny_set))
    base = Settings()
    minilm = eval_index_dir(evalset, base.replace(embedder="all-MiniLM-L6-v2"))
    mpnet = eval_index_dir(evalset, base.replace(embedder="all-mpnet-base-v2"))
    assert minilm != mpnet
    # the retriever is a query-time choice: dense and hybrid share one index
    assert eval_index_dir(evalset, base.replace(retrieval="dense")) == eval_index_dir(
        evalset, base.replace(retrieval="hybrid")
    )


def test_bad_option_combinations_fail_cleanly(tiny_set: Path):
    result = _run("--set", str(tiny_set), "--retrieval-only", "--baseline")
    assert result.exit_code == 2 and "drop --baseline" in result.output
    result = _run("--set", str(tiny_set), "--retrieval-only", "--embedder", "no-such-embedder")
    assert result.exit_code == 2 and "unknown embedder 'no-such-embedder'" in result.output
    result = _run("--set", str(tiny_set), "--retrieval-only", "--retrieval", "sparse")
    assert result.exit_code == 2 and "retrieval must be one of 'hybrid', 'dense'" in result.output


def test_extra_recall_cutoffs_and_retrieval_summary():
    ranked = [[], [], [], ["g0"], [], []]
    run = run_labels(ranked, [f"c{i}" for i in range(len(ranked))])
    s = retrieval_scores({"q": (["g0"], run)}, k=2, cutoffs=(5, 10))["q"]
    assert s["recall@k"] == 0.0 and s["recall@5"] == 1.0 and s["recall@10"] == 1.0
    assert s["mrr@10"] == 0.25
    assert "recall@5" not in retrieval_scores({"q": (["g0"], run)}, k=2)["q"]

    records = [
        EvalRecord("ours", qid, "Q?", answerable, top_score=score, metrics=metrics,
                   timings={"retrieve_ms": ms})
        for qid, answerable, score, metrics, ms in (
            ("a", True, 0.6, {"recall@k": 1.0}, 10.0),
            ("b", True, 0.2, {"recall@k": 0.0}, 30.0),
            ("c", False, 0.1, {}, 20.0),
        )
    ]  # fmt: skip
    out = summarize_retrieval(records, k=4, refusal_threshold=0.3)
    assert out["recall@k"] == 0.5 and out["n_recall@k"] == 2
    assert out["early_refusal_answerable"] == 0.5 and out["early_refusal_unanswerable"] == 1.0
    assert out["retrieve_ms_p50"] == 20.0 and out["top_score_answerable_p50"] == pytest.approx(0.4)
