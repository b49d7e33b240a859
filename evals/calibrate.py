"""Fit the calibrated abstention (rag/calibration.json) from finished eval runs.

    python -m evals.calibrate RUN_DIR [RUN_DIR ...] [--out rag/calibration.json]

Reads the ``ours`` records of each run's ``results.jsonl`` that were answered
(passed every check) and carry the pipeline's signals, labels each right or
wrong (`evals.metrics.answer_wrong`: a wrong keyword answer, an unanswerable
question answered, ...), and fits a scikit-learn logistic regression on the
standardized signals. The decision threshold ``abstain_below`` is the one that
maximizes right answers kept minus ``WRONG_COST`` x wrong answers kept: for our
users a cited wrong answer is worse than a refusal. The coefficients, scaling,
threshold and the runs they came from are written as JSON (never pickled).

Only runs on data disjoint from every reported set may be used: the osa dev
half and the ``squad2-calibration`` set (SQuAD 2.0 dev minus the reported
sample). A run of ``osa-heldout``, ``squad2-dev``, ``clapnq-dev`` or the osa
test half is refused.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from evals.metrics import answer_wrong
from rag.calibration import Calibration

FEATURES = [
    "best_cosine",
    "cosine_margin",
    "question_coverage",
    "unsupported_share",
    "evidence_count",
    "top_passage_cited",
    "judge",
    "judge_answers",
]
WRONG_COST = 2.0  # a cited wrong answer costs two right ones
ALLOWED = {("osa", "dev"), ("squad2-calibration", "all")}


class CalibrationDataError(ValueError):
    """A run that must not be used for fitting, or no usable records."""


def training_rows(run_dir: Path) -> tuple[list[list[float]], list[int], str]:
    """(signal rows, labels 1 = right, description) of one run's answered questions."""
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    meta = summary.get("meta", {})
    name = meta.get("set") or ""
    split = meta.get("split") or "all"
    if (name, split) not in ALLOWED:
        raise CalibrationDataError(
            f"{run_dir}: set {name!r} split {split!r} is reported; fit only on "
            + ", ".join(f"{n} ({s})" for n, s in sorted(ALLOWED))
        )
    rows, labels = [], []
    for line in (run_dir / "results.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        signals = record.get("signals") or {}
        if record.get("system") != "ours" or record.get("refused") or "judge" not in signals:
            continue
        wrong = answer_wrong(record["answerable"], False, record["metrics"])
        if wrong is None:
            continue
        rows.append([float(signals.get(f, 0.0)) for f in FEATURES])
        labels.append(0 if wrong else 1)
    return rows, labels, f"{name} ({split}): {len(rows)} answered questions"


def best_threshold(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """The threshold maximizing right kept - WRONG_COST * wrong kept (0 keeps all)."""
    best, best_gain = 0.0, -np.inf
    for t in np.linspace(0.0, 0.95, 20):
        kept = probabilities >= t
        gain = labels[kept].sum() - WRONG_COST * (1 - labels[kept]).sum()
        if gain > best_gain:
            best, best_gain = float(t), gain
    return round(best, 2)


def fit(run_dirs: list[Path]) -> tuple[Calibration, float]:
    """The calibration fitted on ``run_dirs`` and its decision threshold."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    rows, labels, described = [], [], []
    for run_dir in run_dirs:
        r, y, what = training_rows(run_dir)
        rows += r
        labels += y
        described.append(what)
    if len(set(labels)) < 2:
        raise CalibrationDataError("need both right and wrong answers to fit on")
    x, y = np.array(rows), np.array(labels)
    scaler = StandardScaler().fit(x)
    scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
    model = LogisticRegression(C=1.0, class_weight="balanced").fit((x - scaler.mean_) / scale, y)
    calibration = Calibration(
        features=FEATURES,
        coef=[round(float(c), 5) for c in model.coef_[0]],
        intercept=round(float(model.intercept_[0]), 5),
        mean=[round(float(m), 5) for m in scaler.mean_],
        scale=[round(float(s), 5) for s in scale],
        trained_on="; ".join(described),
        notes={"n": len(y), "right": int(y.sum()), "wrong_cost": WRONG_COST},
    )
    probabilities = np.array(
        [calibration.confidence(dict(zip(FEATURES, r, strict=True))) for r in rows]
    )
    calibration.threshold = best_threshold(probabilities, y)
    return calibration, calibration.threshold


def main(
    run_dirs: Annotated[list[Path], typer.Argument(help="eval run directories to fit on")],
    out: Annotated[Path, typer.Option(help="where to write the JSON")] = Path(
        "rag/calibration.json"
    ),
) -> None:
    """Fit rag/calibration.json on eval runs of data no report uses."""
    try:
        calibration, threshold = fit(run_dirs)
    except CalibrationDataError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    calibration.save(out)
    typer.echo(f"wrote {out}: {calibration.trained_on}; abstain below {threshold}")
    for name, weight in zip(calibration.features, calibration.coef, strict=True):
        typer.echo(f"  {name:20s} {weight:+.3f}")


if __name__ == "__main__":
    typer.run(main)
