"""`rag serve --replicas N`: answer replicas on Ray Serve (local Ray, 2 CPUs, tiny model)."""

from __future__ import annotations

import threading
import time

import pytest

LAG_S = 0.5  # client-side timing slack between two streams (seen: up to 0.25 s under load)
QUESTIONS = [
    "Which countries are the first recipients of OSA?",
    "Why did the yen fall?",
    "When does coral bleach?",
    "What does sourdough rise with?",
]


@pytest.fixture(scope="module")
def replicas(ray_cluster, fixture_settings, tiny_model_path, model_cache):
    from rag.distributed.serve import deploy, undeploy

    settings = fixture_settings.replace(model_cache=model_cache, max_tokens=24)
    handle = deploy(settings, replicas=2)
    yield handle, settings
    undeploy()


def answer_all(answerer, question: str) -> dict:
    """Events of one turn, with when the first and the last arrived."""
    record = {"question": question, "kinds": [], "answer": None, "error": None}
    try:
        for event in answerer.answer(question):
            record.setdefault("first", time.monotonic())
            record["kinds"].append(event.kind)
            if event.kind == "answer":
                record["answer"] = event.answer
                # The replica is free once it sent the answer; the stream's end comes
                # later, after the replica may already have taken the next question.
                record["last"] = time.monotonic()
    except Exception as exc:  # noqa: BLE001 - the test reports it
        record["error"] = exc
    record.setdefault("last", time.monotonic())
    return record


