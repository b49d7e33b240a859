"""The one code path from a question to a checked, cited answer.

CLI, browser UI, evaluation harness and LangChain adapter all call
`RagPipeline.stream`: retrieve -> (refuse early if nothing is relevant) ->
select context sentences -> draft evidence first (rag/evidence.py) -> check the
claims against the named evidence (rag/checks.py) -> judge (rag/judge.py) ->
calibrated abstention (rag/calibration.py) -> answer or refusal with its reason.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rag.calibration import Calibration, answer_signals
from rag.checks import (
    ANSWER_CHECKS,
    CLAIM_CHECKS,
    Claim,
    closest_sentences,
    first_failure,
    make_draft,
    names,
    words_in_evidence,
)
from rag.citations import with_markers
from rag.config import Settings
from rag.context import Retrieval, retrieve_context
from rag.drafting import ContextOverflow, Reply, StreamEvent, stream_draft
from rag.embeddings import Embedder
from rag.evidence import evidence_schema, format_numbered_passages, number_context
from rag.generation import Generator, LlamaCppGenerator
from rag.judge import Judge
from rag.models import MODELS, ensure_model
from rag.prompt_safety import (
    clean_question,
    defuse_control_tokens,
    looks_like_refusal,
    prompt_safe_hits,
    prompt_safe_text,
)
from rag.prompting import REFUSAL_TEXT, build_evidence_messages
from rag.retrieval import DenseRetriever, make_retriever
from rag.store import IndexStore
from rag.types import Answer, AnswerSentence, Citation, ContextSentence, Hit


def _header(hit: Hit) -> str:
    """A passage's header in the prompt: its title (with date) and page."""
    return hit.chunk.title + (f", page {hit.chunk.page}" if hit.chunk.page else "")


