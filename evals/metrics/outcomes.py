"""Outcomes: wrong answers, context recall (a gold quote in what the model read),
risk-coverage and AUROC of the abstention score."""

from __future__ import annotations

from collections.abc import Sequence

from evals.records import EvalRecord

WRONG_F1 = 0.2  # external sets (no keywords): not contained and token F1 below this = wrong


def answer_wrong(answerable: bool, refused: bool, metrics: dict) -> bool | None:
    """Whether the answer a system gave is wrong; ``None`` when it cannot be told.

    - unanswerable question: any answer (not refused) is wrong;
    - answerable with keywords: keyword accuracy 0 (not every keyword present);
    - answerable without keywords (external sets): the gold answer is not contained
      and token F1 < ``WRONG_F1``;
    - answerable without keywords or gold answers: ``None``.

    A refusal of an answerable question scores as the empty answer, so it is wrong too;
    `confidently_wrong` and the abstention metrics count refusals separately.
    """
    if not answerable:
        return not refused
    if metrics.get("keywords_all") is not None:
        return metrics["keywords_all"] == 0.0
    contains, f1 = metrics.get("contains"), metrics.get("f1")
    if contains is None and f1 is None:
        return None
    return not contains and (f1 or 0.0) < WRONG_F1


def confidently_wrong(answerable: bool, refused: bool, metrics: dict) -> float | None:
    """1.0 when the system answered (did not refuse) and the answer is wrong; else 0.0.

    Averaged over all questions it is the share of questions answered wrongly instead
    of refused. ``None`` for an answered question whose correctness cannot be told.
    """
    if refused:
        return 0.0
    wrong = answer_wrong(answerable, refused, metrics)
    return None if wrong is None else float(wrong)


def context_recall(quotes: Sequence[str], context: str) -> float | None:
    """1.0 when any gold quote occurs in ``context`` (what the model read), else 0.0.

    Both are normalised as for gold passages (lowercase, straight quotes, collapsed
    whitespace), so a quote spanning two context sentences joined by a newline counts.
    ``None`` without quotes.
    """
    from evals.sets import normalize_passage_text

    wanted = [normalize_passage_text(q) for q in quotes if q and q.strip()]
    if not wanted:
        return None
    text = normalize_passage_text(context or "")
    return float(any(q in text for q in wanted))


# An abstention item per question: (answerable, refused, score, wrong), where ``score``
# is the system's abstention score (higher = more sure its answer is right) and
# ``wrong`` is `answer_wrong` (for a refused question only ``answerable`` matters).
AbstentionItem = tuple[bool, bool, float | None, bool | None]

RISK_THRESHOLDS = (0.1, 0.3, 0.5, 0.7, 0.9)


def abstention_items(records: Sequence[EvalRecord]) -> list[AbstentionItem]:
    """Items of records with ``answerable``, ``refused``, ``abstention_score``, ``metrics``;
    answered questions whose correctness cannot be told are left out."""
    items = []
    for r in records:
        wrong = answer_wrong(r.answerable, r.refused, r.metrics)
        if not r.refused and wrong is None:
            continue
        items.append((r.answerable, r.refused, r.abstention_score, wrong))
    return items


def risk_coverage(
    items: Sequence[AbstentionItem], thresholds: Sequence[float] = RISK_THRESHOLDS
) -> list[dict]:
    """Coverage and risk at the system's own decisions and when it also abstains below ``t``.

    Row ``threshold None``: the system's own decisions (answered = not refused). Row
    ``t``: answered = not refused and score >= t (a question without a score is not
    answered). coverage = answered / all questions; risk = wrong answers / answered
    (``None`` when nothing is answered).
    """
    n = len(items)
    rows = []
    for t in (None, *thresholds):
        answered = [
            wrong
            for _, refused, score, wrong in items
            if not refused and (t is None or (score is not None and score >= t))
        ]
        rows.append(
            {
                "threshold": t,
                "answered": len(answered),
                "coverage": len(answered) / n if n else None,
                "risk": sum(map(bool, answered)) / len(answered) if answered else None,
            }
        )
    return rows


def risk_coverage_curve(items: Sequence[AbstentionItem]) -> tuple[list[float], list[float]]:
    """(coverage, risk) after each answered question, best score first (for the plot)."""
    n = len(items)
    answered = sorted(
        ((score, wrong) for _, refused, score, wrong in items if not refused and score is not None),
        key=lambda x: -x[0],
    )
    coverage, risk, errors = [], [], 0
    for i, (_, wrong) in enumerate(answered, start=1):
        errors += bool(wrong)
        coverage.append(i / n)
        risk.append(errors / i)
    return coverage, risk


def _auroc(labels: list[int], scores: list[float]) -> float | None:
    if len(set(labels)) < 2:
        return None
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels, scores))


def abstention_auroc(items: Sequence[AbstentionItem]) -> dict[str, float | int | None]:
    """AUROC of the abstention score (sklearn ``roc_auc_score``); see evals/README.md.

    Positive = answering the question is right. An answered question is positive when
    its answer is not wrong and ranks by its score. A refused question ranks below
    every answered one (the refusal is the system's lowest score; refused questions
    tie): refusing an unanswerable question is a right decision (a negative at the
    bottom), refusing an answerable one a wrong decision (a positive at the bottom).

    - ``auroc``: over all questions, refusals included as above;
    - ``auroc_answered``: over the answered questions only (right vs wrong answers).

    Answered questions without a score are left out (``n_unscored``); ``None`` when a
    class is missing or no answered question has a score.
    """
    answered = [(s, w) for _, refused, s, w in items if not refused and s is not None]
    unscored = sum(1 for _, refused, s, _ in items if not refused and s is None)
    out: dict[str, float | int | None] = {"auroc": None, "auroc_answered": None}
    out["n_unscored"] = unscored
    out["n_auroc"] = 0
    if not answered:
        return out
    labels = [int(not w) for _, w in answered]
    scores = [float(s) for s, _ in answered]
    out["auroc_answered"] = _auroc(labels, scores)
    floor = min(scores) - 1.0
    for answerable, refused, _, _ in items:
        if refused:
            labels.append(int(answerable))
            scores.append(floor)
    out["auroc"] = _auroc(labels, scores)
    out["n_auroc"] = len(labels)
    return out
