"""Clause labels in every common style: found at a line's start, cited as written, compared canonically."""

from __future__ import annotations

import pytest

from airbot.knowledge.clauses import (
    Scheme,
    canonical,
    clause_id,
    find_label,
    follows,
    heading_clause,
    strip_clause_number,
    sub_styles,
    sub_value,
    within,
)


@pytest.mark.parametrize(("line", "written", "canon"), [
    ("1.1 You must be 16.", "1.1", "1.1"),
    ("4.2.1 Refund requests", "4.2.1", "4.2.1"),
    ("4.2.1. Refund requests", "4.2.1", "4.2.1"),
    ("1.2(a) The guest pays.", "1.2(a)", "1.2(a)"),
    ("A1. You can open an account.", "A1", "A1"),
    ("A15 Statements are free.", "A15", "A15"),
    ("C3) We estimate your bill.", "C3", "C3"),
    ("B.2 Rates are charged at check-out.", "B.2", "B.2"),
    ("B.2.1 Deposits are held.", "B.2.1", "B.2.1"),
    ("Section C3 - Consultation fees", "Section C3", "Section C3"),
    ("Art. 4 Fuel", "Art. 4", "Article 4"),
    ("Art. 2.3 Calls are charged at EUR 0.80.", "Art. 2.3", "Article 2.3"),
    ("ARTICLE 4 - CANCELLATION", "ARTICLE 4", "Article 4"),
    ("Article IV Scope", "Article IV", "Article IV"),
    ("Section 12: Refunds", "Section 12", "Section 12"),
    ("Sec. 4.2 Fees are due monthly.", "Sec. 4.2", "Section 4.2"),
    ("§ 2 Fees", "§ 2", "§2"),
    ("§ 2.1 Rent is due on the 1st.", "§ 2.1", "§2.1"),
    ("§2.1", "§2.1", "§2.1"),
    ("Clause 7(b) The tenant pays.", "Clause 7(b)", "Clause 7(b)"),
    ("Cl. 7 (b) The tenant pays.", "Cl. 7(b)", "Clause 7(b)"),
    ("Rule 10.1. Quiet hours start at 22:00.", "Rule 10.1", "Rule 10.1"),
    ("Part C - Outpatient care", "Part C", "Part C"),
])
def test_every_style_is_cited_as_written_and_compared_canonically(line: str, written: str, canon: str) -> None:
    assert clause_id(line, allow_single=False) == written
    assert canonical(written) == canon


@pytest.mark.parametrize(("line", "token"), [("(a) add-ons such as storage;", "(a)"), ("(iv) a cracked lens", "(iv)"),
                                            ("(1) The renter pays.", "(1)"), ("b) the second item", "(b)")])
def test_sub_items_are_labels_but_never_a_clause_alone(line: str, token: str) -> None:
    label = find_label(line)
    assert label is not None and label.family == "sub" and label.text == token
    assert clause_id(line, allow_single=True) is None


@pytest.mark.parametrize("line", ["Part of the fee is kept.", "Articles of association apply.",
                                  "Section headings are for convenience.", "3 bags are allowed.",
                                  "0.289 per kWh and a standing charge", "A4 paper", "Also see below."])
def test_prose_is_not_a_clause(line: str) -> None:
    assert clause_id(line, allow_single=True) in (None, "A4")  # "A4" alone is a label; Scheme decides (below)


def test_single_numbers_only_where_they_are_the_scheme() -> None:
    assert clause_id("3. Bags are free.", allow_single=True) == "3"
    assert clause_id("3. Bags are free.", allow_single=False) is None
    assert clause_id("3(b)(ii) Screens", allow_single=True) == "3(b)(ii)"


def test_headings_and_stripping() -> None:
    assert heading_clause("Article 3 — Roaming") == "Article 3"
    assert heading_clause("4 Refunds") == "4"
    assert heading_clause("Section C3 - Fees") == "Section C3"
    assert strip_clause_number("Art. 2.3 Calls are charged.") == "Calls are charged."
    assert strip_clause_number("ARTICLE 1 - PLANS AND SEATS") == "PLANS AND SEATS"
    assert strip_clause_number("A1. You can open an account.") == "You can open an account."
    assert strip_clause_number("C3) We estimate.") == "We estimate."
    assert strip_clause_number("No number here.") == "No number here."


def test_canonical_and_within() -> None:
    assert canonical("Art. 1.1") == canonical("ARTICLE 1.1") == "Article 1.1"
    assert within("Article 1.3", "Article 1") and within("Article 1.3", "Art. 1.3")
    assert within("1.2(b)", "1.2") and within("Section 1.2", "1.2")
    assert within("3(b)(ii)", "3(b)") and within("Art. 4(1)", "Art. 4") and within("B.2.1", "B.2")
    assert within("§ 2.1", "§2.1") and within("C3", "C3)")
    assert not within("Article 1", "Article 1.1")  # a whole article is not the clause asked for
    assert not within("3(b)", "3(b)(ii)") and not within("A1", "A15") and not within("A15", "A1")
    assert not within("Article 1.1", "Section 1.1") and not within("11.1", "1") and not within(None, "1")


def test_numbering_order() -> None:
    assert follows(None, (7,))
    assert follows((1, 4), (1, 5)) and follows((1, 4), (2,)) and follows((1, 4), (2, 1)) and follows((1, 4), (1, 4, 1))
    assert follows((1, 1, 3), (1, 2)) and follows((1, 5), (1, 7))  # a withdrawn clause may leave a gap
    assert not follows((1, 4), (1, 2)) and not follows((1, 4), (9, 1)) and not follows((1, 4), (2, 5))


def test_scheme_accepts_labels_in_order_and_letters_only_when_repeated() -> None:
    body = ["A1) These terms apply to homes using no", "more than 30,000 kWh.", "A2) Supply starts within",
            "10 working days.", "B1) The unit rate is EUR", "0.289 per kWh.", "3. a list item"]
    scheme = Scheme.of([(line, True) for line in body])
    assert scheme.families == {"letter"}  # "3." is a list item where letters number the clauses
    assert [label.text if (label := scheme.accept(ln)) else None for ln in body] == \
           ["A1", None, "A2", None, "B1", None, None]
    lone = Scheme.of([("A4 paper is used for all letters.", True), ("We reply within 5 days.", True)])
    assert lone.accept("A4 paper is used for all letters.") is None
    dotted = Scheme.of([("1.1 Bags of", True), ("2.5 kg are free.", True), ("1.2 Pets fly.", True)])
    assert [dotted.accept(ln) is not None for ln in ("1.1 Bags of", "9.5 kg are free.", "1.2 Pets fly.")] == \
           [True, False, True]


def test_sub_item_styles() -> None:
    assert sub_styles("a") == ["letter"] and sub_styles("ii") == ["roman"] and sub_styles("i") == ["roman", "letter"]
    assert sub_value("iv", "roman") == 4 and sub_value("ix", "roman") == 9 and sub_value("c", "letter") == 3
    assert sub_value("3", "digit") == 3
