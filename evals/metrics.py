"""Metric functions: pure, on plain data, one per definition in evals/README.md.

- Retrieval: recall@k, MRR@10, nDCG@10 over gold passages (computed with ir-measures).
- Answer: SQuAD-normalised exact match and token F1 against the best gold answer,
  answer containment, keyword accuracy.
- Citations: ALCE citation recall and precision for any entailment function.
- Refusal: refusal rates on unanswerable and answerable questions.
- Cost: p50 / p95 of latencies and token counts.

A metric that does not apply to a question (no gold answer, a refused answer
for citation metrics, ...) is ``None`` and left out of the averages.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

import numpy as np

# -- answer metrics (SQuAD v2 official definitions) --------------------------------------

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCT = set(string.punctuation) | {"\u2019", "\u2018", "\u201c", "\u201d", "\u2013", "\u2014"}
_MARKERS = re.compile(r"\s*\[\d+(?:\s*[,;-]\s*\d+)*\]")


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lowercase, drop punctuation and articles, collapse spaces."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCT)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def strip_citations(text: str) -> str:
    """Remove ``[n]`` citation markers from an answer."""
    return " ".join(_MARKERS.sub("", text or "").split())


def _tokens(text: str) -> list[str]:
    return normalize_answer(text).split()


def exact_match(prediction: str, golds: Sequence[str]) -> float | None:
    """1.0 when the normalised prediction equals any normalised gold answer."""
    golds = [g for g in golds if g.strip()]
    if not golds:
        return None
    pred = normalize_answer(prediction)
    return float(any(pred == normalize_answer(g) for g in golds))


def _f1(pred_tokens: list[str], gold_tokens: list[str]) -> float:
    if not pred_tokens or not gold_tokens:
        return float(pred_tokens == gold_tokens)
    common = Counter(pred_tokens) & Counter(gold_tokens)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision = same / len(pred_tokens)
    recall = same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def token_f1(prediction: str, golds: Sequence[str]) -> float | None:
    """SQuAD token F1: the best F1 of the prediction's bag of words against any gold answer."""
    golds = [g for g in golds if g.strip()]
    if not golds:
        return None
    pred = _tokens(prediction)
    return max(_f1(pred, _tokens(g)) for g in golds)


def contains_answer(prediction: str, golds: Sequence[str]) -> float | None:
    """1.0 when any normalised gold answer occurs (as whole words) in the normalised prediction."""
    golds = [g for g in golds if normalize_answer(g)]
    if not golds:
        return None
    pred = f" {normalize_answer(prediction)} "
    return float(any(f" {normalize_answer(g)} " in pred for g in golds))


def keyword_scores(prediction: str, keywords: Sequence[str]) -> tuple[float | None, float | None]:
    """(all keywords present: 0/1, share of keywords present); ``None`` without keywords."""
    keywords = [k for k in keywords if normalize_answer(k)]
    if not keywords:
        return None, None
    pred = f" {normalize_answer(prediction)} "
    hits = [f" {normalize_answer(k)} " in pred for k in keywords]
    return float(all(hits)), sum(hits) / len(hits)


def answer_scores(
    prediction: str, refused: bool, answers: Sequence[str], keywords: Sequence[str] = ()
) -> dict[str, float | None]:
    """All answer metrics for one question; a refusal is scored as the empty answer."""
    pred = "" if refused else strip_citations(prediction)
    kw_all, kw_share = keyword_scores(pred, keywords)
    return {
        "em": exact_match(pred, answers),
        "f1": token_f1(pred, answers),
        "contains": contains_answer(pred, answers),
        "keywords_all": kw_all,
        "keywords_share": kw_share,
    }


# -- follow-up rewriting ------------------------------------------------------------------

_WORD = re.compile(r"[a-z0-9]+(?:['.\-][a-z0-9]+)*")
_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'"})
_AUX = {"did", "does", "do", "get", "got"}  # asked with, not asked about


