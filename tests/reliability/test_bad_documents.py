"""Bad documents: every case gets a specific message and the rest of the batch is indexed.

All fixtures are generated in a temp dir at test time (pypdf writes the text,
blank and encrypted PDFs; the 200 MB file is sparse, so it costs no disk and no
time). The table of cases is in tests/README.md.
"""

from __future__ import annotations

import io
import os
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from rag.chunking import chunk_document
from rag.config import Settings
from rag.ingest import ingest
from rag.loaders import MAX_FILE_BYTES, LoadError, Skipped, iter_documents, load_document

from .relhelpers import (
    index_state,
    make_blank_pdf,
    make_docx,
    make_encrypted_pdf,
    make_text_pdf,
)

GOOD_TEXT = "The Zephyr lighthouse on Kestrel Point was built in 1887. Its lamp is blue."
LONG_LINE_WORDS = 9_000  # ~60 KB on one line: about 90 chunks
NESTING = 5_000


@dataclass
class Case:
    name: str  # file name written in the batch folder
    make: Callable[[Path], None]  # writes the file
    reason: str | None  # None: indexed; else the skip reason must start with this
    text: str | None = None  # for indexed cases: a phrase the loaded text must contain


def _write(data: bytes | str) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        if isinstance(data, str):
            path.write_text(data, encoding="utf-8")
        else:
            path.write_bytes(data)

    return make


def _sparse(size: int) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        with open(path, "wb") as fh:
            fh.truncate(size)  # a hole: no blocks are written

    return make


