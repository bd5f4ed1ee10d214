"""Second-stage ranking of the retrieved clauses by the reader model: which passage makes the
question most likely.

The bi-encoder ranks a clause by how close its embedding is to the question's, which confuses
neighbouring clauses of one document ("How much is the Premium plan each month?" lands on the
Premium *freeze* clause). The reader model can tell them apart: given a passage as the user's turn
and a reply that opens with "Question:", it gives the user's question a higher likelihood after the right clause
(unsupervised passage re-ranking, Sachan et al. 2022, "UPR"). Each candidate's score is its cosine
plus ``WEIGHT`` x the mean log-probability per token of the question after it.

Only close calls are re-ranked: the candidates among the first ``POOL`` whose cosine is within
``BAND`` of the best; when the best stands alone the first-stage order is kept. Measured on the
corpus tune half with the telecom and SaaS sets (144 questions; ``bench/rerank.py``): the right
clause first 124 -> 134 times, reading 1.4 passages per question on average (61 of 144 had a close
call; scoring all 5 every time: also 134). Bands 0.08-0.15 with weights 0.15-0.3 give 134-136; the
plain "passage, Question:" prompt without the chat format 126-131. End to end (bench/rag_quality.py)
the top source is right 90 -> 98 of 109 on the tune half, 86 -> 84 of 103 on the never-tuned half.

    from airbot.bots.rerank import rerank
    hits = rerank(model, tokenizer, question, kb.search(question, POOL), top_k=3)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, TypeVar

from airbot.prompts import passage_text

POOL = 5
"""Retrieved passages a close call is decided among."""
BAND = 0.1
"""Passages whose cosine is this close to the best one's compete; the others keep their place."""
WEIGHT = 0.2
"""Share of the question's mean log-probability (per token, typically -1 to -4) added to the cosine."""
CUE = "Question:"
"""Opens the model's turn: the question is scored as what the model would write after it."""


class Ranked(Protocol):
    """A retrieved passage as re-ranking reads it (``airbot.knowledge.manifest.Hit``)."""

    @property
    def score(self) -> float: ...  # the cosine with the question

    @property
    def section(self) -> str: ...

    @property
    def text(self) -> str: ...


Hit = TypeVar("Hit", bound=Ranked)


def contenders(scores: Sequence[float]) -> list[int]:
    """Positions of the passages that compete (cosine within ``BAND`` of the best); fewer than two: none."""
    if not scores:
        return []
    best = max(scores)
    close = [i for i, s in enumerate(scores) if s >= best - BAND]
    return close if len(close) > 1 else []


def passage_prompt(hit: Ranked) -> str:
    """What the model reads before the question: the passage as the reader sees it
    (``prompts.passage_text``: no clause label, no sentence addressed to the model) after its heading."""
    body = " ".join(passage_text(hit).split())
    return f"{hit.section}: {body}" if hit.section else body


def question_scores(model: Any, tokenizer: Any, question: str, passages: Sequence[str]) -> list[float]:
    """Mean log-probability per token of ``question`` written by the model after each passage, in
    the model's chat format (the passage as the user's turn, the question as the start of the reply).

    All passages go through the model in one left-padded batch; only the question's positions reach
    the output head."""
    import torch

    question_ids = tokenizer(" " + question.strip(), add_special_tokens=False)["input_ids"]
    prompts = []
    for passage in passages:
        text = tokenizer.apply_chat_template([{"role": "user", "content": passage}], tokenize=False,
                                             add_generation_prompt=True) + CUE
        prompts.append(tokenizer(text, add_special_tokens=False)["input_ids"] + question_ids)
    width = max(len(p) for p in prompts)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    device = next(model.parameters()).device  # the bot's model may sit on a GPU
    ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts], device=device)
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=device)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    m = len(question_ids)
    with torch.inference_mode():
        logits = model(input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=m + 1).logits
    logprobs = torch.log_softmax(logits[:, :m].float(), -1)  # position j predicts question token j
    target = torch.tensor(question_ids, device=device).expand(len(prompts), m)
    return logprobs.gather(2, target[..., None])[..., 0].mean(-1).tolist()


def rerank(model: Any, tokenizer: Any, question: str, hits: Sequence[Hit], top_k: int) -> list[Hit]:
    """The first ``top_k`` of ``hits`` (each with ``score``, ``text``, ``section``) after the close
    calls among the first ``POOL`` are decided by the model (module docstring)."""
    pool = list(hits[:POOL])
    close = contenders([h.score for h in pool])
    if not close:
        return list(hits[:top_k])
    likely = question_scores(model, tokenizer, question, [passage_prompt(pool[i]) for i in close])
    score = {i: pool[i].score + WEIGHT * lp for i, lp in zip(close, likely, strict=True)}
    # The contenders first, most likely first; every other passage after them in its old order.
    order = sorted(close, key=lambda i: -score[i]) + [i for i in range(len(pool)) if i not in score]
    return [pool[i] for i in order][:top_k]
