"""The tables of an answering run's report, from summaries and per-question records."""

from __future__ import annotations

from collections.abc import Callable

from evals.metrics import COST_FIELDS, QUALITY_METRICS, mean, summarize
from evals.records import EvalRecord, Records
from evals.report.document import Table
from evals.report.text import COST_LABELS, SEED_SOURCE, SYSTEM_LABELS, fmt, metric_label, snippet

SPLIT_KEYS = (
    "recall@k", "keywords_all", "f1", "contains", "citation_recall_llm", "citation_precision_llm",
    "negative_rejection", "false_refusal", "confidently_wrong",
)  # fmt: skip
GROUP_KEYS = (
    "recall@k",
    "keywords_all",
    "false_refusal",
    "negative_rejection",
    "confidently_wrong",
)
# summary key of the question count a metric averages over ("" = none shown)
APPLIES_TO = {
    **dict.fromkeys(("recall@k", "recall@10", "mrr@10", "ndcg@10"), "n_recall@k"),
    **dict.fromkeys(("em", "f1", "contains"), "n_em"),
    "keywords_all": "n_keywords_all",
    "negative_rejection": "n_unanswerable",
    "false_refusal": "n_answerable",
    "query_keyword_recall": "n_query_keyword_recall",
    "confidently_wrong": "n_confidently_wrong",
    "context_recall": "n_context_recall",
}


def _applies_to(summary: dict, key: str) -> str:
    if key.startswith("citation_"):
        judge = "llm" if key.endswith("llm") else "lex"
        return f"{summary.get(f'n_citation_recall_{judge}', '')} answers"
    return str(summary.get(APPLIES_TO[key], "")) if key in APPLIES_TO else ""


def _label(system: str) -> str:
    return SYSTEM_LABELS.get(system, system)


def headline_table(summaries: dict, k: int) -> Table:
    systems = list(summaries)
    rows = []
    for key, label, higher in QUALITY_METRICS:
        if all(summaries[s].get(key) is None for s in systems):
            continue
        n = _applies_to(summaries[systems[0]], key)
        row = [metric_label(label, k, higher), *(fmt(summaries[s].get(key)) for s in systems), n]
        rows.append(row)
    rows.append(
        [
            "Answered (not refused)",
            *(str(summaries[s]["answered"]) for s in systems),
            str(summaries[systems[0]]["questions"]),
        ]
    )
    return Table(["Metric", *(_label(s) for s in systems), "n"], rows)


Groups = dict[str, Callable[[dict], bool]]


def grouped_table(
    records: Records, k: int, groups: Groups, keys: tuple[str, ...] = ()
) -> Table | None:
    """Headline metrics (``keys``, default ``SPLIT_KEYS``) of each system on each group of
    questions (name -> predicate); None when a group is empty."""
    labels = {key: (label, hi) for key, label, hi in QUALITY_METRICS}
    systems = list(records)
    parts = {
        (name, group): summarize([r for r in recs if keep(r)], k)
        for name, recs in records.items()
        for group, keep in groups.items()
    }
    if any(part["questions"] == 0 for part in parts.values()):
        return None
    rows = []
    for key in keys or SPLIT_KEYS:
        if key not in labels or all(part.get(key) is None for part in parts.values()):
            continue
        label, higher = labels[key]
        rows.append(
            [metric_label(label, k, higher)]
            + [fmt(parts[(name, group)].get(key)) for name in systems for group in groups]
        )
    rows.append(
        ["Questions (answerable / unanswerable)"]
        + [
            f"{parts[(n, g)]['n_answerable']} / {parts[(n, g)]['n_unanswerable']}"
            for n in systems
            for g in groups
        ]
    )
    headers = ["Metric"] + [f"{_label(n).split()[0]} {g}" for n in systems for g in groups]
    return Table(headers, rows)


def split_table(records: Records, k: int) -> Table | None:
    """Headline metrics on the dev (tuning) and test (held-out) halves of a full run."""
    from evals.sets import in_split

    halves = {half: (lambda r, h=half: in_split(r.id, h)) for half in ("dev", "test")}
    return grouped_table(records, k, halves)


def resumed_table(records: Records, k: int) -> Table | None:
    """Headline metrics on the reused (earlier run) and new questions of a resumed run."""
    parts = {"earlier": lambda r: bool(r.resumed), "new": lambda r: not r.resumed}
    return grouped_table(records, k, parts)


def osa_group(gold: dict) -> str:
    """'seed article' or 'White House' by the sources of a record's gold and near-miss passages."""
    sources = {p.get("source") for p in [*gold.get("passages", []), *gold.get("near_miss", [])]}
    doc_ids = {p.get("doc_id") for p in gold.get("passages", [])}
    seed = SEED_SOURCE in sources or SEED_SOURCE.removesuffix(".txt") in doc_ids
    return "seed article" if seed else "White House"


def source_group_table(records: Records, k: int) -> Table | None:
    """Seed-article vs White House questions of the osa sets: retrieval, keywords, refusal."""
    groups = {g: (lambda r, g=g: osa_group(r.gold) == g) for g in ("seed article", "White House")}
    return grouped_table(records, k, groups, keys=GROUP_KEYS)


