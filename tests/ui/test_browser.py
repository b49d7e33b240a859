"""The chat UI in a real headless browser: `rag serve` + Debian chromium + Playwright.

Starts `rag serve` with the tiny model on a small index (the seed article and
two statements), asks about OSA recipients, opens a citation, uploads a
document with a unique fact and asks about it. Screenshots go to
test-artifacts/ (1280x800 and 390x844). The browser is `RAG_CHROMIUM` (default:
`chromium` found on PATH). Without a browser or Playwright the test is skipped on
a developer machine, but fails under `CI=true`: CI must not pass without it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from testkit import clean_env, free_port, stop, wait_http

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "corpus"  # the bundled corpus holds the seed article and the statements
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SEED = "japan-osa-malaysia-visit.txt"
SEED_TITLE = "Japan's Official Security Assistance (OSA) and the Kishida visit to Malaysia"
COMPANIONS = (
    "2023-06-16-joint-readout-of-trilateral-meeting-between-the-national-security-advisors-"
    "of-the-united-states-japan-and-the.md",
    "2022-05-26-statement-by-national-security-advisor-jake-sullivan-on-fiji-joining-the-"
    "indo-pacific-economic-framework-for-prosperity.md",
)
QUESTION = "Which countries are the first recipients of Japan's OSA?"
UPLOAD_TEXT = (
    "Kestrel Bay depot report.\n\n"
    "The Kestrel Bay depot stores exactly 731 spare radar parts for the OSA coastal radar "
    'program. <img src=x onerror="window.__pwned = 1"> Staff inspect the parts every March.\n'
)
UPLOAD_QUESTION = "How many spare radar parts does the Kestrel Bay depot store?"
FINAL = (
    "[data-testid=bot] .rag-answer, [data-testid=bot] .rag-refusal, [data-testid=bot] .rag-error"
)


def find_chromium() -> tuple[Path | None, str]:
    """The browser to drive and, when there is none, why."""
    configured = os.environ.get("RAG_CHROMIUM")
    if configured:
        path = Path(configured)
        return (path, "") if path.is_file() else (None, f"RAG_CHROMIUM={configured} not found")
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    return (Path(found), "") if found else (None, "chromium not on PATH (apt-get install chromium)")


def unavailable(reason: str) -> None:
    """Skip on a developer machine; under CI=true a missing browser is a failure."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser test cannot run under CI=true: {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


try:
    from playwright import sync_api
except ImportError:
    unavailable("the playwright package is not installed")
CHROMIUM, _missing = find_chromium()
if CHROMIUM is None:
    unavailable(_missing)


def _serve(work: Path, embedder, model_args: list[str], **env: str):
    """`rag serve` on a free port over a 3-document index (seed article, two statements)."""
    from rag.config import Settings
    from rag.ingest import ingest

    corpus = CORPUS
    assert (corpus / SEED).is_file(), f"seed article not found in {corpus}"
    assert shutil.which("rag"), "the rag command is not installed in this environment"
    index = work / "index"
    ingest(
        [corpus / SEED, *(corpus / name for name in COMPANIONS)],
        Settings(index_dir=index),
        embedder=embedder,
        progress=False,
    )
    port = free_port()
    log = work / "serve.log"
    command = [
        shutil.which("rag") or sys.executable, "serve", "--port", str(port),
        "--index-dir", str(index), *model_args,
        "--uploads-dir", str(work / "uploads"), "--feedback-file", str(work / "feedback.jsonl"),
    ]  # fmt: skip
    with open(log, "w") as out:
        proc = subprocess.Popen(
            command, cwd=work, env=clean_env(**env), stdout=out, stderr=subprocess.STDOUT
        )
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_http(url, proc, log, timeout=300)
        yield {"url": url, "work": work, "log": log}
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def server(tmp_path_factory, embedder):
    """The tiny model; it rambles, so a shorter answer keeps the test quick on shared CPUs."""
    work = tmp_path_factory.mktemp("ui-browser")
    yield from _serve(work, embedder, ["--model", "smollm2-135m"], RAG_MAX_TOKENS="96")