def test_two_replicas_answer_four_concurrent_questions(replicas):
    from ray import serve

    from rag.distributed.serve import RemoteAnswerer

    handle, settings = replicas
    answerer = RemoteAnswerer(handle, settings, timeout_s=240)
    records: list[dict] = []
    threads = [
        threading.Thread(target=lambda q=q: records.append(answer_all(answerer, q)))
        for q in QUESTIONS
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert len(records) == 4 and all(r["error"] is None for r in records), records
    for r in records:
        assert r["answer"] is not None and r["answer"].question == r["question"]
        assert r["kinds"][0] == "search" and r["kinds"][-1] == "answer"
        assert r["answer"].answer  # an answer or the refusal text, never empty
    # A replica answers one turn at a time, so turns running at once ran on different
    # replicas: two at once, never three. The times are the client's, from two streams
    # read by two threads: an answer event can be taken up to a few tenths of a second
    # after the next question's first event on the freed replica, so each turn is
    # counted from LAG after its first event to LAG before its answer.
    spans = [(r["first"] + LAG_S, r["last"] - LAG_S) for r in records]
    spans = [(start, end) for start, end in spans if start < end]
    at_once = max(sum(1 for s, e in spans if s <= start < e) for start, _ in spans)
    assert at_once == 2, [(r["first"], r["last"]) for r in records]
    status = serve.status().applications["rag-answers"].deployments["answers"]
    assert status.replica_states.get("RUNNING") == 2


def test_the_ui_engine_answers_through_the_replicas(replicas, tmp_path):
    """`Engine.answer`, the call the chat page and the HTTP API make, goes to Ray Serve."""
    from rag.distributed.serve import RemoteAnswerer
    from ui.engine import Engine

    handle, settings = replicas
    engine = Engine(
        settings, tmp_path / "up", tmp_path / "fb.jsonl", answerer=RemoteAnswerer(handle, settings)
    )
    assert engine.remote and engine.warm_up() == []
    events = list(engine.answer(QUESTIONS[1], top_k=2))
    assert [e.kind for e in events][0] == "search" and events[-1].kind == "answer"
    assert events[-1].answer.question == QUESTIONS[1] and events[-1].turn is not None
    assert engine.pipe._generator is None  # no model was loaded in the web process
    assert engine.documents()  # the documents list still reads the index here


def test_killed_replicas_end_their_question_clearly_and_are_replaced(replicas):
    """Both replicas are killed at the question's first event (its search). It then ends
    with the clear error, or with its answer when the tiny model had already finished
    (a race: the scripted tests below pin the error path); it never hangs, and new
    replicas answer the next question."""
    import ray

    from rag.distributed.serve import RemoteAnswerer, ReplicaFailed

    handle, settings = replicas
    answerer = RemoteAnswerer(handle, settings, timeout_s=240)

    def replica_names() -> set[str]:
        return {
            a["name"]
            for a in ray.util.list_named_actors(all_namespaces=True)
            if a["name"].startswith("SERVE_REPLICA::rag-answers#answers")
        }

    killed = replica_names()
    assert len(killed) == 2
    kinds = []
    try:
        for event in answerer.answer(QUESTIONS[0]):
            kinds.append(event.kind)
            if "killed" not in kinds:  # at the first event (the tiny model may refuse early)
                for name in killed:  # whichever replica has the question, it dies now
                    ray.kill(ray.get_actor(name, namespace="serve"), no_restart=True)
                kinds.append("killed")
    except ReplicaFailed as exc:
        assert "the answer replica stopped while answering" in str(exc)
        assert "answer" not in kinds
    assert "killed" in kinds
    # Serve starts new replicas; the next question is answered, not lost or hung.
    record = answer_all(answerer, QUESTIONS[1])
    assert record["error"] is None and record["answer"].question == QUESTIONS[1]
    assert replica_names() and not replica_names() & killed


# -- RemoteAnswerer's failure handling, with a scripted handle (no cluster) -----------
class ScriptedStream:
    """What a streaming handle call returns: events, an exception, or a hang."""

    def __init__(self, script, release: threading.Event):
        self.script, self.release, self.cancelled = script, release, False

    def __iter__(self):
        for step in self.script:
            if step == "hang":
                self.release.wait()
                return
            if isinstance(step, BaseException):
                raise step
            yield step

    def cancel(self):
        self.cancelled = True


class ScriptedHandle:
    def __init__(self, *scripts):
        self.release = threading.Event()
        self.streams = [ScriptedStream(s, self.release) for s in scripts]
        self.calls = 0

    def options(self, stream: bool):
        return self

    @property
    def answer(self):
        return self

    def remote(self, question, turns, options):
        self.calls += 1
        return self.streams[self.calls - 1]


@pytest.fixture
def scripted(ray_installed):
    """A `RemoteAnswerer` over a `ScriptedHandle` playing ``scripts`` (one per call)."""
    return make_scripted


def make_scripted(*scripts, timeout_s: float = 5.0):
    from rag.config import Settings
    from rag.distributed.serve import RemoteAnswerer

    handle = ScriptedHandle(*scripts)
    return handle, RemoteAnswerer(handle, Settings(), timeout_s=timeout_s)


def test_a_question_is_asked_again_when_its_replica_died_before_showing_anything(scripted):
    from ray.exceptions import ActorDiedError

    from rag.answering import TurnEvent
    from rag.pipeline import StreamEvent

    search, token = TurnEvent("search", text="q"), StreamEvent("token", text="Hi")
    done = TurnEvent("answer")
    handle, answerer = scripted([search, ActorDiedError()], [search, token, done])
    assert [e.kind for e in answerer.answer("q")] == ["search", "search", "token", "answer"]
    assert handle.calls == 2


def test_a_replica_dying_mid_answer_is_a_clear_error_without_retry(scripted):
    from ray.exceptions import ActorDiedError

    from rag.distributed.serve import ReplicaFailed
    from rag.pipeline import StreamEvent

    token = StreamEvent("token", text="Half an")
    handle, answerer = scripted([token, ActorDiedError()], [token])
    seen = []
    with pytest.raises(ReplicaFailed, match="please ask again"):
        for event in answerer.answer("q"):
            seen.append(event.text)
    assert seen == ["Half an"] and handle.calls == 1


def test_pipeline_errors_pass_through_and_silence_times_out(scripted):
    from rag.distributed.serve import ReplicaTimeout

    handle, answerer = scripted([ValueError("no index in index/")])
    with pytest.raises(ValueError, match="no index in index/"):
        list(answerer.answer("q"))
    assert handle.calls == 1  # not a replica failure: not asked again

    handle, answerer = scripted(["hang"], timeout_s=0.5)
    started = time.monotonic()
    with pytest.raises(ReplicaTimeout, match="no answer replica replied within 0.5 s"):
        list(answerer.answer("q"))
    assert time.monotonic() - started < 5 and handle.streams[0].cancelled
    handle.release.set()
