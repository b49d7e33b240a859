"""Concurrency: 8 chat sessions at once against a running `rag serve` (tiny model).

Each session is its own `gradio_client.Client` (its own Gradio session and
server-side state) and asks about its own project code name. All sessions
start together; the server generates one answer at a time and queues the rest.
Every request must be answered (answer or refusal, never an error), each
session's chat history and sources must hold only its own questions, and the
server log must stay free of tracebacks. Throughput is recorded.

CI: 8 sessions x 2 turns (a generated answer and a refusal), answers capped at
40 tokens. `RAG_STRESS=full`: 8 sessions x 4 turns (adds a follow-up that is
rewritten in context and a second answer), 128 tokens. `RAG_SESSIONS=n` overrides.
"""

from __future__ import annotations

import html
import re
import threading
import time

from .conftest import SESSION_TOPICS
from .relhelpers import FULL, read_log_since, record_figures, stress_count, unsafe_html

SESSIONS = stress_count("RAG_SESSIONS", ci=8, full=8)
OFF_TOPIC = "What is the boiling point of liquid nitrogen at sea level?"
SEARCHED = re.compile(r"Searched for: <q>(.*?)</q>")
EARLIER = re.compile(r"<summary>Earlier: (.*?)</summary>")
REWRITE = re.compile(r"Follow-up searched as: <q>(.*?)</q>")


def turns_for(name: str) -> list[str]:
    first = f"What did Project {name} do?"
    if not FULL:
        return [first, OFF_TOPIC]
    return [first, "And when was it done?", OFF_TOPIC, f"How big was Project {name}?"]


def text_of(message: dict) -> str:
    content = message["content"]
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return str(content)


def run_session(url, auth, name, barrier, results, errors):
    from gradio_client import Client

    try:
        client = Client(url, auth=auth, verbose=False)
        history: list = []
        record = {"name": name, "latencies": [], "chats": [], "sources": []}
        barrier.wait(timeout=120)
        for question in turns_for(name):
            started = time.monotonic()
            textbox, chat, sources, _banner = client.predict(question, history, api_name="/respond")
            record["latencies"].append(time.monotonic() - started)
            record["chats"].append(chat)
            record["sources"].append(sources)
            history = chat
        results[name] = record
    except Exception as exc:  # reported by the test
        errors.append(f"{name}: {type(exc).__name__}: {exc}")


def test_eight_sessions_at_once_are_all_answered_and_never_mixed(server):
    names = list(SESSION_TOPICS)[:SESSIONS]
    offset = server["log"].stat().st_size
    barrier = threading.Barrier(len(names))
    results: dict[str, dict] = {}
    errors: list[str] = []
    threads = [
        threading.Thread(
            target=run_session,
            args=(server["url"], server["auth"], name, barrier, results, errors),
        )
        for name in names
    ]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=900)
    wall = time.monotonic() - started
    assert not errors, errors
    assert sorted(results) == sorted(names)

    answered = refused = 0
    for name, record in results.items():
        others = [n for n in names if n != name]
        asked = turns_for(name)
        for i, (chat, sources) in enumerate(zip(record["chats"], record["sources"], strict=True)):
            users = [text_of(m) for m in chat if m["role"] == "user"]
            assert users == asked[: i + 1], f"{name}: history is not this session's"
            assert [m["role"] for m in chat] == ["user", "assistant"] * (i + 1)
            last = text_of(chat[-1])
            assert "rag-error" not in last, f"{name} turn {i}: {last[:300]}"
            assert 'class="rag-answer"' in last or 'class="rag-refusal"' in last
            answered += 'class="rag-answer"' in last
            refused += 'class="rag-refusal"' in last
            # What the server kept of the conversation: the queries searched, the
            # earlier questions folded in the sources, follow-up rewrites.
            searched = [html.unescape(q) for q in SEARCHED.findall(sources)]
            folded = [html.unescape(q) for q in EARLIER.findall(sources)]
            rewrites = [html.unescape(q) for q in REWRITE.findall(last)]
            assert folded == list(reversed(asked[:i])), f"{name}: earlier turns {folded}"
            assert len(searched) == i + 1  # one group per answer, newest first
            assert searched[0] == asked[i] or name in searched[0], (name, searched[0])
            for text in searched + folded + rewrites:
                for other in others:
                    assert f"Project {other}" not in text, f"{name} got {other}'s turn: {text}"
            assert unsafe_html(last + sources) == []
        first = text_of(record["chats"][0][-1])
        assert 'class="rag-answer"' in first or 'class="rag-refusal"' in first

    log = read_log_since(server["log"], offset)
    assert "Traceback" not in log and "ERROR" not in log, log[-3000:]
    requests = sum(len(r["latencies"]) for r in results.values())
    latencies = sorted(x for r in results.values() for x in r["latencies"])
    record_figures(
        "concurrency",
        {
            "sessions": len(names),
            "turns_per_session": len(turns_for(names[0])),
            "requests": requests,
            "answered": answered,
            "refused": refused,
            "errors": 0,
            "wall_seconds": round(wall, 1),
            "throughput_requests_per_minute": round(60 * requests / wall, 1),
            "latency_median_s": round(latencies[len(latencies) // 2], 1),
            "latency_max_s": round(latencies[-1], 1),
        },
    )


def test_queue_survives_a_client_that_leaves_mid_answer(server):
    """A session that disconnects while its answer streams must not block the others."""
    from gradio_client import Client

    offset = server["log"].stat().st_size
    leaver = Client(server["url"], auth=server["auth"], verbose=False)
    job = leaver.submit("What did Project Aster do?", [], api_name="/respond")
    time.sleep(1.0)
    job.cancel()
    leaver.close()
    stayer = Client(server["url"], auth=server["auth"], verbose=False)
    started = time.monotonic()
    _, chat, _, _ = stayer.predict("What did Project Birch do?", [], api_name="/respond")
    assert time.monotonic() - started < 240
    assert "rag-error" not in text_of(chat[-1])
    assert "Traceback" not in read_log_since(server["log"], offset)
