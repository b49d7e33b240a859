"""Request and response records of the OpenAI-compatible API (`ui/api.py`), as pydantic models.

The shapes are OpenAI's chat completions (``chat.completion``,
``chat.completion.chunk``, ``list`` of ``model``, ``{"error": {...}}``) plus one
extra field, ``rag``: what the answer rests on (`RagInfo`) on the completion and
on the chunk that carries ``finish_reason``, and the progress while the model
writes (`RagProgress`) on the chunks before it. Unknown request fields (sampling
options, ``tools``, ``user``) are accepted and ignored: the server's settings
decide how an answer is drafted and checked.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from rag.conversation import Turn
from rag.types import Answer, AnswerSentence, Citation, ContextSentence

MAX_MESSAGES = 200
OMIT_NONE = {"default": None, "exclude_if": lambda value: value is None}  # as OpenAI: "delta": {}
ROLES = ("system", "developer", "user", "assistant")


# -- request -------------------------------------------------------------------------------
class Message(BaseModel):
    """A chat message, its content a string or a list of text parts (joined).
    ``system``/``developer`` messages are read and ignored: the answer is always
    drafted with the server's own instructions."""

    model_config = ConfigDict(extra="ignore")

    role: str
    content: str = ""

    @field_validator("role")
    @classmethod
    def _known_role(cls, value: str) -> str:
        if value not in ROLES:
            raise ValueError(
                f"role {value!r} is not supported; use one of {', '.join(ROLES)} "
                "(this server answers from its documents and calls no tools)"
            )
        return value

    @field_validator("content", mode="before")
    @classmethod
    def _text(cls, value: object) -> str:
        if value is None or isinstance(value, str):
            return value or ""
        if not isinstance(value, list):
            raise ValueError("content must be a string or a list of text parts")
        texts = []
        for part in value:
            kind = part.get("type") if isinstance(part, dict) else type(part).__name__
            if kind != "text" or not isinstance(part.get("text"), str):
                raise ValueError(f"content parts of type {kind!r} are not supported (text only)")
            texts.append(part["text"])
        return "".join(texts)


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")

    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """``POST /v1/chat/completions``: the last message is the question, earlier user and
    assistant messages are the conversation it may follow up."""

    model_config = ConfigDict(extra="ignore")

    model: str
    messages: list[Message] = Field(min_length=1, max_length=MAX_MESSAGES)
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int = 1

    @field_validator("n")
    @classmethod
    def _one_choice(cls, value: int) -> int:
        if value != 1:
            raise ValueError("only n=1 is supported (one checked answer per question)")
        return value


# -- responses -----------------------------------------------------------------------------
class RagInfo(BaseModel):
    """The ``rag`` field: the checked answer and what it rests on."""

    answer: str  # the answer text alone (the message content adds the sources)
    refused: bool
    refusal_reason: str | None
    confidence: float | None  # calibrated P(the answer is right); None: refused early
    citations: list[Citation]  # the cited passages, numbered as the [n] markers
    evidence: list[ContextSentence]  # the sentences the model named as its evidence
    sentences: list[AnswerSentence]  # each answer sentence with its check result
    search_query: str  # what was retrieved with (a follow-up's standalone rewrite)
    rewrite: str  # how it was obtained: none, substitution, model or heuristic
    timings: dict[str, float]

    @classmethod
    def of(cls, answer: Answer, turn: Turn) -> RagInfo:
        return cls(
            answer=answer.answer,
            refused=answer.refused,
            refusal_reason=answer.refusal_reason,
            confidence=answer.confidence,
            citations=answer.citations,
            evidence=answer.evidence_sentences(),
            sentences=answer.sentences,
            search_query=turn.query,
            rewrite=turn.method,
            timings=answer.timings,
        )


class RagProgress(BaseModel):
    """The ``rag`` field of a chunk while the answer is drafted (nothing here is checked)."""

    evidence: list[ContextSentence] | None = Field(**OMIT_NONE)  # named, before the answer
    draft: str | None = Field(**OMIT_NONE)  # a piece of the unchecked draft


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0

    @classmethod
    def of(cls, answer: Answer) -> Usage:
        prompt = answer.usage.get("prompt_tokens", 0)
        completion = answer.usage.get("completion_tokens", 0)
        return cls(
            prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
        )


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop"] = "stop"


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    rag: RagInfo


class Delta(BaseModel):
    role: Literal["assistant"] | None = Field(**OMIT_NONE)
    content: str | None = Field(**OMIT_NONE)


class ChunkChoice(BaseModel):
    index: int = 0
    delta: Delta = Field(default_factory=Delta)
    finish_reason: Literal["stop"] | None = None


class ChatCompletionChunk(BaseModel):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: Usage | None = Field(**OMIT_NONE)  # only on the last chunk (include_usage)
    rag: RagInfo | RagProgress | None = Field(**OMIT_NONE)


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "rag-osa"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class ErrorDetail(BaseModel):
    message: str
    type: str = "invalid_request_error"
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorDetail
