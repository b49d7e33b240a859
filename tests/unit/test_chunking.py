"""Chunking: exact offsets, size limits, overlap, sentence rules, stable ids, pages."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from testkit import SEED_NAME

from rag.chunking import chunk_document, chunk_id_for, doc_id_for, sentence_spans
from rag.loaders import load_document
from rag.types import Document

REAL_DOCS = [
    ("osa", SEED_NAME),
    ("osa", "2024-04-10-united-states-japan-joint-leaders-statement.md"),
    ("osa", "2022-05-26-statement-by-national-security-advisor-jake-sullivan-on-fiji-joining-"
     "the-indo-pacific-economic-framework-for-prosperity.md"),
    ("osa-mixed", "2023-08-18-spirit-of-camp-david-joint-statement.html"),
    ("osa-mixed", "2023-05-01-us-philippines-leaders-joint-statement.docx"),
    ("osa-pdf", "2024-04-11-japan-philippines-us-joint-vision-statement.pdf"),
    ("osa-pdf", "2025-01-10-us-enduring-commitment-to-the-indo-pacific-region.pdf"),
]  # fmt: skip
ID_FORMAT = re.compile(r"^[0-9a-f]{12}-\d{4}-[0-9a-f]{8}$")


def make_doc(text: str, source: str = "mem/doc.txt", page_starts: list[int] | None = None):
    return Document(
        source=source,
        title="T",
        text=text,
        content_hash=hashlib.sha256(text.encode()).hexdigest(),
        page_starts=page_starts or [],
    )


def sentences_text(n: int, prefix: str = "Sentence") -> str:
    return " ".join(f"{prefix} number {i} talks about topic {i % 7}." for i in range(n))


@pytest.fixture(scope="module")
def real_docs(shared_dir: Path) -> dict[str, Document]:
    return {name: load_document(shared_dir / "corpus" / sub / name) for sub, name in REAL_DOCS}


def test_round_trip_and_size_on_real_documents(real_docs):
    for size, overlap in ((700, 120), (300, 60), (1200, 0)):
        for name, doc in real_docs.items():
            chunks = chunk_document(doc, size, overlap)
            assert chunks, name
            for i, c in enumerate(chunks):
                assert c.text == doc.text[c.start : c.end], (name, i)
                assert c.text == c.text.strip() and c.text
                assert len(c.text) <= size, (name, i, len(c.text))
                assert c.position == i
                assert c.source == doc.source and c.title == doc.title
                assert c.doc_id == doc_id_for(doc.source)
                assert ID_FORMAT.match(c.chunk_id)
            assert len({c.chunk_id for c in chunks}) == len(chunks)
            # Chunks advance through the document and together cover all of it.
            assert [c.start for c in chunks] == sorted(c.start for c in chunks)
            covered = "".join(
                doc.text[max(c.start, prev.end if prev else 0) : c.end]
                for prev, c in zip([None, *chunks], chunks, strict=False)
            )
            assert "".join(covered.split()) == "".join(doc.text.split()), name


def test_pdf_chunks_never_cross_pages(real_docs):
    for name, doc in real_docs.items():
        if not doc.page_starts:
            continue
        for c in chunk_document(doc, 700, 120):
            assert doc.page_at(c.start) == doc.page_at(c.end - 1) == c.page, (name, c.position)


def test_synthetic_pages_and_no_overlap_across_pages():
    page1 = sentences_text(12, "Alpha")
    page2 = sentences_text(12, "Bravo")
    text = f"{page1}\n\n{page2}"
    doc = make_doc(text, page_starts=[0, len(page1) + 2])
    chunks = chunk_document(doc, 200, 80)
    assert {c.page for c in chunks} == {1, 2}
    for c in chunks:
        assert ("Alpha" in c.text) != ("Bravo" in c.text)
        assert c.page == (1 if "Alpha" in c.text else 2)
    assert Document("s", "t", "abc", "h", [0, 10, 20]).page_at(15) == 2


def test_overlap_repeats_trailing_sentences():
    doc = make_doc(sentences_text(40))
    chunks = chunk_document(doc, 300, 120)
    assert len(chunks) > 3
    for prev, nxt in zip(chunks, chunks[1:], strict=False):
        shared = prev.end - nxt.start
        assert 0 < shared <= 120, (prev.position, shared)
        # The overlap starts on a sentence boundary.
        assert nxt.text.startswith("Sentence number")


def test_zero_overlap_means_disjoint_chunks():
    doc = make_doc(sentences_text(40))
    chunks = chunk_document(doc, 300, 0)
    for prev, nxt in zip(chunks, chunks[1:], strict=False):
        assert nxt.start >= prev.end


def test_chunks_end_on_sentence_boundaries():
    doc = make_doc(sentences_text(30))
    for c in chunk_document(doc, 250, 50):
        assert c.text.endswith(".")
        assert c.text.startswith("Sentence number")


def test_overlong_sentence_is_cut_at_spaces():
    words = " ".join(f"word{i}" for i in range(400))  # ~3,000 characters, no sentence end
    doc = make_doc(f"Short intro. {words}. Short outro.")
    chunks = chunk_document(doc, 500, 100)
    assert all(len(c.text) <= 500 for c in chunks)
    for c in chunks:
        assert c.text == doc.text[c.start : c.end]
        assert not c.text.startswith("ord")  # never cut inside a word
    joined = " ".join(c.text for c in chunks)
    assert all(f"word{i}" in joined for i in range(400))
    # A single word longer than the chunk size is still cut, never an infinite loop.
    blob = make_doc("x" * 1234)
    pieces = chunk_document(blob, 500, 0)
    assert [len(c.text) for c in pieces] == [500, 500, 234]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Mr. Smith met U.S. officials in Washington. They talked for hours.",
            ["Mr. Smith met U.S. officials in Washington.", "They talked for hours."],
        ),
        (
            "Dr. Jones and Mrs. Lee arrived. The U.K. delegation left early!",
            ["Dr. Jones and Mrs. Lee arrived.", "The U.K. delegation left early!"],
        ),
        (
            "It costs approx. five dollars. Is that cheap? Yes.",
            ["It costs approx. five dollars.", "Is that cheap?", "Yes."],
        ),
        (
            'He said "stop." Then he left. See e.g. the annex.',
            ['He said "stop."', "Then he left.", "See e.g. the annex."],
        ),
        ("President Joseph R. Biden, Jr. spoke.", ["President Joseph R. Biden, Jr. spoke."]),
        ("Line one\nLine two without a period", ["Line one", "Line two without a period"]),
        (
            "The Japan-ROK-U.S. Trilateral Secretariat opened. It is new.",
            ["The Japan-ROK-U.S. Trilateral Secretariat opened.", "It is new."],
        ),
    ],
)
def test_sentence_spans_handle_abbreviations(text, expected):
    assert [text[s.start : s.end] for s in sentence_spans(text)] == expected


def test_abbreviations_never_end_a_chunk():
    text = " ".join(
        f"Mr. Tanaka of Japan and the U.S. envoy held meeting {i} in Tokyo." for i in range(30)
    )
    chunks = chunk_document(make_doc(text), 200, 70)
    assert len(chunks) > 5
    for c in chunks:
        assert c.text.startswith("Mr. Tanaka"), c.text[:40]
        assert c.text.endswith("in Tokyo.")


def test_ids_are_stable_and_position_plus_text_hash():
    doc = make_doc(sentences_text(50), source="corpus/a.txt")
    first = chunk_document(doc, 300, 60)
    second = chunk_document(make_doc(sentences_text(50), source="corpus/a.txt"), 300, 60)
    assert [c.chunk_id for c in first] == [c.chunk_id for c in second]
    assert doc_id_for("corpus/a.txt") == hashlib.sha1(b"corpus/a.txt").hexdigest()[:12]
    for c in first:
        digest = hashlib.sha1(c.text.encode()).hexdigest()[:8]
        assert c.chunk_id == f"{c.doc_id}-{c.position:04d}-{digest}"
        assert c.chunk_id == chunk_id_for(c.doc_id, c.position, c.text)
    # Another source path is another document.
    other = chunk_document(make_doc(sentences_text(50), source="corpus/b.txt"), 300, 60)
    assert not {c.chunk_id for c in other} & {c.chunk_id for c in first}


def test_editing_one_paragraph_changes_only_nearby_ids():
    paragraphs = [sentences_text(6, f"Para{p}") for p in range(10)]
    before = make_doc("\n\n".join(paragraphs))
    edited = list(paragraphs)
    edited[5] = edited[5].replace("talks about", "speaks about", 1)  # same length
    after = make_doc("\n\n".join(edited))
    old = chunk_document(before, 400, 100)
    new = chunk_document(after, 400, 100)
    assert len(old) == len(new)
    changed = [i for i, (a, b) in enumerate(zip(old, new, strict=True)) if a.chunk_id != b.chunk_id]
    assert changed, "the edited chunk must get a new id"
    assert len(changed) <= 3 and changed == list(range(changed[0], changed[-1] + 1))
    edit_at = after.text.index("speaks about")
    for i in changed:
        assert new[i].start <= edit_at < new[i].end
    # Every other chunk keeps its id and text.
    for i in set(range(len(old))) - set(changed):
        assert old[i].chunk_id == new[i].chunk_id and old[i].text == new[i].text


def test_empty_text_gives_no_chunks():
    assert chunk_document(make_doc("   \n\n  ")) == []
