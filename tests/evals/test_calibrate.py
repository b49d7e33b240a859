"""evals/calibrate.py: fits only on unreported data, writes JSON the pipeline reads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from evals.calibrate import FEATURES, CalibrationDataError, best_threshold, fit
from rag.calibration import Calibration


def write_run(directory: Path, set_name: str, split: str, records: list[dict]) -> Path:
    directory.mkdir(parents=True)
    meta = {"meta": {"set": set_name, "split": split}}
    (directory / "summary.json").write_text(json.dumps(meta), encoding="utf-8")
    lines = "\n".join(json.dumps(r) for r in records)
    (directory / "results.jsonl").write_text(lines, encoding="utf-8")
    return directory


def record(judge: float, right: bool, refused: bool = False, system: str = "ours") -> dict:
    signals = dict.fromkeys(FEATURES, 0.5) | {"judge": judge}
    return {
        "system": system,
        "answerable": True,
        "refused": refused,
        "metrics": {"keywords_all": 1.0 if right else 0.0},
        "signals": signals,
    }


def test_fit_learns_that_a_confident_judge_means_right(tmp_path):
    rng = np.random.default_rng(0)
    records = [record(float(rng.uniform(0.6, 1.0)), True) for _ in range(30)]
    records += [record(float(rng.uniform(0.0, 0.4)), False) for _ in range(30)]
    records += [record(0.0, False, refused=True), record(0.99, False, system="baseline")]
    run = write_run(tmp_path / "dev", "osa", "dev", records)
    calibration, threshold = fit([run])
    assert calibration.notes["n"] == 60  # refusals and the baseline are not training data
    judge = calibration.coef[FEATURES.index("judge")]
    assert judge > 0
    high = calibration.confidence(dict.fromkeys(FEATURES, 0.5) | {"judge": 0.95})
    low = calibration.confidence(dict.fromkeys(FEATURES, 0.5) | {"judge": 0.05})
    assert high > threshold > low
    out = tmp_path / "calibration.json"
    calibration.save(out)
    assert Calibration.load(out) == calibration  # JSON round trip, no pickle


@pytest.mark.parametrize(
    ("set_name", "split"),
    [("osa-heldout", "all"), ("osa", "test"), ("osa", "all"), ("squad2-dev", "all")],
)
def test_reported_sets_are_refused(tmp_path, set_name, split):
    run = write_run(tmp_path / "run", set_name, split, [record(0.9, True), record(0.1, False)])
    with pytest.raises(CalibrationDataError, match="reported"):
        fit([run])


def test_best_threshold_weighs_a_wrong_answer_double():
    p = np.array([0.9, 0.8, 0.6, 0.3])
    y = np.array([1, 1, 0, 1])
    # keeping 0.6 costs 2 and keeping 0.3 gains 1: stop above 0.6
    assert 0.6 < best_threshold(p, y) <= 0.8
