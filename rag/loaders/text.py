"""Plain text and Markdown (.txt, .md, .markdown), and the text clean-up every format uses:
decoding bytes, undoing hard line-wrapping, capping punctuation runs."""

from __future__ import annotations

import codecs
import re
from pathlib import Path

import yaml

from rag.loaders.common import Loaded, LoadError, dated_title

_BLANK_LINES = re.compile(r"\n[ \t\u00a0]*\n+")


_UTF16_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def _cp1252_fallback(exc: UnicodeError) -> tuple[str, int]:
    """Codec error handler: decode the bytes UTF-8 rejected as Windows-1252 instead."""
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    bad = exc.object[exc.start : exc.end]
    return bad.decode("cp1252", errors="replace"), exc.end


codecs.register_error("rag-cp1252", _cp1252_fallback)


def decode_text(data: bytes) -> str:
    """Decode text bytes: UTF-8 (with or without BOM); UTF-16/32 with a BOM.

    Invalid UTF-8 is not fatal: only the offending bytes are read as
    Windows-1252, so a file mixing UTF-8 and Latin-1/Windows-1252 keeps both
    parts readable (no mojibake of the UTF-8 part, no U+FFFD for the rest).
    """
    if data.startswith(_UTF16_BOMS):
        encoding = "utf-32" if data.startswith(_UTF16_BOMS[:2]) else "utf-16"
        try:
            return data.decode(encoding)
        except UnicodeDecodeError as exc:
            raise LoadError(f"invalid {encoding.upper()} text") from exc
    if b"\x00" in data[:8192]:
        raise LoadError("binary content in a text file")
    return data.decode("utf-8-sig", errors="rag-cp1252")


# Runs of sentence-ending punctuation and closing quotes ("!!!!...", dot leaders)
# are shortened: the sentence splitter backtracks quadratically on very long runs.
_PUNCT_RUN = re.compile(r"[.!?\"'”’)\]]{17,}")


def cap_punctuation_runs(text: str, keep: int = 16) -> str:
    return _PUNCT_RUN.sub(lambda m: m.group(0)[:keep], text)


def normalize_text(text: str) -> str:
    """Clean whitespace and undo hard line-wrapping inside paragraphs.

    Paragraphs are separated by blank lines. When the text is hard-wrapped
    (most lines short and paragraphs made of several lines), lines inside a
    paragraph are joined with spaces; otherwise each line stays its own line.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
    text = cap_punctuation_runs(text)
    text = re.sub(r"[ \t]+\n", "\n", text)
    paragraphs = [p.strip("\n") for p in _BLANK_LINES.split(text)]
    paragraphs = [p for p in paragraphs if p.strip()]
    lines = [ln for p in paragraphs for ln in p.split("\n") if ln.strip()]
    multi_line = sum(1 for p in paragraphs if "\n" in p)
    wrapped = bool(lines) and multi_line > len(paragraphs) / 3 and _median_len(lines) < 100
    out = []
    for p in paragraphs:
        if wrapped:
            p = " ".join(ln.strip() for ln in p.split("\n"))
        else:
            p = "\n".join(ln.rstrip() for ln in p.split("\n"))
        out.append(re.sub(r"[ \t]{2,}", " ", p).strip())
    return "\n\n".join(out)


def _median_len(lines: list[str]) -> int:
    lengths = sorted(len(ln) for ln in lines)
    return lengths[len(lengths) // 2]


_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.DOTALL)


def load_text(data: bytes, path: Path) -> Loaded:
    """A .txt or Markdown file; the title from YAML front matter or the first ``# heading``."""
    text = decode_text(data)
    title = ""
    match = _FRONT_MATTER.match(text)
    if match:
        try:
            meta = yaml.safe_load(match.group(1)) or {}
        except yaml.YAMLError:
            meta = {}
        if isinstance(meta, dict):
            title = str(meta.get("title") or "").replace("\u00a0", " ").strip()
            title = dated_title(title, meta.get("date")) if title else title
        text = text[match.end() :]
    if not title and path.suffix.lower() in (".md", ".markdown"):
        heading = re.search(r"^#\s+(.+)$", text, re.MULTILINE)
        title = heading.group(1).strip() if heading else ""
        text = strip_inline_html(text)
    return title, normalize_text(text), [], None


_LINE_BREAK_TAG = re.compile(r"<br\s*/?>", re.IGNORECASE)
_INLINE_TAG = re.compile(
    r"</?(?:span|sup|sub|em|strong|b|i|u|s|a|small|big|font|mark|abbr|cite|code|kbd|ins|del)"
    r"(?:\s[^<>]*)?>",
    re.IGNORECASE,
)


def strip_inline_html(markdown: str) -> str:
    """Drop inline HTML tags that Markdown files carry ("14<sup>th</sup>" -> "14th"),
    keeping their text; ``<br>`` becomes a line break."""
    return _INLINE_TAG.sub("", _LINE_BREAK_TAG.sub("\n", markdown))
