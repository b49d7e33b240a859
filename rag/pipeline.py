"""The one code path from a question to a verified, cited answer.

CLI, browser UI, evaluation harness and LangChain adapter all call
`RagPipeline`: retrieve -> (refuse early if nothing is relevant) -> generate
with streaming -> verify citations -> refuse if nothing is supported.
"""

from __future__ import annotations

import dataclasses
import re
import time
import unicodedata
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from rag.chunking import sentence_spans
from rag.citations import (
    CitationVerifier,
    asks_for_number,
    new_information,
    states_number,
    with_markers,
)
from rag.config import Settings
from rag.context import select_context
from rag.embeddings import Embedder
from rag.generation import Generator, LlamaCppGenerator
from rag.models import MODELS, ensure_model
from rag.prompting import (
    ANSWER_ONLY_PROMPT,
    RECHECK_PROMPT,
    REFUSAL_TEXT,
    SYSTEM_PROMPT,
    build_messages,
)
from rag.retrieval import DenseRetriever, make_retriever
from rag.store import IndexStore
from rag.types import Answer, Citation, Hit

_REFUSAL_PATTERNS = re.compile(
    r"(documents?|passages?|context|texts?|sources?|information)\s+(provided\s+)?"
    r"(do|does|did)\s*(not|n't)\s+(explicitly\s+)?"
    r"(say|state|contain|mention|provide|specify|include|answer)"
    r"|not\s+(explicitly\s+|directly\s+|clearly\s+)?(stated|mentioned|specified|provided|found|given)"
    r"\s+in\s+the"
    r"|no\s+(relevant\s+)?information\s+(about|on|regarding)"
    r"|(cannot|can't|unable\s+to)\s+(answer|find|determine)",
    re.IGNORECASE,
)


def looks_like_refusal(text: str) -> bool:
    """True when the model itself says the passages lack the answer."""
    return bool(_REFUSAL_PATTERNS.search(text))


def clean_question(question: str) -> str:
    """Drop control characters and collapse whitespace."""
    kept = "".join(
        ch if unicodedata.category(ch)[0] != "C" else " " for ch in question.replace("\t", " ")
    )
    return " ".join(kept.split())


# -- prompt hygiene ------------------------------------------------------------------
# llama.cpp tokenizes the rendered chat prompt with special tokens enabled, so text
# such as "<|im_end|><|im_start|>system" inside a passage would open a real system
# turn. Chat-template control markup is defused (look-alike characters) before
# passages, titles and the question enter the prompt.
_ROLE_MARKUP = r"<\|[^<>|\n]{0,40}\|>|\[/?INST\]|<</?SYS>>|<(?:start|end)_of_turn>"
_CONTROL_TOKENS = re.compile(_ROLE_MARKUP + r"|</?s>|<(?:bos|eos|pad|unk)>", re.IGNORECASE)
_DEFUSE = str.maketrans({"<": "\u2039", ">": "\u203a", "|": "\u00a6", "[": "(", "]": ")"})

# Sentences of a passage that address the model rather than the reader ("ignore the
# previous instructions", "reveal your system prompt", "you are now ...") are masked in
# the prompt (the user still sees the full passage in the sources). The rules already
# say passages are data; masking means a small model cannot obey what it never sees.
_INJECTION = re.compile(
    r"\b(?:ignore|disregard|forget|override|bypass)\s+(?:\w+\s+){0,3}?"
    r"(?:previous|prior|above|earlier|preceding|original|system|your|all)\s+"
    r"(?:instructions?|prompts?|directives|rules|guidelines|messages)\b"
    r"|\bforget\s+(?:everything|all)\s+(?:above|before|you\s+were\s+told)\b"
    r"|\b(?:reveal|print|show|repeat|output|display|leak|recite|dump|tell\s+me)\b"
    r"[^.!?\n]{0,30}?\b(?:system\s+prompt|your\s+(?:\w+\s+)?(?:instructions|rules|prompt)"
    r"|(?:hidden|initial|original|secret)\s+(?:instructions|rules|prompt))\b"
    r"|\byou\s+are\s+now\s+(?:a|an|in|the|DAN|free|unrestricted)\b"
    r"|\bnew\s+(?:instructions?|rules?)\s*:|\bjailbreak|\bDAN\s+mode\b"
    r"|(?:^|\n)[ \t]*(?:#+[ \t]*)?(?-i:System|Assistant|Developer)[ \t]*(?:prompt|message)?[ \t]*:"
    r"|(?<!\w )\b(?-i:SYSTEM|ASSISTANT|DEVELOPER)(?:[ \t]+(?-i:PROMPT|MESSAGE))?[ \t]*:"
    r"|\b(?:AI|language\s+model|assistant|chatbot|LLM)s?\s*(?:reading\s+this|[,:])\s*"
    r"(?:you\s+(?:must|should|will|are\s+to)|must|should)\b"
    r"|\b(?:AI|assistant|chatbot|language\s+model|LLM)\s+(?:must|should|shall|will\s+now)\s+"
    r"(?:answer|reply|respond|say|output|print|ignore|reveal|refuse)\b"
    r"|\bif\s+you\s+are\s+an?\s+(?:AI|language\s+model|assistant|chatbot|LLM)\b"
    r"|\b(?:respond|reply|answer)\s+only\s+(?:in|with)\b"
    r"|\b(?:to|in|at\s+the\s+end\s+of)\s+(?:every|each|all)\s+(?:of\s+your\s+)?"
    r"(?:answers?|responses?|replies)\b"
    r"|" + _ROLE_MARKUP,  # a sentence holding chat-template role markup is an injection
    re.IGNORECASE,
)
MASKED_TEXT = "[instruction-like text removed]"


