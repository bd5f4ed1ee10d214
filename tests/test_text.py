"""The one fact matcher: numbers as numbers, units and currencies folded, never a substring."""

from __future__ import annotations

import pytest

from airbot.text import canonical_tokens, fact_present, figures, split_sentences, tokenize


@pytest.mark.parametrize(("fact", "answer"), [
    ("25 kg", "Each bag may weigh up to 25 kg."),
    ("23 kg", "two bags of 23kg each"),
    ("23 kg", "23 KILOGRAMS"),
    ("USD 75", "The overweight fee is $75 per bag."),
    ("USD 75", "It costs 75 USD."),
    ("USD 75", "a fee of US$75.00"),
    ("USD 75", "seventy-five dollars"),
    ("60,000 points", "You need 60000 points."),
    ("60,000 points", "60,000 Points"),
    ("7 days", "within seven days"),
    ("10 business days", "within ten business days of approval"),
    ("50%", "50 per cent of the fare"),
    ("50%", "50 % is refunded"),
    ("30 hours", "opens 30 hrs before"),
    ("Paris", "The capital of France is paris."),
])
def test_fact_is_found(fact: str, answer: str) -> None:
    assert fact_present(fact, answer)


@pytest.mark.parametrize(("fact", "answer"), [
    ("25 kg", "Each bag may weigh up to 250 kg."),   # a substring match would say yes
    ("250 kg", "Each bag may weigh up to 25 kg."),
    ("USD 75", "The fee is USD 175."),
    ("USD 75", "The fee is 75."),                     # the fact has a unit; the answer must too
    ("USD 75", "The fee is EUR 75."),
    ("23 kg", "up to 23 lb"),
    ("10 business days", "within 10 days"),
    ("USD 100", "USD 100.50"),
    ("7 days", "seventeen days"),
    ("50%", "150% of the fare"),
])
def test_fact_is_not_found(fact: str, answer: str) -> None:
    assert not fact_present(fact, answer)


def test_tokens_put_currency_after_the_amount_and_fold_numbers() -> None:
    assert canonical_tokens("USD 1,200.00 for twenty-one KGS") == ("1200", "usd", "for", "21", "kg")


def test_figures_and_sentences() -> None:
    assert figures("A fee of USD 1,500 within seven days.") == {"1500", "7"}
    assert split_sentences("Bags cost EUR 30. See e.g. Art. 2 for pets. Fees rise 2.5% yearly.") == [
        "Bags cost EUR 30.", "See e.g. Art. 2 for pets.", "Fees rise 2.5% yearly."]


def test_bm25_terms_drop_stop_words_and_cut_endings() -> None:
    assert tokenize("What are the bag charges?") == ["bag", "charg"]
