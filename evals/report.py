"""Write an eval run's report directory.

::

    <out>/results.jsonl   one line per (system, question): answer, gold, citations, metrics, timings
    <out>/summary.json    run metadata + aggregated metrics per system
    <out>/report.md       headline table, cost, judge agreement, per-type and failure tables
    <out>/report.html     the same, with the plots inline
    <out>/plots/*.png     metric bars (ours vs baseline), latency histograms
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from evals.metrics import COST_FIELDS, QUALITY_METRICS, mean

SYSTEM_LABELS = {"ours": "ours", "baseline": "baseline (LangChain)"}
COLORS = {"ours": "#1f77b4", "baseline": "#ff7f0e"}
COST_LABELS = {
    "retrieve_ms": "Retrieval (ms)",
    "first_token_ms": "Time to first token (ms)",
    "total_s": "Total per question (s)",
    "prompt_tokens": "Prompt tokens",
    "completion_tokens": "Generated tokens",
    "tokens_per_s": "Decode speed (tokens/s)",
}
MD_FAILURE_ROWS = 100
REWRITE_NOTE = (
    "Each follow-up is asked after its earlier turns. Ours rewrites it into a standalone "
    "search query with rag.conversation.rewrite_question (the chat UI's code: model rewrite, "
    "else the heuristic 'question (follow-up to: earlier question)'); the baseline, a plain "
    "chain without memory, searches with the follow-up as asked. Recall = share of the "
    "reference standalone question's content words found in the search query."
)


class Table:
    """Rows of cells rendered as Markdown or HTML."""

    def __init__(self, headers: list[str], rows: list[list[str]], align: str | None = None):
        self.headers = headers
        self.rows = rows
        self.align = align or ("l" + "r" * (len(headers) - 1))

    def markdown(self) -> str:
        def cell(x: str) -> str:
            return str(x).replace("|", "\\|").replace("\n", " ")

        marks = ["---:" if a == "r" else "---" for a in self.align]
        lines = [
            "| " + " | ".join(cell(h) for h in self.headers) + " |",
            "| " + " | ".join(marks) + " |",
        ]
        lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in self.rows]
        return "\n".join(lines)

    def html(self) -> str:
        def tag(name: str, x: str, a: str) -> str:
            style = ' class="num"' if a == "r" else ""
            return f"<{name}{style}>{html.escape(str(x))}</{name}>"

        head = "".join(tag("th", h, a) for h, a in zip(self.headers, self.align, strict=True))
        body = "".join(
            "<tr>"
            + "".join(tag("td", c, a) for c, a in zip(row, self.align, strict=True))
            + "</tr>"
            for row in self.rows
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def fmt(value, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


# -- tables ------------------------------------------------------------------------------


def headline_table(summaries: dict, k: int) -> Table:
    systems = list(summaries)
    rows = []
    for key, label, higher in QUALITY_METRICS:
        if all(summaries[s].get(key) is None for s in systems):
            continue
        label = label.replace("Recall@k", f"Recall@{k}")
        arrow = "↑" if higher else "↓"
        n = _applies_to(summaries[systems[0]], key)
        rows.append([f"{label} {arrow}", *(fmt(summaries[s].get(key)) for s in systems), n])
    rows.append(
        [
            "Answered (not refused)",
            *(str(summaries[s]["answered"]) for s in systems),
            str(summaries[systems[0]]["questions"]),
        ]
    )
    return Table(["Metric", *(SYSTEM_LABELS.get(s, s) for s in systems), "n"], rows)


SPLIT_KEYS = (
    "recall@k", "keywords_all", "f1", "contains", "citation_recall_llm", "citation_precision_llm",
    "negative_rejection", "false_refusal", "confidently_wrong",
)  # fmt: skip
SPLIT_NOTE = (
    "Halves fixed by a hash of each question id (`evals/sets.py` `in_split`; run one with "
    "`--split`). What each set was used for is in the tuning note below."
)
# What was tuned on which data: printed in every report (Markdown and HTML).
TUNING_NOTE = (
    "Tuning and held-out data: the osa dev half was used to tune the refusal threshold, "
    "context and prompt settings and, for the evidence-first design, the date ranking "
    "(date_weight); the osa full set, squad2-dev and clapnq-dev samples were used when "
    "choosing the BM25 weight, MMR (off) and the embedder, and the refusal-rule probe used "
    "the osa set; the osa test half is therefore not fully untouched. The judge's prompts "
    "were chosen on 8 hand-made cases about the seed article, not on any set. The "
    "calibration model (rag/calibration.json) is fitted on the osa dev half and on "
    "squad2-calibration (SQuAD 2.0 dev minus the reported 300-question sample), disjoint "
    "from every other reported set. `osa-heldout` (sha256 in evals/README.md) was written "
    "before any tuning for it and is never used for tuning."
)


def grouped_table(records: dict, k: int, groups: dict, keys: tuple[str, ...] = ()) -> Table | None:
    """Headline metrics (``keys``, default ``SPLIT_KEYS``) of each system on each group of
    questions (name -> predicate)."""
    from evals.metrics import summarize

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
        label = label.replace("Recall@k", f"Recall@{k}")
        rows.append(
            [f"{label} {'↑' if higher else '↓'}"]
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
    headers = ["Metric"] + [
        f"{SYSTEM_LABELS.get(n, n).split()[0]} {g}" for n in systems for g in groups
    ]
    return Table(headers, rows)


def split_table(records: dict, k: int) -> Table | None:
    """Headline metrics on the dev (tuning) and test (held-out) halves of a full run."""
    from evals.sets import in_split

    return grouped_table(
        records,
        k,
        {"dev": lambda r: in_split(r["id"], "dev"), "test": lambda r: in_split(r["id"], "test")},
    )


RESUMED_NOTE = (
    "This run reused the answers of an earlier run (`--resume`) for part of its questions. "
    "The two parts are disjoint fixed-seed samples of the same set, answered by the code "
    "of their own commits (see above); their metrics side by side:"
)


def resumed_table(records: dict, k: int) -> Table | None:
    """Headline metrics on the reused (earlier run) and new questions of a resumed run."""
    return grouped_table(
        records,
        k,
        {"earlier": lambda r: bool(r.get("resumed")), "new": lambda r: not r.get("resumed")},
    )


def _applies_to(summary: dict, key: str) -> str:
    if key in ("recall@k", "recall@10", "mrr@10", "ndcg@10"):
        return str(summary.get("n_recall@k", ""))
    if key in ("em", "f1", "contains"):
        return str(summary.get("n_em", ""))
    if key == "keywords_all":
        return str(summary.get("n_keywords_all", ""))
    if key.startswith("citation_") and key.endswith("llm"):
        return f"{summary.get('n_citation_recall_llm', '')} answers"
    if key.startswith("citation_"):
        return f"{summary.get('n_citation_recall_lex', '')} answers"
    if key == "negative_rejection":
        return str(summary.get("n_unanswerable", ""))
    if key == "false_refusal":
        return str(summary.get("n_answerable", ""))
    if key == "query_keyword_recall":
        return str(summary.get("n_query_keyword_recall", ""))
    if key == "confidently_wrong":
        return str(summary.get("n_confidently_wrong", ""))
    if key == "context_recall":
        return str(summary.get("n_context_recall", ""))
    return ""


OSA_GROUP_SETS = ("osa", "osa-heldout")
SEED_SOURCE = "japan-osa-malaysia-visit.txt"
GROUP_KEYS = (
    "recall@k",
    "keywords_all",
    "false_refusal",
    "negative_rejection",
    "confidently_wrong",
)
GROUP_NOTE = (
    "A question is a seed-article question when one of its gold or near-miss passages is "
    f"from {SEED_SOURCE}, else a White House statements question (all other corpus files)."
)


def osa_group(record: dict) -> str:
    """'seed article' or 'White House' by the sources of a record's gold and near-miss passages."""
    gold = record.get("gold") or {}
    sources = {p.get("source") for p in [*gold.get("passages", []), *gold.get("near_miss", [])]}
    doc_ids = {p.get("doc_id") for p in gold.get("passages", [])}
    seed = SEED_SOURCE in sources or SEED_SOURCE.removesuffix(".txt") in doc_ids
    return "seed article" if seed else "White House"


