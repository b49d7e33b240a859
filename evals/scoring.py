"""Ask or retrieve one question and score it: the `EvalRecord` of one system.

`answer_one` asks a system (ours or the baseline) and scores the answer;
`retrieve_one` runs only the pipeline's retrieval stage (``--retrieval-only``).
The ranking metrics (`add_retrieval_metrics`) and the citation judges
(`add_citation_metrics`) are added over all records afterwards.
"""

from __future__ import annotations

import dataclasses

from tqdm import tqdm

from evals.metrics import (
    answer_scores,
    citation_scores,
    confidently_wrong,
    context_recall,
    query_keyword_recall,
    retrieval_scores,
    run_labels,
)
from evals.records import EvalRecord
from evals.sets import EvalSet, Question
from evals.systems import System

RANKED_K = 10  # depth of the ranking scored by the retrieval metrics


def gold_labels(q: Question) -> list[str]:
    """The gold passages the retrieval metrics look for (none for an unanswerable question)."""
    return [g.label for g in q.gold] if q.answerable else []


def _passage(n: int | None, chunk_id: str, source: str, text: str, score, q: Question) -> dict:
    """A retrieved passage as recorded: rank, ids, score and the gold labels it holds."""
    row = {} if n is None else {"n": n}
    row |= {"chunk_id": chunk_id, "source": source}
    if n is not None:
        row["score"] = None if score is None else round(float(score), 4)
    row["gold"] = [g.label for g in q.gold if g.matches(text, source)]
    return row


def answer_one(system: System, q: Question) -> EvalRecord:
    """Ask ``system`` one question; return its record (citation metrics are added later).

    A follow-up (``q.history``) is passed with its earlier turns: ours rewrites it into
    a standalone search query, the baseline uses it as asked. The retrieval metrics
    rank with the query the system actually searched with.
    """
    ans = system.answer(q.question, q.history) if q.history else system.answer(q.question)
    query = ans.search_query or q.question
    ranked = system.ranked(query, RANKED_K)
    metrics = _answer_metrics(ans.answer, ans.refused, q)
    read, context_from = what_was_read(system, ans)
    quotes = [g.quote for g in q.gold if g.quote] if q.answerable else []
    metrics["context_recall"] = context_recall(quotes, read)
    if q.history:
        metrics["query_keyword_recall"] = query_keyword_recall(query, q.standalone)
    top_score = best_score(ans.retrieved)  # the baseline's chain keeps no scores:
    if top_score is None:  # its top-ranked chunk is its first retrieved one
        top_score = best_score(ranked[:1])
    follow_up = (
        {"history": q.history, "standalone": q.standalone, "search_query": query,
         "rewrite_method": ans.rewrite_method} if q.history else {}
    )  # fmt: skip
    return EvalRecord(
        system=system.name,
        id=q.id,
        type=q.type,
        question=q.question,
        answerable=q.answerable,
        gold=q.gold_dict(),
        answer=ans.answer,
        raw_answer=ans.raw_answer,
        refused=ans.refused,
        refusal_reason=ans.refusal_reason,
        sentences=[{"text": t, "citations": c} for t, c in ans.sentences],
        citations=[
            {
                "n": n,
                "chunk_id": ans.retrieved[n - 1].chunk_id,
                "source": ans.retrieved[n - 1].source,
            }
            for n in ans.cited
            if 0 < n <= len(ans.retrieved)
        ],
        retrieved=[
            _passage(i, p.chunk_id, p.source, p.text, p.score, q)
            for i, p in enumerate(ans.retrieved, start=1)
        ],
        ranked=[_passage(None, p.chunk_id, p.source, p.text, None, q) for p in ranked],
        metrics=metrics,
        context_from=context_from,
        confidence=ans.confidence,
        signals=ans.signals,
        top_score=top_score,
        abstention_score=ans.confidence if system.name == "ours" else top_score,
        timings=ans.timings,
        passages={i: p.text for i, p in enumerate(ans.retrieved, start=1)},
        gold_labels=gold_labels(q),
        **follow_up,
    )


def _answer_metrics(answer: str, refused: bool, q: Question) -> dict:
    metrics = answer_scores(answer, refused, q.answers, q.keywords)
    metrics["confidently_wrong"] = confidently_wrong(q.answerable, refused, metrics)
    return metrics


def rescore(record: EvalRecord, q: Question) -> EvalRecord:
    """A reused record (``--resume``) with its answer scored by today's metric code
    (a metric fix reaches the reused answers; the answer itself is not asked again)."""
    metrics = {**record.metrics, **_answer_metrics(record.answer, record.refused, q)}
    return dataclasses.replace(record, metrics=metrics, gold_labels=gold_labels(q))


