"""Clause numbers in every common spelling, their canonical ids, and sub-clause matching."""

from __future__ import annotations

import pytest

from airbot.knowledge.clauses import canonical, clause_id, heading_clause, strip_clause_number, within


@pytest.mark.parametrize(("line", "expected"), [
    ("Art. 2.3 Calls are charged at EUR 0.80.", "Article 2.3"),
    ("ARTICLE 4 - CANCELLATION", "Article 4"),
    ("Article IV Scope", "Article IV"),
    ("Section 12: Refunds", "Section 12"),
    ("Sec. 4.2 Fees are due monthly.", "Section 4.2"),
    ("§ 2.1 Rent is due on the 1st.", "§2.1"),
    ("§2.1", "§2.1"),
    ("Clause 7(b) The tenant pays.", "Clause 7(b)"),
    ("Cl. 7 (b) The tenant pays.", "Clause 7(b)"),
    ("4.2.1 Refund requests", "4.2.1"),
    ("4.2.1. Refund requests", "4.2.1"),
    ("1.2(a) The guest pays.", "1.2(a)"),
    ("Rule 10.1. Quiet hours start at 22:00.", "Rule 10.1"),
])
def test_clause_spellings(line: str, expected: str) -> None:
    assert clause_id(line, allow_single=False) == expected


@pytest.mark.parametrize("line", ["Part of the fee is kept.", "Articles of association apply.",
                                  "Section headings are for convenience.", "3 bags are allowed."])
def test_prose_is_not_a_clause(line: str) -> None:
    assert clause_id(line, allow_single=True) is None


def test_headings_and_stripping() -> None:
    assert heading_clause("Article 3 — Roaming") == "Article 3"
    assert heading_clause("4 Refunds") == "4"
    assert strip_clause_number("Art. 2.3 Calls are charged.") == "Calls are charged."
    assert strip_clause_number("ARTICLE 1 - PLANS AND SEATS") == "PLANS AND SEATS"
    assert strip_clause_number("No number here.") == "No number here."


def test_canonical_and_within() -> None:
    assert canonical("Art. 1.1") == canonical("ARTICLE 1.1") == "Article 1.1"
    assert within("Article 1.3", "Article 1") and within("Article 1.3", "Art. 1.3")
    assert within("1.2(b)", "1.2") and within("Section 1.2", "1.2")
    assert not within("Article 1", "Article 1.1")  # a whole article is not the clause asked for
    assert not within("Article 1.1", "Section 1.1") and not within("11.1", "1") and not within(None, "1")