def source_group_table(records: dict, k: int) -> Table | None:
    """Seed-article vs White House questions of the osa sets: retrieval, keywords, refusal."""
    return grouped_table(
        records,
        k,
        {
            "seed article": lambda r: osa_group(r) == "seed article",
            "White House": lambda r: osa_group(r) == "White House",
        },
        keys=GROUP_KEYS,
    )


ABSTENTION_NOTE = (
    "Abstention score: ours = its calibrated confidence (`Answer.confidence`); baseline = "
    "its best retrieved passage's cosine score. Wrong = keyword accuracy 0 (sets with "
    "keywords), else answer not contained and token F1 < 0.2; any answer to an unanswerable "
    "question is wrong. Coverage = answered / all questions; error rate = wrong / answered; "
    "'own decisions' = the system's refusals only, 'score ≥ t' = it also abstains below t. "
    "AUROC (sklearn roc_auc_score): positive = answering is right; answered questions rank "
    "by score, refused ones below all of them (a refused unanswerable question is a right "
    "decision, a refused answerable one a wrong one). 'answered only' leaves the refused "
    "out. Definitions: evals/README.md."
)


def abstention_table(summaries: dict) -> Table | None:
    """Risk-coverage at the system's own decisions and at score thresholds, and AUROC."""
    systems = [s for s in summaries if summaries[s].get("risk_coverage")]
    if not systems:
        return None
    rows = []
    first = summaries[systems[0]]["risk_coverage"]
    for i, row in enumerate(first):
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
        cells = []
        for s in systems:
            cells += [fmt(summaries[s].get(key)), ""]
        rows.append([label, *cells])
    headers = ["Answering"]
    for s in systems:
        lab = SYSTEM_LABELS.get(s, s)
        headers += [f"{lab} coverage", f"{lab} error rate"]
    return Table(headers, rows)


def cost_table(summaries: dict) -> Table:
    systems = list(summaries)
    rows = []
    for name in COST_FIELDS:
        digits = 2 if name in ("total_s",) else (1 if name != "prompt_tokens" else 0)
        cells = []
        for s in systems:
            p50, p95 = summaries[s].get(f"{name}_p50"), summaries[s].get(f"{name}_p95")
            cells += [fmt(p50, digits), fmt(p95, digits)]
        rows.append([COST_LABELS[name], *cells])
    headers = ["Cost"]
    for s in systems:
        headers += [f"{SYSTEM_LABELS.get(s, s)} p50", f"{SYSTEM_LABELS.get(s, s)} p95"]
    return Table(headers, rows)


