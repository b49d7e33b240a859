"""Answer chat turns with shared, loaded resources: the one answering call.

`answer_turn` is what the browser UI and the HTTP API run for every chat turn
(through `ui.engine.Engine.answer`). One `RagPipeline` owns the embedder, the
index and the default model; a turn with other settings (passages, model,
temperature, threshold) gets a light pipeline sharing them. `rag serve
--replicas N` puts an `Answerer` in each Ray Serve replica
(`rag.distributed.serve`), and the web process uses `RemoteAnswerer`, which has
the same methods and events.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from rag.config import Settings
from rag.conversation import Conversation, Rewrite, Turn
from rag.pipeline import RagPipeline, StreamEvent, make_generator


@dataclass
class TurnEvent(StreamEvent):
    """A step of answering one chat turn, besides the pipeline's own events:
    ``rewriting`` (a follow-up is being rewritten), ``search`` (``text`` is the query
    retrieved with) and the final ``answer``, whose ``turn`` is the conversation's new turn.
    """

    turn: Turn | None = None


class Answerer:
    """Loaded resources plus the per-turn answering call."""

    def __init__(self, settings: Settings, pipeline: RagPipeline | None = None):
        self.settings = settings
        self.pipe = pipeline or RagPipeline(settings)
        self._generators: dict[str, object] = {}
        self.load_lock = threading.RLock()  # guards the loaded generators and the index

    def generator(self, model: str):
        """The loaded generator for ``model`` (loaded on first use, then kept)."""
        with self.load_lock:
            if model == self.settings.model:
                gen = self.pipe.generator
            else:
                gen = self._generators.get(model)
                if gen is None:
                    gen = make_generator(self.settings.replace(model=model))
                    self._generators[model] = gen
            gen.warm_up()
            return gen

    def pipeline(
        self,
        top_k: int | None = None,
        model: str | None = None,
        temperature: float | None = None,
        refusal_threshold: float | None = None,
        context_chars: int | None = None,
        drop_unsupported: bool | None = None,
    ) -> RagPipeline:
        """A pipeline with these settings sharing the loaded embedder, index and model."""
        settings = self.settings.replace(
            top_k=int(top_k) if top_k is not None else None,
            model=model or None,
            temperature=temperature,
            refusal_threshold=refusal_threshold,
            context_chars=int(context_chars) if context_chars is not None else None,
            drop_unsupported=drop_unsupported,
        )
        with self.load_lock:
            store = self.pipe.store
        generator = self.generator(settings.model)
        return RagPipeline(settings, embedder=self.pipe.embedder, generator=generator, store=store)

    def answer(
        self, question: str, turns: Sequence[Turn | dict] = (), **options
    ) -> Iterator[StreamEvent]:
        """`answer_turn` with a pipeline of these per-request ``options`` (see `pipeline`)."""
        return answer_turn(self.pipeline(**options), question, turns)

    def rewrite(self, question: str, turns: Sequence[Turn | dict] = (), **options) -> Rewrite:
        """How `answer` would search for ``question`` after ``turns``, without answering it."""
        return Conversation.for_pipeline(self.pipeline(**options), turns).rewrite(question)

    def reload(self) -> None:
        """Read the index again (after an ingest wrote a new version)."""
        with self.load_lock:
            self.pipe.reload_index()


def answer_turn(
    pipe: RagPipeline, question: str, turns: Sequence[Turn | dict] = ()
) -> Iterator[StreamEvent]:
    """Answer one chat turn: the UI and the API get every answer stream here.

    The question is rewritten with the earlier ``turns`` when it is a follow-up
    (`Conversation`), then the pipeline streams ``evidence`` and ``token`` events;
    the last event is a `TurnEvent` ``answer`` carrying the `Answer` and the new `Turn`.
    """
    conversation = Conversation.for_pipeline(pipe, turns)
    if conversation.needs_rewrite(question):
        yield TurnEvent("rewriting")
    follow_up = conversation.follow_up(question)
    yield TurnEvent("search", text=follow_up.rewrite.query)
    for event in follow_up.events():
        if event.kind == "answer":
            yield TurnEvent("answer", answer=event.answer, turn=follow_up.turn)
        else:
            yield event
