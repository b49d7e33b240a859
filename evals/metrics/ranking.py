"""Retrieval metrics over gold passages: recall@k, MRR@10, nDCG@10 (ir-measures)."""

from __future__ import annotations

from collections.abc import Sequence


def run_labels(ranked_matches: Sequence[Sequence[str]], ranked_ids: Sequence[str]) -> list[str]:
    """Turn a ranked list of chunks into a ranked list of document ids for ir-measures.

    ``ranked_matches[r]`` are the gold labels chunk ``r`` contains. A chunk counts
    as the first gold passage it newly covers; a chunk covering only gold passages
    already found earlier, or none, is a non-relevant item (its own chunk id).
    A chunk covering two new gold passages yields both labels at that rank.
    """
    seen: set[str] = set()
    out: list[str] = []
    for matches, chunk_id in zip(ranked_matches, ranked_ids, strict=True):
        new = [m for m in matches if m not in seen]
        seen.update(new)
        out.append("|".join(new) if new else f"chunk:{chunk_id}")
    return out


def retrieval_scores(
    items: dict[str, tuple[Sequence[str], Sequence[str]]],
    k: int,
    cutoffs: Sequence[int] = (),
) -> dict[str, dict[str, float]]:
    """Per-question ``recall@k`` (k = passages given to the generator), recall@10, MRR@10, nDCG@10.

    ``items`` maps a question id to ``(gold_labels, run)`` where ``run`` is the
    output of `run_labels` (rank order, best first). Questions without gold
    labels are skipped. Binary relevance: a gold passage is relevant, all else not.
    ``cutoffs`` adds ``recall@N`` for each N given (e.g. ``(5,)`` for recall@5).
    """
    import ir_measures
    from ir_measures import RR, R, nDCG

    qrels, run = [], []
    wanted = {}
    for qid, (golds, ranked) in items.items():
        if not golds:
            continue
        wanted[qid] = {}
        for g in golds:
            qrels.append(ir_measures.Qrel(qid, g, 1))
        for rank, doc in enumerate(ranked):
            labels = doc.split("|") if not doc.startswith("chunk:") else [doc]
            for j, label in enumerate(labels):
                run.append(ir_measures.ScoredDoc(qid, label, float(1000 - rank * 10 - j)))
    names = {R @ 10: "recall@10", RR @ 10: "mrr@10", nDCG @ 10: "ndcg@10"}
    if k != 10:
        names[R @ k] = "recall@k"
    if qrels:
        for metric in ir_measures.iter_calc(list(names), qrels, run):
            wanted[metric.query_id][names[metric.measure]] = float(metric.value)
    extra = {}
    for c in cutoffs:
        if c != 10:
            extra[R @ c] = f"recall@{c}"
    if qrels and extra:
        for metric in ir_measures.iter_calc(list(extra), qrels, run):
            wanted[metric.query_id][extra[metric.measure]] = float(metric.value)
    for scores in wanted.values():
        if k == 10:
            scores["recall@k"] = scores.get("recall@10", 0.0)
        if 10 in cutoffs:
            scores["recall@10"] = scores.get("recall@10", 0.0)
        for name in ("recall@k", *names.values(), *extra.values()):  # questions with an empty run
            scores.setdefault(name, 0.0)
    return wanted