def agreement_table(meta: dict) -> Table:
    rows = []
    for name, a in meta["judge"]["agreement"].items():
        label = (
            "LLM judge (generator, yes/no prompt)"
            if name == "llm"
            else (
                f"lexical check (≥{meta['judge']['lexical_threshold']:.2f} content words, "
                "all numbers)"
            )
        )
        rows.append([
            label, str(a["cases"]), fmt(a["accuracy"]), fmt(a["kappa"]),
            str(a["false_positive"]), str(a["false_negative"]),
        ])  # fmt: skip
    return Table(["Judge", "cases", "accuracy", "Cohen's κ", "false yes", "false no"], rows)


def by_type_table(records: dict) -> Table | None:
    systems = list(records)
    types = sorted({r["type"] for r in records[systems[0]] if r["type"]})
    if len(types) < 2:
        return None
    rows = []
    for t in types:
        row = [t, str(sum(1 for r in records[systems[0]] if r["type"] == t))]
        for s in systems:
            recs = [r for r in records[s] if r["type"] == t]
            row += [
                fmt(mean(float(r["refused"]) for r in recs), 2),
                fmt(mean(r["metrics"].get("contains") for r in recs), 2),
                fmt(mean(r["metrics"].get("f1") for r in recs), 2),
            ]
        rows.append(row)
    headers = ["Type", "n"]
    for s in systems:
        lab = SYSTEM_LABELS.get(s, s)
        headers += [f"{lab} refused", f"{lab} contained", f"{lab} F1"]
    return Table(headers, rows)


def rewrite_table(records: dict) -> Table | None:
    """Follow-up questions: the search query each system used, scored against the
    standalone question (``query_keyword_recall``); None when the set has no follow-ups."""
    systems = list(records)
    first = [r for r in records[systems[0]] if r.get("history")]
    if not first:
        return None
    by_id = {s: {r["id"]: r for r in records[s]} for s in systems}
    rows = []
    for r in first:
        row = [r["id"], _snippet(r["history"][-1]["question"], 60), _snippet(r["question"], 60),
               _snippet(r.get("standalone") or "", 70)]  # fmt: skip
        for s in systems:
            rec = by_id[s].get(r["id"], {})
            method = rec.get("rewrite_method", "none")
            query = "(as asked)" if method == "none" else _snippet(rec.get("search_query"), 90)
            recall = fmt((rec.get("metrics") or {}).get("query_keyword_recall"), 2)
            row.append(f"{recall} · {method}: {query}")
        rows.append(row)
    headers = ["id", "last earlier question", "follow-up", "standalone (reference)"]
    headers += [f"{SYSTEM_LABELS.get(s, s)}: recall · search query" for s in systems]
    return Table(headers, rows, align="l" * len(headers))


def failures(record: dict) -> list[str]:
    """Short reasons why a system's answer to a question is not fully right."""
    m = record["metrics"]
    out = []
    if record["answerable"]:
        if record["refused"]:
            out.append("wrongly refused")
        elif m.get("contains") == 0.0:
            out.append("gold answer not in answer")
        if m.get("keywords_all") == 0.0 and not record["refused"]:
            out.append("keywords missing")
        if m.get("recall@k") == 0.0:
            out.append("no gold passage in top-k")
    elif not record["refused"]:
        out.append("answered an unanswerable question")
    cr = m.get("citation_recall_llm")
    if cr is None:
        cr = m.get("citation_recall_lex")
    if cr is not None and cr < 1.0:
        out.append(f"citation recall {cr:.2f}")
    return out


def _snippet(text: str, n: int = 90) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= n else text[: n - 1] + "…"


def failure_table(records: dict, limit: int | None = None) -> tuple[Table, int]:
    systems = list(records)
    by_id = {s: {r["id"]: r for r in records[s]} for s in systems}
    rows = []
    for r in records[systems[0]]:
        cells = []
        any_fail = False
        for s in systems:
            rec = by_id[s][r["id"]]
            reasons = failures(rec)
            any_fail |= bool(reasons)
            answer = "[refused]" if rec["refused"] else _snippet(rec["answer"], 70)
            cells.append(("✗ " + "; ".join(reasons) if reasons else "ok") + f" — {answer}")
        if any_fail:
            rows.append([r["id"], r["type"] or "", _snippet(r["question"], 80), *cells])
    total = len(rows)
    if limit is not None:
        rows = rows[:limit]
    headers = ["id", "type", "question", *(SYSTEM_LABELS.get(s, s) for s in systems)]
    return Table(headers, rows, align="l" * len(headers)), total


# -- plots -------------------------------------------------------------------------------


