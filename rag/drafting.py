"""Draft: stream the model's evidence-first reply.

The model first names the sentences it relies on (JSON under a grammar, see
`rag.evidence`), then writes the answer. `stream_draft` yields an ``evidence``
event as soon as the ids are out, then the answer ``token`` events, and returns
the whole `Reply` for the checks.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

from rag.chunking import sentence_spans
from rag.config import Settings
from rag.evidence import EvidenceReader
from rag.generation import Generator
from rag.prompt_safety import leaks_system_prompt
from rag.prompting import REFUSAL_TEXT
from rag.types import Answer, ContextSentence


@dataclass
class StreamEvent:
    """A piece of a streamed answer: ``evidence``, then ``token`` text, then ``answer``.

    The ``evidence`` event carries the context sentences the model named, before
    it writes the answer (the UI highlights them at once).
    """

    kind: str  # "evidence" | "token" | "answer"
    text: str = ""
    answer: Answer | None = None
    evidence: list[ContextSentence] | None = None


def _context_overflow(exc: BaseException) -> bool:
    """llama.cpp's error for a prompt longer than the context window."""
    return isinstance(exc, ValueError) and "context window" in str(exc)


class ContextOverflow(Exception):
    """The prompt does not fit the model's context window."""


@dataclass
class Reply:
    """One evidence-first reply as streamed: raw JSON text, named ids, answer text."""

    text: str
    evidence: list[str]
    answer: str
    shown: bool  # some of the answer was streamed
    leaked: bool  # stopped: it repeated the system prompt


def stream_draft(
    generator: Generator,
    settings: Settings,
    messages: list[dict],
    schema: dict,
    numbered: list[ContextSentence],
    usage: dict,
    timings: dict,
    started: float,
) -> Iterator[StreamEvent]:
    """Stream one evidence-first reply: an evidence event, then answer tokens.

    The evidence is shown as soon as the model has named it. An empty evidence
    list ends the reply at once (a refusal: nothing else is worth decoding).
    Answer text that could still become the refusal sentence is held back, so a
    refusal is never shown half-written. Stops if the reply repeats the prompt.
    """
    reader = EvidenceReader()
    held = ""
    shown = leaked = stopped = False
    stream = generator.stream_chat(
        messages, settings.max_tokens, settings.temperature, schema=schema
    )
    try:
        for token in stream:
            evidence_before = reader.evidence
            new = reader.feed(token)
            if evidence_before is None and reader.evidence is not None:
                if not reader.evidence:
                    stopped = True
                    break
                named = set(reader.evidence)
                timings["evidence_ms"] = round((time.perf_counter() - started) * 1000, 1)
                yield StreamEvent("evidence", evidence=[s for s in numbered if s.id in named])
            if leaks_system_prompt(reader.answer):
                leaked = True  # stop at once: the rest is not streamed either
                break
            if not new:
                continue
            if len(sentence_spans(reader.answer)) > settings.max_answer_sentences:
                # the model runs on (greedy repetition): keep the first sentences only
                kept = sentence_spans(reader.answer)[settings.max_answer_sentences - 1]
                reader.answer = reader.answer[: kept.end]
                stopped = True
                break
            if not timings["first_token_ms"]:
                timings["first_token_ms"] = round((time.perf_counter() - started) * 1000, 1)
            held += new
            if not shown and REFUSAL_TEXT.startswith(reader.answer.strip()):
                continue
            shown = True
            yield StreamEvent("token", text=held)
            held = ""
    except ValueError as exc:
        if reader.text or not _context_overflow(exc):
            raise
        raise ContextOverflow(str(exc)) from exc
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()  # releases the generator's lock when we stopped early
    if leaked or stopped or not reader.done:  # stopped early: its stats are not this call's
        usage["completion_tokens"] += len(reader.text) // 4
    else:
        stats = generator.last_stats
        usage["prompt_tokens"] += stats.prompt_tokens
        usage["completion_tokens"] += stats.completion_tokens
    if leaked:  # what repeats the instructions is kept nowhere
        return Reply("", [], "", shown, leaked)
    return Reply(reader.text, reader.evidence or [], reader.answer.strip(), shown, leaked)
