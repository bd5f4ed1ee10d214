"""Strict scoring: each answer judged by the careful reader's yardstick, the model's own words
apart from what the user read, and the aggregates with their intervals."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from airbot.evaluate import scoring
from airbot.evaluate.questions import EvalItem


@dataclass
class _Source:
    text: str
    clause: str | None = None


@dataclass
class _Answer:
    text: str
    sources: list[_Source] = field(default_factory=list)
    refused: bool = False
    mode: str = "generated"
    model_text: str = ""


class _Scripted:
    """A bot that says what it is told (the yardstick is under test, not a model)."""

    def __init__(self, answers: dict[str, _Answer]) -> None:
        self.answers = answers

    def answer(self, question: str) -> _Answer:
        return self.answers[question]


CLAUSE = _Source("A15. Paper statements cost EUR 2 each and are posted within 15 days.", "A15")


def _scored(answer: _Answer, facts: list[str] = ["15 days"]) -> scoring.QuestionResult:  # noqa: B006
    item = EvalItem("heldout", "When are paper statements posted?", "Within 15 days.", facts, "A15")
    result = scoring.ask(_Scripted({item.question: answer}), "rag", item)
    scoring.score([result], lambda texts: np.ones((len(texts), 2)))
    return result


def test_a_right_answer_is_right_and_carries_no_flags() -> None:
    r = _scored(_Answer("They are posted within fifteen days. [1]", [CLAUSE], model_text="They are posted within fifteen days."))
    assert r.correct and r.model_correct and r.flags == [] and r.evidence == [CLAUSE.text]


def test_the_label_digits_and_an_invented_figure_are_flagged() -> None:
    r = _scored(_Answer("See clause A15: statements cost EUR 3. [1]", [CLAUSE]))
    assert r.facts_ok is False and r.correct is False
    assert r.flags == ["missing fact: 15 days", "invented figure: 3"]


def test_the_extract_is_judged_apart_from_the_model_words_it_replaced() -> None:
    r = _scored(_Answer("Paper statements cost EUR 2 each and are posted within 15 days. [1]", [CLAUSE], mode="extract",
                        model_text="A3. A4. A5. A6."))
    assert r.correct and r.mode == "extract" and r.model_correct is False


def test_a_refusal_is_never_right_on_an_answerable_question() -> None:
    r = _scored(_Answer("The documents I have do not cover that question.", refused=True))
    assert r.correct is False and r.flags == ["refused"] and r.mode == "refused"


def test_summary_reports_strict_and_model_accuracy_with_intervals() -> None:
    results = [_scored(_Answer("Within 15 days. [1]", [CLAUSE], model_text="Within 15 days.")),
               _scored(_Answer("Within 15 days. [1]", [CLAUSE], mode="extract", model_text="Within 50 days.")),
               _scored(_Answer("Within 51 days. [1]", [CLAUSE], model_text="Within 51 days."))]
    summary = scoring.summarize("rag", results)
    assert summary["strict_accuracy"] == round(2 / 3, 4) and summary["strict_n"] == 3
    assert summary["model_strict_accuracy"] == round(1 / 3, 4) and summary["strict_accuracy_ci"] is not None
    assert summary["extract_rate"] == round(1 / 3, 4)