class RagPipeline:
    """Retrieval-augmented, citation-verified question answering.

    Example::

        from rag import RagPipeline, Settings
        pipe = RagPipeline(Settings(model="smollm2-135m"))
        answer = pipe.ask("Which countries are the first recipients of Japan's OSA?")
        print(answer.answer, [c.title for c in answer.citations])
    """

    def __init__(
        self,
        settings: Settings | None = None,
        embedder: Embedder | None = None,
        generator: Generator | None = None,
        store: IndexStore | None = None,
    ):
        self.settings = settings or Settings.from_env()
        self.embedder = embedder or Embedder(
            self.settings.embedder, self.settings.embed_batch_size, cache=self.settings.model_cache
        )
        self._generator = generator
        self._store = store
        self._retriever: DenseRetriever | None = None
        share = self.settings.min_evidence_share
        self.claim_checks = [
            c if c is not words_in_evidence else functools.partial(c, min_share=share)
            for c in CLAIM_CHECKS
        ]
        self.answer_checks = list(ANSWER_CHECKS)
        self.calibration = Calibration.load(self.settings.calibration)
        self._judge: Judge | None = None
        self._names_by_document: dict[str, set[str]] = {}

    @property
    def judge(self) -> Judge | None:
        """The entailment judge (the generator itself), unless turned off."""
        if self.settings.judge_threshold <= 0:
            return None
        if self._judge is None:
            self._judge = Judge(self.generator)
        return self._judge

    # -- resources (loaded once, on first use) --------------------------------------
    @property
    def store(self) -> IndexStore:
        if self._store is None:
            self._store = IndexStore.load(self.settings.index_dir)
        return self._store

    def reload_index(self) -> None:
        """Pick up a newer index version (after an ingest)."""
        if self._store is not None:
            self._store.close()
        self._store = None
        self._retriever = None
        self._names_by_document.clear()

    @property
    def retriever(self) -> DenseRetriever:
        if self._retriever is None:
            self._retriever = make_retriever(self.store, self.embedder, self.settings)
        return self._retriever

    @property
    def generator(self) -> Generator:
        if self._generator is None:
            self._generator = make_generator(self.settings)
        return self._generator

    def warm_up(self) -> None:
        """Load index, embedder and model now (the model in a second thread).

        llama.cpp reads and repacks the weights in C with the GIL released while
        Python imports torch and loads the embedder: about a second less to ready
        on 2 cores (benchmarks/README.md, footprint).
        """
        _ = self.store  # fail fast (no index) before the slower model loads
        generator = self.generator  # resolves and verifies the model file here
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="load-model") as pool:
            model = pool.submit(generator.warm_up)
            try:
                self.embedder.warm_up()
                _ = self.retriever
            finally:
                model.result()  # re-raises a model loading error

    @property
    def model_name(self) -> str:
        return self._generator.name if self._generator else _model_label(self.settings.model)

    # -- answering --------------------------------------------------------------------
    def retrieve(self, question: str, k: int | None = None) -> list[Hit]:
        return self.retriever.search(question, k or self.settings.top_k)

    def retrieve_context(self, query: str) -> Retrieval:
        """The retrieval stage of `stream` (`rag.context.retrieve_context`), timed."""
        return retrieve_context(self.retrieve, query, self.embedder, self.settings)

    def ask(self, question: str) -> Answer:
        """Answer one question (no streaming)."""
        for event in self.stream(question):
            if event.kind == "answer":
                return event.answer
        raise RuntimeError("pipeline ended without an answer")  # pragma: no cover

    def stream(self, question: str, search_query: str | None = None) -> Iterator[StreamEvent]:
        """Yield token events as the model writes, then one final answer event.

        ``search_query`` (a standalone rewrite of a follow-up) is used for
        retrieval when given; the model still sees it as the question.
        """
        settings = self.settings
        started = time.perf_counter()
        question = clean_question(question)
        timings = {"retrieve_ms": 0.0, "first_token_ms": 0.0, "total_ms": 0.0}

        def finish(answer: Answer) -> StreamEvent:
            answer.timings["total_ms"] = round((time.perf_counter() - started) * 1000, 1)
            return StreamEvent("answer", answer=answer)

        if not question:
            yield finish(self._refusal(question, "the question is empty", timings, []))
            return
        if len(question) > settings.max_question_chars:
            reason = (
                f"the question is too long ({len(question):,} characters; "
                f"the limit is {settings.max_question_chars:,}) - please shorten it"
            )
            yield finish(self._refusal(question, reason, timings, []))
            return

        query = clean_question(search_query) if search_query else question
        if len(query) > settings.max_question_chars:  # a runaway rewrite: use the question
            query, search_query = question, None
        stage = self.retrieve_context(query)
        timings["retrieve_ms"] = stage.retrieve_ms
        candidates, best = stage.candidates, stage.best_score
        if not stage.relevant:
            reason = (
                f"no passage is relevant enough (best score {best:.2f} < threshold "
                f"{settings.refusal_threshold:.2f})"
            )
            searched = [_citation(i, h) for i, h in enumerate(candidates[: settings.top_k], 1)]
            answer = self._refusal(question, reason, timings, searched)
            answer.standalone_question = search_query
            yield finish(answer)
            return
        context = stage.context
        hits = [c.hit for c in context]  # full passages, numbered as in the prompt
        retrieved = [_citation(i, h) for i, h in enumerate(hits, start=1)]

        prompt_question = defuse_control_tokens(query)
        numbered = number_context(context, clean=prompt_safe_text)
        headers = [_header(h) for h in prompt_safe_hits(hits)]
        messages = build_evidence_messages(
            prompt_question, format_numbered_passages(headers, numbered)
        )
        schema = evidence_schema([s.id for s in numbered])
        usage = {"prompt_tokens": 0, "completion_tokens": 0}

        def refuse(reason: str, reply: Reply | None = None, sentences=None) -> StreamEvent:
            answer = self._refusal(
                question, reason, timings, retrieved, raw=reply.text if reply else "", usage=usage
            )
            answer.standalone_question = search_query
            answer.sentences = sentences or []
            answer.context = numbered
            answer.evidence = list(reply.evidence or []) if reply else []
            return finish(answer)

        try:
            reply = yield from stream_draft(
                self.generator, settings, messages, schema, numbered, usage, timings, started
            )
        except ContextOverflow as exc:
            yield refuse(
                "the question and passages do not fit the model's context window "
                f"({exc}) - please shorten the question or retrieve fewer passages"
            )
            return
        if reply.leaked:
            yield refuse("the model repeated its instructions instead of answering", reply)
            return
        if not reply.evidence or not reply.answer or looks_like_refusal(reply.answer):
            yield refuse("the model found no answer in the passages", reply)
            return

        # check: claims against the sentences the model named, then the whole draft
        documents = {i: self._document_names(h.chunk.doc_id) for i, h in enumerate(hits, 1)}
        draft = make_draft(reply.answer, reply.evidence, numbered, query, documents)
        named = [s for s in numbered if s.id in set(reply.evidence)]
        sentences = [self._checked(query, claim, numbered) for claim in draft.claims]
        supported = [s for s in sentences if s.supported]
        # the sentences the answer rests on: named, and any a claim was re-checked on
        found = {i for s in supported for i in s.evidence_ids} - set(reply.evidence)
        named += [s for s in numbered if s.id in found]
        reason = first_failure(self.answer_checks, query, draft, named)
        if reason is None and not supported:
            reason = "no sentence of the drafted answer is supported by its evidence: " + (
                sentences[0].reason if sentences else "it is empty"
            )
        if reason is None and not sentences[0].supported:
            # The first sentence is the answer; what follows is background, which
            # alone reads as an answer it is not ("Biden hosted the Quad in
            # Wilmington" for where he met Yunus: osa-heldout3 h3-071).
            reason = (
                "the sentence that answers the question is not supported by its evidence: "
                + sentences[0].reason
            )
        signals = answer_signals(query, [h.score for h in candidates], named, sentences)
        if reason is None and self.judge is not None:
            t_judge = time.perf_counter()
            signals.update(self.judge.signals(query, draft, named))
            timings["judge_ms"] = round((time.perf_counter() - t_judge) * 1000, 1)
            if signals["judge"] < settings.judge_threshold:
                reason = (
                    f"the judge finds the answer not stated by its evidence "
                    f"(p = {signals['judge']:.2f} < {settings.judge_threshold:.2f})"
                )
        confidence = self.calibration.confidence(signals) if self.calibration else None
        floor = settings.abstain_below
        if floor is None and self.calibration:
            floor = self.calibration.threshold
        if reason is None and confidence is not None and confidence < floor:
            reason = f"the answer is too likely wrong (confidence {confidence:.2f} < {floor:.2f})"
        if reason:
            refusal = refuse(reason, reply, sentences)
            refusal.answer.signals = signals
            refusal.answer.confidence = confidence
            yield refusal
            return

        # answer
        if settings.drop_unsupported:
            sentences = supported
        text = " ".join(with_markers(s.text, s.citations) for s in sentences)
        cited = sorted({n for s in sentences for n in s.citations})
        answer = Answer(
            question=question,
            answer=text,
            refused=False,
            citations=[retrieved[n - 1] for n in cited],
            sentences=sentences,
            timings=timings,
            model=self.model_name,
            raw_answer=reply.text,
            standalone_question=search_query,
            retrieved=retrieved,
            usage=usage,
            context=numbered,
            evidence=list(reply.evidence),
            confidence=confidence,
            signals=signals,
        )
        yield finish(answer)

    def _document_names(self, doc_id: str) -> set[str]:
        """The names of a whole indexed document (`rag.checks.names`), cached."""
        if doc_id not in self._names_by_document:
            self._names_by_document[doc_id] = names(self.store.document_text(doc_id))
        return self._names_by_document[doc_id]

    def _checked(
        self, question: str, claim: Claim, context: list[ContextSentence]
    ) -> AnswerSentence:
        """A claim as an answer sentence: supported unless a claim check fails.

        A claim its named evidence does not support is re-checked, with
        ``Settings.reground_claims``, against the closest single sentence the model
        read (a small model often names a neighbour of the sentence it used); it is
        supported only if every claim check passes on that one sentence.
        """
        reason = first_failure(self.claim_checks, question, claim, claim.evidence)
        if reason and self.settings.reground_claims:
            for sentence in closest_sentences(claim, context, question):
                if first_failure(self.claim_checks, question, claim, [sentence]) is None:
                    claim, reason = Claim(claim.text, [sentence.n], [sentence]), None
                    break
        spans: dict[int, tuple[int, int]] = {}
        for s in claim.evidence:
            spans.setdefault(s.n, (s.start, s.end))
        return AnswerSentence(
            text=claim.text,
            citations=claim.citations,
            support=0.0 if reason else 1.0,
            supported=reason is None,
            evidence=spans,
            evidence_ids=[s.id for s in claim.evidence],
            reason=reason,
        )

    def _refusal(
        self,
        question: str,
        reason: str,
        timings: dict,
        retrieved: list[Citation],
        raw: str = "",
        usage: dict | None = None,
    ) -> Answer:
        return Answer(
            question=question,
            answer=REFUSAL_TEXT,
            refused=True,
            citations=[],
            sentences=[],
            timings=timings,
            model=self.model_name,
            raw_answer=raw,
            refusal_reason=reason,
            retrieved=retrieved,
            usage=usage or {},
        )


def _citation(n: int, hit: Hit) -> Citation:
    c = hit.chunk
    return Citation(
        n=n,
        chunk_id=c.chunk_id,
        source=c.source,
        title=c.title,
        page=c.page,
        text=c.text,
        start=c.start,
        end=c.end,
        score=round(hit.score, 4),
    )


def _model_label(name_or_path: str) -> str:
    return name_or_path if name_or_path in MODELS else Path(name_or_path).name


def make_generator(settings: Settings) -> LlamaCppGenerator:
    """Locate (and verify) the configured model; loading happens on warm_up."""
    path = ensure_model(settings.model, settings.model_cache)
    return LlamaCppGenerator(
        path,
        name=_model_label(settings.model),
        n_ctx=settings.n_ctx,
        n_threads=settings.n_threads,
        n_threads_batch=settings.n_threads_batch,
        n_batch=settings.n_batch,
    )
