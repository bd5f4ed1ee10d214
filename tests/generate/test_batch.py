"""Continuous batching: answers asked at once decode together, and each reads exactly as if asked alone.

The real embedded model, fp32 as the bots load it on a CPU without bf16 units (its decode step is
int4 with bf16 rows either way), greedy: a batched row must give the same tokens as the same answer
decoding alone, whoever else is in the batch, and an answer whose reader stops leaves the batch
without disturbing the others.
"""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest
import torch

from airbot.config import ChatConfig
from airbot.generate.hf_generate import GenerationStats
from airbot.generate.stream import FastGenSettings, engine_for, stream_chat

ALONE = FastGenSettings(quantize="auto", threads=1, batching=False)
BATCHED = replace(ALONE, batching=True)
QUESTIONS = ["How heavy can my checked bag be on an international flight?", "What is the capital of France?",
             "Write one sentence about the sea.", "Can I bring my dog on board?"]


def _messages(question: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": ChatConfig().system_prompt}, {"role": "user", "content": question}]


@pytest.fixture(scope="module")
def model_and_tokenizer():
    from airbot.models import load_causal_lm, load_tokenizer

    return load_causal_lm(dtype=torch.float32).eval(), load_tokenizer()


def _ask(model, tokenizer, question: str, chat: ChatConfig, settings: FastGenSettings, stop_after: int = 0) -> str:
    deltas = stream_chat(model, tokenizer, _messages(question), chat, GenerationStats(), settings=settings)
    out = []
    for delta in deltas:
        out.append(delta)
        if stop_after and len(out) >= stop_after:
            deltas.close()  # type: ignore[attr-defined]  # the reader stops listening (loop guard, cancel)
            break
    return "".join(out)


def _at_once(model, tokenizer, jobs: list[tuple[str, ChatConfig, int]]) -> list[str]:
    results: list[str] = [""] * len(jobs)
    start = threading.Barrier(len(jobs))

    def run(i: int) -> None:
        question, chat, stop_after = jobs[i]
        start.wait()
        results[i] = _ask(model, tokenizer, question, chat, BATCHED, stop_after)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    return results


def test_answers_asked_at_once_batch_together_and_read_as_if_asked_alone(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    chats = [ChatConfig(max_new_tokens=n) for n in (40, 24, 32, 40)]  # each stops at its own limit
    alone = [_ask(model, tokenizer, q, c, ALONE) for q, c in zip(QUESTIONS, chats)]
    engine = engine_for(model, BATCHED)
    assert engine is not None
    together = _at_once(model, tokenizer, [(q, c, 0) for q, c in zip(QUESTIONS, chats)])
    assert together == alone
    assert engine.batcher is not None and engine.batcher.largest >= 2  # they did share steps


def test_a_reader_that_stops_leaves_the_batch_and_the_others_finish_unchanged(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    chat = ChatConfig(max_new_tokens=40)
    alone = [_ask(model, tokenizer, q, chat, ALONE) for q in QUESTIONS[:3]]
    together = _at_once(model, tokenizer, [(QUESTIONS[0], chat, 3), (QUESTIONS[1], chat, 0), (QUESTIONS[2], chat, 0)])
    assert alone[0].startswith(together[0]) and len(together[0]) < len(alone[0])
    assert together[1:] == alone[1:]
    # the scheduler is idle again: a later answer still decodes (a stopped reader left nothing stuck)
    assert _ask(model, tokenizer, QUESTIONS[3], ChatConfig(max_new_tokens=8), BATCHED)


def test_sampling_rows_are_independent_of_their_neighbours(model_and_tokenizer):
    """Temperature sampling draws per answer; batched rows still end at their own limits."""
    model, tokenizer = model_and_tokenizer
    hot = ChatConfig(max_new_tokens=12, temperature=0.8, top_p=0.9)
    texts = _at_once(model, tokenizer, [(q, hot, 0) for q in QUESTIONS])
    assert all(texts) and len(texts) == 4
