"""OCR of scanned PDF pages: words, page numbers and the OCR mark, and the message
when Tesseract is missing. The scanned fixture is made at test time (pdfhelpers)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pdfhelpers import SCANNED_PAGE, TEXT_PAGE, make_scanned_pdf, require_tesseract

from rag import ocr
from rag.config import Settings
from rag.ingest import ingest
from rag.loaders import Skipped, iter_documents, load_document
from rag.store import IndexStore


@pytest.fixture
def mixed_pdf(tmp_path: Path) -> Path:
    """Page 1 has a text layer, page 2 is a scan of the same kind of page."""
    path = tmp_path / "depot-report.pdf"
    path.write_bytes(make_scanned_pdf([TEXT_PAGE, SCANNED_PAGE], scanned={2}))
    return path


@pytest.fixture
def no_tesseract(monkeypatch: pytest.MonkeyPatch):
    """As on a machine without Tesseract."""
    monkeypatch.setattr(ocr.shutil, "which", lambda name: None)
    ocr.tesseract_languages.cache_clear()
    yield
    ocr.tesseract_languages.cache_clear()


def test_the_fixture_page_really_has_no_text_layer(mixed_pdf: Path):
    from pypdf import PdfReader

    pages = [p.extract_text() or "" for p in PdfReader(mixed_pdf).pages]
    assert "Osprey Sound" in pages[0] and ocr.needs_ocr(pages[1])


def test_scanned_page_comes_back_with_its_words_and_page_number(mixed_pdf: Path):
    require_tesseract()
    doc = load_document(mixed_pdf)
    flat = " ".join(doc.text.split())
    assert "Osprey Sound" in flat  # page 1 from its text layer
    phrase = "stores exactly 731 spare radar parts"
    assert phrase in flat, flat
    assert doc.page_at(doc.text.index("731 spare")) == 2
    assert doc.page_at(doc.text.index("Osprey")) == 1
    assert doc.ocr_pages == [2] and doc.skipped_pages == {}


def test_ocr_pages_are_marked_in_the_manifest_and_chunks(mixed_pdf: Path, tmp_path, embedder):
    require_tesseract()
    settings = Settings(index_dir=tmp_path / "index")
    report = ingest([mixed_pdf], settings, embedder=embedder, progress=False)
    assert report.added and not report.skipped
    manifest = json.loads(next((tmp_path / "index").rglob("manifest.json")).read_text())
    (info,) = manifest["documents"].values()
    assert info["ocr_pages"] == [2] and info["skipped_pages"] == {} and info["pages"] == 2
    store = IndexStore.load(settings.index_dir)
    try:
        pages = {c.page for c in store.iter_chunks() if "731 spare" in c.text}
    finally:
        store.close()
    assert pages == {2}


def test_word_boxes_lie_where_the_text_was_printed(mixed_pdf: Path):
    require_tesseract()
    page = ocr.read_page(mixed_pdf.read_bytes(), 2)
    kestrel = [w for w in page.words if w.text.startswith("Kestrel")]
    assert kestrel, page.text
    left, top, right, bottom = kestrel[0].box
    # make_text_pdf starts the text 72 pt from the left and 72 pt from the top of 612x792
    assert 0.09 < left < 0.15 and 0.07 < top < 0.12 and left < right < 0.5 and top < bottom < 0.15


def test_a_page_is_read_once_then_from_the_cache(mixed_pdf: Path, monkeypatch):
    require_tesseract()
    first = ocr.read_page(mixed_pdf.read_bytes(), 2)

    def no_ocr(image):
        raise AssertionError("Tesseract ran again for a cached page")

    monkeypatch.setattr(ocr, "ocr_image", no_ocr)
    again = ocr.read_page(mixed_pdf.read_bytes(), 2)
    assert again == first and "731" in again.text


def test_without_tesseract_a_scan_is_skipped_with_the_install_command(tmp_path: Path, no_tesseract):
    scan = tmp_path / "all-scanned.pdf"
    scan.write_bytes(make_scanned_pdf([SCANNED_PAGE], scanned={1}))
    (item,) = iter_documents([scan])
    assert isinstance(item, Skipped)
    assert item.reason.startswith("no extractable text: Tesseract is not installed")
    assert ocr.INSTALL_COMMAND in item.reason


def test_without_tesseract_the_text_pages_are_kept_and_the_scan_reported(
    mixed_pdf: Path, tmp_path: Path, embedder, no_tesseract
):
    settings = Settings(index_dir=tmp_path / "index")
    seen: list[Skipped] = []
    report = ingest([mixed_pdf], settings, embedder=embedder, progress=False, on_skip=seen.append)
    assert len(report.added) == 1
    (skipped,) = report.skipped
    assert skipped == seen[0] and skipped.path.endswith("depot-report.pdf (page 2)")
    assert "no text layer" in skipped.reason and ocr.INSTALL_COMMAND in skipped.reason
    manifest = json.loads(next((tmp_path / "index").rglob("manifest.json")).read_text())
    (info,) = manifest["documents"].values()
    assert info["ocr_pages"] == [] and list(info["skipped_pages"]) == ["2"]

    assert info["content_hash"].endswith("-partial")


def test_the_next_ingest_reads_a_partial_document_again_once_ocr_works(
    mixed_pdf: Path, monkeypatch
):
    require_tesseract()
    with_ocr = load_document(mixed_pdf)
    monkeypatch.setattr(ocr.shutil, "which", lambda name: None)
    ocr.tesseract_languages.cache_clear()
    try:
        without = load_document(mixed_pdf)
    finally:
        monkeypatch.undo()
        ocr.tesseract_languages.cache_clear()
    assert without.content_hash == f"{with_ocr.content_hash}-partial"