def make_plots(out_dir: Path, summaries: dict, records: dict, k: int) -> list[tuple[str, str]]:
    """Write the PNG plots; return (relative path, caption) pairs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    plots_dir = out_dir / "plots"
    plots_dir.mkdir(parents=True, exist_ok=True)
    systems = list(summaries)
    made = []

    keys = [
        (key, label.replace("Recall@k", f"Recall@{k}"), hi)
        for key, label, hi in QUALITY_METRICS
        if any(summaries[s].get(key) is not None for s in systems)
    ]
    fig, ax = plt.subplots(figsize=(8, 0.42 * len(keys) + 1.2))
    y = np.arange(len(keys))
    height = 0.8 / len(systems)
    for i, s in enumerate(systems):
        vals = [summaries[s].get(key) or 0.0 for key, _, _ in keys]
        bars = ax.barh(
            y + i * height, vals, height, label=SYSTEM_LABELS.get(s, s), color=COLORS.get(s)
        )
        for bar, (key, _, _) in zip(bars, keys, strict=True):
            v = summaries[s].get(key)
            ax.text(bar.get_width() + 0.01, bar.get_y() + bar.get_height() / 2, fmt(v, 2),
                    va="center", fontsize=7)  # fmt: skip
    ax.set_yticks(y + height * (len(systems) - 1) / 2)
    ax.set_yticklabels([f"{label} {'↑' if hi else '↓'}" for _, label, hi in keys], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.12)
    ax.set_xlabel("score (0–1)")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title("Quality metrics: ours vs baseline")
    fig.tight_layout()
    fig.savefig(plots_dir / "metrics.png", dpi=110)
    plt.close(fig)
    made.append(("plots/metrics.png", "Quality metrics per system (↑ higher is better, ↓ lower)"))

    panels = [
        ("total_s", "Total time per question (s)"),
        ("first_token_ms", "Time to first token (ms)"),
        ("retrieve_ms", "Retrieval (ms)"),
        ("tokens_per_s", "Decode speed (tokens/s)"),
    ]
    fig, axes = plt.subplots(2, 2, figsize=(9, 6))
    for ax, (name, title) in zip(axes.flat, panels, strict=True):
        data = {s: [r["timings"].get(name) for r in records[s]] for s in systems}
        data = {s: [v for v in vals if v] for s, vals in data.items()}
        allv = [v for vals in data.values() for v in vals]
        if not allv:
            ax.set_visible(False)
            continue
        bins = np.linspace(min(allv), max(allv), 25) if max(allv) > min(allv) else 10
        for s in systems:
            if data[s]:
                ax.hist(
                    data[s],
                    bins=bins,
                    alpha=0.55,
                    label=SYSTEM_LABELS.get(s, s),
                    color=COLORS.get(s),
                )
                ax.axvline(
                    float(np.percentile(data[s], 50)),
                    color=COLORS.get(s),
                    linestyle="--",
                    linewidth=1,
                )
        ax.set_title(title, fontsize=9)
        ax.set_ylabel("questions", fontsize=8)
        ax.tick_params(labelsize=7)
    if axes.flat[0].get_legend_handles_labels()[0]:
        axes.flat[0].legend(fontsize=7)
    fig.suptitle("Latency distributions (dashed: median)", fontsize=10)
    fig.tight_layout()
    fig.savefig(plots_dir / "latency.png", dpi=110)
    plt.close(fig)
    made.append(("plots/latency.png", "Latency histograms per system (dashed line: median)"))
    made += risk_coverage_plot(plots_dir, records)
    return made


def risk_coverage_plot(plots_dir: Path, records: dict) -> list[tuple[str, str]]:
    """plots/risk_coverage.png: error rate vs coverage as each system abstains below a score."""
    import matplotlib.pyplot as plt

    from evals.metrics import abstention_items, risk_coverage_curve

    curves = {}
    for name, recs in records.items():
        coverage, risk = risk_coverage_curve(abstention_items(recs))
        if coverage:
            curves[name] = (coverage, risk)
    if not curves:
        return []
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, (coverage, risk) in curves.items():
        ax.plot(coverage, risk, label=SYSTEM_LABELS.get(name, name), color=COLORS.get(name))
        ax.plot(coverage[-1], risk[-1], "o", color=COLORS.get(name))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("coverage (answered / all questions)")
    ax.set_ylabel("error rate among answered")
    ax.set_title("Risk-coverage (dot: the system's own decisions)", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(plots_dir / "risk_coverage.png", dpi=110)
    plt.close(fig)
    caption = (
        "Risk-coverage: answering only the questions with the highest abstention score "
        "(ours: confidence; baseline: best passage score)"
    )
    return [("plots/risk_coverage.png", caption)]


# -- documents ---------------------------------------------------------------------------


def _resumed_info(meta: dict) -> list[tuple[str, str]]:
    """The earlier run whose answers this one reused (``rag eval --resume``), if any."""
    src = meta.get("resumed_from")
    if not src:
        return []
    fresh = meta["questions"] - (src.get("questions") or 0)
    return [
        (
            "Resumed from",
            f"{src.get('questions')} question(s) answered and scored by `{src.get('command')}` "
            f"({src.get('date')}, git {src.get('git_commit')}); the other {fresh} by this run "
            f"(git {meta['git_commit'] or 'unknown'}). Records carry `resumed: true` when reused.",
        )
    ]


def machine_line(m: dict) -> str:
    """CPU, cores, RAM (GiB: older runs named it ``memory_gb``) and platform."""
    ram = m.get("memory_gib", m.get("memory_gb"))
    return f"{m['cpu']}, {m['cores']} cores, {ram} GiB RAM, {m['platform']}"


def _threads(settings: dict) -> str:
    """llama.cpp threads as decode/prompt (older reports have only ``n_threads``)."""
    decode = settings["n_threads"]
    prompt = settings.get("n_threads_batch", decode)
    return f"{decode} threads" if prompt == decode else f"threads {decode}/{prompt} decode/prompt"


def _baseline_from_info(meta: dict) -> list[tuple[str, str]]:
    """The earlier run whose baseline answers this one reused (``--reuse-baseline``)."""
    src = meta.get("baseline_from")
    if not src:
        return []
    return [
        (
            "Baseline reused",
            f"{src.get('questions')} baseline answer(s), their scores and cost figures from "
            f"`{src.get('command')}` ({src.get('date')}, git {src.get('git_commit')}); "
            "the baseline's settings match this run's.",
        )
    ]


def _questions_info(meta: dict) -> tuple[str, str]:
    """How many questions ran, and how they were sampled from the set."""
    sample = (
        f"{meta['questions']} of {meta['set_size']} (fixed-seed sample, --limit {meta['limit']}, "
        f"--seed {meta['seed']})"
        if meta["questions"] < meta["set_size"]
        else f"all {meta['questions']}"
    )
    return (
        "Questions",
        f"{sample}; {meta['answerable']} answerable, {meta['unanswerable']} unanswerable",
    )


def _run_info(meta: dict) -> list[tuple[str, str]]:
    m = meta["machine"]
    return [
        ("Command", f"`{meta['command']}`" if meta["command"] else "(library call)"),
        ("Date", meta["date"]),
        ("Set", f"{meta['set']}: {meta['description']}"),
        _questions_info(meta),
        (
            "Corpus / index",
            f"{meta['corpus_dir']} → {meta['index_dir']} ({meta['index_chunks']} chunks)",
        ),
        (
            "Model",
            f"{meta['model']} (greedy, n_ctx {meta['settings']['n_ctx']}, "
            f"{_threads(meta['settings'])}), top-k {meta['top_k']}, "
            f"embedder {meta['settings']['embedder']}",
        ),  # fmt: skip
        ("Machine", machine_line(m)),
        ("Code", f"git {meta['git_commit'] or 'unknown'}"),
        *_resumed_info(meta),
        *_baseline_from_info(meta),
        (
            "Runtime",
            ", ".join(f"{k.removesuffix('_s')} {v:.0f} s" for k, v in meta["runtime_s"].items()),
        ),
        (
            "LLM judge",
            "on"
            if meta["judge"]["llm_enabled"]
            else "off (--no-judge): lexical citation check only",
        ),
    ]


def _notes(meta: dict, summaries: dict | None = None) -> list[str]:
    notes = [
        "Metric definitions and references: `evals/README.md`. Refusals score as empty answers; "
        "citation metrics cover answered (not refused) questions only.",
        "The baseline has no citation markers: each of its answer sentences is taken to cite all "
        f"{meta['top_k']} retrieved passages, so its citation precision measures how many of "
        "those it needed.",
    ]
    load = meta["machine"].get("load_while_answering") or {}
    cores = meta["machine"].get("cores") or 1
    if load.get("mean") is not None:
        busy = load["mean"] > 0.75 * cores
        notes.append(
            f"CPU load while answering (1-min load average): mean {load['mean']:.1f}, max "
            f"{load['max']:.1f} on {cores} cores"
            + (
                ": other processes shared the CPU, so latencies are inflated and noisy; "
                "compare the two systems with each other, not with a quiet machine."
                if busy
                else "."
            )
            + (f" (source: {load['source']})" if load.get("source") else "")
        )
    if meta["unreachable_gold_passages"]:
        ids = ", ".join(sorted({g["id"] for g in meta["unreachable_gold_passages"]}))
        notes.append(
            f"{len(meta['unreachable_gold_passages'])} gold passage(s) occur in no indexed chunk "
            f"(e.g. quoted from YAML front matter, which the loader strips): {ids}. "
            "They cap retrieval recall for those questions."
        )
    fallback = ((summaries or {}).get("ours") or {}).get("context_fallback")
    if fallback:
        notes.append(
            f"Context recall: for {fallback} of our answers the pipeline recorded no context "
            "sentences (`Answer.context` empty), so the retrieved passages stood in for what "
            "the model read (`context_from: fallback` in results.jsonl)."
        )
    return notes


def _sections(meta: dict, summaries: dict, records: dict) -> list[tuple[str, str, Table | None]]:
    """(title, note, table) of the sections both report formats share after the judges."""
    k = meta["top_k"]
    out: list[tuple[str, str, Table | None]] = []
    abstention = abstention_table(summaries)
    if abstention is not None:
        out.append(("Abstention: risk-coverage and AUROC", ABSTENTION_NOTE, abstention))
    halves = split_table(records, k) if meta.get("split", "all") == "all" else None
    if halves is not None:
        out.append(("Dev (tuning) and test (held-out) halves", SPLIT_NOTE, halves))
    groups = source_group_table(records, k) if meta.get("set") in OSA_GROUP_SETS else None
    if groups is not None:
        out.append(("Seed article vs White House statements", GROUP_NOTE, groups))
    parts = resumed_table(records, k) if meta.get("resumed_from") else None
    if parts is not None:
        out.append(("Earlier and new questions (resumed run)", RESUMED_NOTE, parts))
    out.append(("Tuning and held-out data", TUNING_NOTE, None))
    return out


def render_markdown(meta: dict, summaries: dict, records: dict, plots: list) -> str:
    k = meta["top_k"]
    lines = [f"# Evaluation report: `{meta['set']}`", ""]
    lines += [f"- **{name}**: {value}" for name, value in _run_info(meta)]
    lines += ["", "## Headline metrics", "", headline_table(summaries, k).markdown(), ""]
    lines += ["## Cost (p50 / p95)", "", cost_table(summaries).markdown(), ""]
    lines += ["## Plots", ""]
    lines += [f"![{caption}]({path})" for path, caption in plots]
    lines += ["", "## Citation judges: agreement with 30 hand-labelled cases", ""]
    lines += [agreement_table(meta).markdown(), ""]
    for title, note, table in _sections(meta, summaries, records):
        lines += [f"## {title}", "", note, ""] + ([table.markdown(), ""] if table else [])
    typed = by_type_table(records)
    if typed is not None:
        lines += ["## By question type", "", typed.markdown(), ""]
    rewrites = rewrite_table(records)
    if rewrites is not None:
        lines += ["## Follow-ups: search queries", "", REWRITE_NOTE, "", rewrites.markdown(), ""]
    table, total = failure_table(records, MD_FAILURE_ROWS)
    lines += [f"## Failures ({total} questions where a system is not fully right)", ""]
    if total > MD_FAILURE_ROWS:
        lines += [f"First {MD_FAILURE_ROWS} shown; all are in report.html and results.jsonl.", ""]
    lines += [table.markdown() if total else "None.", ""]
    lines += ["## Notes", ""] + [f"- {n}" for n in _notes(meta, summaries)] + [""]
    return "\n".join(lines)


_CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:0.9em}
th,td{border:1px solid #ccc;padding:4px 8px;vertical-align:top}
th{background:#f3f3f3}
td.num,th.num{text-align:right}
img{max-width:100%;border:1px solid #eee}
code{background:#f5f5f5;padding:1px 4px}
"""


