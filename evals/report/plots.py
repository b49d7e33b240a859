"""The PNG plots of a report (matplotlib, Agg backend), written to ``<out>/plots/``."""

from __future__ import annotations

from pathlib import Path

from evals.metrics import QUALITY_METRICS, RETRIEVAL_METRICS
from evals.records import EvalRecord, Records
from evals.report.document import Plot
from evals.report.text import COLORS, SYSTEM_LABELS, fmt


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def make_plots(out_dir: Path, summaries: dict, records: Records, k: int) -> list[Plot]:
    """Quality metric bars, latency histograms and the risk-coverage curve."""
    import numpy as np

    plt = _pyplot()

    plots_dir = out_dir / "plots"
    plots_dir.mkdir(parents=True, exist_ok=True)
    systems = list(summaries)
    made: list[Plot] = []

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
    made.append(
        Plot("plots/metrics.png", "Quality metrics per system (↑ higher is better, ↓ lower)")
    )

    panels = [
        ("total_s", "Total time per question (s)"),
        ("first_token_ms", "Time to first token (ms)"),
        ("retrieve_ms", "Retrieval (ms)"),
        ("tokens_per_s", "Decode speed (tokens/s)"),
    ]
    fig, axes = plt.subplots(2, 2, figsize=(9, 6))
    for ax, (name, title) in zip(axes.flat, panels, strict=True):
        data = {s: [r.timings.get(name) for r in records[s]] for s in systems}
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
    made.append(Plot("plots/latency.png", "Latency histograms per system (dashed line: median)"))
    made += risk_coverage_plot(plots_dir, records)
    return made


def risk_coverage_plot(plots_dir: Path, records: Records) -> list[Plot]:
    """plots/risk_coverage.png: error rate vs coverage as each system abstains below a score."""
    from evals.metrics import abstention_items, risk_coverage_curve

    plt = _pyplot()

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
    return [Plot("plots/risk_coverage.png", caption)]


def make_retrieval_plots(
    out_dir: Path, summary: dict, records: list[EvalRecord], k: int
) -> list[Plot]:
    """Retrieval-only plots: metric bars, latency and best-score histograms."""
    import numpy as np

    plt = _pyplot()

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
    ms = [r.timings.get("retrieve_ms") for r in records]
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
        scores = [r.top_score for r in records if r.answerable is answerable]
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
    return [Plot("plots/retrieval.png", "Retrieval metrics, latency and best-passage scores")]
