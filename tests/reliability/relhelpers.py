"""Helpers for the reliability suite: stress counts, fixture files, index checks, servers.

Imported by the tests as ``.relhelpers`` (tests/reliability is a package, so its
conftest does not shadow tests/conftest.py for ``from conftest import ...``).
"""

from __future__ import annotations

import io
import json
import os
import socket
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
ARTIFACTS = REPO / "test-artifacts"

# `RAG_STRESS=full` runs the long versions (kill loop, sessions); CI runs the short ones.
FULL = os.environ.get("RAG_STRESS", "").lower() == "full"


def stress_count(env: str, ci: int, full: int) -> int:
    """``$env`` if set, else the full count under RAG_STRESS=full, else the CI count."""
    value = os.environ.get(env)
    return int(value) if value else (full if FULL else ci)


def record_figures(name: str, figures: dict) -> None:
    """Print the figures of a stress test and keep them in test-artifacts/ for the README."""
    figures = {"mode": "full" if FULL else "ci", **figures}
    print(f"\n[{name}] " + json.dumps(figures, ensure_ascii=False))
    try:
        ARTIFACTS.mkdir(exist_ok=True)
        suffix = "-full" if FULL else ""
        (ARTIFACTS / f"reliability-{name}{suffix}.json").write_text(
            json.dumps(figures, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
    except OSError:  # a read-only checkout must not fail the test
        pass


# -- fixture files ---------------------------------------------------------------------------
def _pdf_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def make_text_pdf(pages: list[str], title: str | None = None) -> bytes:
    """A real PDF with a text layer (Helvetica), one string per page."""
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    writer = PdfWriter()
    font = writer._add_object(
        DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Font"),
                NameObject("/Subtype"): NameObject("/Type1"),
                NameObject("/BaseFont"): NameObject("/Helvetica"),
            }
        )
    )
    for text in pages:
        page = writer.add_blank_page(612, 792)
        ops = ["BT", "/F1 11 Tf", "14 TL", "72 720 Td"]
        for line in textwrap.wrap(text, 85):
            ops.append(f"({_pdf_escape(line)}) Tj T*")
        ops.append("ET")
        stream = DecodedStreamObject()
        stream.set_data("\n".join(ops).encode("latin-1"))
        page[NameObject("/Contents")] = writer._add_object(stream)
        page[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})}
        )
    if title:
        writer.add_metadata({"/Title": title})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def make_blank_pdf(pages: int = 1) -> bytes:
    """A PDF whose pages have no text layer (what a scanned document looks like)."""
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(612, 792)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def make_encrypted_pdf(text: str, user_password: str) -> bytes:
    """An RC4-128 encrypted PDF (AES needs the optional `cryptography` package)."""
    from pypdf import PdfReader, PdfWriter

    reader = PdfReader(io.BytesIO(make_text_pdf([text])))
    writer = PdfWriter()
    for page in reader.pages:
        writer.add_page(page)
    writer.encrypt(user_password=user_password, owner_password="owner-secret", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def make_docx(paragraphs: list[str], title: str | None = None) -> bytes:
    import docx

    document = docx.Document()
    if title:
        document.add_heading(title, level=1)
    for p in paragraphs:
        document.add_paragraph(p)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


# -- index checks ----------------------------------------------------------------------------
def index_state(root: Path) -> dict | None:
    """Load the index at ``root`` and check it; None when no index exists yet.

    Asserts: it loads, ``check_consistency()`` finds nothing, chunk ids and
    (document, position) pairs are unique and no content is indexed twice.
    """
    from rag.store import IndexStore

    if not IndexStore.exists(root):
        return None
    store = IndexStore.load(root)
    try:
        problems = store.check_consistency()
        assert problems == [], problems
        chunks = list(store.iter_chunks())
        ids = [c.chunk_id for c in chunks]
        assert len(ids) == len(set(ids)), "duplicate chunk ids"
        positions = [(c.doc_id, c.position) for c in chunks]
        assert len(positions) == len(set(positions)), "duplicate chunk positions"
        hashes = [d.content_hash for d in store.manifest.documents.values()]
        assert len(hashes) == len(set(hashes)), "the same content is indexed twice"
        assert len(store) == len(chunks) == store.manifest.chunk_count
        return {
            "version": store.version_dir.name,
            "sources": sorted(d.source for d in store.manifest.documents.values()),
            "chunk_ids": sorted(ids),
        }
    finally:
        store.close()


# -- processes and servers ---------------------------------------------------------------------
def rag_command() -> list[str]:
    """How to run the `rag` CLI of this checkout in a subprocess of this interpreter.

    Not the installed `rag` script: it may have been installed from another checkout.
    """
    return [sys.executable, "-m", "rag_app"]


def listening_addresses(port: int) -> set[str]:
    """Local addresses with a TCP socket LISTENing on ``port`` (from /proc/net/tcp{,6})."""
    found = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state = fields[1], fields[3]
            addr, _, hexport = local.partition(":")
            if state != "0A" or int(hexport, 16) != port:
                continue
            if width == 8:
                found.add(socket.inet_ntop(socket.AF_INET, bytes.fromhex(addr)[::-1]))
            else:
                raw = b"".join(bytes.fromhex(addr[i : i + 8])[::-1] for i in range(0, 32, 8))
                found.add(socket.inet_ntop(socket.AF_INET6, raw))
    return found


def have_gradio_client() -> bool:
    try:
        import gradio_client  # noqa: F401
    except ImportError:
        return False
    return True


# -- HTML safety -------------------------------------------------------------------------------
DANGEROUS_TAGS = frozenset(
    "script iframe frame frameset object embed img svg math style link meta base form input "
    "button textarea select video audio source picture".split()
)


def unsafe_html(fragment: str) -> list[str]:
    """What in ``fragment`` could run script, load a resource or navigate away.

    The chat's own markup is plain text containers plus links to passages in
    the sources panel (``href="#rag-src-..."``); anything else is a finding.
    """
    from bs4 import BeautifulSoup

    findings = []
    for tag in BeautifulSoup(fragment, "html.parser").find_all(True):
        if tag.name in DANGEROUS_TAGS:
            findings.append(f"<{tag.name}>")
        for attr, value in tag.attrs.items():
            text = " ".join(value) if isinstance(value, list) else str(value)
            if attr.lower().startswith("on"):
                findings.append(f"{tag.name}[{attr}]")
            if attr.lower() in ("href", "src", "action", "formaction", "srcset", "style"):
                if not (attr.lower() == "href" and text.startswith("#rag-")):
                    findings.append(f"{tag.name}[{attr}={text[:40]}]")
            if "javascript:" in text.lower():
                findings.append(f"{tag.name}[{attr}] javascript:")
    return findings


def read_log_since(log: Path, offset: int) -> str:
    with open(log, encoding="utf-8", errors="replace") as fh:
        fh.seek(offset)
        return fh.read()
