"""A tiny end-to-end `rag eval` run: 4 questions, 3-file corpus, SmolLM2-135M, with baseline.

The LLM judge is off here to keep the run short (it is covered in test_judge_report.py
with the same tiny model); the lexical citation check runs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from testkit import FIXTURE_DOCS, write_corpus
from typer.testing import CliRunner

QUESTIONS = [
    {
        "id": "t1",
        "question": "Which countries are the first recipients of OSA?",
        "answerable": True,
        "answers": ["Malaysia, the Philippines, Bangladesh, and Fiji"],
        "keywords": ["Malaysia", "Fiji"],
        "gold_passages": [
            {"source": "osa.txt", "quote": "The first recipients of OSA are Malaysia"}
        ],
    },
    {
        "id": "t2",
        "question": "How many vaccine doses did Quad leaders pledge?",
        "answerable": True,
        "answers": ["one billion"],
        "gold_passages": ["quad"],
    },
    {
        "id": "t3",
        "question": "When did the Bank of Japan last raise interest rates before this?",
        "answerable": True,
        "answers": ["17 years"],
        "gold_passages": ["yen.md"],
    },
    {
        "id": "t4",
        "question": "What is the boiling point of mercury on Mars?",
        "answerable": False,
    },
]


@pytest.fixture
def eval_config(tmp_path: Path, model_cache: Path, monkeypatch):
    """``eval_config(max_tokens, extra, name)`` writes a tiny-model config and returns its
    path; the eval index cache goes under ``tmp_path``."""
    monkeypatch.setenv("RAG_EVAL_CACHE", str(tmp_path / "cache"))

    def write(max_tokens: int = 40, extra: str = "", name: str = "eval.yaml") -> Path:
        path = tmp_path / name
        path.write_text(
            f"model: smollm2-135m\nmax_tokens: {max_tokens}\nn_threads: 2\n"
            f"model_cache: {model_cache}\n{extra}",
            encoding="utf-8",
        )
        return path

    return write


def run_eval(*args: str, exit_code: int = 0):
    """`rag eval ARGS` in this process; its output is shown unless it exits with ``exit_code``."""
    from rag_app.cli import app

    result = CliRunner().invoke(app, ["eval", *args])
    assert result.exit_code == exit_code, result.output + repr(result.exception)
    return result


def read_rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "results.jsonl").open()]


@pytest.fixture
def tiny_eval_set(tmp_path: Path) -> Path:
    docs = {name: FIXTURE_DOCS[name] for name in ("osa.txt", "yen.md", "quad.txt")}
    write_corpus(tmp_path / "corpus", docs)
    rows = [{**q, "corpus": "corpus"} for q in QUESTIONS]
    path = tmp_path / "tiny.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def test_rag_eval_tiny_end_to_end(
    tiny_eval_set: Path, tiny_model_path: Path, eval_config, tmp_path: Path
):
    out = tmp_path / "report"
    run_eval("--set", str(tiny_eval_set), "--baseline", "--no-judge",
             "--config", str(eval_config()), "--out", str(out), "--quiet")  # fmt: skip

    for name in ("results.jsonl", "summary.json", "report.md", "report.html",
                 "plots/metrics.png", "plots/latency.png"):  # fmt: skip
        assert (out / name).is_file(), name

    summary = json.loads((out / "summary.json").read_text())
    meta = summary["meta"]
    assert meta["questions"] == 4 and meta["answerable"] == 3 and meta["unanswerable"] == 1
    assert meta["model"] == "smollm2-135m" and meta["top_k"] == 4
    assert meta["command"].startswith("rag eval --set ")
    assert ".rag" not in meta["index_dir"] or str(tmp_path) in meta["index_dir"]
    assert set(meta["judge"]["agreement"]) == {"lexical"}
    assert meta["judge"]["llm_enabled"] is False and meta["command"].endswith("--no-judge")
    assert set(summary["systems"]) == {"ours", "baseline"}
    for system in summary["systems"].values():
        for key in ("recall@k", "recall@10", "mrr@10", "ndcg@10", "em", "f1", "contains",
                    "keywords_all", "citation_recall_lex", "citation_precision_lex",
                    "citation_recall_llm", "citation_precision_llm", "negative_rejection",
                    "false_refusal", "retrieve_ms_p50", "retrieve_ms_p95", "total_s_p50",
                    "total_s_p95", "prompt_tokens_p50", "completion_tokens_p95"):  # fmt: skip
            assert key in system, key
        assert system["questions"] == 4 and system["n_recall@k"] == 3
        assert system["citation_recall_llm"] is None  # --no-judge
        assert 0.0 <= system["recall@k"] <= 1.0
        assert system["negative_rejection"] in (0.0, 1.0)

    rows = read_rows(out)
    assert len(rows) == 8 and {r["system"] for r in rows} == {"ours", "baseline"}
    for r in rows:
        assert {"question", "gold", "answer", "refused", "citations", "retrieved", "metrics",
                "timings"} <= set(r)  # fmt: skip
        assert r["timings"]["total_s"] > 0
    # The quad gold (by id) is the only passage about vaccines: retrieval must find it.
    t2 = next(r for r in rows if r["id"] == "t2" and r["system"] == "ours")
    assert t2["metrics"]["recall@k"] == 1.0
    md = (out / "report.md").read_text()
    assert "Headline metrics" in md and "baseline (LangChain)" in md

    # A second run reuses the cached index (same corpus content -> same directory).
    index_dirs = list((tmp_path / "cache" / "eval-index").iterdir())
    assert len(index_dirs) == 1


def test_rag_eval_followups_tiny(tiny_model_path: Path, eval_config, tmp_path: Path):
    """`rag eval --set osa-followups --limit 2`: ours rewrites each follow-up, the baseline
    searches with it as asked; both queries are recorded and scored."""
    from evals.sets import load_set

    repo = Path(__file__).resolve().parents[2]
    sources = {"japan-osa-malaysia-visit.txt"}  # the gold documents, not all 74 files
    sources |= {g.source for q in load_set("osa-followups").questions for g in q.gold if g.source}
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in sources:
        (corpus / name).write_bytes((repo / "corpus" / name).read_bytes())
    out = tmp_path / "report"
    run_eval("--set", "osa-followups", "--limit", "2", "--corpus", str(corpus), "--baseline",
             "--no-judge", "--config", str(eval_config()), "--out", str(out), "-q")  # fmt: skip

    summary = json.loads((out / "summary.json").read_text())
    assert summary["meta"]["set"] == "osa-followups" and summary["meta"]["questions"] == 2
    rows = read_rows(out)
    assert len(rows) == 4
    for r in rows:
        assert r["history"] and r["standalone"] and r["search_query"]
        assert r["metrics"]["query_keyword_recall"] is not None
        if r["system"] == "ours":  # every follow-up leans on its history: always rewritten
            assert r["rewrite_method"] in ("model", "heuristic", "substitution")
            assert r["search_query"] != r["question"] and "rewrite_ms" in r["timings"]
        else:  # the plain chain has no memory: the follow-up as asked
            assert r["rewrite_method"] == "none" and r["search_query"] == r["question"]
    for system in ("ours", "baseline"):
        assert summary["systems"][system]["n_query_keyword_recall"] == 2
    ours, base = (summary["systems"][s]["query_keyword_recall"] for s in ("ours", "baseline"))
    assert ours > base
    md = (out / "report.md").read_text()
    assert "Follow-ups: search queries" in md and "Query keyword recall" in md


def test_rag_eval_resume_reuses_earlier_answers(
    tiny_eval_set: Path, tiny_model_path: Path, eval_config, tmp_path: Path
):
    """`--resume DIR` extends a --limit 2 run to all 4 questions: the 2 it has are reused
    (their answers scored again by today's metric code), only the other 2 are asked; a
    run with other settings is refused."""
    config = eval_config(max_tokens=24)
    base_args = ["--set", str(tiny_eval_set), "--no-judge", "--config", str(config), "-q"]
    first, second = tmp_path / "first", tmp_path / "second"
    run_eval(*base_args, "--limit", "2", "--out", str(first))
    earlier = {row["id"]: row for row in read_rows(first)}
    assert len(earlier) == 2
    # scores an older metric code wrote: the reused answers are scored again
    stale = [
        {**r, "metrics": {**r["metrics"], "f1": -1.0, "keywords_all": -1.0}}
        for r in earlier.values()
    ]
    (first / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in stale))

    run_eval(*base_args, "--resume", str(first), "--out", str(second))
    rows = read_rows(second)
    assert len(rows) == 4
    reused = [r for r in rows if r.get("resumed")]
    assert {r["id"] for r in reused} == set(earlier)
    for r in reused:  # kept as answered the first time, scored by today's code
        assert r["answer"] == earlier[r["id"]]["answer"]
        assert r["timings"] == earlier[r["id"]]["timings"]
        assert r["metrics"]["f1"] == earlier[r["id"]]["metrics"]["f1"] != -1.0
        assert r["metrics"]["keywords_all"] == earlier[r["id"]]["metrics"]["keywords_all"]
    meta = json.loads((second / "summary.json").read_text())["meta"]
    assert meta["resumed_from"]["questions"] == 2 and "--limit 2" in meta["resumed_from"]["command"]
    md = (second / "report.md").read_text()
    assert "Resumed from" in md and "## Earlier and new questions (resumed run)" in md
    assert "ours earlier" in md and "ours new" in md

    result = run_eval(
        *base_args, "--k", "3", "--resume", str(first), "--out", str(tmp_path / "x"), exit_code=1
    )
    assert "settings differ (top_k: 4 -> 3)" in " ".join(result.output.split())


def test_rag_eval_reuse_baseline_asks_only_ours(
    tiny_eval_set: Path, tiny_model_path: Path, eval_config, tmp_path: Path
):
    """`--reuse-baseline DIR` keeps the earlier baseline answers and scores while our
    pipeline, with a changed setting of its own, answers afresh; a change to a setting
    the baseline reads is refused."""
    config = eval_config(max_tokens=24)
    changed = eval_config(24, "judge_threshold: 0.0\ncontext_chars: 900\n", "changed.yaml")
    args = ["--set", str(tiny_eval_set), "--no-judge", "--limit", "2", "-q"]
    first, second = tmp_path / "first", tmp_path / "second"
    run_eval(*args, "--config", str(config), "--baseline", "--out", str(first))
    earlier = {(row["system"], row["id"]): row for row in read_rows(first)}

    run_eval(*args, "--config", str(changed), "--reuse-baseline", str(first), "--out", str(second))
    rows = read_rows(second)
    base = [r for r in rows if r["system"] == "baseline"]
    ours = [r for r in rows if r["system"] == "ours"]
    assert len(base) == len(ours) == 2
    assert all(r.get("resumed") for r in base) and not any(r.get("resumed") for r in ours)
    for r in base:
        assert r["answer"] == earlier[("baseline", r["id"])]["answer"]
        assert r["metrics"] == earlier[("baseline", r["id"])]["metrics"]
    meta = json.loads((second / "summary.json").read_text())["meta"]
    assert meta["settings"]["context_chars"] == 900 and meta["systems"] == ["ours", "baseline"]
    assert meta["baseline_from"]["questions"] == 2 and meta["resumed_from"] is None
    assert "Baseline reused" in (second / "report.md").read_text()

    result = run_eval(*args, "--config", str(config), "--k", "3", "--reuse-baseline", str(first),
                      "--out", str(tmp_path / "x"), exit_code=1)  # fmt: skip
    assert "settings differ (top_k: 4 -> 3)" in " ".join(result.output.split())
