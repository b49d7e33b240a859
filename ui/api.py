"""OpenAI-compatible HTTP API under ``/v1``, served by `rag serve` beside the chat page.

``GET /v1/models`` lists the configured model; ``POST /v1/chat/completions``
answers the last user message, with the earlier turns used to rewrite a
follow-up exactly as the chat page does (`Engine.answer`). The checked answer
is the message content (with a plain "Sources" list); the citations, evidence,
refusal flag and reason and confidence are in the extra ``rag`` field
(`ui/api_schema.py`). With ``stream: true`` the reply is server-sent
``chat.completion.chunk`` events ending with ``data: [DONE]``; since an answer
is only final once it is checked, the content arrives after the checks, and
the chunks before it carry the named evidence and the unchecked draft in ``rag``.

The API is stateless like OpenAI's: a client sends the whole conversation each
time. The standalone queries of earlier follow-ups are remembered (keyed by the
questions so far), so they are not rewritten again. Example::

    from openai import OpenAI
    client = OpenAI(base_url="http://127.0.0.1:7860/v1", api_key="user:password")
    reply = client.chat.completions.create(
        model="qwen2.5-1.5b", messages=[{"role": "user", "content": "Who receives OSA?"}]
    )
    reply.choices[0].message.content, reply.model_extra["rag"]["citations"]
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import ValidationError

from rag.conversation import Turn
from rag.pipeline import StreamEvent, clean_question
from rag.types import Answer
from ui.api_schema import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    Choice,
    ChunkChoice,
    Delta,
    ErrorDetail,
    ErrorResponse,
    ModelCard,
    ModelList,
    RagInfo,
    RagProgress,
    Usage,
)
from ui.engine import Engine, explain

log = logging.getLogger("rag.api")

API_PREFIX = "/v1"
MAX_REQUEST_BYTES = 256 * 1024  # a conversation of text; uploads go through the chat page
REPLAYED_TURNS = 4  # earlier exchanges rebuilt for a follow-up (a rewrite reads the last 2)
REMEMBERED_REWRITES = 1024


class ApiError(Exception):
    """A request the API refuses, as OpenAI's ``{"error": {...}}`` with an HTTP status."""

    def __init__(self, status: int, message: str, code: str, param: str | None = None):
        super().__init__(message)
        self.status = status
        self.detail = ErrorDetail(
            message=message,
            code=code,
            param=param,
            type="invalid_request_error" if status < 500 else "server_error",
        )

    def response(self) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if self.status == 401 else None
        body = ErrorResponse(error=self.detail).model_dump()
        return JSONResponse(body, status_code=self.status, headers=headers)


def api_keys(api_key: str | None, auth: tuple[str, str] | None) -> list[str]:
    """The bearer tokens the API accepts: ``api_key`` and the UI's ``user:password``."""
    keys = [api_key] if api_key else []
    if auth:
        keys.append(f"{auth[0]}:{auth[1]}")
    return keys


def answer_content(answer: Answer) -> str:
    """The message content: the answer and its sources, or the refusal and its reason."""
    if answer.refused:
        reason = answer.refusal_reason
        return f"{answer.answer}\n\nReason: {reason}." if reason else answer.answer
    where: dict[str, str] = {}  # passages of the same page of a file share a line
    for c in answer.citations:
        place = f"{c.title}{f', page {c.page}' if c.page else ''} ({Path(c.source).name})"
        where[place] = where.get(place, "") + f"[{c.n}]"
    sources = [f"{markers} {place}" for place, markers in where.items()]
    return "\n".join([answer.answer, "", "Sources:", *sources] if sources else [answer.answer])


def split_conversation(request: ChatCompletionRequest) -> tuple[str, list[tuple[str, str]]]:
    """(the question, earlier (question, answer) exchanges) from the request's messages."""
    last = request.messages[-1]
    where = f"messages[{len(request.messages) - 1}]"
    if not any(m.role == "user" for m in request.messages):
        raise ApiError(400, "no user message: the last message must be the question", "no_question")
    if last.role != "user":
        raise ApiError(
            400,
            f"the last message must be the user's question (role 'user'), not '{last.role}'",
            "invalid_role",
            f"{where}.role",
        )
    exchanges: list[tuple[str, str]] = []
    for message in request.messages[:-1]:
        if message.role == "user":
            exchanges.append((message.content, ""))
        elif message.role == "assistant" and exchanges:
            question, answer = exchanges[-1]
            exchanges[-1] = (question, answer + message.content)
    return last.content, exchanges


