"""An OpenAI-compatible ``POST /v1/chat/completions`` (and ``GET /v1/models``) for every airbot bot,
so existing clients (the ``openai`` SDK, LangChain, curl) can call the bots the app compares.

``model`` names the bot: ``base``, ``finetuned``, ``rag`` or ``hybrid``; the run and index behind
them are fixed when the server starts. ``stream: true`` answers with server-sent events in the
``chat.completion.chunk`` shape, ending with ``data: [DONE]``. The last user message is the question
and the earlier turns its history, as in the Chat tab::

    python -m airbot serve --run RUN --index INDEX --port 8000
    curl localhost:8000/v1/chat/completions -d '{"model": "rag", "messages": [{"role": "user", "content": "..."}]}'

It runs on its own server (uvicorn, which Gradio already brings), beside or instead of the app.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel

from airbot.config import ADAPTER_BOTS, BOT_KINDS, RETRIEVAL_BOTS, AirbotConfig
from airbot.errors import AirbotError


class ChatMessage(BaseModel):
    role: str
    content: str


class ChatRequest(BaseModel):
    model: str = "base"
    messages: list[ChatMessage]
    stream: bool = False
    max_tokens: int | None = None
    temperature: float | None = None


class BotServer:
    """The bots one server answers with, built on first use and kept (loading a model takes seconds)."""

    def __init__(self, config: AirbotConfig, run: Path | None = None, index: str | Path | None = None) -> None:
        self.config, self.run, self.index = config, run, index
        self._bots: dict[str, Any] = {}
        self._lock = threading.Lock()

    def available(self) -> list[str]:
        """The bot kinds this server can build with its run and index."""
        return [k for k in BOT_KINDS if (k not in ADAPTER_BOTS or self.run) and (k not in RETRIEVAL_BOTS or self.index)]

    def bot(self, kind: str) -> Any:
        if kind not in self.available():
            raise HTTPException(404, f"model '{kind}' is not served here; available: {', '.join(self.available())}")
        with self._lock:
            if kind not in self._bots:
                from airbot.bots.kinds import make_bot

                self._bots[kind] = make_bot(kind, self.config, run_dir=self.run if kind in ADAPTER_BOTS else None,
                                            index=self.index if kind in RETRIEVAL_BOTS else None)
            return self._bots[kind]


def _turns(request: ChatRequest) -> tuple[str, list[dict[str, str]]]:
    """(question, history): the last user message, and the user/assistant turns before it."""
    users = [i for i, m in enumerate(request.messages) if m.role == "user"]
    if not users:
        raise HTTPException(400, "messages must contain at least one message with role 'user'")
    last = users[-1]
    history = [{"role": m.role, "content": m.content} for m in request.messages[:last] if m.role in ("user", "assistant")]
    return request.messages[last].content, history


def _chunk(cid: str, model: str, delta: dict[str, str], finish: str | None = None) -> str:
    body = {"id": cid, "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"


def router(server: BotServer) -> FastAPI:
    """A FastAPI app with the two OpenAI routes, to run alone or mount beside the Gradio app."""
    api = FastAPI(title="airbot OpenAI-compatible API")

    @api.exception_handler(HTTPException)
    def openai_error(_request: Any, err: HTTPException) -> JSONResponse:
        """Errors in OpenAI's shape, so clients show the message instead of a bare status code."""
        kind = "not_found_error" if err.status_code == 404 else "invalid_request_error"
        return JSONResponse({"error": {"message": err.detail, "type": kind, "code": err.status_code}}, err.status_code)

    @api.get("/v1/models")
    def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": k, "object": "model", "owned_by": "airbot"} for k in server.available()]}

    @api.post("/v1/chat/completions", response_model=None)
    def chat(request: ChatRequest) -> JSONResponse | StreamingResponse:
        question, history = _turns(request)
        bot = server.bot(request.model)
        cid = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        try:
            reply = bot.reply(question, history)
        except AirbotError as err:
            raise HTTPException(400, str(err)) from None
        if request.stream:
            return StreamingResponse(_stream(reply, cid, request.model), media_type="text/event-stream")
        text = "".join(reply)
        answer = reply.answer
        prompt_tokens = len(question.split())
        completion = answer.timings.new_tokens if answer else len(text.split())
        return JSONResponse({
            "id": cid, "object": "chat.completion", "created": int(time.time()), "model": request.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion,
                      "total_tokens": prompt_tokens + completion}})

    return api


def _stream(reply: Any, cid: str, model: str) -> Iterator[str]:
    yield _chunk(cid, model, {"role": "assistant", "content": ""})
    for delta in reply:
        yield _chunk(cid, model, {"content": delta})
    yield _chunk(cid, model, {}, "stop")
    yield "data: [DONE]\n\n"
