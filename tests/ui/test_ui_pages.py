"""The page view of a cited PDF page: marks found from pdfium's character boxes (text
layer) or Tesseract's word boxes (scan), the handler the browser calls, the HTML."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pdfhelpers import SCANNED_PAGE, TEXT_PAGE, make_scanned_pdf, require_tesseract
from test_ui_handlers import ask

from rag.config import Settings
from rag.ingest import ingest
from ui.handlers import ChatUI
from ui.pages import PageImage, PageView, mark_sentences, page_view, view_for_request
from ui.render import render_page_view

EVIDENCE = "The patrol boats of Osprey Sound carry coastal radar sets."
SCANNED_EVIDENCE = "The Kestrel Bay depot stores exactly 731 spare radar parts."
MARK = re.compile(r'class="rag-page-mark"[^>]*style="left:([\d.]+)%;top:([\d.]+)%;width:([\d.]+)%')


@pytest.fixture
def report_pdf(tmp_path: Path) -> Path:
    """Page 1 with a text layer, page 2 a scan."""
    path = tmp_path / "docs" / "harbor-report.pdf"
    path.parent.mkdir()
    path.write_bytes(make_scanned_pdf([TEXT_PAGE, SCANNED_PAGE], scanned={2}, title="Harbor"))
    return path


@pytest.fixture
def pdf_settings(tmp_path: Path, report_pdf: Path, embedder) -> Settings:
    settings = Settings(
        index_dir=tmp_path / "index", model="smollm2-135m", model_cache=tmp_path / "models",
        n_threads=1, calibration="off",
    )  # fmt: skip
    ingest([report_pdf], settings, embedder=embedder, progress=False)
    return settings


def test_text_layer_evidence_is_marked_where_it_is_printed(report_pdf: Path):
    view = page_view(str(report_pdf), 1, [EVIDENCE])
    assert view.image is not None and view.problem is None and not view.ocr
    assert view.image.width <= 900 and view.image.uri.startswith("data:image/webp;base64,")
    (left, top, right, bottom) = view.marks[0]
    # The sentence is printed on the first line after "Harbor patrol report. ", 72 pt from
    # the top of the 792 pt page, in 11 pt type.
    assert len(view.marks) == 1
    assert 0.2 < left < 0.35 and 0.07 < top < bottom < 0.11 and 0.6 < right < 0.9


def test_a_sentence_over_two_lines_gets_a_box_per_line(report_pdf: Path):
    two_lines = "Crews train at the Osprey Sound base every April."  # wrapped after "sets."
    both = page_view(str(report_pdf), 1, [EVIDENCE, two_lines]).marks
    assert len(both) == 2 and both[1][1] > both[0][3]  # the second box is below the first


def test_scanned_page_is_marked_from_tesseract_words(report_pdf: Path):
    require_tesseract()
    view = page_view(str(report_pdf), 2, [SCANNED_EVIDENCE])
    assert view.ocr and view.problem is None and len(view.marks) == 1
    left, top, right, bottom = view.marks[0]
    assert 0.2 < left < 0.4 and 0.07 < top < bottom < 0.11 and right > 0.6


def test_absent_text_gives_no_mark_and_says_so(report_pdf: Path):
    view = page_view(str(report_pdf), 1, ["Nothing like this is printed anywhere on it."])
    assert view.marks == [] and view.problem == "the evidence was not found on this page"
    gone = page_view(str(report_pdf.with_name("moved.pdf")), 1, [EVIDENCE])
    assert gone.image is None and "no longer where it was indexed" in gone.problem


def test_matching_ignores_line_breaks_case_and_punctuation_and_takes_long_pieces():
    chars = [(c, (i / 100, 0.1, (i + 1) / 100, 0.12), 0) for i, c in enumerate("Fiji-an coast")]
    chars += [(c, (i / 100, 0.2, (i + 1) / 100, 0.22), 1) for i, c in enumerate("guard ships")]
    marks = mark_sentences(chars, ["FIJIAN COASTGUARD ships!"])
    assert [round(m[1], 2) for m in marks] == [0.1, 0.2]  # one box per line
    assert mark_sentences(chars, ["Samoan ferries"]) == []
    assert mark_sentences(chars, ["the Fijian coastguard vessels"])  # a long piece matches


def test_clicking_a_pdf_citation_shows_its_page_with_the_evidence(pdf_settings, make_engine):
    ui = ChatUI(make_engine(pdf_settings, f"{EVIDENCE[:-1]} [1]."))
    *_, (_, chat, session, sources, _) = ask(ui, "What do the patrol boats of Osprey Sound carry?")
    assert 'class="rag-answer"' in chat[-1]["content"], chat[-1]["content"]
    aid = session.turns[0].aid
    assert f'data-page="{aid}:1"' in sources and "Show page 1" in sources
    html = ui.show_page(f"{aid}:1#1732950000", session)
    assert 'data-testid="rag-page-image"' in html and f'id="rag-src-{aid}-1" data-page' in html
    marks = MARK.findall(html)
    assert marks, html[-600:]
    assert any(f"{EVIDENCE}" in m for m in re.findall(r"<mark>(.*?)</mark>", html))


def test_a_request_for_no_known_pdf_passage_changes_nothing(pdf_settings, make_engine):
    ui = ChatUI(make_engine(pdf_settings, f"{EVIDENCE[:-1]} [1]."))
    *_, (_, _, session, _, _) = ask(ui, "What do the patrol boats of Osprey Sound carry?")
    aid = session.turns[0].aid
    for request in ("", "nonsense", f"{aid}:9#1", "deadbeef:1#1"):
        assert view_for_request(session.turns, request) is None
        assert not isinstance(ui.show_page(request, session), str)  # gr.skip(): no change


def test_scanned_page_is_marked_ocr_in_the_sources_panel(pdf_settings, make_engine):
    require_tesseract()
    ui = ChatUI(make_engine(pdf_settings, f"{SCANNED_EVIDENCE[:-1]} [1]."))
    *_, (_, chat, session, sources, _) = ask(ui, "How many spare radar parts does the depot store?")
    assert 'class="rag-answer"' in chat[-1]["content"], chat[-1]["content"]
    assert '<span class="rag-page">p. 2 · OCR</span>' in sources
    html = ui.show_page(f"{session.turns[0].aid}:1#2", session)
    assert "Page 2 · OCR of harbor-report.pdf · evidence marked" in html and MARK.search(html)


def test_page_view_html_escapes_and_places_marks():
    image = PageImage("data:image/webp;base64,AAAA", 600, 800)
    view = PageView('a"<b>.pdf', 3, image, [(0.1, 0.2, 0.5, 0.25)], ocr=True)
    html = render_page_view(view)
    assert MARK.search(html).groups() == ("10.00", "20.00", "40.00")
    assert "a&quot;&lt;b&gt;.pdf" in html and "<b>" not in html
    assert "Page 3 · OCR" in html and 'width="600" height="800"' in html
    missing = render_page_view(PageView("x.pdf", 1, problem="the file x.pdf is <gone>"))
    assert "&lt;gone&gt;" in missing and "<img" not in missing
