"""The page view in a real headless browser: click a PDF citation, see the page marked.

The chat page runs in this process (`build_app` on a free port) over an index of
one PDF made at test time, page 1 with a text layer and page 2 a scan, with a
scripted model (the answers are fixed; retrieval, checks and the page view are
real). Clicking the [1] marker must show the cited page as an image with the
evidence marked over it, beside the passage text, on a desktop and a phone-width
screen. Screenshots go to test-artifacts/ (ui-page-view*.png). Browser and
Playwright as in test_browser.py (skipped without them, failing under CI=true).
"""

from __future__ import annotations

import pytest
from pdfhelpers import SCANNED_PAGE, TEXT_PAGE, make_scanned_pdf, require_tesseract
from test_browser import ARTIFACTS, FINAL, browser  # noqa: F401 (fixture)
from testkit import free_port

pytestmark = pytest.mark.browser

QUESTION = "What do the patrol boats of Osprey Sound carry?"
REPLY = "The patrol boats of Osprey Sound carry coastal radar sets [1]."
SCAN_QUESTION = "How many spare radar parts does the Kestrel Bay depot store?"
SCAN_REPLY = "The Kestrel Bay depot stores exactly 731 spare radar parts [1]."


@pytest.fixture
def app_url(tmp_path_factory, embedder, fake_generator):
    """The chat page over a one-PDF index, with a scripted model, on a free port."""
    from rag.config import Settings
    from rag.ingest import ingest
    from rag.pipeline import RagPipeline
    from ui.app import build_app, launch_kwargs
    from ui.engine import Engine

    work = tmp_path_factory.mktemp("ui-pages")
    pdf = work / "harbor-report.pdf"
    pdf.write_bytes(make_scanned_pdf([TEXT_PAGE, SCANNED_PAGE], scanned={2}, title="Harbor"))
    settings = Settings(index_dir=work / "index", model="fake", calibration="off", n_threads=1)
    ingest([pdf], settings, embedder=embedder, progress=False)
    pipe = RagPipeline(
        settings, embedder=embedder, generator=fake_generator([REPLY, SCAN_REPLY], name="fake")
    )
    engine = Engine(
        settings, uploads_dir=work / "uploads", feedback_file=work / "fb.jsonl", pipeline=pipe
    )
    demo = build_app(settings, engine=engine)
    demo.queue()
    port = free_port()
    demo.launch(
        server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
        **launch_kwargs(),
    )  # fmt: skip
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


def _ask_and_open_citation(page, question: str, answers_before: int):
    """Ask, wait for the answer, click its [1] marker; returns the passage element."""
    box = page.locator("#rag-question textarea")
    box.fill(question)
    box.press("Enter")
    page.locator(FINAL).nth(answers_before).wait_for(timeout=60_000)
    reply = page.locator("[data-testid=bot]").last
    assert reply.locator(".rag-answer").count() == 1, reply.inner_text()
    marker = reply.locator("a.rag-cite").first
    target = marker.get_attribute("href").lstrip("#")
    marker.click()
    return page.locator(f"details#{target}")


def _assert_marked_page(passage) -> None:
    image = passage.locator("[data-testid=rag-page-image]")
    image.wait_for(state="visible", timeout=30_000)
    assert image.evaluate("img => img.complete && img.naturalWidth > 0")
    frame = image.bounding_box()
    marks = passage.locator("[data-testid=rag-page-mark]")
    assert marks.count() >= 1
    mark = marks.first.bounding_box()
    assert mark["width"] > 10 and mark["height"] > 2
    # the mark lies on the image, in its upper part where the sentence is printed
    assert frame["x"] <= mark["x"] and mark["x"] + mark["width"] <= frame["x"] + frame["width"]
    assert frame["y"] <= mark["y"] <= frame["y"] + frame["height"] * 0.2
    assert passage.locator(".rag-passage mark").count() >= 1  # the text view stays


def test_clicking_a_pdf_citation_shows_the_page_with_the_evidence_marked(app_url, browser):  # noqa: F811
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(app_url)
    page.locator("#rag-question textarea").wait_for(timeout=60_000)

    passage = _ask_and_open_citation(page, QUESTION, 0)
    _assert_marked_page(passage)
    assert "Page 1 of harbor-report.pdf · evidence marked" in passage.inner_text()
    # desktop: the page is beside the passage text
    text_box = passage.locator(".rag-passage").bounding_box()
    image_box = passage.locator("[data-testid=rag-page-image]").bounding_box()
    assert image_box["x"] >= text_box["x"] + text_box["width"] - 1, (text_box, image_box)
    passage.scroll_into_view_if_needed()
    passage.screenshot(path=str(ARTIFACTS / "ui-page-view.png"))

    # phone width: stacked under the text, still marked and within the screen
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(300)
    image_box = passage.locator("[data-testid=rag-page-image]").bounding_box()
    assert image_box["x"] >= 0 and image_box["x"] + image_box["width"] <= 390
    assert passage.locator("[data-testid=rag-page-mark]").first.is_visible()
    passage.locator("[data-testid=rag-page-image]").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "ui-page-view-phone.png"))
    page.set_viewport_size({"width": 1280, "height": 800})

    # a scanned page: read by OCR, marked from Tesseract's word boxes, labelled OCR
    require_tesseract()
    passage = _ask_and_open_citation(page, SCAN_QUESTION, 1)
    assert "p. 2 · OCR" in passage.locator("summary").inner_text()
    _assert_marked_page(passage)
    assert "Page 2 · OCR of harbor-report.pdf" in passage.inner_text()
    assert errors == [], errors
    context.close()