def abstention_table(summaries: dict) -> Table | None:
    """Risk-coverage at the system's own decisions and at score thresholds, and AUROC."""
    systems = [s for s in summaries if summaries[s].get("risk_coverage")]
    if not systems:
        return None
    rows = []
    for i, row in enumerate(summaries[systems[0]]["risk_coverage"]):
        label = "own decisions" if row["threshold"] is None else f"score ≥ {row['threshold']:.1f}"
        cells = []
        for s in systems:
            r = summaries[s]["risk_coverage"][i]
            cells += [fmt(r["coverage"]), fmt(r["risk"])]
        rows.append([label, *cells])
    for key, label in (
        ("auroc", "AUROC (refusals included)"),
        ("auroc_answered", "AUROC (answered only)"),
    ):
        rows.append([label, *(cell for s in systems for cell in (fmt(summaries[s].get(key)), ""))])
    headers = ["Answering"]
    for s in systems:
        headers += [f"{_label(s)} coverage", f"{_label(s)} error rate"]
    return Table(headers, rows)


def cost_table(summaries: dict) -> Table:
    systems = list(summaries)
    rows = []
    for name in COST_FIELDS:
        digits = 2 if name == "total_s" else (0 if name == "prompt_tokens" else 1)
        cells = []
        for s in systems:
            p50, p95 = summaries[s].get(f"{name}_p50"), summaries[s].get(f"{name}_p95")
            cells += [fmt(p50, digits), fmt(p95, digits)]
        rows.append([COST_LABELS[name], *cells])
    headers = ["Cost"]
    for s in systems:
        headers += [f"{_label(s)} p50", f"{_label(s)} p95"]
    return Table(headers, rows)


def agreement_table(meta: dict) -> Table:
    rows = []
    threshold = meta["judge"]["lexical_threshold"]
    for name, a in meta["judge"]["agreement"].items():
        label = (
            "LLM judge (generator, yes/no prompt)"
            if name == "llm"
            else f"lexical check (≥{threshold:.2f} content words, all numbers)"
        )
        rows.append([
            label, str(a["cases"]), fmt(a["accuracy"]), fmt(a["kappa"]),
            str(a["false_positive"]), str(a["false_negative"]),
        ])  # fmt: skip
    return Table(["Judge", "cases", "accuracy", "Cohen's κ", "false yes", "false no"], rows)


def by_type_table(records: Records) -> Table | None:
    systems = list(records)
    types = sorted({r.type for r in records[systems[0]] if r.type})
    if len(types) < 2:
        return None
    rows = []
    for t in types:
        row = [t, str(sum(1 for r in records[systems[0]] if r.type == t))]
        for s in systems:
            recs = [r for r in records[s] if r.type == t]
            row += [
                fmt(mean(float(r.refused) for r in recs), 2),
                fmt(mean(r.metrics.get("contains") for r in recs), 2),
                fmt(mean(r.metrics.get("f1") for r in recs), 2),
            ]
        rows.append(row)
    headers = ["Type", "n"]
    for s in systems:
        headers += [f"{_label(s)} refused", f"{_label(s)} contained", f"{_label(s)} F1"]
    return Table(headers, rows)


def rewrite_table(records: Records) -> Table | None:
    """Follow-up questions: the search query each system used, scored against the
    standalone question (``query_keyword_recall``); None when the set has no follow-ups."""
    systems = list(records)
    first = [r for r in records[systems[0]] if r.history]
    if not first:
        return None
    by_id = {s: {r.id: r for r in records[s]} for s in systems}
    rows = []
    for r in first:
        row = [r.id, snippet(r.history[-1]["question"], 60), snippet(r.question, 60),
               snippet(r.standalone or "", 70)]  # fmt: skip
        for s in systems:
            rec = by_id[s].get(r.id)
            method = (rec.rewrite_method if rec else None) or "none"
            query = "(as asked)" if method == "none" else snippet(rec.search_query, 90)
            recall = fmt(rec.metrics.get("query_keyword_recall") if rec else None, 2)
            row.append(f"{recall} · {method}: {query}")
        rows.append(row)
    headers = ["id", "last earlier question", "follow-up", "standalone (reference)"]
    headers += [f"{_label(s)}: recall · search query" for s in systems]
    return Table(headers, rows, align="l" * len(headers))


def failures(record: EvalRecord) -> list[str]:
    """Short reasons why a system's answer to a question is not fully right."""
    m = record.metrics
    out = []
    if record.answerable:
        if record.refused:
            out.append("wrongly refused")
        elif m.get("contains") == 0.0:
            out.append("gold answer not in answer")
        if m.get("keywords_all") == 0.0 and not record.refused:
            out.append("keywords missing")
        if m.get("recall@k") == 0.0:
            out.append("no gold passage in top-k")
    elif not record.refused:
        out.append("answered an unanswerable question")
    cr = m.get("citation_recall_llm")
    if cr is None:
        cr = m.get("citation_recall_lex")
    if cr is not None and cr < 1.0:
        out.append(f"citation recall {cr:.2f}")
    return out


def failure_table(records: Records, markdown_rows: int | None = None) -> Table:
    """Every question where a system is not fully right, each system's reasons and answer."""
    systems = list(records)
    by_id = {s: {r.id: r for r in records[s]} for s in systems}
    rows = []
    for r in records[systems[0]]:
        cells = []
        any_fail = False
        for s in systems:
            rec = by_id[s][r.id]
            reasons = failures(rec)
            any_fail |= bool(reasons)
            answer = "[refused]" if rec.refused else snippet(rec.answer, 70)
            cells.append(("✗ " + "; ".join(reasons) if reasons else "ok") + f" — {answer}")
        if any_fail:
            rows.append([r.id, r.type or "", snippet(r.question, 80), *cells])
    headers = ["id", "type", "question", *(_label(s) for s in systems)]
    return Table(headers, rows, align="l" * len(headers), markdown_rows=markdown_rows)
