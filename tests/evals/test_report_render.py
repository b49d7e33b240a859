"""One report, two renderers: every section and table of a report reaches both report.md
and report.html (built once as sections in `evals.report`, rendered twice)."""

from __future__ import annotations

import html
import re
from pathlib import Path

from evals.metrics import summarize, summarize_retrieval
from evals.records import EvalRecord
from evals.report import build_document
from evals.report.document import Bullets, Facts, Report, Section, Table, Text
from evals.report.html import render_html
from evals.report.markdown import render_markdown


def _record(system, qid, answerable, refused, source, resumed=False, history=False, **metrics):
    gold = {"source": source, "quote": "q"}
    record = {
        "system": system, "id": qid, "type": "single-fact" if answerable else "unanswerable",
        "question": f"{qid} | <what>?", "answerable": answerable,
        "gold": {"answers": ["x"], "keywords": ["x"], "passages": [gold] if answerable else []},
        "answer": "x <b>", "raw_answer": "x", "refused": refused, "refusal_reason": None,
        "sentences": [], "citations": [], "retrieved": [],
        "ranked": [{"chunk_id": "c1", "source": "corpus/a.txt", "gold": []}],
        "metrics": metrics, "abstention_score": 0.6, "context_from": "context",
        "top_score": 0.5,
        "timings": {"retrieve_ms": 1.0, "first_token_ms": 5.0, "total_s": 1.0,
                    "prompt_tokens": 10, "completion_tokens": 5, "tokens_per_s": 9.0},
    }  # fmt: skip
    if resumed:
        record["resumed"] = True
    if history:
        record |= {"history": [{"question": "Earlier?", "answer": ""}], "standalone": "x alone",
                   "search_query": "x query", "rewrite_method": "model"}  # fmt: skip
    return EvalRecord.from_dict(record)


def _records(system: str) -> list[dict]:
    seed, wh = "japan-osa-malaysia-visit.txt", "2024-01-01-statement.md"
    # ids chosen so that both the dev and the test half (evals.sets.in_split) are non-empty
    ids = [f"ho-{i:03d}" for i in range(1, 9)]
    return [
        _record(
            system,
            qid,
            i % 3 != 2,
            i % 4 == 3,
            seed if i % 2 else wh,
            resumed=i < 4,
            history=i == 5,
            keywords_all=float(i % 2),
            **{"recall@k": float(i % 2)},
        )  # fmt: skip
        for i, qid in enumerate(ids)
    ]


def _meta(**extra) -> dict:
    return {
        "set": "osa-heldout", "description": "d", "questions": 8, "answerable": 5,
        "unanswerable": 3, "set_size": 8, "limit": None, "seed": 0, "split": "all",
        "corpus_dir": "corpus", "index_dir": "i", "index_chunks": 3, "model": "m", "top_k": 4,
        "settings": {"n_ctx": 4096, "n_threads": 2, "embedder": "e", "refusal_threshold": 0.25},
        "command": "c", "date": "d", "git_commit": "abc",
        "machine": {"cpu": "cpu", "cores": 2, "memory_gb": 8, "platform": "linux",
                    "load_while_answering": {"mean": 1.0, "max": 2.0}},
        "runtime_s": {"total_s": 1.0}, "systems": ["ours", "baseline"], "baseline": None,
        "judge": {"llm_enabled": False, "lexical_threshold": 0.75,
                  "agreement": {"lexical": {"cases": 30, "accuracy": 0.9, "kappa": 0.8,
                                            "false_positive": 2, "false_negative": 1}}},
        "resumed_from": {"questions": 4, "command": "rag eval", "date": "d", "git_commit": "x"},
        "unreachable_gold_passages": [{"id": "ho-001", "label": "g0", "quote": "q"}],
    } | extra  # fmt: skip


def _assert_rendered_alike(report: Report) -> None:
    """Every section title, text, bullet, fact and table cell is in both renderings."""
    md, page = render_markdown(report), render_html(report)
    titles = [s.title for s in report.sections if s.title]
    assert re.findall(r"^## (.*)$", md, flags=re.M) == titles
    assert re.findall(r"<h2>(.*?)</h2>", page) == [html.escape(t) for t in titles]
    tables = [b for s in report.sections for b in s.blocks if isinstance(b, Table) and b.rows]
    assert page.count("<table>") == len(tables)
    for section in report.sections:
        for block in section.blocks:
            if isinstance(block, Text):
                pieces = [block.text]
            elif isinstance(block, Bullets):
                pieces = block.items
            elif isinstance(block, Facts):
                pieces = [v for _, v in block.items]
            elif isinstance(block, Table):
                pieces = [*block.headers, *(c for row in block.rows[:1] for c in row)]
            else:
                pieces = [p.path for p in block.plots]
            for piece in pieces:
                assert html.escape(piece) in page, (section.title, piece)
                assert piece.replace("|", "\\|") in md, (section.title, piece)


def test_every_section_of_an_answering_run_is_in_both_formats(tmp_path: Path):
    records = {name: _records(name) for name in ("ours", "baseline")}
    summaries = {name: summarize(recs, 4) for name, recs in records.items()}
    report = build_document(tmp_path, _meta(), summaries, records)
    titles = {s.title.split(" (")[0] for s in report.sections}
    # the optional sections are all present here, so the check below covers them
    assert {
        "Abstention: risk-coverage and AUROC",
        "Dev",
        "Seed article vs White House statements",
        "Earlier and new questions",
        "By question type",
        "Follow-ups: search queries",
        "Failures",
    } <= titles
    _assert_rendered_alike(report)


def test_every_section_of_a_retrieval_run_is_in_both_formats(tmp_path: Path):
    recs = _records("ours")
    for r in recs:
        r.answer = None  # a retrieval-only record
        r.metrics = {"recall@k": r.metrics["recall@k"], "mrr@10": 0.5}
    meta = _meta(mode="retrieval-only", embedder="e", retrieval="hybrid", index_type="flat")
    summaries = {"ours": summarize_retrieval(recs, 4, 0.25)}
    report = build_document(tmp_path, meta, summaries, {"ours": recs})
    assert any(s.title.startswith("Misses (4 ") for s in report.sections)
    assert any(s.title == "By question type" for s in report.sections)
    _assert_rendered_alike(report)


def test_empty_and_long_tables():
    rows = [[f"q{i}", str(i)] for i in range(5)]
    report = Report(
        "T",
        "s",
        [
            Section("Empty", [Table(["id", "n"], [])]),
            Section("Long", [Table(["id", "n"], rows, markdown_rows=2)]),
        ],
    )
    md, page = render_markdown(report), render_html(report)
    assert md.split("## Long")[0].endswith("## Empty\n\nNone.\n\n")
    assert "<h2>Empty</h2>\n<p>None.</p>" in page
    assert "First 2 shown; all are in report.html and results.jsonl." in md
    assert "| q1 | 1 |" in md and "| q2 | 2 |" not in md  # Markdown: capped
    assert "<td>q4</td>" in page  # HTML: every row
    _assert_rendered_alike(report)
