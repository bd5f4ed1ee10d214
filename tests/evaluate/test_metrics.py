"""Scoring on hand-made answers: numbers matched as numbers, refusals in many wordings, clauses,
and intervals that stay honest on small sets."""

from __future__ import annotations

import numpy as np
import pytest

from airbot.evaluate.metrics import (
    clause_correct,
    cosine_similarities,
    figure_outcome,
    is_refusal,
    mean_interval,
    proportion,
    rouge_l,
    wilson_interval,
)
from airbot.text import fact_share


def test_fact_share_and_policy_outcome() -> None:
    assert fact_share(["23 kg", "USD 75"], "23 kg, and $75 over that") == 1.0
    assert fact_share(["23 kg", "USD 75"], "23 kg") == 0.5
    assert fact_share([], "anything") is None
    assert figure_outcome("Bags may weigh 25 kg.", old="23 kg", new="25 kg") == "new"
    assert figure_outcome("Bags may weigh 23 kg.", old="23 kg", new="25 kg") == "old"
    assert figure_outcome("Bags may weigh 250 kg.", old="23 kg", new="25 kg") == "neither"
    assert figure_outcome("It went from 23 kg to 25 kg.", old="23 kg", new="25 kg") == "new"


@pytest.mark.parametrize("text", [
    "I don't know.",
    "I’m sorry, I don’t have information about that.",
    "I could not find this in the policy documents.",
    "The documents do not cover this question.",
    "Sorry, that is not covered in the provided documents.",
    "There is no information about the weather in the conditions.",
    "I am unable to help with that.",
    "That question is outside the scope of the policy.",
    "The policy doesn't mention share prices.",
    "I can't find any clause about that.",
])
def test_refusals_in_many_wordings(text: str) -> None:
    assert is_refusal(text)


@pytest.mark.parametrize("text", [
    "Each bag may weigh up to 23 kg.",
    "If you cannot find your bag, report it at the baggage desk.",
    "Damage to fragile items is not covered by our liability.",
    "I'm sorry to hear that; you may claim USD 50 per day.",
    "",
])
def test_answers_are_not_refusals(text: str) -> None:
    assert not is_refusal(text)


def test_refused_flag_wins() -> None:
    assert is_refusal("Here is some text", flagged=True)


def test_clause_from_field_or_text() -> None:
    sources = [{"clause": "1.5", "text": "..."}, {"clause": None, "text": "3.3 Standard fares are refundable"}]
    assert clause_correct("1.5", sources) is True
    assert clause_correct("3.3", sources) is True
    assert clause_correct("1.1", sources) is False
    assert clause_correct("1.1", []) is None  # a bot that cites nothing is not scored on clauses
    assert clause_correct(None, sources) is None


def test_clause_in_other_spellings_and_sub_clauses_count_for_their_parent() -> None:
    sources = [{"clause": None, "text": "Art. 2.3 Refunds are paid within 14 days."}, {"clause": "Article 1.1", "text": "..."}]
    assert clause_correct("Article 2.3", sources) is True
    assert clause_correct("Article 1", sources) is True  # a question labelled with the whole article
    assert clause_correct("Article 1.2", sources) is False
    assert clause_correct("Section 1", sources) is False  # another numbering scheme
    assert clause_correct("1.1", [{"clause": "1.15", "text": "..."}]) is False


def test_similarity_and_rouge() -> None:
    def embed(texts: list[str]) -> np.ndarray:
        return np.array([[1.0, 0.0] if "bag" in t else [0.0, 1.0] for t in texts])

    assert cosine_similarities(["a bag", "a cat"], ["the bag", "the bag"], embed) == [1.0, 0.0]
    assert rouge_l("two bags of 23 kg", "two bags of 23 kg") == pytest.approx(1.0)
    assert rouge_l("nothing alike", "two bags of 23 kg") == 0.0


def test_intervals_are_honest_on_small_sets() -> None:
    lo, hi = wilson_interval(3, 3)
    assert hi == 1.0 and 0.35 < lo < 0.45  # 3/3 is not proof of 100%
    lo, hi = wilson_interval(0, 5)
    assert lo == 0.0 and 0.4 < hi < 0.45
    assert wilson_interval(0, 0) is None
    p = proportion([True, False, None, True])
    assert (p.k, p.n, p.value) == (2, 3, 0.6667)
    assert mean_interval([1.0]) is None
    lo, hi = mean_interval([1.0, 2.0, 3.0])
    assert lo < 2.0 < hi


def test_a_source_matches_its_clause_in_any_spelling_or_its_heading_without_numbers() -> None:
    from airbot.evaluate.metrics import source_matches

    assert source_matches({"clause": "Art. 4(1)", "text": "..."}, "Art. 4")
    assert source_matches({"clause": "C3", "text": "..."}, "C3)") and not source_matches({"clause": "C3"}, "C30")
    assert source_matches({"clause": None, "section": "Borrowing > Loan periods", "text": "Books: 21 days."}, "Loan periods")
    assert not source_matches({"clause": None, "section": "Borrowing > Fines", "text": "..."}, "Loan periods")


def test_cited_texts_follow_the_markers() -> None:
    from airbot.evaluate.metrics import cited_texts

    sources = [{"text": "one"}, {"text": "two"}, {"text": "three"}]
    assert cited_texts("It is so. [2]", sources) == ["two"]
    assert cited_texts("No marker here.", sources) == ["one", "two", "three"]
