"""Metric functions: pure, on plain data, one per definition in evals/README.md.

- Retrieval: recall@k, MRR@10, nDCG@10 over gold passages (computed with ir-measures).
- Answer: SQuAD-normalised exact match and token F1 against the best gold answer,
  answer containment, keyword accuracy.
- Citations: ALCE citation recall and precision for any entailment function.
- Refusal: refusal rates on unanswerable and answerable questions.
- Outcomes: confidently wrong answers, context recall (a gold quote in what the
  model read), risk-coverage and AUROC of the abstention score.
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


# -- outcomes: wrong answers, what the model read, abstention -----------------------------

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


def abstention_items(records: Sequence[dict]) -> list[AbstentionItem]:
    """Items of records with ``answerable``, ``refused``, ``abstention_score``, ``metrics``;
    answered questions whose correctness cannot be told are left out."""
    items = []
    for r in records:
        wrong = answer_wrong(r["answerable"], r["refused"], r["metrics"])
        if not r["refused"] and wrong is None:
            continue
        items.append((r["answerable"], r["refused"], r.get("abstention_score"), wrong))
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
    ("confidently_wrong", "Confidently wrong (answered and wrong, share of all)", False),
    ("context_recall", "Context recall (gold quote in what the model read)", True),
    ("query_keyword_recall", "Query keyword recall (follow-ups)", True),
)


def summarize(records: Sequence[dict], k: int) -> dict:
    """Aggregate per-question records of one system into its summary metrics."""
    out: dict[str, float | int | None] = {"questions": len(records), "k": k}
    wrongs = [confidently_wrong(r["answerable"], r["refused"], r["metrics"]) for r in records]
    for key, _, _ in QUALITY_METRICS:
        if key not in ("negative_rejection", "false_refusal", "confidently_wrong"):
            out[key] = mean(r["metrics"].get(key) for r in records)
    out.update(refusal_scores(records))
    out["confidently_wrong"] = mean(wrongs)  # from the answer metrics: older runs get it too
    out["n_confidently_wrong"] = sum(1 for w in wrongs if w is not None)
    for key in ("em", "recall@k", "keywords_all", "citation_recall_llm", "citation_recall_lex",
                "query_keyword_recall", "context_recall"):  # fmt: skip
        out[f"n_{key}"] = sum(1 for r in records if r["metrics"].get(key) is not None)
    out["context_fallback"] = sum(1 for r in records if r.get("context_from") == "fallback")
    items = abstention_items(records)
    out.update(abstention_auroc(items))
    out["risk_coverage"] = risk_coverage(items)
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
