"""Streaming text generation with honest timings, shared by every bot.

``stream_chat`` runs ``model.generate`` in a worker thread and yields text deltas as the
``TextIteratorStreamer`` decodes them; the ``GenerationStats`` it fills say when the first
visible text arrived (time to first token), how many tokens came and how fast.

    python -c "from airbot.bots.kinds import make_bot; print(make_bot('base').answer('Hi!').text)"
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from airbot.config import ChatConfig
from airbot.prompts import Message


@dataclass
class GenerationStats:
    """Filled in while a stream runs; complete once it is exhausted."""

    started: float = 0.0
    first_text: float | None = None
    finished: float | None = None
    prompt_tokens: int = 0
    new_tokens: int = 0

    @property
    def ttft_s(self) -> float:
        return (self.first_text or self.finished or self.started) - self.started

    @property
    def total_s(self) -> float:
        return (self.finished or time.perf_counter()) - self.started

    @property
    def tokens_per_s(self) -> float:
        """Decode speed after the first token (prefill is what ttft measures)."""
        span = self.total_s - self.ttft_s
        return (self.new_tokens - 1) / span if self.new_tokens > 1 and span > 0 else 0.0


def decoding_kwargs(chat: ChatConfig, tokenizer: Any) -> dict[str, Any]:
    """``generate`` arguments from the shared decoding config: greedy at temperature 0."""
    kwargs: dict[str, Any] = {"max_new_tokens": chat.max_new_tokens, "pad_token_id": tokenizer.pad_token_id,
                              "repetition_penalty": chat.repetition_penalty}
    if chat.temperature > 0:
        kwargs.update(do_sample=True, temperature=chat.temperature, top_p=chat.top_p)
    else:
        kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    return kwargs


def encode_chat(tokenizer: Any, messages: list[Message], device: Any) -> dict[str, Any]:
    """Chat-template the messages and tensorise them on ``device``."""
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    enc = tokenizer(text, return_tensors="pt", add_special_tokens=False)
    return {k: v.to(device) for k, v in enc.items()}


def stream_chat(model: Any, tokenizer: Any, messages: list[Message], chat: ChatConfig,
                stats: GenerationStats | None = None) -> Iterator[str]:
    """Yield the reply's text deltas; ``stats`` (if given) gets the timings and token count.
    Closing the stream early (a reader that has seen enough) stops ``generate`` at its next token."""
    import torch
    from transformers import StoppingCriteriaList, TextIteratorStreamer

    stats = stats if stats is not None else GenerationStats()
    stats.started = time.perf_counter()
    inputs = encode_chat(tokenizer, messages, model.device)
    stats.prompt_tokens = int(inputs["input_ids"].shape[1])
    streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
    failure: list[BaseException] = []
    closed = threading.Event()

    def stop_when_closed(input_ids: Any, scores: Any, **_: Any) -> Any:
        return torch.full((input_ids.shape[0],), closed.is_set(), dtype=torch.bool, device=input_ids.device)

    def work() -> None:
        try:
            with torch.inference_mode():
                out = model.generate(**inputs, **decoding_kwargs(chat, tokenizer), streamer=streamer,
                                     stopping_criteria=StoppingCriteriaList([stop_when_closed]))
            stats.new_tokens = int(out.shape[1]) - stats.prompt_tokens
        except BaseException as err:  # surfaced in the caller's thread below, never swallowed
            failure.append(err)
            streamer.end()

    worker = threading.Thread(target=work, name="airbot-generate", daemon=True)
    worker.start()
    try:
        for delta in streamer:
            if delta:
                if stats.first_text is None:
                    stats.first_text = time.perf_counter()
                yield delta
    finally:
        closed.set()
        worker.join()
        stats.finished = time.perf_counter()
    if failure:
        raise failure[0]
