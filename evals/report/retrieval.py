"""The report of a retrieval-only run (`rag eval --retrieval-only`)."""

from __future__ import annotations

from pathlib import Path

from evals.metrics import RETRIEVAL_METRICS, mean
from evals.records import EvalRecord, Records
from evals.report.document import Bullets, Facts, Plot, Plots, Report, Section, Table, Text
from evals.report.sections import command_info, machine_info, questions_info
from evals.report.text import (
    MD_FAILURE_ROWS,
    TUNING_NOTE,
    fmt,
    load_note,
    metric_label,
    snippet,
    unreachable_note,
)


def retrieval_table(summary: dict, k: int) -> Table:
    threshold = summary.get("refusal_threshold")
    rows = []
    for key, label, higher in RETRIEVAL_METRICS:
        if threshold is not None:
            label = label.replace("refusal threshold", f"refusal threshold {threshold:.2f}")
        if key.startswith("early_refusal_"):
            n = summary.get(f"n_{key.removeprefix('early_refusal_')}", "")
        else:
            n = summary.get("n_recall@k", "")
        rows.append([metric_label(label, k, higher), fmt(summary.get(key)), str(n)])
    for key, label, n in (
        ("top_score_answerable_p50", "Best passage score p50 (answerable)", "n_answerable"),
        ("top_score_unanswerable_p50", "Best passage score p50 (unanswerable)", "n_unanswerable"),
        ("retrieve_ms_p50", "Retrieval ms p50", "questions"),
        ("retrieve_ms_p95", "Retrieval ms p95", "questions"),
    ):
        digits = 1 if key.startswith("retrieve_ms") else 3
        rows.append([label, fmt(summary.get(key), digits), str(summary.get(n, ""))])
    return Table(["Metric", "value", "n"], rows)


def retrieval_by_type_table(records: list[EvalRecord], k: int) -> Table | None:
    types = sorted({r.type for r in records if r.type})
    if len(types) < 2:
        return None
    rows = []
    for t in types:
        recs = [r for r in records if r.type == t]
        rows.append([
            t, str(len(recs)),
            str(sum(1 for r in recs if r.metrics.get("recall@k") is not None)),
            fmt(mean(r.metrics.get("recall@k") for r in recs), 2),
            fmt(mean(r.metrics.get("mrr@10") for r in recs), 2),
            fmt(mean(r.top_score for r in recs), 2),
        ])  # fmt: skip
    headers = ["Type", "n", "with gold", f"Recall@{k}", "MRR@10", "mean best score"]
    return Table(headers, rows)


def retrieval_miss_table(
    records: list[EvalRecord], k: int, markdown_rows: int | None = None
) -> Table:
    """Questions with gold passages not all found in the top k."""
    rows = []
    for r in records:
        recall = r.metrics.get("recall@k")
        if recall is None or recall >= 1.0:
            continue
        first = next((i for i, p in enumerate(r.ranked, start=1) if p["gold"]), None)
        top = r.ranked[0]["source"] if r.ranked else ""
        rows.append([
            r.id, r.type or "", snippet(r.question, 80), fmt(recall, 2),
            str(first) if first else "> 10", snippet(Path(top).name, 50),
        ])  # fmt: skip
    headers = ["id", "type", "question", f"Recall@{k}", "first gold rank", "top-1 source"]
    return Table(headers, rows, align="lllrrl", markdown_rows=markdown_rows)


def retrieval_run_info(meta: dict) -> list[tuple[str, str]]:
    return [
        command_info(meta),
        ("Date", meta["date"]),
        ("Mode", "retrieval only: no generator loaded, no answers, no citation or refusal scoring"),
        ("Set", f"{meta['set']}: {meta['description']}"),
        questions_info(meta),
        (
            "Corpus / index",
            f"{meta['corpus_dir']} → {meta['index_dir']} ({meta['index_chunks']} chunks, "
            f"{meta.get('index_type') or '?'})",
        ),
        (
            "Retrieval",
            f"{meta['retrieval']}, embedder {meta['embedder']}, top-k {meta['top_k']} "
            "(metrics over the top 10)",
        ),
        machine_info(meta),
        ("Code", f"git {meta['git_commit'] or 'unknown'}"),
        (
            "Runtime",
            ", ".join(f"{k.removesuffix('_s')} {v:.1f} s" for k, v in meta["runtime_s"].items()),
        ),
    ]


def retrieval_notes(meta: dict) -> list[str]:
    notes = [
        "Metric definitions: `evals/README.md`. Retrieval ms is the pipeline's retrieval stage "
        "(query embedding, search of the context pool, context selection), as the pipeline "
        "times it; the top-10 ranking used by the metrics is a second, untimed call.",
        "'Best score below refusal threshold' is the share of questions whose best candidate "
        "passage scores (cosine) below `refusal_threshold`, which the pipeline refuses without "
        "generating. The threshold is calibrated for one embedder's score scale.",
    ]
    load = load_note(
        meta, "retrieving", "other processes shared the CPU, so latencies are inflated."
    )
    return notes + [note for note in (load, unreachable_note(meta)) if note]


def build_retrieval_report(
    meta: dict, summaries: dict, records: Records, plots: list[Plot]
) -> Report:
    k = meta["top_k"]
    summary, recs = summaries["ours"], records["ours"]
    typed = retrieval_by_type_table(recs, k)
    misses = retrieval_miss_table(recs, k, MD_FAILURE_ROWS)
    return Report(
        "Retrieval report",
        meta["set"],
        [
            Section("", [Facts(retrieval_run_info(meta))]),
            Section("Retrieval metrics", [retrieval_table(summary, k)]),
            Section("Plots", [Plots(plots)]),
            *([Section("By question type", [typed])] if typed is not None else []),
            Section(
                f"Misses ({len(misses.rows)} questions with a gold passage outside the top {k})",
                [misses],
            ),
            Section("Notes", [Bullets(retrieval_notes(meta))]),
            Section("Tuning and held-out data", [Text(TUNING_NOTE)]),
        ],
    )