def _zip_without_word(path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("notes.txt", "a zip archive, not a Word document")
    path.write_bytes(buf.getvalue())


def _broken_link(path: Path) -> None:
    path.symlink_to(path.with_name("target-that-does-not-exist.txt"))


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _truncated_pdf(path: Path) -> None:
    data = make_text_pdf(["The Zephyr beacon is blue. " * 30, "Second page. " * 30])
    path.write_bytes(data[: len(data) // 2])


CASES = [
    Case("good.txt", _write(GOOD_TEXT), None, "Kestrel Point"),
    Case(
        "good.pdf",
        lambda p: p.write_bytes(
            make_text_pdf(["Osprey depot holds 412 radar parts."], title="Osprey depot")
        ),
        None,
        "412 radar parts",
    ),
    Case(
        "good.docx",
        lambda p: p.write_bytes(
            make_docx(["Puffin station opened in 1999."], title="Puffin station")
        ),
        None,
        "opened in 1999",
    ),
    Case("empty.txt", _write(b""), "empty file"),
    Case("whitespace.md", _write("   \n\n\t  \n"), "no text found in file"),
    Case("random-bytes.pdf", _write(os.urandom(4096)), "corrupt or unreadable PDF"),
    Case(
        "html-named.pdf",
        _write("<html><body>not a pdf</body></html>"),
        "corrupt or unreadable PDF (no %PDF header",
    ),
    Case(
        "pdf-header-then-garbage.pdf",
        _write(b"%PDF-1.7\n" + os.urandom(2048)),
        "corrupt or unreadable PDF",
    ),
    Case("truncated.pdf", _truncated_pdf, "corrupt or unreadable PDF"),
    Case("random-bytes.docx", _write(os.urandom(4096)), "corrupt or unreadable DOCX"),
    Case("zip-not-word.docx", _zip_without_word, "corrupt or unreadable DOCX"),
    Case(
        "encrypted.pdf",
        lambda p: p.write_bytes(make_encrypted_pdf("Secret plans.", "pw")),
        "encrypted PDF (password required)",
    ),
    Case(
        "owner-password-only.pdf",
        lambda p: p.write_bytes(make_encrypted_pdf("Gannet harbour has 3 cranes.", "")),
        None,
        "Gannet harbour",
    ),
    Case(
        "scanned.pdf",
        lambda p: p.write_bytes(make_blank_pdf(2)),
        "no extractable text",
    ),
    Case("binary.txt", _write(b"\x00\x01\x02\x03ELF\x00" * 300), "binary content in a text file"),
    Case(
        "latin1.txt",
        _write("Le café de Tern Bay est très réputé.".encode("latin-1")),
        None,
        "Le café de Tern Bay est très réputé.",
    ),
    Case(
        "mixed-encoding.md",
        _write("Résumé in UTF-8. ".encode() + "Grüße aus Köln in Windows-1252.".encode("cp1252")),
        None,
        "Résumé in UTF-8. Grüße aus Köln in Windows-1252.",
    ),
    Case(
        "utf16-bom.txt",
        _write("Skua island has a weather station.".encode("utf-16")),
        None,
        "Skua island has a weather station.",
    ),
    Case("huge-200mb.txt", _sparse(200 * 1024 * 1024), "file too large (200 MB > limit 100 MB)"),
    Case(
        "one-long-line.txt",
        _write(" ".join(f"word{i}" for i in range(LONG_LINE_WORDS))),
        None,
        "word8999",
    ),
    Case(
        "deeply-nested.html",
        _write(
            "<html><body>" + "<div><span>" * NESTING + "Albatross reef is deep. "
            "<script>alert('x')</script>" + "</span></div>" * NESTING + "</body></html>"
        ),
        None,
        "Albatross reef is deep.",
    ),
    Case("z-copy-of-good.txt", _write(GOOD_TEXT), "duplicate of "),  # same bytes as good.txt
    Case("program.exe", _write(b"MZ\x90\x00"), "unsupported file type '.exe'"),
    Case("broken-link.txt", _broken_link, "cannot read file: No such file or directory"),
    Case("named-pipe.txt", _fifo, "not a regular file"),
]
BAD = [c for c in CASES if c.reason is not None]


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("bad-batch")
    for case in CASES:
        case.make(folder / case.name)
    return folder


@pytest.mark.parametrize(
    "case", [c for c in CASES if c.name != "z-copy-of-good.txt"], ids=lambda c: c.name
)
def test_each_file_alone_gets_its_specific_message(batch: Path, case: Case):
    items = list(iter_documents([batch / case.name]))
    assert len(items) == 1
    item = items[0]
    if case.reason is None:
        assert not isinstance(item, Skipped), f"{case.name} skipped: {item.reason}"
        assert case.text in " ".join(item.text.split())
        assert "\ufffd" not in item.text and "Ã" not in item.text  # no mojibake
    else:
        assert isinstance(item, Skipped), f"{case.name} was indexed"
        assert item.reason.startswith(case.reason), item.reason
        assert "\n" not in item.reason and len(item.reason) < 200


def test_the_whole_batch_ingests_around_the_bad_files(batch: Path, tmp_path: Path, embedder):
    settings = Settings(index_dir=tmp_path / "index")
    seen: list[Skipped] = []
    started = time.perf_counter()
    report = ingest([batch], settings, embedder=embedder, progress=False, on_skip=seen.append)
    seconds = time.perf_counter() - started

    skipped = {Path(s.path).name: s.reason for s in report.skipped}
    # (A skipped symlink is reported under the path it points to.)
    skipped["broken-link.txt"] = skipped.pop("target-that-does-not-exist.txt")
    assert seen == report.skipped  # streamed to the caller as they happen
    for case in BAD:
        assert case.name in skipped, f"{case.name} not reported"
        assert skipped[case.name].startswith(case.reason), (case.name, skipped[case.name])
    assert len(report.skipped) == len(BAD)
    good_source = next(s for s in report.added if s.endswith("/good.txt"))
    assert skipped["z-copy-of-good.txt"] == (
        f"duplicate of {good_source} (same content), indexed once"
    )
    good = {c.name for c in CASES if c.reason is None}
    assert {Path(s).name for s in report.added} == good
    state = index_state(settings.index_dir)
    assert {Path(s).name for s in state["sources"]} == good
    assert seconds < 120, f"batch took {seconds:.0f} s"

    # A second run changes nothing and reports the same problems again.
    again = ingest([batch], settings, embedder=embedder, progress=False)
    assert not again.changed and len(again.skipped) == len(report.skipped)


def test_huge_file_is_rejected_before_it_is_read(tmp_path: Path, monkeypatch):
    path = tmp_path / "huge.pdf"
    _sparse(200 * 1024 * 1024)(path)
    assert path.stat().st_blocks * 512 < 1024 * 1024, "the fixture must be sparse"

    def no_read(self, *args, **kwargs):
        raise AssertionError("the loader read a file that is over the size limit")

    monkeypatch.setattr(Path, "read_bytes", no_read)
    monkeypatch.setattr(Path, "read_text", no_read)
    started = time.perf_counter()
    with pytest.raises(LoadError, match=r"file too large \(200 MB > limit 100 MB\)"):
        load_document(path)
    assert time.perf_counter() - started < 1.0
    assert MAX_FILE_BYTES == 100 * 1024 * 1024


@pytest.mark.parametrize(
    "text",
    [
        "word " * 1_000_000,  # 5 MB on one line, no sentence ends
        "x" * 2_000_000,  # 2 MB without any whitespace
        "Start. " + "?" * 200_000 + " end. " + "!" * 50_000 + ")" * 50_000 + " tail.",
        "Dot leaders " + "." * 100_000 + " 7\n" * 3,
    ],
    ids=["5MB-line", "2MB-no-space", "punctuation-runs", "dot-leaders"],
)
def test_long_lines_load_and_chunk_in_bounded_time(tmp_path: Path, text: str):
    path = tmp_path / "long.txt"
    path.write_text(text, encoding="utf-8")
    started = time.perf_counter()
    document = load_document(path)
    chunks = chunk_document(document, 700, 120)
    seconds = time.perf_counter() - started
    assert chunks and max(len(c.text) for c in chunks) <= 700
    assert all(document.text[c.start : c.end] == c.text for c in chunks[:50])
    assert seconds < 15, f"{seconds:.1f} s for {len(text):,} characters"


def test_deeply_nested_html_is_read_without_recursion_errors(tmp_path: Path):
    depth = 20_000
    html = (
        "<div>" * depth
        + "Deep fact: the Petrel buoy is red.<script>x()</script>"
        + "</div>" * depth
    )
    path = tmp_path / "deep.html"
    path.write_text(html, encoding="utf-8")
    started = time.perf_counter()
    document = load_document(path)
    assert "Petrel buoy is red" in document.text and "x()" not in document.text
    assert time.perf_counter() - started < 20


def test_aes_encrypted_pdf_without_crypto_support_says_so(tmp_path: Path, monkeypatch):
    from pypdf import PdfReader
    from pypdf.errors import DependencyError

    path = tmp_path / "aes.pdf"
    path.write_bytes(make_encrypted_pdf("Text.", ""))

    def needs_crypto(self, password):
        raise DependencyError("cryptography>=3.1 is required for AES algorithm")

    monkeypatch.setattr(PdfReader, "decrypt", needs_crypto)
    with pytest.raises(LoadError, match=r"encrypted PDF \(AES; .*'cryptography' package\)"):
        load_document(path)
