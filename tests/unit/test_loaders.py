"""Loaders: every supported format to clean text, PDF page numbers, skip reasons."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from testkit import SEED_NAME, SEED_PHRASE, normalize_ws

from rag.chunking import chunk_document
from rag.loaders import (
    LOADER_VERSION,
    LoadError,
    Skipped,
    dated_title,
    iter_documents,
    load_document,
    normalize_text,
    read_manifest_titles,
    strip_inline_html,
)

PDF_PAGES = [
    # (file, page count, phrase, 1-based page of the phrase) - from ../shared/README.md
    (
        "2024-04-10-united-states-japan-joint-leaders-statement.pdf",
        13,
        "2016 South China Sea Arbitral Award is final and legally binding",
        8,
    ),
    (
        "2024-04-11-japan-philippines-us-joint-vision-statement.pdf",
        7,
        "Official Security Assistance",
        6,
    ),
    (
        "2025-01-10-us-enduring-commitment-to-the-indo-pacific-region.pdf",
        9,
        "Bangladesh, Papua New Guinea, and Fiji",
        3,
    ),
]
DOCX = "2023-05-01-us-philippines-leaders-joint-statement.docx"
HTML = "2023-08-18-spirit-of-camp-david-joint-statement.html"


def _docs_and_skips(items):
    docs = {Path(i.source).name: i for i in items if not isinstance(i, Skipped)}
    skips = {Path(i.path).name: i.reason for i in items if isinstance(i, Skipped)}
    return docs, skips


# -- plain text and Markdown ---------------------------------------------------------


def test_txt_seed_article(osa_corpus: Path):
    path = osa_corpus / SEED_NAME
    doc = load_document(path)
    assert SEED_PHRASE in doc.text
    assert doc.page_starts == []
    assert doc.page_at(0) is None
    assert doc.content_hash == hashlib.sha256(path.read_bytes()).hexdigest() + f"-l{LOADER_VERSION}"
    # Without a manifest the title comes from the file name.
    assert doc.title == "japan osa malaysia visit"


def test_manifest_title_is_used(osa_corpus: Path):
    (doc,) = list(iter_documents([osa_corpus / SEED_NAME]))
    assert doc.title == (
        "Japan's Official Security Assistance (OSA) and the Kishida visit to Malaysia "
        "(seed article)"
    )


def test_manifest_titles_in_a_temp_dir(tmp_path: Path):
    (tmp_path / "a.txt").write_text("Alpha is the first letter.")
    (tmp_path / "b.txt").write_text("Bravo is the second letter.")
    (tmp_path / "MANIFEST.tsv").write_text(
        "file\ttitle\tdate\na.txt\tThe   Alpha  Document\t2024-01-01\n", encoding="utf-8"
    )
    # the date becomes part of the title: the chunk header that retrieval and checks see
    assert read_manifest_titles(tmp_path) == {"a.txt": "The Alpha Document (1 January 2024)"}
    docs, skips = _docs_and_skips(list(iter_documents([tmp_path])))
    assert set(docs) == {"a.txt", "b.txt"}
    assert skips == {}, "MANIFEST.tsv itself must not be reported as a skipped document"
    assert docs["a.txt"].title == "The Alpha Document (1 January 2024)"
    assert docs["b.txt"].title == "b"


@pytest.mark.parametrize(
    ("title", "date", "expected"),
    [
        ("Readout", "2023-06-16", "Readout (16 June 2023)"),
        ("Readout", None, "Readout"),
        ("Readout", "not a date", "Readout"),
        ("Statement of 16 June 2023", "2023-06-16", "Statement of 16 June 2023"),
    ],
)
def test_dated_title(title, date, expected):
    assert dated_title(title, date) == expected


def test_markdown_front_matter_title(tmp_path: Path):
    path = tmp_path / "note.md"
    path.write_text(
        '---\ntitle: "Quad Leaders\u00a0Summit"\ndate: 2024-09-21\ntags: [quad]\n---\n\n'
        "The leaders met in Wilmington.\n",
        encoding="utf-8",
    )
    doc = load_document(path)
    assert doc.title == "Quad Leaders Summit (21 September 2024)"
    assert doc.text == "The leaders met in Wilmington."
    assert "tags" not in doc.text and "---" not in doc.text


def test_markdown_heading_title_without_front_matter(tmp_path: Path):
    path = tmp_path / "plain.md"
    path.write_text("# A Heading Title\n\nBody text here.\n")
    assert load_document(path).title == "A Heading Title"


def test_real_markdown_statement(osa_corpus: Path):
    name = (
        "2023-06-16-joint-readout-of-trilateral-meeting-between-the-national-security-advisors-"
        "of-the-united-states-japan-and-the.md"
    )
    doc = load_document(osa_corpus / name)
    assert doc.title.startswith("Joint Readout of Trilateral Meeting")
    assert "Official Security Assistance" in normalize_ws(doc.text)
    assert "source_url:" not in doc.text


def test_hard_wrapped_text_is_unwrapped_and_crlf_normalized(tmp_path: Path):
    lines = ["This paragraph was wrapped", "by an old editor at a short", "line width."]
    body = "\r\n".join(lines) + "\r\n\r\n" + "\r\n".join(lines) + "\r\n"
    path = tmp_path / "wrapped.txt"
    path.write_bytes(body.encode())
    text = load_document(path).text
    one = "This paragraph was wrapped by an old editor at a short line width."
    assert text == f"{one}\n\n{one}"
    assert normalize_text("a  b \t\n\n\n\nc") == "a b\n\nc"


def test_cp1252_fallback_and_bom(tmp_path: Path):
    (tmp_path / "latin.txt").write_bytes("Caf\u00e9 d\u00e9j\u00e0 vu.".encode("cp1252"))
    (tmp_path / "bom.txt").write_bytes("\ufeffHello with BOM.".encode())
    assert load_document(tmp_path / "latin.txt").text == "Caf\u00e9 d\u00e9j\u00e0 vu."
    assert load_document(tmp_path / "bom.txt").text == "Hello with BOM."


# -- HTML and DOCX -----------------------------------------------------------------


def test_html_shared_fixture(shared_dir: Path):
    doc = load_document(shared_dir / "corpus" / "osa-mixed" / HTML)
    assert doc.title.startswith("The Spirit of Camp David")
    text = normalize_ws(doc.text)
    assert "Camp David" in text
    assert "<p>" not in doc.text and "<div" not in doc.text
    assert doc.page_starts == []


def test_html_drops_scripts_and_keeps_all_visible_text(tmp_path: Path):
    path = tmp_path / "page.html"
    path.write_text(
        "<!DOCTYPE html><html><head><title>Page Title</title>"
        "<style>body{color:red}</style><script>var secret = 1;</script></head><body>"
        "<div>Text directly inside a div.</div>"
        "<p>A <b>bold</b> paragraph.</p>"
        "<table><tr><th>Header cell</th></tr><tr><td>Data cell</td></tr></table>"
        "<blockquote>Quoted words.</blockquote>"
        "<ul><li>First item</li><li><p>Second item</p></li></ul>"
        "<!-- a comment --><noscript>enable js</noscript></body></html>"
    )
    doc = load_document(path)
    assert doc.title == "Page Title"
    for kept in (
        "Text directly inside a div.",
        "A bold paragraph.",
        "Header cell",
        "Data cell",
        "Quoted words.",
        "First item",
        "Second item",
    ):
        assert kept in doc.text
    for dropped in ("secret", "color:red", "a comment", "enable js", "Page Title"):
        assert dropped not in doc.text
    # Blocks stay separate paragraphs.
    assert "Header cell\n\nData cell" in doc.text


def test_html_title_falls_back_to_h1(tmp_path: Path):
    path = tmp_path / "noh.html"
    path.write_text("<html><body><h1>Only H1</h1><p>Body.</p></body></html>")
    assert load_document(path).title == "Only H1"


@pytest.mark.parametrize(
    ("name", "data", "title", "text"),
    [
        ("page.htm", "<head><title>Short Page</title></head><script>x()</script><p>Body.</p>",
         "Short Page", "Body."),
        ("notes.markdown", "# Notes Heading\n\nThe 14<sup>th</sup> note.", "Notes Heading",
         "# Notes Heading\n\nThe 14th note."),
    ],
)  # fmt: skip
def test_every_suffix_of_a_format_reads_as_that_format(tmp_path: Path, name, data, title, text):
    (tmp_path / name).write_text(data, encoding="utf-8")
    doc = load_document(tmp_path / name)
    assert (doc.title, doc.text) == (title, text)


def test_docx_shared_fixture(shared_dir: Path):
    doc = load_document(shared_dir / "corpus" / "osa-mixed" / DOCX)
    assert doc.title == "Joint Statement of the Leaders of the United States and the Philippines"
    assert "Philippines" in doc.text
    assert len(doc.text) > 5000
    assert doc.page_starts == []


def test_docx_title_from_heading(tmp_path: Path):
    import docx

    d = docx.Document()
    d.core_properties.title = ""
    d.add_heading("Heading As Title", level=1)
    d.add_paragraph("First   paragraph of the body.")
    d.add_paragraph("")
    d.add_paragraph("Second paragraph.")
    path = tmp_path / "made.docx"
    d.save(str(path))
    doc = load_document(path)
    assert doc.title == "Heading As Title"
    assert doc.text == "Heading As Title\n\nFirst paragraph of the body.\n\nSecond paragraph."


# -- PDF -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pdf_docs(shared_dir: Path):
    folder = shared_dir / "corpus" / "osa-pdf"
    return {name: load_document(folder / name) for name, *_ in PDF_PAGES}


@pytest.mark.parametrize(("name", "pages", "phrase", "page"), PDF_PAGES)
def test_pdf_page_numbers_kept_per_chunk(pdf_docs, name, pages, phrase, page):
    doc = pdf_docs[name]
    assert len(doc.page_starts) == pages
    assert doc.page_starts[0] == 0 and doc.page_starts == sorted(doc.page_starts)
    # The phrase may be split across joined lines: search with normalized whitespace.
    offset = normalize_ws(doc.text).find(phrase)
    assert offset >= 0, f"{phrase!r} not found in {name}"
    chunks = chunk_document(doc)
    containing = [c for c in chunks if phrase in normalize_ws(c.text)]
    assert containing, f"no chunk of {name} contains {phrase!r}"
    assert {c.page for c in containing} == {page}
    for c in chunks:
        assert c.page == doc.page_at(c.start) == doc.page_at(c.end - 1)
        assert 1 <= c.page <= pages


def test_pdf_title_from_metadata(pdf_docs):
    doc = pdf_docs[PDF_PAGES[0][0]]
    assert "Japan" in doc.title and doc.title != PDF_PAGES[0][0]


# -- bad files are skipped with a reason, the batch goes on ---------------------------


def test_bad_files_are_skipped_with_specific_reasons(tmp_path: Path, shared_dir: Path):
    good = tmp_path / "good.txt"
    good.write_text("A perfectly fine document. It has two sentences.")
    (tmp_path / "notes.xyz").write_text("unknown extension")
    (tmp_path / "noext").write_text("no extension at all")
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "blank.md").write_text("   \n\n \t\n")
    (tmp_path / "garbage.pdf").write_bytes(os.urandom(3000))
    (tmp_path / "fake-header.pdf").write_bytes(b"%PDF-1.7\n" + os.urandom(1000))
    (tmp_path / "garbage.docx").write_bytes(os.urandom(3000))
    (tmp_path / "binary.txt").write_bytes(b"\x00\x01\x02binary\x00" * 50)
    (tmp_path / ".hidden.txt").write_text("hidden files are ignored")
    docx_copy = tmp_path / "real.docx"
    docx_copy.write_bytes((shared_dir / "corpus" / "osa-mixed" / DOCX).read_bytes())

    items = list(iter_documents([tmp_path, tmp_path / "missing.txt"]))
    docs, skips = _docs_and_skips(items)
    assert set(docs) == {"good.txt", "real.docx"}
    assert skips["notes.xyz"] == "unsupported file type '.xyz'"
    assert skips["noext"] == "unsupported file type '(none)'"
    assert skips["empty.txt"] == "empty file"
    assert skips["blank.md"] == "no text found in file"
    assert skips["garbage.pdf"].startswith("corrupt or unreadable PDF")
    assert skips["fake-header.pdf"].startswith("corrupt or unreadable PDF")
    assert skips["garbage.docx"].startswith("corrupt or unreadable DOCX")
    assert skips["binary.txt"] == "binary content in a text file"
    assert skips["missing.txt"] == "no such file or directory"
    assert ".hidden.txt" not in skips and ".hidden.txt" not in docs
    for reason in skips.values():
        assert reason and "\n" not in reason and len(reason) < 200


def test_load_document_raises_load_error(tmp_path: Path):
    path = tmp_path / "big.txt"
    path.write_text("x" * 2000)
    with pytest.raises(LoadError, match="file too large"):
        load_document(path, max_bytes=1000)
    with pytest.raises(LoadError, match="unsupported file type"):
        load_document(tmp_path / "thing.bin")


def test_parser_crash_becomes_a_skip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import rag.loaders as loaders

    def boom(data, path):
        raise RuntimeError("parser bug")

    monkeypatch.setitem(loaders.LOADERS, ".html", boom)
    (tmp_path / "a.html").write_text("<p>x</p>")
    (tmp_path / "b.txt").write_text("Still loaded.")
    docs, skips = _docs_and_skips(list(iter_documents([tmp_path])))
    assert set(docs) == {"b.txt"}
    assert skips["a.html"] == "unreadable (RuntimeError: parser bug)"


def test_markdown_inline_html_is_stripped_keeping_its_text():
    raw = 'the 14<sup>th</sup> nation<br/>- <span style="x">Maritime:</span> $7.5 million'
    assert strip_inline_html(raw) == "the 14th nation\n- Maritime: $7.5 million"
    assert strip_inline_html("a < b and b > c") == "a < b and b > c"
