"""The OpenAI-compatible API (`ui/api.py`) through real clients: the official `openai`
package and LangChain's `ChatOpenAI`, against the `rag serve` the serving tests share
(tiny model, --auth and RAG_API_KEY, answers capped at 40 tokens).

Greedy decoding makes an answer repeatable, so the streamed, non-streamed and
LangChain replies to one question must be the same checked content. Follow-ups
use off-topic questions: they are rewritten (no model call for a "What about X?")
and refused before any generation, so they cost no model time.
"""

from __future__ import annotations

import importlib
import os
import re

import pytest

from .relhelpers import read_log_since

MODEL = "smollm2-135m"
QUESTION = "What did Project Aster build in 2011?"
REFUSAL = "The documents do not say."


def need(module: str):
    """The client package, or a skip; under CI=true a missing one fails (the dev extra has it)."""
    try:
        return importlib.import_module(module)
    except ImportError:
        reason = f"{module} is not installed (pip install -e '.[dev]')"
        if os.environ.get("CI") == "true":
            pytest.fail(f"API test cannot run under CI=true: {reason}", pytrace=False)
        pytest.skip(reason)


@pytest.fixture(scope="module")
def openai_client(server):
    openai = need("openai")
    return openai.OpenAI(
        base_url=server["url"] + "v1", api_key=server["api_key"], max_retries=0, timeout=300
    )


@pytest.fixture(scope="module")
def answered(openai_client):
    """The non-streamed completion of `QUESTION` (asked once for the module)."""
    return openai_client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": QUESTION}]
    )


def rag_of(obj) -> dict:
    """The extra ``rag`` field of a completion or chunk, as the client keeps it."""
    return obj.model_extra["rag"]


def test_models_lists_the_configured_model(openai_client):
    assert [m.id for m in openai_client.models.list()] == [MODEL]


def test_completion_is_the_checked_answer_with_its_rag_field(answered):
    (choice,) = answered.choices
    assert answered.object == "chat.completion" and answered.model == MODEL
    assert choice.message.role == "assistant" and choice.finish_reason == "stop"
    rag = rag_of(answered)
    content = choice.message.content
    assert rag["search_query"] == QUESTION and rag["rewrite"] == "none"
    assert rag["evidence"], "the model named no evidence: the answer was refused before drafting"
    assert all({"id", "n", "text", "title"} <= set(e) for e in rag["evidence"])
    if rag["refused"]:
        assert content == f"{REFUSAL}\n\nReason: {rag['refusal_reason']}."
        assert rag["citations"] == [] and rag["refusal_reason"]
    else:
        assert content.startswith(rag["answer"] + "\n\nSources:\n")
        cited = {c["n"] for c in rag["citations"]}
        assert {int(n) for n in re.findall(r"\[(\d+)\]", rag["answer"])} <= cited
        assert "Project Aster" in " ".join(c["text"] for c in rag["citations"])
        assert 0.0 <= rag["confidence"] <= 1.0
    usage = answered.usage  # (a reply cut at max_tokens counts no prompt tokens: pipeline)
    assert usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_streaming_gives_the_same_answer_in_chunks_ending_with_done(openai_client, answered):
    stream = openai_client.chat.completions.with_streaming_response.create(
        model=MODEL,
        messages=[{"role": "user", "content": QUESTION}],
        stream=True,
        stream_options={"include_usage": True},
    )
    with stream as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    # The same bytes, parsed by the client's own chunk type.
    from openai.types.chat import ChatCompletionChunk

    chunks = [ChatCompletionChunk.model_validate_json(line[6:]) for line in lines[:-1]]
    assert {c.object for c in chunks} == {"chat.completion.chunk"}
    assert len({c.id for c in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert content == answered.choices[0].message.content
    finished = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(finished) == 1 and finished[0].choices[0].finish_reason == "stop"
    last_rag, first_rag = rag_of(finished[0]), rag_of(answered)
    for key in ("answer", "refused", "refusal_reason", "citations", "evidence", "search_query"):
        assert last_rag[key] == first_rag[key], key
    # Before the content: the named evidence, then the unchecked draft, never as content.
    content_at = next(i for i, c in enumerate(chunks) if c.choices and c.choices[0].delta.content)
    progress = [rag_of(c) for c in chunks[1:content_at]]
    assert progress and "evidence" in progress[0]
    assert progress[0]["evidence"] == first_rag["evidence"]
    assert all(set(p) <= {"evidence", "draft"} for p in progress)
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens > 0


def test_streaming_through_the_client_iterator(openai_client):
    stream = openai_client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "How tall is Mount Everest?"}],
        stream=True,
    )
    chunks = list(stream)
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert content.startswith(REFUSAL + "\n\nReason: no passage is relevant enough")
    assert rag_of(chunks[-1])["refused"] is True


def ask(openai_client, *turns: str):
    """A conversation: the user's ``turns`` with the server's own replies in between."""
    messages: list[dict] = []
    reply = None
    for question in turns:
        messages.append({"role": "user", "content": question})
        reply = openai_client.chat.completions.create(model=MODEL, messages=messages)
        messages.append({"role": "assistant", "content": reply.choices[0].message.content})
    return reply