def render_html(meta: dict, summaries: dict, records: dict, plots: list) -> str:
    k = meta["top_k"]
    esc = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>Evaluation report: {esc(meta['set'])}</title><style>{_CSS}</style></head><body>",
        f"<h1>Evaluation report: <code>{esc(meta['set'])}</code></h1><ul>",
    ]
    parts += [f"<li><b>{esc(n)}</b>: {esc(v)}</li>" for n, v in _run_info(meta)]
    parts += ["</ul><h2>Headline metrics</h2>", headline_table(summaries, k).html()]
    parts += ["<h2>Cost (p50 / p95)</h2>", cost_table(summaries).html(), "<h2>Plots</h2>"]
    parts += [
        f"<figure><img src='{esc(p)}' alt='{esc(c)}'><figcaption>{esc(c)}</figcaption></figure>"
        for p, c in plots
    ]
    parts += [
        "<h2>Citation judges: agreement with 30 hand-labelled cases</h2>",
        agreement_table(meta).html(),
    ]
    for title, note, table in _sections(meta, summaries, records):
        parts += [f"<h2>{esc(title)}</h2>", f"<p>{esc(note)}</p>"] + (
            [table.html()] if table else []
        )
    typed = by_type_table(records)
    if typed is not None:
        parts += ["<h2>By question type</h2>", typed.html()]
    rewrites = rewrite_table(records)
    if rewrites is not None:
        parts += ["<h2>Follow-ups: search queries</h2>", f"<p>{esc(REWRITE_NOTE)}</p>"]
        parts.append(rewrites.html())
    table, total = failure_table(records)
    parts += [
        f"<h2>Failures ({total} questions where a system is not fully right)</h2>",
        table.html(),
    ]
    parts += (
        ["<h2>Notes</h2><ul>"]
        + [f"<li>{esc(n)}</li>" for n in _notes(meta, summaries)]
        + ["</ul></body></html>"]
    )
    return "\n".join(parts)


