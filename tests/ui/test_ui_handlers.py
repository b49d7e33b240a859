"""The chat page's event handlers, called directly (real index and embedder, fake model)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from rag.models import MODELS, ModelError, ModelSpec
from ui.app import build_app, parse_auth
from ui.handlers import ChatUI, message_text, normalize_history

QUESTION = "Which countries are the first recipients of Japan's OSA?"
REPLY = "The first recipients of OSA are Malaysia, the Philippines, Bangladesh, and Fiji [1]."


def ask(ui: ChatUI, question: str, history=None, session=None, **settings):
    names = ("top_k", "model", "temperature", "threshold", "context_chars", "drop_unsupported")
    values = [settings.get(k) for k in names]
    return list(ui.respond(question, history or [], session, *values))


def test_message_content_as_string_or_parts():
    assert message_text("hi") == "hi"
    assert message_text([{"type": "text", "text": "Which "}, {"type": "text", "text": "OSA?"}]) == (
        "Which OSA?"
    )
    assert message_text({"text": "x", "files": []}) == "x"
    assert message_text(None) == ""
    history = [
        {"role": "user", "content": [{"type": "text", "text": "q"}]},
        {"role": "assistant", "content": "<div>a</div>", "metadata": None},
    ]
    assert normalize_history(history) == [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "<div>a</div>"},
    ]


def test_answer_streams_then_renders_citations_and_sources(ui_settings, make_engine):
    ui = ChatUI(make_engine(ui_settings, REPLY))
    updates = ask(ui, QUESTION)
    chats = [u[1][-1]["content"] for u in updates]
    assert "Searching the documents" in chats[0]
    streamed = [c for c in chats if 'class="rag-cursor"' in c]
    assert len(streamed) >= 5  # one update per token, growing
    assert len(streamed[1]) > len(streamed[0])
    textbox, chat, session, sources, _banner = updates[-1]
    assert textbox == "" and [m["role"] for m in chat] == ["user", "assistant"]
    assert 'class="rag-answer"' in chat[-1]["content"]
    assert 'class="rag-cite" href="#rag-src-' in chat[-1]["content"]
    assert "<mark>The first recipients of OSA are Malaysia" in sources
    assert "osa" in sources.lower() and "score 0." in sources
    assert len(session.turns) == 1 and session.turns[0].method == "none"


def test_evidence_is_shown_before_the_answer(ui_settings, make_engine):
    """The sentences the model names are shown (sources panel) before any answer text."""
    ui = ChatUI(make_engine(ui_settings, REPLY))
    updates = ask(ui, QUESTION)
    panels = [i for i, u in enumerate(updates) if isinstance(u[3], str) and "Bangladesh" in u[3]]
    assert panels, "the evidence is shown"
    first_text = next(i for i, u in enumerate(updates) if "recipients" in u[1][-1]["content"])
    assert panels[0] < first_text
    assert "Writing from the highlighted evidence" in updates[panels[0]][1][-1]["content"]


def test_follow_up_is_rewritten_before_retrieval(ui_settings, make_engine):
    ui = ChatUI(make_engine(ui_settings, REPLY))
    *_, first = ask(ui, QUESTION)
    *_, last = ask(ui, "And how much did each of them get?", first[1], first[2])
    chat, session, sources = last[1], last[2], last[3]
    turn = session.turns[-1]
    assert turn.method in ("model", "heuristic")
    assert "OSA" in turn.search_query
    assert turn.answer.standalone_question == turn.search_query
    assert turn.answer.retrieved[0].source.endswith("osa.txt")
    assert "Searched for: <q>And how much did each of them get?" in sources
    assert len(chat) == 4 and sources.count('class="rag-older"') == 1


def test_separate_sessions_keep_separate_histories(ui_settings, make_engine):
    ui = ChatUI(make_engine(ui_settings, REPLY))
    *_, a = ask(ui, QUESTION)
    *_, b = ask(ui, "How do bakers feed a sourdough starter?")
    assert len(a[2].turns) == 1 and len(b[2].turns) == 1
    assert b[2].turns[0].method == "none"  # nothing from session a leaks in


def test_settings_change_the_request(ui_settings, make_engine):
    ui = ChatUI(make_engine(ui_settings, REPLY))
    *_, last = ask(ui, QUESTION, top_k=1, threshold=0.95, temperature=0.3)
    answer = last[2].turns[0].answer
    assert answer.refused and len(answer.retrieved) == 1
    assert 'class="rag-refusal"' in last[1][-1]["content"]
    assert "threshold 0.95" in last[1][-1]["content"]


def test_context_budget_and_dropping_unsupported_sentences(ui_settings, make_engine):
    """The settings tab's context budget and "hide unsupported sentences" reach the
    pipeline; with the latter on, a sentence no passage supports is not shown."""
    made_up = "The programme's budget is 987 trillion yen [1]."
    ui = ChatUI(make_engine(ui_settings, f"{REPLY} {made_up}"))
    pipe = ui.engine.pipeline(context_chars=0, drop_unsupported=True)
    assert pipe.settings.context_chars == 0 and pipe.settings.drop_unsupported is True
    *_, shown = ask(ui, QUESTION, drop_unsupported=False)  # (dropping is the default now)
    assert "987 trillion" in shown[1][-1]["content"]  # shown, marked unsupported
    *_, hidden = ask(ui, QUESTION, context_chars=0, drop_unsupported=True)
    content = hidden[1][-1]["content"]
    assert "987 trillion" not in content and "Malaysia" in content


def test_missing_index_shows_the_fix_not_a_traceback(tmp_path, make_engine, ui_settings):
    settings = ui_settings.replace(index_dir=tmp_path / "no-index")
    ui = ChatUI(make_engine(settings, REPLY))
    *_, last = ask(ui, QUESTION)
    message = last[1][-1]["content"]
    assert 'class="rag-error"' in message
    assert f"<code>rag ingest {settings.corpus_dir} --index-dir {settings.index_dir}</code>" in (
        message
    )
    assert "Traceback" not in message
    banner = last[4]
    assert banner["visible"] is True and "rag ingest" in banner["value"]


def test_missing_model_shows_install_command(ui_settings, make_engine):
    engine = make_engine(ui_settings, REPLY)

    def missing(model):
        raise ModelError(f"model '{model}' is not installed", f"rag models install {model}")

    engine.generator = missing
    *_, last = ask(ChatUI(engine), QUESTION, model="qwen2.5-0.5b")
    assert "<code>rag models install qwen2.5-0.5b</code>" in last[1][-1]["content"]


def test_damaged_model_banner_asks_for_force_missing_model_does_not(
    ui_settings, make_engine, monkeypatch
):
    """A present but wrong model file (size or sha256) needs `install NAME --force`."""
    data = b"GGUF" + bytes(range(256)) * 4
    parts = (("fake-ui-a", "fake_ui_a/x.bin"), ("fake-ui-b", "fake_ui_b/y.bin"))
    spec = ModelSpec.gguf("fake-ui", "fake", "fake-ui.gguf", len(data),
                          hashlib.sha256(data).hexdigest(), ("fake-ui-a==1", "fake-ui-b==1"),
                          parts)  # fmt: skip
    monkeypatch.setitem(MODELS, spec.name, spec)
    engine = make_engine(ui_settings.replace(model=spec.name))
    ui = ChatUI(engine)
    path = engine.settings.model_cache / spec.filename

    def model_problems():
        return [p for p in engine.problems() if "fake-ui" in p[0]]

    assert model_problems() == [
        ("The model 'fake-ui' is not installed.", "rag models install fake-ui")
    ]

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data[:-10])  # truncated
    ((message, command),) = model_problems()
    assert command == "rag models install fake-ui --force"
    assert "damaged" in message and "truncated or wrong file" in message and "`" not in message
    banner = ui.status()[0]
    assert banner["visible"] is True
    assert "<code>rag models install fake-ui --force</code>" in banner["value"]

    path.write_bytes(data[:-1] + b"!")  # right size, wrong bytes
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    ((message, command),) = model_problems()
    assert command == "rag models install fake-ui --force" and "sha256" in message

    path.write_bytes(data)  # repaired
    assert model_problems() == []


def test_over_long_question_is_refused_before_any_model_call(ui_settings, make_engine):
    engine = make_engine(ui_settings.replace(max_question_chars=200), REPLY)
    ui = ChatUI(engine)
    *_, first = ask(ui, QUESTION)
    calls = len(engine.fake.calls)
    long_follow_up = "And how much did each of them get? " + "Please explain it. " * 20
    updates = ask(ui, long_follow_up, first[1], first[2])
    assert len(updates) == 1  # no "searching" step: nothing was started
    textbox, chat, session, sources, _banner = updates[0]
    assert textbox == long_follow_up.strip()  # kept, to be shortened
    assert len(engine.fake.calls) == calls  # no rewrite, no answer
    assert len(session.turns) == 1  # the over-long question is not a turn
    message = chat[-1]["content"]
    assert 'class="rag-error"' in message and "Traceback" not in message
    assert f"{len(long_follow_up.strip())} characters long and the limit is 200" in message
    assert chat[-2] == {"role": "user", "content": long_follow_up.strip()}
    *_, last = ask(ui, "And how much did each of them get?", chat, session)
    assert last[2].turns[-1].method in ("model", "heuristic")  # history still usable


def test_unexpected_error_is_a_short_message(ui_settings, make_engine):
    engine = make_engine(ui_settings, REPLY)
    engine.pipeline = lambda *a, **k: 1 / 0
    *_, last = ask(ChatUI(engine), QUESTION)
    message = last[1][-1]["content"]
    assert "unexpected error (ZeroDivisionError)" in message and "Traceback" not in message


def test_empty_question_does_nothing(ui_settings, make_engine):
    (update,) = ask(ChatUI(make_engine(ui_settings, REPLY)), "   ")
    assert update[1] == []


def test_feedback_thumbs_and_comment(ui_settings, make_engine):
    engine = make_engine(ui_settings, REPLY)
    ui = ChatUI(engine)
    *_, last = ask(ui, QUESTION)
    chat, session = last[1], last[2]
    session, row, _box, note = ui.like(False, chat[-1]["content"], session)
    assert row["visible"] is True and "👎" in note
    session, row, *_ = ui.comment("Missing the budget figure", session)
    assert row["visible"] is False
    lines = [json.loads(x) for x in engine.feedback_file.read_text().splitlines()]
    assert [r["rating"] for r in lines] == ["down", "down"]
    assert lines[0]["id"] == lines[1]["id"] and lines[1]["comment"] == "Missing the budget figure"
    assert lines[0]["question"] == QUESTION and lines[0]["citations"][0]["n"] == 1
    assert lines[0]["answer"].startswith("The first recipients")
    # feedback on something that is not an answer is ignored
    _, row, *_ = ui.like(True, chat[0]["content"], session)
    assert row["visible"] is False
    assert len(engine.feedback_file.read_text().splitlines()) == 2


def test_upload_index_search_and_delete(tmp_path, ui_settings, make_engine):
    engine = make_engine(ui_settings, "The code word is pelican-42 [1].")
    engine.max_upload_bytes = 4096
    ui = ChatUI(engine)
    upload_dir = tmp_path / "gradio-cache"
    upload_dir.mkdir()
    good = upload_dir / "harbour notes.txt"
    good.write_text("The secret harbour code word for the OSA radar delivery is pelican-42.")
    evil = upload_dir / "..%2F..%2Fevil.exe"
    evil.write_bytes(b"MZ\x90\x00")
    big = upload_dir / "big.md"
    big.write_text("x" * 5000)
    status, table, dropdown, _banner, file_value = ui.upload([str(good), str(evil), str(big)])
    assert "Indexed harbour notes.txt" in status and "searchable now" in status
    assert "is not allowed" in status and "too large" in status
    assert file_value is None
    assert "harbour notes" in table and 'class="rag-tag">uploaded' in table
    stored = engine.uploads_dir / "harbour notes.txt"
    assert stored.is_file() and sorted(p.name for p in engine.uploads_dir.iterdir()) == [
        "harbour notes.txt"
    ]
    sources = [value for _label, value in dropdown["choices"]]
    assert any(s.endswith("harbour notes.txt") for s in sources)

    *_, last = ask(ui, "What is the harbour code word for the radar delivery?")
    answer = last[2].turns[0].answer
    assert answer.retrieved[0].source.endswith("harbour notes.txt")
    assert not answer.refused and answer.citations[0].source.endswith("harbour notes.txt")

    source = next(s for s in sources if s.endswith("harbour notes.txt"))
    status, table, dropdown, _banner = ui.delete(source)
    assert "Deleted harbour notes.txt" in status
    assert "harbour notes" not in table and not stored.exists()
    assert all(not v.endswith("harbour notes.txt") for _l, v in dropdown["choices"])
    assert "osa.txt" in table  # the rest of the index is untouched
    *_, last = ask(ui, "What is the harbour code word for the radar delivery?")
    assert not last[2].turns[0].answer.retrieved[0].source.endswith("harbour notes.txt")


def test_upload_rejects_a_duplicate_of_an_indexed_document(tmp_path, ui_settings, make_engine):
    engine = make_engine(ui_settings)
    copy = tmp_path / "copy-of-osa.txt"
    copy.write_bytes((Path(ui_settings.corpus_dir) / "osa.txt").read_bytes())
    status, *_ = ChatUI(engine).upload([str(copy)])
    assert "duplicate of" in status
    assert not (engine.uploads_dir / "copy-of-osa.txt").exists()


def test_page_status_and_app_builds(ui_settings, make_engine):
    engine = make_engine(ui_settings)
    banner, table, dropdown = ChatUI(engine).status()
    assert banner["visible"] is False and "2 documents" in table
    assert len(dropdown["choices"]) == 2
    demo = build_app(ui_settings, engine=engine)
    assert demo.rag_engine is engine


def test_parse_auth():
    assert parse_auth("ann:s3cret:x") == ("ann", "s3cret:x")
    assert parse_auth(None) is None and parse_auth("") is None
    for bad in ("nocolon", ":pw", "user:"):
        with pytest.raises(ValueError):
            parse_auth(bad)


class _FakeDemo:
    def __init__(self):
        self.calls = {}

    def queue(self, **kwargs):
        self.calls["queue"] = kwargs
        return self

    def launch(self, **kwargs):
        self.calls["launch"] = kwargs


def test_serve_binds_localhost_queues_and_warns_without_auth(monkeypatch, capsys, ui_settings):
    import ui.app as app_module
    import ui.server as server_module

    demo = _FakeDemo()
    served = {}
    monkeypatch.setattr(app_module, "build_app", lambda settings, engine: demo)

    def server_app(demo, engine, launch_kwargs, host, port, auth, api_key, concurrency):
        served.update(launch=launch_kwargs, host=host, auth=auth, api_key=api_key)
        return "app"

    monkeypatch.setattr(server_module, "server_app", server_app)
    monkeypatch.setattr(server_module, "run", lambda app, host, port: served.update(ran=app))
    app_module.serve(ui_settings, concurrency=3, warm_up=False)
    assert demo.calls["queue"] == {"default_concurrency_limit": 3}
    assert served["host"] == "127.0.0.1" and served["auth"] is None and served["ran"] == "app"
    launch = served["launch"]
    assert launch["allowed_paths"] == [] and launch["max_file_size"] == 20 * 1024 * 1024
    assert "warning" not in capsys.readouterr().err

    app_module.serve(ui_settings, host="0.0.0.0", warm_up=False)
    assert "without --auth" in capsys.readouterr().err
    app_module.serve(ui_settings, host="0.0.0.0", auth=("u", "p"), warm_up=False)
    assert "without --auth" not in capsys.readouterr().err
    assert served["auth"] == ("u", "p")


def test_cli_serve_options(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    import ui.app as app_module
    from rag_app.cli import app

    seen = {}
    monkeypatch.setattr(app_module, "serve", lambda settings, **kw: seen.update(kw, s=settings))
    runner = CliRunner()
    result = runner.invoke(app, ["serve", "--auth", "nocolon"])
    assert result.exit_code == 2 and "user:password" in result.output
    monkeypatch.setenv("RAG_AUTH", "ann:pw")
    result = runner.invoke(
        app, ["serve", "--port", "7999", "--index-dir", str(tmp_path), "--concurrency", "2"]
    )
    assert result.exit_code == 0, result.output
    assert seen["auth"] == ("ann", "pw") and seen["port"] == 7999 and seen["concurrency"] == 2
    assert seen["host"] == "127.0.0.1" and seen["s"].index_dir == tmp_path

    def busy(settings, **kw):
        raise OSError("Cannot find empty port in range: 7999-7999")

    monkeypatch.setattr(app_module, "serve", busy)
    result = runner.invoke(app, ["serve", "--port", "7999"])
    assert result.exit_code == 1 and "cannot serve on 127.0.0.1:7999" in result.output
    assert "Traceback" not in result.output


def test_uploaded_pdf_is_cited_with_its_page(ui_settings, make_engine, shared_dir):
    name = "2024-04-11-japan-philippines-us-joint-vision-statement.pdf"
    reply = (
        "The U.S. and Japan coordinate support for Philippine defense modernization priorities [1]."
    )
    ui = ChatUI(make_engine(ui_settings, reply))
    status, table, *_ = ui.upload([str(shared_dir / "corpus" / "osa-pdf" / name)])
    assert f"Indexed {name}" in status
    assert '<td class="num">7</td>' in table  # 7 pages
    *_, last = ask(ui, "How do Japan and the U.S. support Philippine defense modernization?")
    answer = last[2].turns[0].answer
    assert not answer.refused, answer.refusal_reason
    cited = next(c for c in answer.citations if c.source.endswith(".pdf"))
    assert cited.page == 6
    assert '<span class="rag-page">p. 6</span>' in last[3]
    assert f', p. 6">[{cited.n}]</a>' in last[1][-1]["content"]  # the marker names the page


def test_the_session_is_a_typed_record_that_round_trips(ui_settings, make_engine):
    from ui.session import ChatSession

    ui = ChatUI(make_engine(ui_settings, REPLY))
    *_, first = ask(ui, QUESTION)
    *_, last = ask(ui, "And how much did each of them get?", first.chat, first.session)
    session = last.session
    assert [t.method for t in session.turns][0] == "none" and len(session.turns) == 2
    feedback = ui.like(True, last.chat[-1]["content"], session)
    pending = feedback.session.pending
    assert pending.rating == "up" and session.feedback[pending.aid] == pending.feedback_id
    data = json.loads(json.dumps(session.to_dict()))  # plain JSON values
    assert ChatSession.from_dict(data) == session
