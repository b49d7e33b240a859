"""Hygiene of what enters and leaves the prompt.

The question is cleaned of control characters; passages, titles and the question
have chat-template control tokens defused and instruction-like sentences masked
before the model reads them; a reply that repeats the system prompt, or that is
the model's own refusal, is recognised.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata

from rag.chunking import sentence_spans
from rag.prompting import EVIDENCE_PROMPT
from rag.types import Hit

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


def prompt_safe_text(text: str) -> str:
    """``text`` as the model may read it, offsets unchanged: injected instructions
    blanked, chat-template control tokens defused (one character for one)."""
    return defuse_control_tokens(mask_injections(text, keep_offsets=True))


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


_PROMPT_SHINGLES = _shingles(EVIDENCE_PROMPT)


def leaks_system_prompt(text: str) -> bool:
    """True when ``text`` repeats any 8 consecutive words of the system prompt."""
    return bool(_shingles(text) & _PROMPT_SHINGLES)
