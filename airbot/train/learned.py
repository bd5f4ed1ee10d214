"""Did it learn? After training, every training question is asked again and judged strictly.

A fine-tuned FAQ bot is expected to answer its own FAQ. The loss alone does not say that it
does (the 3-epoch recipe ended at loss ~1.4 and answered 2 of 31 training questions right), so
every run asks each trained row's question again, greedily, with the trained weights merged as the
bot runs them, and judges the answer against the row's own answer with the one strict yardstick
(``airbot.text.judge``: every figure of the reference stated, no figure invented, no loop). The rows
the run held out are asked too: they are questions it never saw. The result is ``learned.json``
in the run folder; the Train tab and ``python -m airbot runs show RUN`` read it::

    answers its training questions right: 137/139; held-out rows (never trained on): 3/14

A run that learned less than ``LEARNED_WELL`` of its questions says so, with advice, instead of
a plain "done".
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airbot.prompts import Message
from airbot.text import Verdict, judge, key_figures

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from airbot.train.sft_data import PreparedData

LEARNED_FILE = "learned.json"
LEARNED_WELL = 0.8
"""Below this share of training questions answered right a run is flagged (amber), not "done" in green."""
ANSWER_ROOM = 16
"""Decoding room beyond the longest reference, in tokens: a model that does not stop is seen rambling (and
judged on it) without every batch running to the chat limit."""


@dataclass
class Asked:
    """One question asked again, with the verdict on its answer."""

    where: str
    question: str
    reference: str
    answer: str
    right: bool
    flags: list[str]


def judge_reply(question: str, reference: str, answer: str) -> Verdict:
    """The strict yardstick against one reference answer: its key figures are the facts, and the
    reference and the question are the evidence an answer's figures may come from.

    One allowance: a phrase the reference itself says three times ("2 bags of up to 23 kg, 1 cabin bag
    of up to 7 kg ... 3 bags of up to 30 kg") is not a loop when the answer says it no more often; the
    plain yardstick marked the airline sample's own answers, said word for word, as loops.
    """
    verdict = judge(answer, key_figures(reference), evidence=[reference], question=question)
    if verdict.degenerate and verdict.degenerate.startswith("loop") and _most_said(answer) <= _most_said(reference):
        return Verdict(verdict.missing, verdict.invented, None)
    return verdict


def _most_said(text: str) -> int:
    """How often the most repeated three-word sequence occurs (the loop test's count)."""
    words = re.findall(r"[a-z0-9']+", text.lower())
    return max(Counter(zip(words, words[1:], words[2:], strict=False)).values(), default=0)


def ask_again(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, conversations: list[list[Message]],
              where: list[str], max_new_tokens: int, max_length: int = 1024) -> list[Asked]:
    """Each conversation's last answer asked for again and judged against what it was trained to say.

    Two passes. First one batched forward pass over the rows as trained (``reproduces_exactly``):
    where the most likely next token is the reference's at every answer position, greedy decoding
    writes the reference word for word, so the answer *is* the reference and costs no decoding.
    Only the other rows are decoded (``probe.greedy_replies``). A run that learned its set decodes
    a handful of rows instead of all of them: the 139 airline questions take a few seconds.
    """
    from airbot.train.probe import greedy_replies

    if not conversations:
        return []
    exact = reproduces_exactly(model, tokenizer, conversations, max_length)
    todo = [i for i, same in enumerate(exact) if not same]
    answers = {i: conversations[i][-1]["content"] for i, same in enumerate(exact) if same}
    if todo:
        longest = max(len(tokenizer(conversations[i][-1]["content"], add_special_tokens=False)["input_ids"])
                      for i in todo)
        room = min(max_new_tokens, longest + ANSWER_ROOM)
        answers.update(zip(todo, greedy_replies(model, tokenizer, [conversations[i][:-1] for i in todo], room),
                           strict=True))
    asked = []
    for i, (conv, place) in enumerate(zip(conversations, where, strict=True)):
        question = next((m["content"] for m in reversed(conv) if m["role"] == "user"), "")
        verdict = judge_reply(question, conv[-1]["content"], answers[i])
        asked.append(Asked(place, question, conv[-1]["content"], answers[i], verdict.correct, verdict.flags))
    return asked


def reproduces_exactly(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase,
                       conversations: list[list[Message]], max_length: int, batch_size: int = 8) -> list[bool]:
    """Whether greedy decoding would write each conversation's last answer (and its end-of-turn) exactly.

    Teacher forcing: the answer tokens are fed in, and at each one the model's most likely next
    token must be the next answer token. By induction greedy decoding then follows the answer
    token by token and stops where it does. Rows cut by ``max_length`` are never exact.
    """
    import torch

    from airbot.train.probe import _autocast
    from airbot.train.sft_data import tokenize_rows

    examples = [tokenize_rows([c], tokenizer, max_length) for c in conversations]
    exact = [False] * len(conversations)
    ready = [i for i, (rows, cut) in enumerate(examples) if rows and not cut]
    device = next(p.device for p in model.parameters())
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(ready), batch_size):
            chunk = ready[start:start + batch_size]
            ids, labels, mask = _padded([examples[i][0][0] for i in chunk], tokenizer.pad_token_id or 0, device)
            with torch.no_grad(), _autocast(model):
                logits = model(input_ids=ids, attention_mask=mask).logits[:, -ids.shape[1]:]
            hit = (logits[:, :-1].argmax(-1) == labels[:, 1:]) | (labels[:, 1:] == -100)
            exact_rows = hit.all(dim=1).tolist()
            for i, ok in zip(chunk, exact_rows, strict=True):
                exact[i] = bool(ok)
    finally:
        model.train(was_training)
    return exact


def _padded(rows: list[dict[str, list[int]]], pad_id: int, device: Any) -> tuple[Any, Any, Any]:
    """Right-padded input ids, labels (-100 on padding) and attention mask of a few rows."""
    import torch

    width = max(len(r["input_ids"]) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for n, r in enumerate(rows):
        k = len(r["input_ids"])
        ids[n, :k], labels[n, :k], mask[n, :k] = torch.tensor(r["input_ids"]), torch.tensor(r["labels"]), 1
    return ids.to(device), labels.to(device), mask.to(device)


def tally(asked: list[Asked]) -> dict[str, Any]:
    """Right/total and every miss with its reasons (the answers that were right are left out)."""
    right = sum(a.right for a in asked)
    return {"right": right, "total": len(asked), "share": round(right / len(asked), 4) if asked else None,
            "misses": [asdict(a) for a in asked if not a.right]}


def learned_report(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, prepared: PreparedData,
                   max_new_tokens: int, max_length: int) -> dict[str, Any]:
    """learned.json: the trained questions and the held-out rows, each tallied."""
    trained = ask_again(model, tokenizer, prepared.train_conversations, prepared.train_where, max_new_tokens,
                        max_length)
    held = ask_again(model, tokenizer, prepared.heldout_conversations, prepared.heldout_where, max_new_tokens,
                     max_length)
    return {"trained": tally(trained), "heldout": tally(held), "well": LEARNED_WELL}


def read_learned(run_dir: Path | str | None) -> dict[str, Any] | None:
    """A run's learned.json, or None (not written yet, an older run, or the check was off)."""
    from airbot.storage import read_json

    report = read_json(Path(run_dir) / LEARNED_FILE) if run_dir else None
    return report if isinstance(report, dict) else None


def learned_line(report: dict[str, Any] | None) -> str | None:
    """'answers its training questions right: 137/139' (+ the held-out rows), or None without a report."""
    if not report or not report.get("trained", {}).get("total"):
        return None
    t = report["trained"]
    line = f"answers its training questions right: {t['right']}/{t['total']}"
    h = report.get("heldout") or {}
    if h.get("total"):
        line += f"; held-out rows (never trained on): {h['right']}/{h['total']}"
    return line


def learned_enough(report: dict[str, Any] | None) -> bool | None:
    """Whether the run learned at least ``LEARNED_WELL`` of its questions (None: not measured)."""
    if not report or not report.get("trained", {}).get("total"):
        return None
    return bool(report["trained"]["share"] >= report.get("well", LEARNED_WELL))


def advice(report: dict[str, Any] | None) -> str | None:
    """What to do about a run that did not learn its set (None when it did, or was not measured)."""
    if learned_enough(report) is not False:
        return None
    assert report is not None  # learned_enough said False, so there is a report
    t = report["trained"]
    return (f"Under {LEARNED_WELL:.0%} learned ({t['right']}/{t['total']}): train longer (more epochs, or leave "
            f"epochs on auto), and check the misses for duplicate questions with different answers "
            f"(a model cannot learn two answers to one question).")
