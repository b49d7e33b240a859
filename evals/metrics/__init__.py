"""Metric functions: pure, on plain data, one per definition in evals/README.md.

- Retrieval: recall@k, MRR@10, nDCG@10 over gold passages (computed with ir-measures).
- Answer: SQuAD-normalised exact match and token F1 against the best gold answer,
  answer containment, keyword accuracy.
- Citations: ALCE citation recall and precision for any entailment function.
- Refusal: refusal rates on unanswerable and answerable questions.
- Outcomes: confidently wrong answers, context recall (a gold quote in what the
  model read), risk-coverage and AUROC of the abstention score.
- Cost: p50 / p95 of latencies and token counts.

One module per group (answers, ranking, citations, outcomes, summary); every name is
re-exported here. A metric that does not apply to a question (no gold answer, a refused answer
for citation metrics, ...) is ``None`` and left out of the averages.
"""

from evals.metrics.answers import (
    answer_scores,
    contains_answer,
    content_words,
    exact_match,
    keyword_scores,
    normalize_answer,
    query_keyword_recall,
    strip_citations,
    token_f1,
)
from evals.metrics.citations import Entails, citation_scores, join_passages
from evals.metrics.outcomes import (
    RISK_THRESHOLDS,
    WRONG_F1,
    AbstentionItem,
    abstention_auroc,
    abstention_items,
    answer_wrong,
    confidently_wrong,
    context_recall,
    risk_coverage,
    risk_coverage_curve,
)
from evals.metrics.ranking import retrieval_scores, run_labels
from evals.metrics.summary import (
    COST_FIELDS,
    QUALITY_METRICS,
    RETRIEVAL_METRICS,
    cost_scores,
    mean,
    percentile,
    refusal_scores,
    summarize,
    summarize_retrieval,
)

__all__ = [
    "COST_FIELDS", "QUALITY_METRICS", "RETRIEVAL_METRICS", "RISK_THRESHOLDS", "WRONG_F1",
    "AbstentionItem", "Entails", "abstention_auroc", "abstention_items", "answer_scores",
    "answer_wrong", "citation_scores", "confidently_wrong", "contains_answer", "content_words",
    "context_recall", "cost_scores", "exact_match", "join_passages", "keyword_scores", "mean",
    "normalize_answer", "percentile", "query_keyword_recall", "refusal_scores",
    "retrieval_scores", "risk_coverage", "risk_coverage_curve", "run_labels", "strip_citations",
    "summarize", "summarize_retrieval", "token_f1",
]  # fmt: skip
