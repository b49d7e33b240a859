"""SQuAD 2.0 dev (``<data-dir>/evals/squad2_dev/dev-v2.0.json``): every paragraph becomes
one corpus file ``squad-AA-PPP.txt``; unanswerable questions test refusal.

Named sets: ``squad2-dev`` (reported on a 300-question sample) and ``squad2-calibration``
(the rest of the dev set, for fitting rag/calibration.json only).
"""

from __future__ import annotations

import json

from evals.sets.cache import cache_dir, require, write_passages
from evals.sets.model import EvalSet, Gold, Question
from evals.sets.registry import SetSource, register, sample

REPORTED_SAMPLE = 300  # squad2-dev's default --limit (seed 0)


def read_squad2(source: SetSource) -> EvalSet:
    """Every question of SQuAD 2.0 dev over its paragraphs (written to the eval cache)."""
    path = require(source.data_dir / "evals" / "squad2_dev" / "dev-v2.0.json", "SQuAD 2.0 dev")
    data = json.loads(path.read_text(encoding="utf-8"))
    passages: dict[str, tuple[str, str]] = {}
    questions: list[Question] = []
    for a, article in enumerate(data["data"]):
        title = article["title"].replace("_", " ")
        for p, para in enumerate(article["paragraphs"]):
            pid = f"squad-{a:02d}-{p:03d}"
            passages[pid] = (title, para["context"])
            for qa in para["qas"]:
                impossible = bool(qa.get("is_impossible"))
                answers = list(dict.fromkeys(x["text"] for x in qa.get("answers", [])))
                questions.append(
                    Question(
                        id=qa["id"],
                        question=qa["question"],
                        answerable=not impossible,
                        answers=[] if impossible else answers,
                        gold=[] if impossible else [Gold("g0", doc_id=pid)],
                        type="unanswerable" if impossible else "answerable",
                    )
                )
    corpus = write_passages(cache_dir() / "eval-corpus" / "squad2-dev", passages)
    where = path.relative_to(source.data_dir)  # no machine path in a committed report
    description = f"SQuAD 2.0 dev (<data-dir>/{where}); corpus = its {len(passages)} paragraphs"
    return EvalSet("squad2-dev", questions, corpus, description=description)


register("squad2-dev", default_limit=REPORTED_SAMPLE)(read_squad2)


@register("squad2-calibration", default_limit=REPORTED_SAMPLE)
def squad2_calibration(source: SetSource) -> EvalSet:
    """SQuAD 2.0 dev minus the reported fixed-seed sample: data to fit the abstention
    model on that no report is computed from."""
    evalset = read_squad2(source)
    reported = {q.id for q in sample(evalset.questions, REPORTED_SAMPLE, 0)}
    evalset.questions = [q for q in evalset.questions if q.id not in reported]
    evalset.name = "squad2-calibration"
    evalset.description = (
        f"SQuAD 2.0 dev without the {REPORTED_SAMPLE}-question seed-0 sample "
        "that squad2-dev reports (for fitting rag/calibration.json only)"
    )
    return evalset
