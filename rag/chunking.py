"""Split documents into overlapping passages on sentence boundaries.

Sentences are found with a small rule set (abbreviation-aware) that keeps
character offsets, so every chunk's ``text`` equals ``document.text[start:end]``.
Sentences are packed greedily up to ``chunk_size`` characters; the next chunk
repeats trailing sentences worth up to ``chunk_overlap`` characters. A chunk
never crosses a PDF page boundary, so each chunk has one page number.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from rag.types import Chunk, Document

_ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "no", "vs", "etc", "e.g", "i.e",
    "gen", "col", "lt", "sgt", "gov", "sen", "rep", "amb", "inc", "ltd", "co", "corp",
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
    "fig", "p", "pp", "approx", "dept", "est",
}  # fmt: skip

# Candidate ends: terminal punctuation (plus closing quotes/brackets) then space.
_SENTENCE_END = re.compile(r"[.!?]+[\"'”’)\]]*(?=\s)")
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n|\n")


@dataclass(frozen=True)
class Span:
    start: int
    end: int


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[Span]:
    """Sentence spans (offsets into ``text``), whitespace trimmed, in order."""
    end = len(text) if end is None else end
    spans: list[Span] = []
    # Paragraphs and lines are hard boundaries.
    pos = start
    for brk in _PARAGRAPH_BREAK.finditer(text, start, end):
        spans.extend(_split_block(text, pos, brk.start()))
        pos = brk.end()
    spans.extend(_split_block(text, pos, end))
    return spans


def _split_block(text: str, start: int, end: int) -> list[Span]:
    spans = []
    pos = start
    for match in _SENTENCE_END.finditer(text, start, end):
        if _is_abbreviation(text, start, match.start()):
            continue
        nxt = _next_non_space(text, match.end(), end)
        if nxt < end and text[nxt].islower():
            continue  # "approx. five" is not a sentence end
        spans.append(Span(pos, match.end()))
        pos = match.end()
    spans.append(Span(pos, end))
    return [s for s in (_trim(text, sp) for sp in spans) if s is not None]


def _is_abbreviation(text: str, block_start: int, dot: int) -> bool:
    if text[dot] != ".":
        return False
    word_start = dot
    while word_start > block_start and not text[word_start - 1].isspace():
        word_start -= 1
    word = text[word_start:dot].strip("(\"'“‘").lower()
    word = word.rsplit("-", 1)[-1]  # "Japan-ROK-U.S." ends in the initialism "U.S."
    if word in _ABBREVIATIONS:
        return True
    # Initialisms such as "U.S." or "U.K." and single initials such as "J."
    return bool(re.fullmatch(r"(?:[a-z]\.)*[a-z]", word))


def _next_non_space(text: str, pos: int, end: int) -> int:
    while pos < end and text[pos].isspace():
        pos += 1
    return pos


def _trim(text: str, span: Span) -> Span | None:
    s, e = span.start, span.end
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    return Span(s, e) if e > s else None


def _split_long(text: str, span: Span, size: int) -> list[Span]:
    """Cut an over-long sentence at whitespace into pieces of at most ``size``."""
    pieces = []
    s = span.start
    while span.end - s > size:
        cut = text.rfind(" ", s + size // 2, s + size)
        cut = cut if cut > s else s + size
        pieces.append(Span(s, cut))
        s = cut
        while s < span.end and text[s].isspace():
            s += 1
    if s < span.end:
        pieces.append(Span(s, span.end))
    return pieces


def doc_id_for(source: str) -> str:
    """Stable document id from its identity (the source path)."""
    return hashlib.sha1(source.encode("utf-8")).hexdigest()[:12]


def chunk_id_for(doc_id: str, position: int, text: str) -> str:
    """Stable chunk id: document identity + position + text hash."""
    digest = hashlib.sha1(text.encode("utf-8")).hexdigest()[:8]
    return f"{doc_id}-{position:04d}-{digest}"


def chunk_document(
    document: Document, chunk_size: int = 700, chunk_overlap: int = 120
) -> list[Chunk]:
    """Split ``document`` into `Chunk`s that respect sentence and page boundaries."""
    text = document.text
    bounds = document.page_starts or [0]
    regions = list(zip(bounds, [*bounds[1:], len(text)], strict=True))
    sentences: list[tuple[Span, int]] = []  # (span, region index)
    for region, (rs, re_) in enumerate(regions):
        for sp in sentence_spans(text, rs, re_):
            sentences.extend((piece, region) for piece in _split_long(text, sp, chunk_size))

    doc_id = doc_id_for(document.source)
    chunks: list[Chunk] = []
    i = 0
    while i < len(sentences):
        region = sentences[i][1]
        j = i
        while (
            j + 1 < len(sentences)
            and sentences[j + 1][1] == region
            and sentences[j + 1][0].end - sentences[i][0].start <= chunk_size
        ):
            j += 1
        start, end = sentences[i][0].start, sentences[j][0].end
        body = text[start:end]
        position = len(chunks)
        chunks.append(
            Chunk(
                chunk_id=chunk_id_for(doc_id, position, body),
                doc_id=doc_id,
                source=document.source,
                title=document.title,
                text=body,
                start=start,
                end=end,
                page=document.page_at(start),
                position=position,
            )
        )
        if j + 1 >= len(sentences):
            break
        # Step back over trailing sentences for overlap, but always move forward.
        k = j + 1
        while (
            k - 1 > i
            and sentences[k - 1][1] == sentences[j + 1][1]
            and end - sentences[k - 1][0].start <= chunk_overlap
        ):
            k -= 1
        i = k
    return chunks