def worker_events(events: Iterator, slots: threading.Semaphore) -> AsyncIterator:
    """Run ``events`` in a worker thread and hand each item to the event loop.

    The model is held by the worker, never by the client: a slow reader does not
    stall other answers, and when the client leaves the worker stops at the next
    item and closes the generator (which releases the model). ``slots`` bounds the
    answers generated at the same time (``rag serve --concurrency``).
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()
    gone = threading.Event()
    end = object()

    def put(item: object) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, item)
        except RuntimeError:  # the event loop is closed: nobody is listening
            gone.set()

    def run() -> None:
        try:
            with slots:
                for item in events:
                    put(item)
                    if gone.is_set():
                        break
        except Exception as exc:  # handed to the request, which logs and reports it
            put(exc)
        finally:
            events.close()
            put(end)

    async def relay() -> AsyncIterator:
        threading.Thread(target=run, name="api-answer", daemon=True).start()
        try:
            while (item := await queue.get()) is not end:
                if isinstance(item, Exception):
                    raise item
                yield item
        finally:
            gone.set()

    return relay()


class ChatAPI:
    """The ``/v1`` routes over an `Engine`; see the module docstring."""

    def __init__(self, engine: Engine, keys: Sequence[str] = (), concurrency: int = 1):
        self.engine = engine
        self.keys = [k.encode() for k in keys]
        self.slots = threading.BoundedSemaphore(concurrency)
        self.model_id = engine.pipe.model_name
        self._rewrites: OrderedDict[tuple[str, ...], Turn] = OrderedDict()
        self._rewrites_lock = threading.Lock()

    # -- checks -----------------------------------------------------------------------------
    def authorize(self, request: Request) -> None:
        if not self.keys:
            return
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(
                401,
                "missing API key: send 'Authorization: Bearer <key>' with the server's "
                "RAG_API_KEY or its --auth user:password",
                "missing_api_key",
            )
        given = token.strip().encode()
        if not any(secrets.compare_digest(given, key) for key in self.keys):
            raise ApiError(401, "invalid API key", "invalid_api_key")

    async def read(self, request: Request) -> ChatCompletionRequest:
        """The request body, at most `MAX_REQUEST_BYTES` (read no further), validated."""
        too_large = ApiError(
            413,
            f"request body over {MAX_REQUEST_BYTES // 1024} KB: send a shorter conversation",
            "request_too_large",
        )
        if int(request.headers.get("content-length") or 0) > MAX_REQUEST_BYTES:
            raise too_large
        body = bytearray()
        async for piece in request.stream():
            body += piece
            if len(body) > MAX_REQUEST_BYTES:
                raise too_large
        try:
            parsed = ChatCompletionRequest.model_validate_json(bytes(body))
        except ValidationError as exc:
            error = exc.errors()[0]
            param = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"])
            param = param.lstrip(".") or None  # "messages[2].role"
            message = str(error["msg"]).removeprefix("Value error, ")
            raise ApiError(
                400, f"{param}: {message}" if param else message, "invalid_request", param
            ) from None
        if parsed.model != self.model_id:
            raise ApiError(
                404,
                f"model {parsed.model!r} is not served here; use {self.model_id!r} "
                f"(GET {API_PREFIX}/models)",
                "model_not_found",
                "model",
            )
        return parsed

    def question_of(self, request: ChatCompletionRequest) -> tuple[str, list[tuple[str, str]]]:
        question, exchanges = split_conversation(request)
        param = f"messages[{len(request.messages) - 1}].content"
        cleaned = clean_question(question)
        if not cleaned:
            raise ApiError(400, "the question is empty", "empty_question", param)
        limit = self.engine.settings.max_question_chars
        if len(cleaned) > limit:
            raise ApiError(
                400,
                f"the question is too long ({len(cleaned):,} characters; the limit is "
                f"{limit:,}) - please shorten it",
                "question_too_long",
                param,
            )
        return cleaned, exchanges

    # -- answering ------------------------------------------------------------------------
    def earlier_turns(self, exchanges: Sequence[tuple[str, str]]) -> list[Turn]:
        """The conversation's last turns with the queries they were searched with."""
        questions = [clean_question(q) for q, _ in exchanges]
        turns: list[Turn] = []
        for i in range(max(0, len(exchanges) - REPLAYED_TURNS), len(exchanges)):
            key = tuple(questions[: i + 1])
            with self._rewrites_lock:
                known = self._rewrites.get(key)
            if known is None:
                rewrite = self.engine.rewrite(questions[i], turns)
                known = Turn(questions[i], rewrite.search_query, rewrite.method)
                self.remember(key, known)
            turns.append(Turn(known.question, known.standalone, known.method, exchanges[i][1]))
        return turns

    def remember(self, questions: tuple[str, ...], turn: Turn) -> None:
        with self._rewrites_lock:
            self._rewrites[questions] = turn
            self._rewrites.move_to_end(questions)
            while len(self._rewrites) > REMEMBERED_REWRITES:
                self._rewrites.popitem(last=False)

    def events(self, question: str, exchanges: list[tuple[str, str]]) -> Iterator[StreamEvent]:
        """`Engine.answer` after rebuilding the earlier turns; remembers the new turn."""
        turns = self.earlier_turns(exchanges)
        for event in self.engine.answer(question, turns):
            if event.kind == "answer" and getattr(event, "turn", None) is not None:
                key = (*(clean_question(q) for q, _ in exchanges), question)
                self.remember(key, event.turn)
            yield event

    async def complete(self, request: Request) -> JSONResponse | StreamingResponse:
        self.authorize(request)
        parsed = await self.read(request)
        question, exchanges = self.question_of(parsed)
        reply_id, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        events = worker_events(self.events(question, exchanges), self.slots)
        if parsed.stream:
            usage = bool(parsed.stream_options and parsed.stream_options.include_usage)
            return StreamingResponse(
                self.sse(events, reply_id, created, usage),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )
        async for event in events:
            if event.kind == "answer":
                answer = event.answer
                completion = ChatCompletion(
                    id=reply_id,
                    created=created,
                    model=self.model_id,
                    choices=[Choice(message=AssistantMessage(content=answer_content(answer)))],
                    usage=Usage.of(answer),
                    rag=RagInfo.of(answer, event.turn),
                )
                return JSONResponse(completion.model_dump(mode="json"))
        raise RuntimeError("the answer stream ended without an answer")  # pragma: no cover

    async def sse(
        self, events: AsyncIterator, reply_id: str, created: int, include_usage: bool
    ) -> AsyncIterator[str]:
        """The answer as ``chat.completion.chunk`` server-sent events, then ``[DONE]``."""

        def chunk(choices=None, rag=None, usage=None) -> str:
            data = ChatCompletionChunk(
                id=reply_id,
                created=created,
                model=self.model_id,
                choices=[ChunkChoice()] if choices is None else choices,
                rag=rag,
                usage=usage,
            )
            return f"data: {data.model_dump_json()}\n\n"

        yield chunk([ChunkChoice(delta=Delta(role="assistant", content=""))])
        try:
            async for event in events:
                if event.kind == "evidence":
                    yield chunk(rag=RagProgress(evidence=event.evidence or []))
                elif event.kind == "token":
                    yield chunk(rag=RagProgress(draft=event.text))
                elif event.kind == "answer":
                    answer = event.answer
                    yield chunk([ChunkChoice(delta=Delta(content=answer_content(answer)))])
                    yield chunk([ChunkChoice(finish_reason="stop")], RagInfo.of(answer, event.turn))
                    if include_usage:
                        yield chunk([], usage=Usage.of(answer))
        except Exception as exc:  # the status is sent already: an error event ends the stream
            error = self.failure(exc)
            yield f"data: {ErrorResponse(error=error.detail).model_dump_json()}\n\n"
        yield "data: [DONE]\n\n"

    def failure(self, exc: Exception) -> ApiError:
        """An answering error as a 503 naming the fix (as the chat page shows it)."""
        log.error("answering through the API failed", exc_info=exc)
        message, command = explain(exc, self.engine.settings)
        if command:
            message += f" Fix: {command}"
        return ApiError(503, message, "answer_failed")


