"""Tight context: the sentences of the retrieved passages that bear on the question.

A small model answers better from a few relevant sentences than from several
whole passages, and every prompt token costs time before the first answer token
(prompt processing dominates latency on a CPU). So the retriever casts a wide
net (``top_k`` chunks) and this stage keeps, within a character budget, the
sentences that score best against the question: embedding similarity blended
with the share of the question's content words they contain. Each passage keeps
its selected sentences in document order ("…" marks a gap); passages with no
selected sentence are dropped. The passages' full texts stay available for
citation checking and for the user.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from rag.chunking import sentence_spans
from rag.citations import content_words
from rag.config import Settings
from rag.embeddings import Embedder
from rag.types import Hit

GAP = " … "


@dataclass
class ContextPassage:
    """A retrieved passage as the model sees it: an excerpt of selected sentences."""

    hit: Hit  # the full retrieved chunk
    excerpt: str
    spans: list[tuple[int, int]]  # selected sentences (offsets into the chunk text)

    def as_hit(self) -> Hit:
        """A copy of the hit whose text is the excerpt (for the prompt)."""
        chunk = dataclasses.replace(self.hit.chunk, text=self.excerpt)
        return Hit(chunk, self.hit.score, self.hit.rank)


@dataclass
class Retrieval:
    """The pipeline's retrieval stage for one query (`RagPipeline.retrieve_context`)."""

    candidates: list[Hit]  # the pool the context is selected from, rank order
    best_score: float  # best cosine among the candidates: what the refusal gate compares
    relevant: bool  # best_score reaches refusal_threshold (else no context is selected)
    context: list[ContextPassage]  # what the model reads, in prompt order
    retrieve_ms: float  # search + context selection


def question_overlap(question_words: set[str], sentence: str) -> float:
    """Share of the question's content words that occur in ``sentence``."""
    if not question_words:
        return 0.0
    return len(question_words & set(content_words(sentence))) / len(question_words)


def select_context(
    question: str,
    hits: list[Hit],
    embedder: Embedder,
    budget_chars: int,
    max_passages: int | None = None,
    *,
    semantic_weight: float = Settings.context_semantic_weight,
    score_drop: float = Settings.context_score_drop,
) -> list[ContextPassage]:
    """Pick the question's best sentences from ``hits`` within ``budget_chars``.

    ``budget_chars`` <= 0 keeps every passage whole (the pre-selection behaviour).
    The best sentence is always kept, even when it alone exceeds the budget. A
    sentence scores ``semantic_weight`` x embedding similarity + the rest x word
    overlap; sentences more than ``score_drop`` below the best are left out.
    """
    if budget_chars <= 0:
        whole = [ContextPassage(h, h.chunk.text, [(0, len(h.chunk.text))]) for h in hits]
        return whole[:max_passages] if max_passages else whole
    candidates: list[tuple[int, int, int]] = []  # (hit index, start, end)
    for i, hit in enumerate(hits):
        text = hit.chunk.text
        for span in sentence_spans(text) or []:
            if content_words(text[span.start : span.end]):
                candidates.append((i, span.start, span.end))
    if not candidates:
        return []
    texts = [hits[i].chunk.text[s:e] for i, s, e in candidates]
    vectors = embedder.encode_cached([question, *texts])
    semantic = vectors[1:] @ vectors[0]
    words = set(content_words(question))
    lexical = np.array([question_overlap(words, t) for t in texts])
    scores = semantic_weight * semantic + (1 - semantic_weight) * lexical

    chosen: dict[int, list[tuple[int, int]]] = {}
    used = 0
    floor = float(scores.max()) - score_drop
    seen: set[str] = set()
    for j in np.argsort(-scores, kind="stable"):
        i, start, end = candidates[j]
        if scores[j] < floor:
            break
        key = " ".join(texts[j].lower().split())
        if key in seen:  # the same sentence in an overlapping chunk
            continue
        cost = end - start + len(GAP)
        if chosen and used + cost > budget_chars:
            continue
        if i not in chosen and max_passages and len(chosen) >= max_passages:
            continue
        seen.add(key)
        chosen.setdefault(i, []).append((start, end))
        used += cost
    passages = []
    for i in sorted(chosen):
        text = hits[i].chunk.text
        spans = sorted(chosen[i])
        parts, prev_end = [], None
        for start, end in spans:
            if prev_end is not None:
                between = text[prev_end:start]
                parts.append(" " if not between.strip() else GAP)
            parts.append(text[start:end])
            prev_end = end
        if spans[0][0] > 0 and text[: spans[0][0]].strip():
            parts.insert(0, GAP.lstrip())
        if text[prev_end:].strip():
            parts.append(GAP.rstrip())
        passages.append(ContextPassage(hits[i], "".join(parts).strip(), spans))
    return passages


def retrieve_context(
    search: Callable[[str, int], list[Hit]], query: str, embedder: Embedder, settings: Settings
) -> Retrieval:
    """Search a pool of candidates, gate on the best cosine, select the context from it.

    The pool is ``context_pool`` chunks (at least ``top_k``) when the context is tight,
    else ``top_k``; below ``refusal_threshold`` no context is selected.
    """
    t0 = time.perf_counter()
    pool = max(settings.context_pool, settings.top_k) if settings.context_chars else 0
    candidates = search(query, pool or settings.top_k)
    # Hybrid ranks by fused score: the gate uses the best cosine among candidates.
    best = max((h.score for h in candidates), default=0.0)
    relevant = bool(candidates) and best >= settings.refusal_threshold
    context = []
    if relevant:
        context = select_context(
            query,
            candidates,
            embedder,
            settings.context_chars,
            settings.top_k,
            semantic_weight=settings.context_semantic_weight,
            score_drop=settings.context_score_drop,
        )
    retrieve_ms = round((time.perf_counter() - t0) * 1000, 1)
    return Retrieval(candidates, best, relevant, context, retrieve_ms)
