"""ClapNQ dev (``<data-dir>/evals/clapnq_dev/``), named set ``clapnq-dev``: 300 answerable
+ 300 unanswerable questions over their passages.

The corpus is the 293 referenced gold passages plus the (distinct) candidate
passage of each unanswerable question, which does not answer it.
"""

from __future__ import annotations

import csv
import json

from evals.sets.cache import cache_dir, require, safe_id, write_passages
from evals.sets.model import EvalSet, Gold, Question, normalize_passage_text
from evals.sets.registry import SetSource, register


@register("clapnq-dev", default_limit=300)
def read_clapnq(source: SetSource) -> EvalSet:
    root = require(source.data_dir / "evals" / "clapnq_dev", "ClapNQ dev")
    passages: dict[str, tuple[str, str]] = {}
    texts: set[str] = set()
    with open(root / "passages_dev_referenced.tsv", encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE):
            passages[row["id"]] = (row["title"], row["text"])
            texts.add(normalize_passage_text(row["text"]))
    gold_ids: dict[str, str] = {}
    with open(root / "question_dev_answerable.tsv", encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            gold_ids[row["id"]] = row["doc-id-list"].split(",")[0].strip()

    questions: list[Question] = []
    for fname, answerable in (
        ("clapnq_dev_answerable.jsonl", True),
        ("clapnq_dev_unanswerable.jsonl", False),
    ):
        for line in (root / fname).read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            answers = [o["answer"] for o in row.get("output", []) if o.get("answer", "").strip()]
            if not answerable:
                for i, psg in enumerate(row.get("passages", [])):
                    norm = normalize_passage_text(psg["text"])
                    if norm not in texts:
                        texts.add(norm)
                        passages[f"unans-{safe_id(row['id'])}-{i}"] = (psg["title"], psg["text"])
            gold = []
            if answerable and row["id"] in gold_ids:
                gold = [Gold("g0", doc_id=safe_id(gold_ids[row["id"]]))]
            questions.append(
                Question(
                    id=row["id"],
                    question=row["input"],
                    answerable=answerable and bool(answers),
                    answers=answers if answerable else [],
                    gold=gold,
                    type="answerable" if answerable else "unanswerable",
                )
            )
    corpus = write_passages(cache_dir() / "eval-corpus" / "clapnq-dev", passages)
    description = (
        f"ClapNQ dev (<data-dir>/{root.relative_to(source.data_dir)}); "
        f"corpus = {len(passages)} passages "
        "(referenced gold passages + unanswerable candidates)"
    )
    return EvalSet("clapnq-dev", questions, corpus, description=description)
