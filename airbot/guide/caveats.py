"""Caveats: the guide's challenges of the chosen approach, kept to those the answers actually trigger."""

from __future__ import annotations

import typing
from dataclasses import dataclass

from airbot.guide.answers import Answers
from airbot.guide.rules import DATASET, Verdict
from airbot.guide.tables import cite


@dataclass(frozen=True)
class Caveat:
    """A known risk of the chosen approach that applies to these answers."""

    text: str
    seed_row: str


_FT_CAVEATS: tuple[tuple[typing.Callable[[Answers], bool], str, str], ...] = (
    (lambda a: True, cite("challenges", "Evaluation is tricky: need human-in-the-loop or scoring metrics"),
     "Evaluation is tricky: score the fine-tuned bot on held-out questions and read a sample of its answers."),
    (lambda a: a.needs_generalization != "low", cite("challenges", "Catastrophic forgetting if not careful"),
     "Fine-tuning can make the model forget general skills: keep epochs few and compare it with the base model."),
    (lambda a: a.needs_generalization == "high", cite("challenges", "Lack of generalization on unseen queries"),
     "A fine-tuned bot answers unseen questions poorly: your examples must cover the edge cases you care about."),
    (lambda a: a.examples < 100, DATASET,
     "With few examples, quality and diversity matter most: cover every kind of question, not many of one kind."),
    (lambda a: a.cost_budget == "low", cite("challenges", "High cost for larger models"),
     "Training cost grows with model size: use QLoRA on a small model (it is made for budget setups)."),
    (lambda a: a.knowledge_change in ("few-times-a-year", "monthly", "weekly", "daily"),
     cite("fine_tuned_airline_bot", "Needs retraining if policies change"),
     "Facts baked into the weights go stale when your policies change: keep changing facts out of the training set."),
)
_RAG_CAVEATS: tuple[tuple[typing.Callable[[Answers], bool], str, str], ...] = (
    (lambda a: True, cite("rag_airline_bot", "Needs document embedding and maintenance"),
     "RAG is only as good as its documents: re-index them whenever they change and drop outdated ones."),
    (lambda a: a.latency_budget == "tight", cite("rag_airline_bot", "Slower response due to document search"),
     "Every answer waits for a document search: keep the index small and the retrieved passages few."),
)


def caveats(a: Answers, verdict: Verdict) -> list[Caveat]:
    """The known challenges of whatever the verdict involves, filtered to those these answers trigger."""
    rules = (_FT_CAVEATS if verdict != "rag" else ()) + (_RAG_CAVEATS if verdict != "fine-tune" else ())
    return [Caveat(text, row) for applies, row, text in rules if applies(a)]