# -- retrieval-only runs -----------------------------------------------------------------


def retrieval_table(summary: dict, k: int) -> Table:
    from evals.metrics import RETRIEVAL_METRICS

    threshold = summary.get("refusal_threshold")
    rows = []
    for key, label, higher in RETRIEVAL_METRICS:
        label = label.replace("Recall@k", f"Recall@{k}")
        if threshold is not None:
            label = label.replace("refusal threshold", f"refusal threshold {threshold:.2f}")
        if key.startswith("early_refusal_"):
            n = summary.get(f"n_{key.removeprefix('early_refusal_')}", "")
        else:
            n = summary.get("n_recall@k", "")
        rows.append([f"{label} {'↑' if higher else '↓'}", fmt(summary.get(key)), str(n)])
    for key, label, n in (
        ("top_score_answerable_p50", "Best passage score p50 (answerable)", "n_answerable"),
        ("top_score_unanswerable_p50", "Best passage score p50 (unanswerable)", "n_unanswerable"),
        ("retrieve_ms_p50", "Retrieval ms p50", "questions"),
        ("retrieve_ms_p95", "Retrieval ms p95", "questions"),
    ):
        digits = 1 if key.startswith("retrieve_ms") else 3
        rows.append([label, fmt(summary.get(key), digits), str(summary.get(n, ""))])
    return Table(["Metric", "value", "n"], rows)


def retrieval_by_type_table(records: list[dict], k: int) -> Table | None:
    types = sorted({r["type"] for r in records if r["type"]})
    if len(types) < 2:
        return None
    rows = []
    for t in types:
        recs = [r for r in records if r["type"] == t]
        rows.append([
            t, str(len(recs)),
            str(sum(1 for r in recs if r["metrics"].get("recall@k") is not None)),
            fmt(mean(r["metrics"].get("recall@k") for r in recs), 2),
            fmt(mean(r["metrics"].get("mrr@10") for r in recs), 2),
            fmt(mean(r.get("top_score") for r in recs), 2),
        ])  # fmt: skip
    headers = ["Type", "n", "with gold", f"Recall@{k}", "MRR@10", "mean best score"]
    return Table(headers, rows)


