"""The one fact matcher: numbers as numbers, units and currencies folded, never a substring."""

from __future__ import annotations

import pytest

from airbot.text import (
    canonical_tokens,
    degenerate,
    fact_present,
    figures,
    judge,
    key_figures,
    labels,
    mask_labels,
    split_sentences,
    stated_figures,
    tokenize,
)


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


# --- the strict yardstick ------------------------------------------------------------------------
CLAUSE = "A15. Paper statements cost EUR 2 each. We send them within 15 days of the month end."


@pytest.mark.parametrize("answer", [
    "Paper statements are sent within 15 days.",
    "We post it within fifteen days of the end of the month. [1]",
    "Within 15 days (see A15).",
    "15 days after the month ends; each paper statement costs EUR 2.",
])
def test_right_answers_in_any_spelling_pass(answer: str) -> None:
    verdict = judge(answer, ["15 days"], evidence=[CLAUSE], question="When do you send paper statements?")
    assert verdict.correct and verdict.flags == []


@pytest.mark.parametrize(("answer", "flag"), [
    ("See clause A15.", "missing fact: 15 days"),               # the 15 is the label's, not the fact's
    ("Clause A15 days applies.", "missing fact: 15 days"),
    ("It is covered by Art. 15 days rule.", "missing fact: 15 days"),
    ("Statements are sent within 150 days.", "missing fact: 15 days"),   # a longer number is not 15
    ("Statements take 1.15 days.", "missing fact: 15 days"),
])
def test_a_number_inside_a_label_or_a_longer_number_is_not_the_fact(answer: str, flag: str) -> None:
    verdict = judge(answer, ["15 days"], evidence=[CLAUSE])
    assert not verdict.correct and flag in verdict.flags


@pytest.mark.parametrize(("answer", "invented"), [
    ("Statements are sent within 15 days and cost EUR 3.", ("3",)),
    ("Within 15 days; a renewal costs EUR 2 per book, or 10 working days for B7.", ("10",)),
    ("Within 15 days, or 21 days in December.", ("21",)),
])
def test_a_figure_the_clause_does_not_state_is_invented(answer: str, invented: tuple[str, ...]) -> None:
    verdict = judge(answer, ["15 days"], evidence=[CLAUSE], question="When do you send paper statements?")
    assert verdict.invented == invented and not verdict.correct
    assert [f"invented figure: {f}" for f in invented] == [f for f in verdict.flags if f.startswith("invented")]


def test_figures_the_question_or_the_facts_state_are_not_invented() -> None:
    assert judge("For a 3-month stay the fee is 15 days' rent.", ["15 days"], evidence=[CLAUSE],
                 question="I stay 3 months; what is the fee?").correct
    assert judge("The fee is EUR 2,000, payable within 15 days.", ["15 days", "EUR 2,000"]).correct  # "2,000," whole


@pytest.mark.parametrize(("answer", "reason"), [
    ("Within 15 days. SHOCKER DINING LASER SHOCKER DINING LASER SHOCKER DINING LASER", "loop"),
    ("It is 15 days 15 days 15 days 15 days", "loop"),
    ("A3. A4. A5. A6. within 15 days [1]", "label run"),
    ("Within 15 days, per § 1, § 2, § 3 and more.", "label run"),
    ("See A15 and B2.", "a list of clause labels"),
])
def test_degenerate_answers_fail_even_with_the_fact(answer: str, reason: str) -> None:
    verdict = judge(answer, ["15 days"] if "15 days" in answer else [], evidence=[CLAUSE])
    assert not verdict.correct and verdict.degenerate is not None and reason in verdict.degenerate


def test_a_label_list_may_open_an_answer_while_it_is_written() -> None:
    assert degenerate("Under A3 and E4", partial=True) is None
    assert degenerate("Under A3 and E4") is not None
    assert degenerate("Under A3 and E4, the exit fee is EUR 75 unless you leave in the last 49 days.") is None


def test_labels_figures_and_key_figures() -> None:
    text = "Under Art. 3 and clause 7(b), see 1.4: the fee is EUR 25 within 30 days; A15 applies [2]."
    assert labels(text) == ["Art. 3", "clause 7(b)", "A15", "[2]"]
    assert stated_figures(text) == {"25", "30"} and "1.4" not in mask_labels(text)
    assert stated_figures("Condition 3 and Exclusion 2 apply; Schedule 1 lists a limit of GBP 500.") == {"500"}
    assert key_figures("A renewal costs EUR 2 per book within 21 days (clause 4.2) and 12% later.") == \
        ["EUR 2", "21 days", "12%"]


def test_a_decimal_measure_is_a_figure_even_where_a_label_could_stand() -> None:
    """A fact "2.1 metres" opens its own string: it is a measure, not clause 2.1 (the answer that
    stated it was judged as missing it and inventing 2.1); a clause line "1.4 Every ..." is a label."""
    assert judge("The maximum height is 2.1 metres. [1]", ["2.1 metres"]).correct
    assert stated_figures("2.5 kg") == {"2.5"} and stated_figures("1.4 Every member gets a card.") == set()


def test_a_repetition_the_document_has_is_not_a_loop_of_the_answer() -> None:
    rows = ("Rate: Flexible, Free cancellation until: 48 hours before arrival. Rate: Semi-Flex, Free cancellation "
            "until: 7 days before arrival. Rate: Advance, Free cancellation until: never.")
    assert degenerate(rows) is not None  # alone it reads like a loop
    assert degenerate(rows, evidence=rows) is None
    assert judge(rows, ["7 days"], evidence=[rows]).correct
    assert degenerate("The fees are listed in A3, A4 and A5 of the terms.", evidence="Fees: see A3, A4 and A5.") is None
    assert degenerate("The fees are listed in A3, A4 and A5 of the terms.") is not None