def content_words(text: str) -> set[str]:
    """Lowercased words minus stop words; possessive 's and plural -s/-ies are undone."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    words = set()
    for word in _WORD.findall((text or "").lower().translate(_QUOTES)):
        word = word.removesuffix("'s").strip(".")
        if not word or word in ENGLISH_STOP_WORDS or word in _AUX:
            continue
        if len(word) > 4 and word.endswith("ies"):
            word = word[:-3] + "y"
        elif len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        words.add(word)
    return words


def query_keyword_recall(query: str, standalone: str | None) -> float | None:
    """Share of the standalone question's content words found in the search query.

    ``None`` without a reference standalone question (or one with no content words).
    """
    wanted = content_words(standalone or "")
    if not wanted:
        return None
    return len(wanted & content_words(query)) / len(wanted)


# -- retrieval metrics (ir-measures) ----------------------------------------------------


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


# -- citation metrics (ALCE) --------------------------------------------------------------

Entails = Callable[[str, str], bool]


def join_passages(texts: Iterable[str]) -> str:
    return "\n\n".join(texts)


def citation_scores(
    sentences: Sequence[tuple[str, Sequence[int]]],
    passages: dict[int, str],
    entails: Entails,
) -> dict[str, float | int] | None:
    """ALCE citation recall and precision of one answer (Gao et al., 2023).

    ``sentences`` are ``(text, cited passage numbers)``; ``passages`` maps a
    number to its text; ``entails(premise, claim)`` is the support judge.

    - A sentence is *supported* when the concatenation of its cited passages
      entails it (a sentence without citations is unsupported).
      Recall = supported sentences / sentences.
    - A citation is *correct* when its sentence is supported and the citation is
      needed: it entails the sentence alone, or the sentence's other citations
      without it do not. Precision = correct citations / citations.

    Entailment is assumed monotone (more passages never remove support), so the
    joint and leave-one-out checks are skipped when a single passage already
    decides them; the result equals ALCE's procedure under that assumption.
    Returns ``None`` when there is no sentence to score.
    """
    sentences = [(t, list(dict.fromkeys(c))) for t, c in sentences if t.strip()]
    if not sentences:
        return None
    supported = correct = total = 0
    for text, refs in sentences:
        total += len(refs)
        if not refs or any(n not in passages for n in refs):
            continue
        if len(refs) == 1:
            ok = entails(passages[refs[0]], text)
            supported += ok
            correct += ok
            continue
        single = {n: entails(passages[n], text) for n in refs}
        joint = any(single.values()) or entails(join_passages(passages[n] for n in refs), text)
        if not joint:
            continue
        supported += 1
        # Leave-one-out from the last citation backwards: consecutive prompts then share
        # the longest prefix with the joint check (a cheaper prompt cache for an LLM judge).
        for n in reversed(refs):
            if single[n]:
                correct += 1
                continue
            others = [m for m in refs if m != n]
            rest = any(single[m] for m in others) or entails(
                join_passages(passages[m] for m in others), text
            )
            correct += not rest
    return {
        "citation_recall": supported / len(sentences),
        "citation_precision": correct / total if total else 0.0,
        "sentences": len(sentences),
        "citations": total,
    }


# -- aggregation --------------------------------------------------------------------------


def mean(values: Iterable[float | None]) -> float | None:
    kept = [float(v) for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None


def percentile(values: Iterable[float | None], q: float) -> float | None:
    kept = [float(v) for v in values if v is not None]
    return float(np.percentile(kept, q)) if kept else None


def refusal_scores(records: Sequence[dict]) -> dict[str, float | None]:
    """Refusal rates from records with ``answerable`` and ``refused``.

    ``negative_rejection``: share of unanswerable questions refused (higher is better).
    ``false_refusal``: share of answerable questions refused (lower is better).
    """
    unans = [r["refused"] for r in records if not r["answerable"]]
    ans = [r["refused"] for r in records if r["answerable"]]
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
    ("query_keyword_recall", "Query keyword recall (follow-ups)", True),
)


def summarize(records: Sequence[dict], k: int) -> dict:
    """Aggregate per-question records of one system into its summary metrics."""
    out: dict[str, float | int | None] = {"questions": len(records), "k": k}
    for key, _, _ in QUALITY_METRICS:
        if key not in ("negative_rejection", "false_refusal"):
            out[key] = mean(r["metrics"].get(key) for r in records)
    out.update(refusal_scores(records))
    for key in ("em", "recall@k", "keywords_all", "citation_recall_llm", "citation_recall_lex",
                "query_keyword_recall"):  # fmt: skip
        out[f"n_{key}"] = sum(1 for r in records if r["metrics"].get(key) is not None)
    out["n_answerable"] = sum(1 for r in records if r["answerable"])
    out["n_unanswerable"] = sum(1 for r in records if not r["answerable"])
    out["answered"] = sum(1 for r in records if not r["refused"])
    out.update(cost_scores([r["timings"] for r in records]))
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


def summarize_retrieval(records: Sequence[dict], k: int, refusal_threshold: float) -> dict:
    """Aggregate retrieval-only records (no generator): ranking metrics, scores, latency.

    ``early_refusal_*`` is the share of questions whose best passage scores below
    ``refusal_threshold``, i.e. that the pipeline would refuse before generating;
    the threshold is calibrated for one embedder's cosine scale, so these show how
    well it transfers to another.
    """
    out: dict[str, float | int | None] = {"questions": len(records), "k": k}
    for key in ("recall@k", "recall@5", "recall@10", "mrr@10", "ndcg@10"):
        out[key] = mean(r["metrics"].get(key) for r in records)
    out["n_recall@k"] = sum(1 for r in records if r["metrics"].get("recall@k") is not None)
    out["n_answerable"] = sum(1 for r in records if r["answerable"])
    out["n_unanswerable"] = sum(1 for r in records if not r["answerable"])
    out["refusal_threshold"] = refusal_threshold
    for name, answerable in (("answerable", True), ("unanswerable", False)):
        scores = [r["top_score"] for r in records if r["answerable"] is answerable]
        out[f"early_refusal_{name}"] = mean(
            float(s is None or s < refusal_threshold) for s in scores
        )
        out[f"top_score_{name}_p50"] = percentile(scores, 50)
    out["retrieve_ms_p50"] = percentile((r["timings"].get("retrieve_ms") for r in records), 50)
    out["retrieve_ms_p95"] = percentile((r["timings"].get("retrieve_ms") for r in records), 95)
    return out