def retrieval_miss_table(records: list[dict], k: int, limit: int | None = None):
    """Questions with gold passages not all found in the top k."""
    rows = []
    for r in records:
        recall = r["metrics"].get("recall@k")
        if recall is None or recall >= 1.0:
            continue
        first = next((i for i, p in enumerate(r["ranked"], start=1) if p["gold"]), None)
        top = r["ranked"][0]["source"] if r["ranked"] else ""
        rows.append([
            r["id"], r["type"] or "", _snippet(r["question"], 80), fmt(recall, 2),
            str(first) if first else "> 10", _snippet(Path(top).name, 50),
        ])  # fmt: skip
    total = len(rows)
    if limit is not None:
        rows = rows[:limit]
    headers = ["id", "type", "question", f"Recall@{k}", "first gold rank", "top-1 source"]
    return Table(headers, rows, align="lllrrl"), total


def _retrieval_run_info(meta: dict) -> list[tuple[str, str]]:
    m = meta["machine"]
    return [
        ("Command", f"`{meta['command']}`" if meta["command"] else "(library call)"),
        ("Date", meta["date"]),
        ("Mode", "retrieval only: no generator loaded, no answers, no citation or refusal scoring"),
        ("Set", f"{meta['set']}: {meta['description']}"),
        _questions_info(meta),
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
        ("Machine", machine_line(m)),
        ("Code", f"git {meta['git_commit'] or 'unknown'}"),
        (
            "Runtime",
            ", ".join(f"{k.removesuffix('_s')} {v:.1f} s" for k, v in meta["runtime_s"].items()),
        ),
    ]


def _retrieval_notes(meta: dict, summary: dict) -> list[str]:
    notes = [
        "Metric definitions: `evals/README.md`. Retrieval ms is the timed top-k retrieval "
        "(query embedding + search), as the pipeline times it; the top-10 ranking used by the "
        "metrics is a second, untimed call.",
        "'Best score below refusal threshold' is the share of questions whose best passage "
        "scores (cosine) below `refusal_threshold`, which the pipeline refuses without "
        "generating. The threshold is calibrated for one embedder's score scale.",
    ]
    load = meta["machine"].get("load_while_answering") or {}
    cores = meta["machine"].get("cores") or 1
    if load.get("mean") is not None:
        busy = load["mean"] > 0.75 * cores
        notes.append(
            f"CPU load while retrieving (1-min load average): mean {load['mean']:.1f}, max "
            f"{load['max']:.1f} on {cores} cores"
            + (": other processes shared the CPU, so latencies are inflated." if busy else ".")
        )
    if meta["unreachable_gold_passages"]:
        ids = ", ".join(sorted({g["id"] for g in meta["unreachable_gold_passages"]}))
        notes.append(
            f"{len(meta['unreachable_gold_passages'])} gold passage(s) occur in no indexed chunk: "
            f"{ids}. They cap retrieval recall for those questions."
        )
    return notes


