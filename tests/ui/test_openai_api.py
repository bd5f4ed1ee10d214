"""The bots behind an OpenAI-compatible API: the official ``openai`` client talks to a real server."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from airbot.config import load_config
from airbot.ui.openai_api import BotServer, router


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = load_config(None, ["chat.max_new_tokens=24"])
    server = uvicorn.Server(uvicorn.Config(router(BotServer(config)), host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/v1"
    server.should_exit = True
    thread.join(timeout=10)


def test_chat_completion_in_the_openai_schema(base_url: str) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=base_url, api_key="not-needed")
    assert [m.id for m in client.models.list()] == ["base"]  # no run, no index: only the base model
    reply = client.chat.completions.create(model="base", messages=[{"role": "user", "content": "What is 2 + 2?"}])
    assert reply.object == "chat.completion" and reply.choices[0].message.role == "assistant"
    assert reply.choices[0].message.content.strip() and reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None and reply.usage.completion_tokens > 0


def test_streaming_chunks_join_to_the_answer(base_url: str) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=base_url, api_key="not-needed")
    messages = [{"role": "user", "content": "Name a colour."}]
    whole = client.chat.completions.create(model="base", messages=messages).choices[0].message.content
    chunks = list(client.chat.completions.create(model="base", messages=messages, stream=True))
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == whole  # greedy: the same answer
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_unknown_model_and_missing_question_are_clear_errors(base_url: str) -> None:
    from openai import BadRequestError, NotFoundError, OpenAI

    client = OpenAI(base_url=base_url, api_key="not-needed")
    with pytest.raises(NotFoundError, match="available: base"):
        client.chat.completions.create(model="rag", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(BadRequestError, match="role 'user'"):
        client.chat.completions.create(model="base", messages=[{"role": "system", "content": "hi"}])
