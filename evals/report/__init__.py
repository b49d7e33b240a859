"""Write an eval run's report directory.

::

    <out>/results.jsonl   one line per (system, question): answer, gold, citations, metrics, timings
    <out>/summary.json    run metadata + aggregated metrics per system
    <out>/report.md       headline table, cost, judge agreement, per-type and failure tables
    <out>/report.html     the same, with the plots inline
    <out>/plots/*.png     metric bars (ours vs baseline), latency histograms

A report is built once as sections of small blocks (`evals.report.sections`,
`evals.report.retrieval`) and rendered by one Markdown and one HTML renderer.
``python -m evals.report DIR`` rebuilds a finished run's report from its records.
"""

from __future__ import annotations

import json
from pathlib import Path

from evals.metrics import QUALITY_METRICS, summarize, summarize_retrieval
from evals.records import EvalRecord, Records
from evals.report.document import Report, Table
from evals.report.html import render_html
from evals.report.markdown import render_markdown, table_markdown
from evals.report.plots import make_plots, make_retrieval_plots
from evals.report.retrieval import build_retrieval_report
from evals.report.sections import build_report
from evals.report.tables import failures, osa_group
from evals.report.text import SYSTEM_LABELS, TUNING_NOTE, fmt, metric_label

__all__ = [
    "TUNING_NOTE",
    "build_document",
    "failures",
    "headline_markdown",
    "osa_group",
    "rerender",
    "write_report",
]


def build_document(out_dir: Path, meta: dict, summaries: dict, records: Records) -> Report:
    """Write the plots into ``out_dir`` and return the report's sections."""
    if meta.get("mode") == "retrieval-only":
        plots = make_retrieval_plots(out_dir, summaries["ours"], records["ours"], meta["top_k"])
        return build_retrieval_report(meta, summaries, records, plots)
    plots = make_plots(out_dir, summaries, records, meta["top_k"])
    return build_report(meta, summaries, records, plots)


def write_report(out_dir: Path, meta: dict, summaries: dict, records: Records) -> Path:
    """Write results.jsonl, summary.json, plots, report.md and report.html into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "results.jsonl", "w", encoding="utf-8") as fh:
        for recs in records.values():
            for r in recs:
                fh.write(json.dumps(r.to_dict(), ensure_ascii=False) + "\n")
    summary = {"meta": meta, "systems": summaries}
    (out_dir / "summary.json").write_text(
        json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    report = build_document(out_dir, meta, summaries, records)
    (out_dir / "report.md").write_text(render_markdown(report), encoding="utf-8")
    (out_dir / "report.html").write_text(render_html(report), encoding="utf-8")
    return out_dir


def rerender(out_dir: Path) -> Path:
    """Rebuild summary, report.md/html and plots of a finished run from its results.jsonl.

    Usage: ``python -m evals.report evals/reports/osa`` (after changing the report layout).
    """
    out_dir = Path(out_dir)
    meta = json.loads((out_dir / "summary.json").read_text(encoding="utf-8"))["meta"]
    records: dict[str, list[EvalRecord]] = {}
    for line in (out_dir / "results.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            record = EvalRecord.from_dict(json.loads(line))
            records.setdefault(record.system, []).append(record)
    if meta.get("mode") == "retrieval-only":
        threshold = meta["settings"]["refusal_threshold"]
        summaries = {
            name: summarize_retrieval(recs, meta["top_k"], threshold)
            for name, recs in records.items()
        }
    else:
        summaries = {name: summarize(recs, meta["top_k"]) for name, recs in records.items()}
    return write_report(out_dir, meta, summaries, records)


HEADLINE_KEYS = (
    "recall@k", "mrr@10", "ndcg@10", "f1", "contains", "keywords_all",
    "citation_recall_llm", "citation_precision_llm", "citation_recall_lex",
    "negative_rejection", "false_refusal", "confidently_wrong",
)  # fmt: skip


def headline_markdown(dirs: list[Path]) -> str:
    """One Markdown table over several report directories: a column per (set, system)."""
    runs = [json.loads((Path(d) / "summary.json").read_text(encoding="utf-8")) for d in dirs]
    headers, columns = ["Metric"], []
    for run in runs:
        meta = run["meta"]
        size = f"{meta['questions']} q"
        for system, summary in run["systems"].items():
            headers.append(f"{meta['set']} ({size}) {SYSTEM_LABELS.get(system, system).split()[0]}")
            columns.append(summary)
    labels = {key: (label, hi) for key, label, hi in QUALITY_METRICS}
    rows = []
    k = runs[0]["meta"]["top_k"] if runs else 4
    for key in HEADLINE_KEYS:
        if all(c.get(key) is None for c in columns):
            continue
        label, hi = labels[key]
        rows.append([metric_label(label, k, hi), *(fmt(c.get(key), 2) for c in columns)])
    for name, label, digits in (
        ("first_token_ms_p50", "First token p50 (s)", 1000.0),
        ("total_s_p50", "Total p50 (s)", 1.0),
        ("total_s_p95", "Total p95 (s)", 1.0),
    ):
        rows.append([label, *(fmt(c[name] / digits, 1) if c.get(name) else "–" for c in columns)])
    return table_markdown(Table(headers, rows))
