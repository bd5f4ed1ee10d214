"""The forgetting probe: general questions answered greedily before and after fine-tuning.

The seed's "catastrophic forgetting" made visible: a bot tuned hard on airline answers may stop
knowing that Paris is the capital of France. ``airbot/samples/general_probe.jsonl`` holds rows
``{"question", "answer", "facts": [...]}``; an answer scores the share of its facts it contains.
The probe is batched (left padding, one ``generate`` call) so it costs seconds, not minutes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

from airbot.prompts import Message, chat_messages
from airbot.samples import sample_path
from airbot.text import fact_share

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


class _Generates(Protocol):
    """A causal LM's ``generate`` (PreTrainedModel itself does not declare it; its generative subclasses do)."""

    def generate(self, **kwargs: Any) -> torch.Tensor: ...

PROBE_FILE = sample_path("general_probe.jsonl")
PROBE_MAX_NEW_TOKENS = 40


def load_probe(path: Path = PROBE_FILE, limit: int = 8) -> list[dict[str, Any]]:
    """Probe rows with a question and facts; an absent or broken file means no probe, not an error."""
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and row.get("question") and isinstance(row.get("facts"), list):
            rows.append(row)
    return rows[:limit]


def greedy_answers(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, questions: list[str],
                   system_prompt: str, max_new_tokens: int = PROBE_MAX_NEW_TOKENS) -> list[str]:
    """Answer every question in one batched greedy ``generate`` (reproducible, no sampling)."""
    return greedy_replies(model, tokenizer, [chat_messages(q, system_prompt) for q in questions], max_new_tokens)


def greedy_replies(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, conversations: list[list[Message]],
                   max_new_tokens: int = PROBE_MAX_NEW_TOKENS, batch_size: int = 32) -> list[str]:
    """The next assistant turn of every conversation, greedily, ``batch_size`` at a time.

    Conversations are sorted by length first, so a batch pads little; answers come back in the
    order given. Batches of 32 answer the 139 airline questions in ~15 s on 1 CPU core.
    """
    order = sorted(range(len(conversations)), key=lambda i: len(str(conversations[i])))
    answers: dict[int, str] = {}
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        replies = _generate_batch(model, tokenizer, [conversations[i] for i in chunk], max_new_tokens)
        answers.update(zip(chunk, replies, strict=True))
    return [answers[i] for i in range(len(conversations))]


def _generate_batch(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, conversations: list[list[Message]],
                    max_new_tokens: int) -> list[str]:
    import torch

    if not conversations:
        return []
    prompts = [tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in conversations]
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"  # generation continues from the right edge of every row
    try:
        batch = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    finally:
        tokenizer.padding_side = side
    device = next(p.device for p in model.parameters())
    batch = {k: v.to(device) for k, v in batch.items()}
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), _autocast(model):
            out = cast(_Generates, model).generate(**batch, max_new_tokens=max_new_tokens, do_sample=False,
                                                      pad_token_id=tokenizer.pad_token_id)
    finally:
        model.train(was_training)
    new_tokens = out[:, batch["input_ids"].shape[1]:]
    return [t.strip() for t in tokenizer.batch_decode(new_tokens, skip_special_tokens=True)]


def _autocast(model: PreTrainedModel) -> Any:
    """bf16 weights need bf16 autocast, or mixed-dtype layers (fp32 adapters) refuse to multiply."""
    import contextlib

    import torch

    dtypes = {p.dtype for p in model.parameters()}
    if torch.bfloat16 in dtypes:
        device = next(p.device for p in model.parameters()).type
        return torch.autocast(device, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def run_probe(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, rows: list[dict[str, Any]],
              system_prompt: str) -> list[dict[str, Any]]:
    """Each probe question with the model's answer and its fact score."""
    answers = greedy_answers(model, tokenizer, [r["question"] for r in rows], system_prompt)
    return [{"question": r["question"], "facts": r["facts"], "answer": a, "score": _score(r["facts"], a)}
            for r, a in zip(rows, answers, strict=True)]


def _score(facts: list[str], answer: str) -> float:
    """Share of the probe facts the answer states; a question without facts cannot be failed."""
    share = fact_share(facts, answer)
    return 1.0 if share is None else share


def probe_report(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> dict[str, Any]:
    """probe.json: both answer sets with their mean scores, so forgetting is one number apart."""
    def mean(items: list[dict[str, Any]]) -> float | None:
        return round(sum(i["score"] for i in items) / len(items), 3) if items else None

    afters: list[dict[str, Any] | None] = [*after] if after else [None] * len(before)
    return {"score_before": mean(before), "score_after": mean(after),
            "items": [{"question": b["question"], "facts": b["facts"], "before": b["answer"],
                       "after": a["answer"] if a else None, "score_before": b["score"],
                       "score_after": a["score"] if a else None}
                      for b, a in zip(before, afters, strict=True)]}
