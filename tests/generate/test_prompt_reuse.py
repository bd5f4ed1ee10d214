"""A prompt's fixed beginning (its messages before the question: instructions, the reader's worked examples)
is read apart and its keys and values kept for the next prompt that opens the same way
(``Engine.read_prompt``). The real embedded model, fp32 as the bots load it on a CPU without bf16 units:
the prompt reads as it reads whole, and the same prompt reads the same whether its beginning was kept or not.

The int engine's rows are bf16 (a logit near 20 is a multiple of 0.125), and the CPU's kernels may add a
prompt's rows in another order when it is read in parts: "reads as whole" allows a few bf16 steps per logit
and a small mean, far below what a wrong mask does (a part that misses the beginning moves the logits by 0.7-1.0
on average, at most 3.4-3.8, measured on both prompts)."""

from __future__ import annotations

import pytest
import torch

from airbot.config import ChatConfig
from airbot.generate.engine import PREFIX_MIN
from airbot.generate.hf_generate import encode_chat
from airbot.generate.stream import FastGenSettings, _fixed_length, engine_for
from airbot.prompts import rag_messages


class _Passage:
    def __init__(self, text: str, section: str) -> None:
        self.text, self.section, self.clause = text, section, None


QUESTIONS = [("How much is the Premium plan per month?", [_Passage("1.1 The Premium plan costs £52 a month.", "Plans")]),
             ("When does the pool open?", [_Passage("3.1 The pool opens at 06:30 and closes at 22:00.", "Pool"),
                                           _Passage("3.2 Lanes close 15 minutes before closing.", "Pool")])]


@pytest.fixture(scope="module")
def engine_and_prompts():
    from airbot.models import load_causal_lm, load_tokenizer

    model, tokenizer = load_causal_lm(dtype=torch.float32).eval(), load_tokenizer()
    engine = engine_for(model, FastGenSettings(quantize="auto", threads=1, batching=False))
    assert engine is not None and not engine.exact
    prompts = []
    for question, passages in QUESTIONS:
        messages = rag_messages(question, passages, ChatConfig().system_prompt)
        ids = encode_chat(tokenizer, messages, "cpu")["input_ids"][0]
        prompts.append((ids, _fixed_length(tokenizer, messages, ids)))
    return engine, prompts


def _reads_alike(a: torch.Tensor, b: torch.Tensor) -> bool:
    gap = (a.float() - b.float()).abs()
    return float(gap.max()) <= 0.5 and float(gap.mean()) <= 0.05


def _greedy(engine, state, logits: torch.Tensor, n: int = 24) -> list[int]:  # type: ignore[no-untyped-def]
    out = []
    for _ in range(n):
        out.append(int(logits.argmax()))
        logits = engine.forward(torch.tensor([out[-1]]), state)
    return out


def test_a_prompt_after_a_kept_beginning_reads_as_the_whole_prompt_and_the_same_every_time(engine_and_prompts) -> None:
    engine, ((first, fixed), (second, fixed2)) = engine_and_prompts
    assert fixed == fixed2 > PREFIX_MIN and torch.equal(first[:fixed], second[:fixed])  # instructions, worked examples
    with torch.inference_mode():
        whole_state = engine.start(len(second) + 30)
        whole = engine.forward(second, whole_state)
        engine.prefixes.clear()
        fresh_state = engine.start(len(second) + 30)
        fresh = engine.read_prompt(second, fresh_state, fixed)  # nothing kept yet: the beginning is read
        engine.read_prompt(first, engine.start(len(first) + 30), fixed)
        kept_state = engine.start(len(second) + 30)
        kept = engine.read_prompt(second, kept_state, fixed)  # the beginning comes from what was kept
        assert kept_state.length == len(second) and len(engine.prefixes) == 1
        assert torch.equal(kept, fresh)  # what was asked before never changes a prompt's numbers
        for a, b in zip(fresh_state.keys, kept_state.keys, strict=True):
            assert torch.equal(a[:, :len(second)], b[:, :len(second)])
        assert _reads_alike(kept, whole), float((kept - whole).abs().max())
        assert _greedy(engine, kept_state, kept) == _greedy(engine, whole_state, whole)


def test_a_prompt_read_in_two_parts_sees_every_earlier_position(engine_and_prompts) -> None:
    """SDPA's causal mask is aligned top-left: rows after a filled cache need their own mask."""
    engine, (_, (prompt, _)) = engine_and_prompts
    with torch.inference_mode():
        whole = engine.forward(prompt, engine.start(len(prompt)))
        state = engine.start(len(prompt))
        engine.forward(prompt[:40], state)
        parts = engine.forward(prompt[40:], state)
    assert _reads_alike(parts, whole), float((parts - whole).abs().max())


def test_an_exact_engine_reads_every_prompt_whole(engine_and_prompts) -> None:
    from airbot.models import load_causal_lm

    _, ((first, fixed), _) = engine_and_prompts
    exact = engine_for(load_causal_lm(dtype=torch.float32).eval(), FastGenSettings(quantize="none", threads=1))
    assert exact is not None and exact.exact
    with torch.inference_mode():
        exact.read_prompt(first, exact.start(len(first) + 2), fixed)
    assert exact.prefixes == []  # its tokens must equal generate's, which reads the prompt whole
