"""Aggregation: a system's per-question records into its summary metrics and costs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from evals.metrics.outcomes import (
    abstention_auroc,
    abstention_items,
    confidently_wrong,
    risk_coverage,
)
from evals.records import EvalRecord


def mean(values: Iterable[float | None]) -> float | None:
    kept = [float(v) for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None


def percentile(values: Iterable[float | None], q: float) -> float | None:
    kept = [float(v) for v in values if v is not None]
    return float(np.percentile(kept, q)) if kept else None


def refusal_scores(records: Sequence[EvalRecord]) -> dict[str, float | None]:
    """Refusal rates from records with ``answerable`` and ``refused``.

    ``negative_rejection``: share of unanswerable questions refused (higher is better).
    ``false_refusal``: share of answerable questions refused (lower is better).
    """
    unans = [r.refused for r in records if not r.answerable]
    ans = [r.refused for r in records if r.answerable]
    return {
        "negative_rejection": mean(float(x) for x in unans),
        "false_refusal": mean(float(x) for x in ans),
    }


COST_FIELDS = (
    "retrieve_ms",
    "first_token_ms",
    "total_s",
    "prompt_tokens",
    "completion_tokens",
    "tokens_per_s",
)


def cost_scores(timings: Sequence[dict]) -> dict[str, float | None]:
    """p50 and p95 of every cost field (first token and decode rate: generated answers only)."""
    out: dict[str, float | None] = {}
    for name in COST_FIELDS:
        values = [t.get(name) for t in timings]
        if name in ("first_token_ms", "tokens_per_s"):
            values = [v for v in values if v]  # refused before generation: no first token
        out[f"{name}_p50"] = percentile(values, 50)
        out[f"{name}_p95"] = percentile(values, 95)
    return out


# Quality metrics averaged per system, in report order: (key, label, higher is better).
QUALITY_METRICS = (
    ("recall@k", "Recall@k", True),
    ("recall@10", "Recall@10", True),
    ("mrr@10", "MRR@10", True),
    ("ndcg@10", "nDCG@10", True),
    ("em", "Exact match", True),
    ("f1", "Token F1", True),
    ("contains", "Answer contained", True),
    ("keywords_all", "Keyword accuracy", True),
    ("citation_recall_llm", "Citation recall (LLM judge)", True),
    ("citation_precision_llm", "Citation precision (LLM judge)", True),
    ("citation_recall_lex", "Citation recall (lexical)", True),
    ("citation_precision_lex", "Citation precision (lexical)", True),
    ("negative_rejection", "Refused when unanswerable", True),
    ("false_refusal", "Refused when answerable", False),
    ("confidently_wrong", "Confidently wrong (answered and wrong, share of all)", False),
    ("context_recall", "Context recall (gold quote in what the model read)", True),
    ("query_keyword_recall", "Query keyword recall (follow-ups)", True),
)


def summarize(records: Sequence[EvalRecord], k: int) -> dict:
    """Aggregate per-question records of one system into its summary metrics."""
    out: dict[str, float | int | None] = {"questions": len(records), "k": k}
    wrongs = [confidently_wrong(r.answerable, r.refused, r.metrics) for r in records]
    for key, _, _ in QUALITY_METRICS:
        if key not in ("negative_rejection", "false_refusal", "confidently_wrong"):
            out[key] = mean(r.metrics.get(key) for r in records)
    out.update(refusal_scores(records))
    out["confidently_wrong"] = mean(wrongs)  # from the answer metrics: older runs get it too
    out["n_confidently_wrong"] = sum(1 for w in wrongs if w is not None)
    for key in ("em", "recall@k", "keywords_all", "citation_recall_llm", "citation_recall_lex",
                "query_keyword_recall", "context_recall"):  # fmt: skip
        out[f"n_{key}"] = sum(1 for r in records if r.metrics.get(key) is not None)
    out["context_fallback"] = sum(1 for r in records if r.context_from == "fallback")
    items = abstention_items(records)
    out.update(abstention_auroc(items))
    out["risk_coverage"] = risk_coverage(items)
    out["n_answerable"] = sum(1 for r in records if r.answerable)
    out["n_unanswerable"] = sum(1 for r in records if not r.answerable)
    out["answered"] = sum(1 for r in records if not r.refused)
    out.update(cost_scores([r.timings for r in records]))
    return out


# Retrieval-only runs (`rag eval --retrieval-only`): (key, label, higher is better).
RETRIEVAL_METRICS = (
    ("recall@k", "Recall@k", True),
    ("recall@5", "Recall@5", True),
    ("recall@10", "Recall@10", True),
    ("mrr@10", "MRR@10", True),
    ("ndcg@10", "nDCG@10", True),
    ("early_refusal_unanswerable", "Best score below refusal threshold (unanswerable)", True),
    ("early_refusal_answerable", "Best score below refusal threshold (answerable)", False),
)


def summarize_retrieval(records: Sequence[EvalRecord], k: int, refusal_threshold: float) -> dict:
    """Aggregate retrieval-only records (no generator): ranking metrics, scores, latency.

    ``early_refusal_*`` is the share of questions whose best passage scores below
    ``refusal_threshold``, i.e. that the pipeline would refuse before generating;
    the threshold is calibrated for one embedder's cosine scale, so these show how
    well it transfers to another.
    """
    out: dict[str, float | int | None] = {"questions": len(records), "k": k}
    for key in ("recall@k", "recall@5", "recall@10", "mrr@10", "ndcg@10"):
        out[key] = mean(r.metrics.get(key) for r in records)
    out["n_recall@k"] = sum(1 for r in records if r.metrics.get("recall@k") is not None)
    out["n_answerable"] = sum(1 for r in records if r.answerable)
    out["n_unanswerable"] = sum(1 for r in records if not r.answerable)
    out["refusal_threshold"] = refusal_threshold
    for name, answerable in (("answerable", True), ("unanswerable", False)):
        scores = [r.top_score for r in records if r.answerable is answerable]
        out[f"early_refusal_{name}"] = mean(
            float(s is None or s < refusal_threshold) for s in scores
        )
        out[f"top_score_{name}_p50"] = percentile(scores, 50)
    out["retrieve_ms_p50"] = percentile((r.timings.get("retrieve_ms") for r in records), 50)
    out["retrieve_ms_p95"] = percentile((r.timings.get("retrieve_ms") for r in records), 95)
    return out