@pytest.fixture(scope="module")
def default_model_server(tmp_path_factory, embedder):
    """The default model (qwen2.5-1.5b), default settings."""
    yield from _serve(tmp_path_factory.mktemp("ui-browser-default"), embedder, [])


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


def _ask(page, question: str, answers_before: int) -> None:
    box = page.locator("#rag-question textarea")
    box.fill(question)
    box.press("Enter")
    page.locator(FINAL).nth(answers_before).wait_for(timeout=180_000)


def test_ask_open_citation_upload_and_ask_again(server, browser):
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(server["url"])
    page.locator("#rag-question textarea").wait_for(timeout=60_000)
    # the empty chat offers example questions and no setup banner
    assert page.get_by_text(QUESTION).first.is_visible()
    assert not page.locator(".rag-banner").is_visible()
    page.evaluate(
        """() => { window.__sawTokens = false; window.__events = [];
        const seen = (name) => { if (!window.__events.includes(name)) window.__events.push(name); };
        new MutationObserver(() => {
            if (document.querySelector('.rag-cursor')) { window.__sawTokens = true; seen('token'); }
            if (document.querySelector('#rag-sources .rag-pending mark')) seen('evidence');
            const bot = '[data-testid=bot] ';
            if (document.querySelector(bot + '.rag-answer, ' + bot + '.rag-refusal')) seen('final');
        }).observe(document.body, {subtree: true, childList: true, characterData: true}); }"""
    )

    _ask(page, QUESTION, 0)
    assert page.evaluate("window.__sawTokens"), "no partial answer was streamed"
    # the evidence the model named is highlighted before any answer text is shown
    events = page.evaluate("window.__events")
    assert events[:2] == ["evidence", "token"], events
    message = page.locator("[data-testid=bot]").last
    assert not page.locator("[data-testid=bot] .rag-error").count(), message.inner_text()
    sources = page.locator("#rag-sources")
    assert SEED_TITLE in sources.inner_text()
    refused = page.locator("[data-testid=bot] .rag-refusal").count() > 0
    if refused:  # the tiny model may not manage; the refusal must say what was searched
        assert "Searched for" in message.inner_text() and SEED_TITLE in message.inner_text()
    else:
        assert sources.locator("mark").count() >= 1  # the supporting sentence, highlighted
    page.screenshot(path=str(ARTIFACTS / "ui-desktop-answer.png"))

    # clicking a [n] marker opens that passage in the sources panel
    marker = message.locator("a.rag-cite").first
    target = marker.get_attribute("href").lstrip("#")
    marker.click()
    passage = page.locator(f"details#{target}")
    page.wait_for_function(f"document.getElementById('{target}').open === true", timeout=5000)
    assert passage.locator(".rag-passage").is_visible()
    assert len(passage.locator(".rag-passage").inner_text()) > 100
    if not refused:
        assert passage.locator(".rag-passage mark").count() >= 1
    page.screenshot(path=str(ARTIFACTS / "ui-desktop-citation.png"))

    # thumbs down with a comment lands in the feedback file
    page.locator("#rag-chat button[aria-label=Dislike]").last.click()
    comment_row = page.locator("#rag-feedback")
    comment_row.wait_for(state="visible", timeout=10_000)
    comment_row.locator("textarea").fill("Too long")
    comment_row.get_by_role("button", name="Send comment").click()
    comment_row.wait_for(state="hidden", timeout=10_000)
    feedback = [json.loads(x) for x in (server["work"] / "feedback.jsonl").read_text().splitlines()]
    assert [r["rating"] for r in feedback] == ["down", "down"]
    assert feedback[-1]["comment"] == "Too long" and feedback[-1]["question"] == QUESTION

    # another browser session starts with an empty chat
    other = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    other.goto(server["url"])
    other.locator("#rag-question textarea").wait_for(timeout=60_000)
    assert other.locator("[data-testid=bot]").count() == 0
    other.context.close()

    # upload a document with a unique fact; it is searchable at once
    page.get_by_role("tab", name="Documents").click()
    upload = server["work"] / "kestrel-bay-depot.txt"
    upload.write_text(UPLOAD_TEXT, encoding="utf-8")
    page.locator("#rag-upload input[type=file]").set_input_files(str(upload))
    status = page.locator("#rag-upload-status")
    status.get_by_text("searchable now").wait_for(timeout=120_000)
    assert "kestrel-bay-depot.txt" in status.inner_text()
    assert "kestrel bay depot" in page.locator("#rag-docs").inner_text().lower()
    assert (server["work"] / "uploads" / "kestrel-bay-depot.txt").is_file()

    _ask(page, UPLOAD_QUESTION, 1)
    page.get_by_role("tab", name="Sources").click()
    latest = page.locator("#rag-sources .rag-group").first
    assert "kestrel bay depot" in latest.inner_text().lower()
    reply = page.locator("[data-testid=bot]").last
    first_marker = reply.locator("a.rag-cite").first
    first_marker.click()
    opened = page.locator(f"details#{first_marker.get_attribute('href').lstrip('#')}")
    page.wait_for_function(
        f"document.getElementById('{opened.get_attribute('id')}').open === true", timeout=5000
    )
    assert "731 spare radar parts" in opened.inner_text()
    # the injected markup in the document is shown as text, never run
    assert page.locator("#rag-sources img, [data-testid=bot] img").count() == 0
    assert page.evaluate("window.__pwned") is None
    page.screenshot(path=str(ARTIFACTS / "ui-desktop-upload.png"))

    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(300)
    page.screenshot(path=str(ARTIFACTS / "ui-phone.png"))
    page.screenshot(path=str(ARTIFACTS / "ui-phone-full.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 800})

    # delete the uploaded document (after the confirm dialog)
    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_role("tab", name="Documents").click()
    choice = page.locator("#rag-delete-choice input")
    choice.click()
    choice.fill("kestrel")
    page.get_by_role("option", name=re.compile("kestrel", re.I)).first.click()
    page.get_by_role("button", name="Delete", exact=True).click()
    status.get_by_text("Deleted kestrel-bay-depot.txt").wait_for(timeout=60_000)
    assert "kestrel" not in page.locator("#rag-docs").inner_text().lower()
    assert not (server["work"] / "uploads" / "kestrel-bay-depot.txt").exists()
    assert errors == [], errors
    context.close()


EVENTS_JS = """() => { window.__events = [];
    const seen = (name) => { if (!window.__events.includes(name)) window.__events.push(name); };
    new MutationObserver(() => {
        if (document.querySelector('.rag-cursor')) seen('token');
        if (document.querySelector('#rag-sources .rag-pending mark')) seen('evidence');
    }).observe(document.body, {subtree: true, childList: true, characterData: true}); }"""


@pytest.mark.slow
def test_default_model_refuses_the_malaysia_near_miss_and_rewrites_its_follow_up(
    default_model_server, browser
):
    """The issue's near miss: the $4 million radar went to the Philippines, Malaysia's
    share (a quarter of 2 billion yen) has no equipment named. Refused, or answered
    without the Philippines' radar; evidence highlighted before any answer text; the
    follow-up "And what about the Philippines?" searched as the substituted question."""
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    page.goto(default_model_server["url"])
    page.locator("#rag-question textarea").wait_for(timeout=60_000)
    page.evaluate(EVENTS_JS)
    _ask(page, "How much OSA funding did Malaysia receive and for what equipment?", 0)
    reply = page.locator("[data-testid=bot]").last
    text = reply.inner_text()
    events = page.evaluate("window.__events")
    if "token" in events:
        assert events.index("evidence") < events.index("token"), events
    refused = page.locator("[data-testid=bot] .rag-refusal").count() == 1
    if not refused:  # an answer must not hand Malaysia the Philippines' radar
        assert "4 million" not in text and "radar" not in text.lower(), text
    page.screenshot(path=str(ARTIFACTS / "ui-default-malaysia.png"))

    _ask(page, "And what about the Philippines?", 1)
    searched = page.locator("#rag-sources").inner_text()
    assert "How much OSA funding did the Philippines receive" in searched, searched[:400]
    assert "Malaysia" not in searched.split("Searched for")[1].split("\n")[0], searched[:400]