def test_follow_ups_are_rewritten_with_the_earlier_turns(openai_client):
    reply = ask(openai_client, "How tall is Mount Everest?", "And what about Mount Fuji?")
    rag = rag_of(reply)
    assert rag["rewrite"] == "substitution"
    assert rag["search_query"] == "How tall is Mount Fuji?"
    # A follow-up of a follow-up: the earlier one is searched as its rewrite, not as asked.
    reply = openai_client.chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "system", "content": "You are a helpful assistant."},  # read, ignored
            {"role": "user", "content": "How tall is Mount Everest?"},
            {"role": "assistant", "content": REFUSAL},
            {"role": "user", "content": "And what about Mount Fuji?"},
            {"role": "assistant", "content": REFUSAL},
            {"role": "user", "content": "And what about Mount Kilimanjaro?"},
        ],
    )
    assert rag_of(reply)["search_query"] == "How tall is Mount Kilimanjaro?"
    alone = openai_client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "And what about Mount Fuji?"}]
    )
    assert rag_of(alone)["rewrite"] == "none"  # no earlier turn, nothing to rewrite


def test_the_api_needs_the_key_or_the_ui_login(server, openai_client):
    openai = need("openai")
    base = server["url"] + "v1"
    wrong = openai.OpenAI(base_url=base, api_key="not-the-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        wrong.models.list()
    assert caught.value.status_code == 401 and caught.value.code == "invalid_api_key"
    with pytest.raises(openai.AuthenticationError):
        wrong.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Hi"}])
    user, password = server["auth"]
    login = openai.OpenAI(base_url=base, api_key=f"{user}:{password}", max_retries=0)
    assert [m.id for m in login.models.list()] == [MODEL]
    import httpx

    for method, path in [("GET", "/v1/models"), ("POST", "/v1/chat/completions")]:
        r = httpx.request(method, server["url"].rstrip("/") + path, timeout=30)
        assert r.status_code == 401 and r.json()["error"]["code"] == "missing_api_key"
        assert r.headers["www-authenticate"] == "Bearer"


BAD_REQUESTS = [  # (messages, extra fields, status, error code, words of the message)
    ([{"role": "system", "content": "Be brief."}], {}, 400, "no_question", "no user message"),
    (
        [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}],
        {},
        400,
        "invalid_role",
        "last message must be the user's question",
    ),
    ([{"role": "robot", "content": "Hi"}], {}, 400, "invalid_request", "role 'robot'"),
    ([{"role": "user", "content": "  \u200b "}], {}, 400, "empty_question", "empty"),
    ([{"role": "user", "content": "why " * 600}], {}, 400, "question_too_long", "limit is 2,000"),
    (
        [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}],
        {},
        400,
        "invalid_request",
        "text only",
    ),
    ([{"role": "user", "content": "Hi"}], {"n": 2}, 400, "invalid_request", "n=1"),
    ([], {}, 400, "invalid_request", "messages"),
    ([{"role": "user", "content": "Hi"}], {"model": "gpt-4o"}, 404, "model_not_found", MODEL),
    ([{"role": "user", "content": "x" * 300_000}], {}, 413, "request_too_large", "256 KB"),
]


@pytest.mark.parametrize("messages,extra,status,code,words", BAD_REQUESTS)
def test_bad_requests_get_a_clear_openai_error(openai_client, messages, extra, status, code, words):
    openai = need("openai")
    fields = {"model": MODEL, "messages": messages, **extra}
    with pytest.raises(openai.APIStatusError) as caught:
        openai_client.chat.completions.create(**fields)
    error = caught.value
    assert error.status_code == status and error.code == code, (error.status_code, error.body)
    assert words in error.message
    assert error.type == "invalid_request_error"


def test_a_client_leaving_mid_stream_does_not_block_the_next(server, openai_client, answered):
    offset = server["log"].stat().st_size
    stream = openai_client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": QUESTION}], stream=True
    )
    next(iter(stream))  # the first chunk, then hang up while the model drafts
    stream.close()
    again = openai_client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": QUESTION}]
    )
    assert again.choices[0].message.content == answered.choices[0].message.content
    assert "Traceback" not in read_log_since(server["log"], offset)


def test_langchain_chat_openai_pointed_at_the_api(server, answered):
    need("langchain_openai")
    from langchain_core.messages import AIMessage, HumanMessage
    from langchain_openai import ChatOpenAI

    chat = ChatOpenAI(
        base_url=server["url"] + "v1", api_key=server["api_key"], model=MODEL, max_retries=0
    )
    reply = chat.invoke([HumanMessage(QUESTION)])
    assert isinstance(reply, AIMessage)
    assert reply.content == answered.choices[0].message.content
    follow_up = chat.invoke(
        [
            HumanMessage("How tall is Mount Everest?"),
            AIMessage(REFUSAL),
            HumanMessage("And what about Mount Fuji?"),
        ]
    )
    assert follow_up.content.startswith(REFUSAL)
    streamed = "".join(str(c.content) for c in chat.stream([HumanMessage(QUESTION)]))
    assert streamed == answered.choices[0].message.content