def what_was_read(system: System, ans) -> tuple[str, str]:
    """The text the model read, and where it came from (for ``context_recall``).

    Ours: its ``Answer.context`` sentences ("context"); when it recorded none, the
    retrieved passages stand in ("fallback"). The baseline reads the whole retrieved
    passages ("passages").
    """
    if ans.context_text:
        return ans.context_text, "context" if system.name == "ours" else "passages"
    passages = "\n\n".join(p.text for p in ans.retrieved)
    return passages, "fallback" if system.name == "ours" else "passages"


def best_score(passages) -> float | None:
    """The best retrieved passage's cosine score (the baseline's abstention score)."""
    scores = [float(p.score) for p in passages if p.score is not None]
    return round(max(scores), 4) if scores else None


def retrieve_one(pipe, q: Question) -> EvalRecord:
    """Retrieve for one question with the pipeline's own retrieval stage, without generating.

    `RagPipeline.retrieve_context` is the stage `RagPipeline.stream` runs: the candidate
    pool, the refusal gate's best score and the context selection, timed by the pipeline
    (``retrieve_ms``). The passages the model would read are ``retrieved``; the top-10
    ranking for the metrics is a second, untimed call, as in a full run.
    """
    from rag.prompt_safety import clean_question

    query = clean_question(q.question)
    stage = pipe.retrieve_context(query)
    hits = [c.hit for c in stage.context]
    ranked = pipe.retrieve(query, RANKED_K)
    return EvalRecord(
        system="ours",
        id=q.id,
        type=q.type,
        question=q.question,
        answerable=q.answerable,
        gold=q.gold_dict(),
        top_score=round(float(stage.best_score), 4) if stage.candidates else None,
        retrieved=[
            _passage(n, h.chunk.chunk_id, h.chunk.source, h.chunk.text, h.score, q)
            for n, h in enumerate(hits, start=1)
        ],
        ranked=[
            _passage(None, h.chunk.chunk_id, h.chunk.source, h.chunk.text, None, q) for h in ranked
        ],
        metrics={},
        timings={"retrieve_ms": stage.retrieve_ms},
        gold_labels=gold_labels(q),
    )


def add_retrieval_metrics(records: list[EvalRecord], k: int, cutoffs: tuple[int, ...] = ()):
    """Recall@k, recall@10, MRR@10, nDCG@10 (and recall@N for ``cutoffs``) of each ranking."""
    items = {
        r.id: (
            r.gold_labels,
            run_labels([p["gold"] for p in r.ranked], [p["chunk_id"] for p in r.ranked]),
        )
        for r in records
    }
    scores = retrieval_scores(items, k, cutoffs)
    names = ("recall@k", "recall@10", "mrr@10", "ndcg@10", *(f"recall@{c}" for c in cutoffs))
    for r in records:
        for name in dict.fromkeys(names):
            r.metrics[name] = scores.get(r.id, {}).get(name)


def add_citation_metrics(
    records: list[EvalRecord], judges: list, progress: bool = True, desc: str = "judging"
) -> None:
    """ALCE citation recall/precision per record for each judge (``_lex`` / ``_llm`` columns).

    A reused record keeps the scores it has; a judge it was not judged by (an earlier
    run with ``--no-judge``, reused by a run with the LLM judge) judges it now if the
    record carries the texts of the passages it cited (records written before they
    were kept do not: they stay unjudged, not scored 0)."""
    suffix = {"lexical": "lex", "llm": "llm"}

    def missing(r: EvalRecord) -> list:
        if r.resumed and not r.refused and r.sentences and not r.passages:
            return []
        return [
            j
            for j in judges
            if not r.resumed or f"citation_recall_{suffix[j.name]}" not in r.metrics
        ]

    todo = [(r, missing(r)) for r in records]
    todo = [(r, js) for r, js in todo if js]
    for r, record_judges in tqdm(todo, desc=desc, unit="q", disable=not progress):
        sentences = [(s["text"], s["citations"]) for s in r.sentences]
        if not r.refused:
            # single-passage checks are always needed; passage-major order reuses the KV cache
            pairs = [
                (r.passages[n], text)
                for n in sorted({n for _, refs in sentences for n in refs})
                for text, refs in sentences
                if n in refs and n in r.passages and text.strip()
            ]
            for judge in record_judges:
                if hasattr(judge, "prefetch"):
                    judge.prefetch(pairs)
        for judge in record_judges:
            key = suffix[judge.name]
            scores = None
            if not r.refused and sentences:
                scores = citation_scores(sentences, r.passages, judge.entails)
            r.metrics[f"citation_recall_{key}"] = scores["citation_recall"] if scores else None
            r.metrics[f"citation_precision_{key}"] = (
                scores["citation_precision"] if scores else None
            )


def unreachable_golds(evalset: EvalSet, store) -> list[dict]:
    """Gold passages that no chunk of the index contains (they cap recall below 1)."""
    chunks = [(c.source, c.text) for c in store.iter_chunks()]
    missing = []
    for q in evalset.questions:
        for g in q.gold:
            if not any(g.matches(text, source) for source, text in chunks):
                missing.append({"id": q.id, **g.to_dict()})
    return missing