def make_retrieval_plots(out_dir: Path, summary: dict, records: list[dict], k: int):
    """Retrieval-only plots: metric bars, latency and best-score histograms."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from evals.metrics import RETRIEVAL_METRICS

    plots_dir = out_dir / "plots"
    plots_dir.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    keys = [(key, label.replace("Recall@k", f"Recall@{k}")) for key, label, _ in RETRIEVAL_METRICS]
    keys = [(key, label) for key, label in keys[:5]]
    vals = [summary.get(key) or 0.0 for key, _ in keys]
    ax = axes[0]
    bars = ax.barh(np.arange(len(keys)), vals, color=COLORS["ours"])
    for bar, v in zip(bars, vals, strict=True):
        ax.text(v + 0.01, bar.get_y() + bar.get_height() / 2, fmt(v, 2), va="center", fontsize=7)
    ax.set_yticks(np.arange(len(keys)))
    ax.set_yticklabels([label for _, label in keys], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.12)
    ax.set_title("Retrieval metrics", fontsize=9)
    ms = [r["timings"].get("retrieve_ms") for r in records]
    ms = [v for v in ms if v is not None]
    ax = axes[1]
    if ms:
        ax.hist(ms, bins=25, color=COLORS["ours"], alpha=0.7)
        ax.axvline(float(np.percentile(ms, 50)), color="k", linestyle="--", linewidth=1)
    ax.set_title("Retrieval time per question (ms; dashed: median)", fontsize=9)
    ax = axes[2]
    for answerable, label, color in (
        (True, "answerable", "#2ca02c"),
        (False, "unanswerable", "#d62728"),
    ):
        scores = [r["top_score"] for r in records if r["answerable"] is answerable]
        scores = [v for v in scores if v is not None]
        if scores:
            ax.hist(scores, bins=20, range=(0, 1), alpha=0.55, label=label, color=color)
    if summary.get("refusal_threshold") is not None:
        ax.axvline(summary["refusal_threshold"], color="k", linestyle="--", linewidth=1)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    ax.set_title("Best passage score (dashed: refusal threshold)", fontsize=9)
    for ax in axes:
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    fig.savefig(plots_dir / "retrieval.png", dpi=110)
    plt.close(fig)
    return [("plots/retrieval.png", "Retrieval metrics, latency and best-passage scores")]


def render_retrieval_markdown(meta: dict, summaries: dict, records: dict, plots: list) -> str:
    k = meta["top_k"]
    summary, recs = summaries["ours"], records["ours"]
    lines = [f"# Retrieval report: `{meta['set']}`", ""]
    lines += [f"- **{name}**: {value}" for name, value in _retrieval_run_info(meta)]
    lines += ["", "## Retrieval metrics", "", retrieval_table(summary, k).markdown(), ""]
    lines += ["## Plots", ""] + [f"![{caption}]({path})" for path, caption in plots] + [""]
    typed = retrieval_by_type_table(recs, k)
    if typed is not None:
        lines += ["## By question type", "", typed.markdown(), ""]
    table, total = retrieval_miss_table(recs, k, MD_FAILURE_ROWS)
    lines += [f"## Misses ({total} questions with a gold passage outside the top {k})", ""]
    if total > MD_FAILURE_ROWS:
        lines += [f"First {MD_FAILURE_ROWS} shown; all are in report.html and results.jsonl.", ""]
    lines += [table.markdown() if total else "None.", ""]
    lines += ["## Notes", ""] + [f"- {n}" for n in _retrieval_notes(meta, summary)] + [""]
    lines += ["## Tuning and held-out data", "", TUNING_NOTE, ""]
    return "\n".join(lines)


def render_retrieval_html(meta: dict, summaries: dict, records: dict, plots: list) -> str:
    k = meta["top_k"]
    esc = html.escape
    summary, recs = summaries["ours"], records["ours"]
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>Retrieval report: {esc(meta['set'])}</title><style>{_CSS}</style></head><body>",
        f"<h1>Retrieval report: <code>{esc(meta['set'])}</code></h1><ul>",
    ]
    parts += [f"<li><b>{esc(n)}</b>: {esc(v)}</li>" for n, v in _retrieval_run_info(meta)]
    parts += [
        "</ul><h2>Retrieval metrics</h2>",
        retrieval_table(summary, k).html(),
        "<h2>Plots</h2>",
    ]
    parts += [
        f"<figure><img src='{esc(p)}' alt='{esc(c)}'><figcaption>{esc(c)}</figcaption></figure>"
        for p, c in plots
    ]
    typed = retrieval_by_type_table(recs, k)
    if typed is not None:
        parts += ["<h2>By question type</h2>", typed.html()]
    table, total = retrieval_miss_table(recs, k)
    parts += [f"<h2>Misses ({total} questions with a gold passage outside the top {k})</h2>"]
    parts += [table.html()]
    parts += ["<h2>Notes</h2><ul>"] + [
        f"<li>{esc(n)}</li>" for n in _retrieval_notes(meta, summary)
    ]
    parts += ["</ul><h2>Tuning and held-out data</h2>", f"<p>{esc(TUNING_NOTE)}</p>"]
    parts += ["</body></html>"]
    return "\n".join(parts)


def write_report(out_dir: Path, meta: dict, summaries: dict, records: dict) -> Path:
    """Write results.jsonl, summary.json, plots, report.md and report.html into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "results.jsonl", "w", encoding="utf-8") as fh:
        for recs in records.values():
            for r in recs:
                clean = {key: v for key, v in r.items() if not key.startswith("_")}
                fh.write(json.dumps(clean, ensure_ascii=False) + "\n")
    summary = {"meta": meta, "systems": summaries}
    (out_dir / "summary.json").write_text(
        json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    retrieval_only = meta.get("mode") == "retrieval-only"
    if retrieval_only:
        plots = make_retrieval_plots(out_dir, summaries["ours"], records["ours"], meta["top_k"])
    else:
        plots = make_plots(out_dir, summaries, records, meta["top_k"])
    markdown = render_retrieval_markdown if retrieval_only else render_markdown
    page = render_retrieval_html if retrieval_only else render_html
    (out_dir / "report.md").write_text(markdown(meta, summaries, records, plots), encoding="utf-8")
    (out_dir / "report.html").write_text(page(meta, summaries, records, plots), encoding="utf-8")
    return out_dir


def rerender(out_dir: Path) -> Path:
    """Rebuild summary, report.md/html and plots of a finished run from its results.jsonl.

    Usage: ``python -m evals.report evals/reports/osa`` (after changing the report layout).
    """
    from evals.metrics import summarize

    out_dir = Path(out_dir)
    meta = json.loads((out_dir / "summary.json").read_text(encoding="utf-8"))["meta"]
    records: dict[str, list[dict]] = {}
    for line in (out_dir / "results.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            records.setdefault(row["system"], []).append(row)
    if meta.get("mode") == "retrieval-only":
        from evals.metrics import summarize_retrieval

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
        label = label.replace("Recall@k", f"Recall@{k}")
        rows.append([f"{label} {'↑' if hi else '↓'}", *(fmt(c.get(key), 2) for c in columns)])
    for name, label, digits in (
        ("first_token_ms_p50", "First token p50 (s)", 1000.0),
        ("total_s_p50", "Total p50 (s)", 1.0),
        ("total_s_p95", "Total p95 (s)", 1.0),
    ):
        rows.append([label, *(fmt(c[name] / digits, 1) if c.get(name) else "–" for c in columns)])
    return Table(headers, rows).markdown()


if __name__ == "__main__":  # pragma: no cover
    import sys

    args = sys.argv[1:]
    if args[:1] == ["--headline"]:
        print(headline_markdown([Path(a) for a in args[1:]]))
    else:
        for arg in args:
            print(rerender(Path(arg)))