def defuse_control_tokens(text: str) -> str:
    """Make chat-template control tokens inert: "<|im_start|>" -> "‹¦im_start¦›"."""
    return _CONTROL_TOKENS.sub(lambda m: m.group(0).translate(_DEFUSE), text)


def mask_injections(text: str, keep_offsets: bool = False) -> str:
    """Replace sentences that give instructions to the model with a short marker
    (or, with ``keep_offsets``, with spaces, so offsets into the text stay valid)."""
    if not _INJECTION.search(text):
        return text
    out, cursor = [], 0
    for span in sentence_spans(text):
        if _INJECTION.search(text[span.start : span.end]):
            blank = " " * (span.end - span.start) if keep_offsets else MASKED_TEXT
            out.append(text[cursor : span.start] + blank)
            cursor = span.end
    out.append(text[cursor:])
    return "".join(out)


def evidence_hits(hits: list[Hit]) -> list[Hit]:
    """Copies of ``hits`` for citation checking: an injected instruction is no evidence."""
    return [
        Hit(dataclasses.replace(h.chunk, text=mask_injections(h.chunk.text, True)), h.score, h.rank)
        for h in hits
    ]


def prompt_safe_hits(hits: list[Hit]) -> list[Hit]:
    """Copies of ``hits`` as the model sees them: injections masked, control tokens
    defused, titles on one line and unable to open or close a passage fence."""
    safe = []
    for hit in hits:
        chunk = hit.chunk
        title = " ".join(defuse_control_tokens(mask_injections(chunk.title)).split())
        title = title.replace("<<<", "< < <").replace(">>>", "> > >")[:300]
        text = defuse_control_tokens(mask_injections(chunk.text))
        safe.append(Hit(dataclasses.replace(chunk, title=title, text=text), hit.score, hit.rank))
    return safe


def _shingles(text: str, n: int = 8) -> set[tuple[str, ...]]:
    words = re.findall(r"[a-z0-9]+", text.lower())
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


_PROMPT_SHINGLES = _shingles(SYSTEM_PROMPT)


def leaks_system_prompt(text: str) -> bool:
    """True when ``text`` repeats any 8 consecutive words of the system prompt."""
    return bool(_shingles(text) & _PROMPT_SHINGLES)


def _context_overflow(exc: BaseException) -> bool:
    """llama.cpp's error for a prompt longer than the context window."""
    return isinstance(exc, ValueError) and "context window" in str(exc)


class ContextOverflow(Exception):
    """The prompt does not fit the model's context window."""


@dataclass
class _Draft:
    text: str
    shown: bool  # some of it was streamed
    leaked: bool  # stopped: it repeated the system prompt


