"""Answer, refusal, sources, banner and document rendering (pure functions, no browser)."""

from __future__ import annotations

import re

from uihelpers import INJECTED, SEED_TEXT, make_answer

from rag.types import DocumentInfo
from ui.render import (
    citation_panel_data,
    esc,
    evidence_spans,
    highlight,
    merge_spans,
    render_answer,
    render_banner,
    render_documents,
    render_error,
    render_refusal,
    render_sources,
    render_streaming,
)
from ui.session import SessionTurn


def test_answer_has_clickable_markers_pointing_at_sources():
    html = render_answer(make_answer(), "a1")
    assert 'id="rag-ans-a1"' in html
    assert '<a class="rag-cite" href="#rag-src-a1-1"' in html
    assert '<a class="rag-cite" href="#rag-src-a1-2"' in html
    assert re.search(r"and Fiji <a class=\"rag-cite\"[^>]*>\[1\]</a>\.", html)  # marker, then "."
    sources = render_sources([SessionTurn("a1", make_answer())])
    for n in (1, 2):
        assert f'id="rag-src-a1-{n}"' in sources  # every marker has a target


def test_unsupported_sentence_is_marked():
    html = render_answer(make_answer(), "a1")
    assert re.search(r'class="rag-unsupported"[^>]*>Japan invented OSA in 1954\.', html)
    assert 'class="rag-flag">unsupported' in html
    supported = html.split("rag-unsupported")[0]
    assert "Malaysia" in supported


def test_citation_panel_data_lists_cited_passages_with_highlight():
    answer = make_answer()
    rows = citation_panel_data(answer)
    assert [r["n"] for r in rows] == [1, 2]  # cited only, not passage 3
    seed = rows[0]
    assert seed["title"] == "Japan's OSA <seed>" and seed["page"] is None
    assert seed["score"] == 0.6421
    (start, end), = seed["highlights"]  # fmt: skip
    assert SEED_TEXT[start:end].startswith("The OSA's initial pool of recipients")
    assert SEED_TEXT[start:end].endswith("Fiji.")
    assert rows[1]["page"] == 6
    assert evidence_spans(answer) == {1: [(start, end)], 2: [(0, 5)]}


def test_sources_panel_shows_title_page_score_and_marked_sentence():
    html = render_sources([SessionTurn("a1", make_answer(), "q1")])
    assert "Japan&#x27;s OSA &lt;seed&gt;" in html
    assert '<span class="rag-page">p. 6</span>' in html
    assert "score 0.64" in html and "score 0.51" in html
    assert "<mark>The OSA&#x27;s initial pool of recipients includes Malaysia" in html
    assert "Searched for: <q>q1</q>" in html
    assert "Also retrieved, not cited: Other (0.33)" in html


def test_rewritten_follow_up_is_shown():
    answer = make_answer(standalone="how much did each get (recipients OSA)")
    assert "Follow-up searched as: <q>how much did each get (recipients OSA)</q>" in (
        render_answer(answer, "b")
    )
    html = render_sources([SessionTurn("b", answer, answer.standalone_question, "heuristic")])
    assert "Searched for: <q>how much did each get (recipients OSA)</q>" in html
    assert "follow-up expanded" in html


def test_latest_answer_first_and_older_folded():
    first, second = make_answer(), make_answer(refused=True)
    html = render_sources([SessionTurn("a1", first), SessionTurn("a2", second)])
    assert html.index("rag-grp-a2") < html.index("rag-grp-a1")
    assert html.count('<details class="rag-older">') == 1


def test_refusal_looks_different_and_says_what_was_searched():
    answer = make_answer(refused=True, standalone="moon composition")
    html = render_answer(answer, "r1")
    assert 'class="rag-refusal"' in html and "rag-answer" not in html
    assert "No answer in the documents" in html
    assert "best score 0.21 &lt; threshold 0.30" in html
    assert "Searched for <q>moon composition</q>" in html
    assert "Japan&#x27;s OSA &lt;seed&gt;" in html and "Joint Vision, p. 6" in html
    assert '<a class="rag-cite" href="#rag-src-r1-1"' in html
    panel = render_sources([SessionTurn("r1", answer)])
    assert 'id="rag-src-r1-2"' in panel and "No answer:" in panel
    assert "<mark>" not in panel  # nothing supported, nothing highlighted


def test_refusal_of_an_unsupported_draft_can_show_it():
    answer = make_answer(refused=True)
    assert "rag-draft" not in render_refusal(answer, "r")
    answer.sentences = make_answer().sentences[2:]
    answer.refusal_reason = "the drafted answer is not supported by the retrieved passages"
    html = render_refusal(answer, "r")
    assert "Show the unsupported draft</summary>Japan invented OSA in 1954.</details>" in html


def test_refusal_with_nothing_retrieved():
    answer = make_answer(refused=True)
    answer.retrieved = []
    assert "nothing found" in render_refusal(answer, "r")
    assert "Nothing was retrieved" in render_sources([SessionTurn("r", answer)])


def test_all_document_text_is_escaped():
    answer = make_answer()
    outputs = [
        render_answer(answer, "a1"),
        render_sources([SessionTurn("a1", answer)]),
        render_refusal(make_answer(refused=True), "r"),
        render_streaming(INJECTED),
        render_error(INJECTED, "rag ingest <x>"),
        render_documents([DocumentInfo("<b>.txt", INJECTED, "h", chunks=2)]),
        render_banner([(INJECTED, None)]),
    ]
    for html in outputs:
        assert "<script" not in html and "<img" not in html and "<b>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in outputs[1]
    assert "It also mentions &lt;b&gt;clicks&lt;/b&gt;" in outputs[0]


def test_highlight_merges_and_clips_spans():
    assert merge_spans([(5, 9), (0, 3), (2, 4), (8, 50), (7, 7)], 20) == [(0, 4), (5, 20)]
    assert highlight("a<b>c", [(1, 4)]) == "a<mark>&lt;b&gt;</mark>c"
    assert highlight("abc", []) == "abc"
    assert esc(None) == ""


def test_streaming_and_error_messages():
    assert "Searching" in render_streaming("")
    assert 'class="rag-cursor"' in render_streaming("Malaysia")
    html = render_error("No document index in index/ yet.", "rag ingest corpus")
    assert "<code>rag ingest corpus</code>" in html and "Traceback" not in html


def test_banner_and_documents_table():
    assert render_banner([]) == ""
    banner = render_banner([("The model 'x' is not installed.", "rag models install x")])
    assert "<code>rag models install x</code>" in banner and 'role="alert"' in banner
    docs = [
        DocumentInfo("corpus/a.md", "A", "h1", chunks=3),
        DocumentInfo(".rag/uploads/b.pdf", "B", "h2", pages=7, chunks=5),
    ]
    html = render_documents(docs, uploaded={".rag/uploads/b.pdf"})
    assert "2 documents · 8 passages" in html
    assert html.count('class="rag-tag">uploaded') == 1
    assert '<td class="num">5</td><td class="num">7</td>' in html
    assert "No documents" in render_documents([])