def add_api(app: FastAPI, api: ChatAPI) -> FastAPI:
    """Add the ``/v1`` routes to ``app`` (before the chat page is mounted at ``/``)."""

    async def models(request: Request) -> JSONResponse:
        api.authorize(request)
        return JSONResponse(ModelList(data=[ModelCard(id=api.model_id)]).model_dump())

    async def completions(request: Request) -> JSONResponse | StreamingResponse:
        try:
            return await api.complete(request)
        except ApiError:
            raise
        except Exception as exc:
            raise api.failure(exc) from exc

    async def unknown(request: Request) -> JSONResponse:
        api.authorize(request)
        raise ApiError(
            404,
            f"no route {request.method} {request.url.path}; this server offers "
            f"GET {API_PREFIX}/models and POST {API_PREFIX}/chat/completions",
            "unknown_url",
        )

    app.add_exception_handler(ApiError, lambda request, exc: exc.response())
    app.add_api_route(f"{API_PREFIX}/models", models, methods=["GET"])
    app.add_api_route(
        f"{API_PREFIX}/chat/completions", completions, methods=["POST"], response_model=None
    )
    app.add_api_route(f"{API_PREFIX}/{{path:path}}", unknown, methods=["GET", "POST"])
    return app


def create_app(engine: Engine, keys: Sequence[str] = (), concurrency: int = 1) -> FastAPI:
    """A FastAPI app with the ``/v1`` API (no interactive docs: nothing unauthenticated)."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    return add_api(app, ChatAPI(engine, keys, concurrency))
