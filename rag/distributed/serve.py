"""`rag serve --replicas N`: answer replicas on Ray Serve.

Each replica is an `Answerer` (embedder, index, model loaded once) that answers
one chat turn at a time (llama.cpp holds one context per model), with the CPUs
Ray gave it as llama.cpp threads. Ray Serve routes each question to a free
replica and starts a new replica when one dies. The web process keeps the page
and the API and calls `RemoteAnswerer.answer`, which streams the same events as
the local `Answerer.answer`:

- a question whose replica dies before any evidence or answer text was sent is
  asked again once, on another replica; after that the caller gets
  `ReplicaFailed` with a clear message (never a half answer presented as whole);
- no event for ``timeout_s`` seconds (queued behind other questions included)
  cancels the request and raises `ReplicaTimeout`, so nothing waits forever;
- an error inside the pipeline (missing index, damaged model) reaches the
  caller as its own exception type, as in a local answer.

Ray carries the events between processes with its own serialization; the
cluster is trusted infrastructure (keep its ports private, as Ray's docs say).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from rag.answering import Answerer
from rag.config import Settings
from rag.conversation import Rewrite, Turn
from rag.distributed import cluster_cpus
from rag.pipeline import StreamEvent

log = logging.getLogger("rag.distributed")

APP_NAME = "rag-answers"
DEFAULT_TIMEOUT_S = 300.0  # longest silence between two events of an answer
VISIBLE = ("evidence", "token", "answer")  # events a user sees: no retry after one


class ReplicaFailed(RuntimeError):
    """The replica answering a question died; the question can be asked again."""


class ReplicaTimeout(RuntimeError):
    """No answer replica replied in time."""


class AnswerReplica:
    """Ray Serve deployment body: an `Answerer` that follows the index's versions."""

    def __init__(self, settings: Settings):
        self.answerer = Answerer(settings)
        self.answerer.generator(settings.model)
        self.answerer.pipe.embedder.warm_up()
        self._version = self._current_version()
        self.answerer.pipe.retriever  # noqa: B018 - load the index now, not on the first question

    def _current_version(self) -> str:
        return os.path.realpath(Path(self.answerer.settings.index_dir) / "current")

    def _follow_index(self) -> None:
        """Read the index again when an ingest (an upload in the UI) made a new version."""
        version = self._current_version()
        if version != self._version:
            self.answerer.reload()
            self._version = version

    def answer(self, question: str, turns: list, options: dict) -> Iterator[StreamEvent]:
        self._follow_index()
        yield from self.answerer.answer(question, turns, **options)

    def rewrite(self, question: str, turns: list, options: dict) -> Rewrite:
        self._follow_index()
        return self.answerer.rewrite(question, turns, **options)

    def pid(self) -> int:
        return os.getpid()


def deploy(settings: Settings, replicas: int, cpus_per_replica: int | None = None):
    """Start (or update) the answer deployment on the connected cluster; its handle.

    Each replica gets ``cpus_per_replica`` CPUs (default: the cluster's CPUs shared
    out) and uses them as llama.cpp threads. Blocks until every replica is ready.
    """
    import ray
    from ray import serve

    if replicas < 1:
        raise ValueError(f"replicas must be >= 1, got {replicas}")
    cpus = cpus_per_replica or max(1, cluster_cpus(ray) // replicas)
    replica_settings = settings.replace(n_threads=cpus, n_threads_batch=cpus)
    serve.start(proxy_location="Disabled", logging_config={"log_level": "WARNING"})
    deployment = serve.deployment(
        AnswerReplica,
        name="answers",
        num_replicas=replicas,
        max_ongoing_requests=1,  # one llama.cpp context per replica: one turn at a time
        ray_actor_options={"num_cpus": cpus},
        health_check_period_s=2.0,
        health_check_timeout_s=30.0,
        graceful_shutdown_timeout_s=5.0,
    )
    return serve.run(deployment.bind(replica_settings), name=APP_NAME, route_prefix=None)


def undeploy() -> None:
    from ray import serve

    serve.delete(APP_NAME)


class RemoteAnswerer:
    """`Answerer`'s answering calls, answered by the replicas behind ``handle``."""

    def __init__(self, handle, settings: Settings, timeout_s: float = DEFAULT_TIMEOUT_S):
        self.handle = handle
        self.settings = settings
        self.timeout_s = timeout_s

    def answer(
        self, question: str, turns: Sequence[Turn | dict] = (), **options
    ) -> Iterator[StreamEvent]:
        """Stream one chat turn from a replica (see the module notes on failures)."""
        for attempt in (1, 2):
            shown = False
            try:
                for event in self._events(question, list(turns), options):
                    shown = shown or event.kind in VISIBLE
                    yield event
                return
            except ReplicaFailed:
                if shown or attempt == 2:
                    raise
                log.warning("answer replica died before answering %r; asking again", question)

    def rewrite(self, question: str, turns: Sequence[Turn | dict] = (), **options) -> Rewrite:
        response = self.handle.rewrite.remote(question, list(turns), options)
        try:
            return response.result(timeout_s=self.timeout_s)
        except TimeoutError as exc:
            response.cancel()
            raise ReplicaTimeout(self._timeout_message()) from exc
        except Exception as exc:
            lost = _lost(exc)
            if lost is None:
                raise
            raise lost from exc

    def reload(self) -> None:
        """Nothing to do: each replica follows the index's current version by itself."""

    def _timeout_message(self) -> str:
        return (
            f"no answer replica replied within {self.timeout_s:g} s (all busy or "
            "restarting); please ask again"
        )

    def _events(self, question: str, turns: list, options: dict) -> Iterator[StreamEvent]:
        """The replica's events, read by a thread so that waiting can time out."""
        stream = self.handle.options(stream=True).answer.remote(question, turns, options)
        inbox: queue.Queue = queue.Queue()

        def pump() -> None:
            try:
                for event in stream:
                    inbox.put(("event", event))
                inbox.put(("end", None))
            except BaseException as exc:  # handed to the caller's thread
                inbox.put(("error", exc))

        threading.Thread(target=pump, name="replica-stream", daemon=True).start()
        while True:
            try:
                kind, value = inbox.get(timeout=self.timeout_s)
            except queue.Empty:
                stream.cancel()
                raise ReplicaTimeout(self._timeout_message()) from None
            if kind == "end":
                return
            if kind == "error":
                lost = _lost(value)
                if lost is None:
                    raise value
                raise lost from value
            yield value


def _lost(exc: BaseException) -> ReplicaFailed | None:
    """`ReplicaFailed` when ``exc`` says the replica process is gone, else None."""
    from ray import exceptions

    gone = (
        exceptions.RayActorError,
        exceptions.ActorUnavailableError,
        exceptions.WorkerCrashedError,
    )
    if isinstance(exc, gone):
        return ReplicaFailed(
            "the answer replica stopped while answering (it is being replaced); please ask again"
        )
    return None
