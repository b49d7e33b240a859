"""Evidence first: numbered context sentences, a grammar for the reply, a streaming reader.

The model reads the selected sentences numbered ``passage.sentence`` ("2.3") and
replies with one JSON object whose first field names the sentences it relies on
and whose second field is the answer::

    {"evidence": ["2.3", "1.1"], "answer": "Japan gave the Philippines ... [2]."}

llama.cpp constrains the reply to a JSON schema whose evidence items are an
``enum`` of the ids actually shown, so the format never breaks and the model
cannot name a sentence it did not read. An empty evidence list is a refusal.
`EvidenceReader` parses the reply as it streams: the evidence ids as soon as
their list closes (the UI highlights them before the answer starts), then the
answer text piece by piece.

Example::

    reader = EvidenceReader()
    for piece in ['{"evidence": ["1.2"', '], "answer": "Fiji', ' [1]."}']:
        reader.feed(piece)
    reader.evidence, reader.answer   # (['1.2'], 'Fiji [1].')
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from rag.chunking import sentence_spans
from rag.context import ContextPassage
from rag.types import ContextSentence

MAX_EVIDENCE = 4  # ids the model may name: a few sentences answer a short question
# At least one id: given an empty list as a way out, the 1.5B model took it for
# every question, answerable or not; the checks and the judge decide instead.
MIN_EVIDENCE = 1


def number_context(
    passages: list[ContextPassage], clean: Callable[[str], str] = lambda text: text
) -> list[ContextSentence]:
    """The sentences the model reads, numbered ``n.s`` (passage n, sentence s).

    ``clean`` makes a passage text safe for the prompt without moving offsets
    (masked injections become blanks and are skipped).
    """
    numbered: list[ContextSentence] = []
    for n, passage in enumerate(passages, start=1):
        text = clean(passage.hit.chunk.text)
        title = passage.hit.chunk.title
        s = 0
        for start, end in passage.spans:
            for span in sentence_spans(text, start, end):
                sentence = " ".join(text[span.start : span.end].split())
                if not sentence:
                    continue
                s += 1
                numbered.append(
                    ContextSentence(f"{n}.{s}", n, sentence, span.start, span.end, title)
                )
    return numbered


def evidence_schema(ids: list[str]) -> dict:
    """JSON schema of the reply: evidence ids (an enum of those shown), then the answer."""
    items: dict = {"type": "string", "enum": ids} if ids else {"type": "string"}
    return {
        "type": "object",
        "properties": {
            "evidence": {
                "type": "array",
                "items": items,
                "minItems": MIN_EVIDENCE,
                "maxItems": MAX_EVIDENCE,
            },
            "answer": {"type": "string"},
        },
        "required": ["evidence", "answer"],
    }


_EVIDENCE_LIST = re.compile(r'^\s*\{\s*"evidence"\s*:\s*\[(.*?)\]', re.DOTALL)
_ANSWER_START = re.compile(r'"answer"\s*:\s*"')
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def _is_hex(text: str) -> bool:
    return len(text) == 4 and all(c in "0123456789abcdefABCDEF" for c in text)


def _decode_partial(raw: str) -> tuple[str, bool]:
    """Decode the JSON string body ``raw`` as far as it is complete.

    Returns the text and whether the closing quote was reached. An escape cut
    off by the end of ``raw`` is left for the next call.
    """
    out: list[str] = []
    i = 0
    while i < len(raw):
        ch = raw[i]
        if ch == '"':
            return "".join(out), True
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        if i + 1 >= len(raw):
            break
        code = raw[i + 1]
        if code == "u":
            if i + 6 > len(raw):
                break
            try:
                value = int(raw[i + 2 : i + 6], 16)
            except ValueError:
                i += 6
                continue
            if 0xD800 <= value < 0xDC00:  # a high surrogate: "\ud83d\ude00" is one character
                low = raw[i + 6 : i + 12]
                if len(low) < 6 and "\\u".startswith(low[:2]):
                    break  # the low half may still come
                if low[:2] == "\\u" and _is_hex(low[2:]) and 0xDC00 <= int(low[2:], 16) < 0xE000:
                    value = 0x10000 + ((value - 0xD800) << 10) + (int(low[2:], 16) - 0xDC00)
                    i += 6
            if 0xD800 <= value < 0xE000:  # a lone surrogate cannot be encoded: replace it
                value = 0xFFFD
            out.append(chr(value))
            i += 6
            continue
        out.append(_ESCAPES.get(code, code))
        i += 2
    return "".join(out), False


@dataclass
class EvidenceReader:
    """Reads the evidence-first reply as it streams in."""

    text: str = ""
    evidence: list[str] | None = None  # None until the list has closed
    answer: str = ""
    done: bool = False  # the answer string has closed
    _answer_at: int | None = field(default=None, repr=False)

    def feed(self, piece: str) -> str:
        """Add streamed text; return the answer text that became readable with it."""
        self.text += piece
        if self.evidence is None:
            match = _EVIDENCE_LIST.match(self.text)
            if not match:
                return ""
            try:
                self.evidence = [str(x) for x in json.loads(f"[{match.group(1)}]")]
            except json.JSONDecodeError:
                self.evidence = re.findall(r'"([^"]*)"', match.group(1))
        if self._answer_at is None:
            start = _ANSWER_START.search(self.text)
            if not start:
                return ""
            self._answer_at = start.end()
        if self.done:
            return ""
        decoded, self.done = _decode_partial(self.text[self._answer_at :])
        new = decoded[len(self.answer) :]
        self.answer = decoded
        return new


def format_numbered_passages(headers: list[str], sentences: list[ContextSentence]) -> str:
    """The passages as the model reads them: a header, then one numbered sentence a line."""
    by_passage: dict[int, list[ContextSentence]] = {}
    for sentence in sentences:
        by_passage.setdefault(sentence.n, []).append(sentence)
    blocks = []
    for n, where in enumerate(headers, start=1):
        lines = [f"{s.id} {s.text}" for s in by_passage.get(n, [])]
        body = "\n".join(lines).replace("<<<", "< < <").replace(">>>", "> > >")
        blocks.append(f"[{n}] {where}\n<<<\n{body}\n>>>")
    return "\n\n".join(blocks)