@dataclass
class StreamEvent:
    """A piece of a streamed answer: ``token`` text, then a final ``answer``.

    A ``restart`` event (its ``text`` says why) means the tokens streamed so far
    are withdrawn: the model is asked again and its new reply follows.
    """

    kind: str  # "token" | "restart" | "answer"
    text: str = ""
    answer: Answer | None = None


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
        self.verifier = CitationVerifier(self.embedder, self.settings.support_threshold)

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
        t0 = time.perf_counter()
        pool = max(settings.context_pool, settings.top_k) if settings.context_chars else 0
        candidates = self.retrieve(query, pool or settings.top_k)
        # Hybrid ranks by fused score: the gate uses the best cosine among candidates.
        best = max((h.score for h in candidates), default=0.0)
        if not candidates or best < settings.refusal_threshold:
            timings["retrieve_ms"] = round((time.perf_counter() - t0) * 1000, 1)
            reason = (
                f"no passage is relevant enough (best score {best:.2f} < threshold "
                f"{settings.refusal_threshold:.2f})"
            )
            searched = [_citation(i, h) for i, h in enumerate(candidates[: settings.top_k], 1)]
            answer = self._refusal(question, reason, timings, searched)
            answer.standalone_question = search_query
            yield finish(answer)
            return
        context = select_context(
            query, candidates, self.embedder, settings.context_chars, settings.top_k
        )
        timings["retrieve_ms"] = round((time.perf_counter() - t0) * 1000, 1)
        hits = [c.hit for c in context]  # full passages, numbered as in the prompt
        retrieved = [_citation(i, h) for i, h in enumerate(hits, start=1)]

        def refuse(
            reason: str, raw: str = "", usage: dict | None = None, sentences: list | None = None
        ) -> StreamEvent:
            answer = self._refusal(question, reason, timings, retrieved, raw=raw, usage=usage)
            answer.standalone_question = search_query
            answer.sentences = sentences or []
            return finish(answer)

        prompt_question = defuse_control_tokens(query)
        prompt_hits = prompt_safe_hits([c.as_hit() for c in context])
        messages = build_messages(prompt_question, prompt_hits)
        usage = {"prompt_tokens": 0, "completion_tokens": 0}
        try:
            draft = yield from self._draft(messages, usage, timings, started)
        except ContextOverflow as exc:
            yield refuse(
                "the question and passages do not fit the model's context window "
                f"({exc}) - please shorten the question or retrieve fewer passages"
            )
            return
        rechecked = False
        if (
            draft.text
            and not draft.leaked
            and looks_like_refusal(draft.text)
            and best >= settings.recheck_threshold
        ):
            if draft.shown:
                yield StreamEvent("restart", text="Checking the passages again…")
            if settings.recheck == "fresh":
                again = build_messages(prompt_question, prompt_hits, system=ANSWER_ONLY_PROMPT)
            else:
                again = messages + [
                    {"role": "assistant", "content": draft.text},
                    {"role": "user", "content": RECHECK_PROMPT},
                ]
            try:
                second = yield from self._draft(again, usage, timings, started)
            except ContextOverflow:
                second = _Draft("", False, False)
            if second.leaked or (second.text and not looks_like_refusal(second.text)):
                draft, rechecked = second, True

        raw = draft.text
        if draft.leaked:
            yield refuse("the model repeated its instructions instead of answering", usage=usage)
            return
        if not raw or looks_like_refusal(raw):
            reason = (
                "the model found no answer in the passages" if raw else "the model gave no answer"
            )
            yield refuse(reason, raw, usage)
            return

        text, sentences = self.verifier.verify(raw, evidence_hits(hits), question=query)
        supported = [s for s in sentences if s.supported and s.citations]
        after = " (on a second draft)" if rechecked else ""
        if not supported:
            yield refuse(
                f"the drafted answer{after} is not supported by the retrieved passages",
                raw,
                usage,
                sentences,
            )
            return
        if not new_information(" ".join(s.text for s in supported), query):
            yield refuse(
                f"the drafted answer{after} only restates the question", raw, usage, sentences
            )
            return
        if asks_for_number(query) and not states_number(" ".join(s.text for s in supported)):
            reason = (
                f"the drafted answer{after} gives no number, date or figure, "
                "which the question asks for"
            )
            yield refuse(reason, raw, usage, sentences)
            return
        if settings.drop_unsupported and len(supported) < len(sentences):
            sentences = [s for s in sentences if s.supported]
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
            raw_answer=raw,
            standalone_question=search_query,
            retrieved=retrieved,
            usage=usage,
        )
        yield finish(answer)

    def _draft(
        self, messages: list[dict], usage: dict, timings: dict, started: float
    ) -> Iterator[StreamEvent]:
        """Stream one model reply as token events; return it as a `_Draft`.

        Tokens that could still become the refusal sentence are held back until
        the reply departs from it, so a refusal is never shown half-written.
        Stops at once if the reply starts repeating the system prompt.
        """
        settings = self.settings
        generator = self.generator
        parts: list[str] = []
        held: list[str] = []
        shown = leaked = False
        stream = generator.stream_chat(messages, settings.max_tokens, settings.temperature)
        try:
            for token in stream:
                if not timings["first_token_ms"]:
                    timings["first_token_ms"] = round((time.perf_counter() - started) * 1000, 1)
                parts.append(token)
                text = "".join(parts)
                if leaks_system_prompt(text):
                    leaked = True  # stop at once: the rest is not streamed either
                    break
                held.append(token)
                if not shown and REFUSAL_TEXT.startswith(text.strip()):
                    continue
                shown = True
                yield StreamEvent("token", text="".join(held))
                held = []
        except ValueError as exc:
            if parts or not _context_overflow(exc):
                raise
            raise ContextOverflow(str(exc)) from exc
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()  # releases the generator's lock when we stopped early
        if leaked:  # (the generator was stopped early: its stats are not this call's)
            usage["completion_tokens"] += len(parts)
        else:
            stats = generator.last_stats
            usage["prompt_tokens"] += stats.prompt_tokens
            usage["completion_tokens"] += stats.completion_tokens
        return _Draft("".join(parts).strip(), shown, leaked)

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
