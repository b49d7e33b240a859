"""Calibrated abstention: P(answer is right) from signals every answer has.

A logistic regression (fitted with scikit-learn by `evals/calibrate.py` on
questions disjoint from every reported set) turns the pipeline's signals (best
cosine, question coverage of the evidence, judge probability, share of
unsupported sentences, ...) into a probability. Its coefficients are stored as
JSON, never pickled, with the data they were fitted on and the decision threshold
chosen then; the pipeline refuses an answer whose probability is below it (or
below ``Settings.abstain_below`` when that is set).

Example::

    model = Calibration.load(Path("rag/calibration.json"))
    model.confidence({"best_cosine": 0.61, "judge": 0.93, ...})  # 0.87
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rag.checks import evidence_text
from rag.citations import content_words
from rag.types import AnswerSentence, ContextSentence

DEFAULT_PATH = Path(__file__).with_name("calibration.json")


def answer_signals(
    question: str,
    scores: list[float],
    evidence: list[ContextSentence],
    sentences: list[AnswerSentence],
) -> dict[str, float]:
    """What the calibration reads, for every answer: retrieval ``scores`` of the
    candidates, the ``evidence`` sentences, the checked answer ``sentences`` (the judge
    adds its own two signals)."""
    scores = sorted(scores, reverse=True)
    asked = set(content_words(question))
    found = set(content_words(evidence_text(evidence)))
    return {
        "best_cosine": round(scores[0], 4) if scores else 0.0,
        "cosine_margin": round(scores[0] - scores[1], 4) if len(scores) > 1 else 0.0,
        "question_coverage": round(len(asked & found) / len(asked), 4) if asked else 1.0,
        "unsupported_share": round(
            sum(not s.supported for s in sentences) / max(1, len(sentences)), 4
        ),
        "evidence_count": float(len(evidence)),
        "top_passage_cited": float(any(s.n == 1 for s in evidence)),
    }


class CalibrationError(ValueError):
    """The calibration file is missing a field or holds a bad value."""


@dataclass
class Calibration:
    """A logistic regression over named signals (standardized by mean and scale)."""

    features: list[str]
    coef: list[float]
    intercept: float
    mean: list[float]
    scale: list[float]
    threshold: float = 0.5  # refuse below this P(right), chosen when fitting
    trained_on: str = ""
    notes: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.features)
        if not n or not (len(self.coef) == len(self.mean) == len(self.scale) == n):
            raise CalibrationError(
                "calibration: features, coef, mean and scale must have the same non-zero length"
            )
        if any(s <= 0 for s in self.scale):
            raise CalibrationError("calibration: every scale must be > 0")

    def confidence(self, signals: dict[str, float]) -> float:
        """P(right); a signal the answer lacks (e.g. no judge) counts as its mean."""
        z = self.intercept
        for name, w, mu, s in zip(self.features, self.coef, self.mean, self.scale, strict=True):
            value = signals.get(name)
            z += w * ((float(value) - mu) / s if value is not None else 0.0)
        if z < 0:  # exp(-z) overflows for z below about -709: use the mirrored form
            return round(math.exp(z) / (1.0 + math.exp(z)), 4)
        return round(1.0 / (1.0 + math.exp(-z)), 4)

    @classmethod
    def load(cls, path: Path | str | None) -> Calibration | None:
        """The calibration at ``path`` ("default": the one shipped in rag/); None when
        no path is set ("" or "off") or the file is absent."""
        if not path or str(path) == "off":
            return None
        path = DEFAULT_PATH if str(path) == "default" else Path(path)
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})
        except (json.JSONDecodeError, TypeError) as exc:
            raise CalibrationError(f"calibration file {path} is not valid: {exc}") from exc

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")
