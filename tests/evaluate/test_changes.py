"""Finding what changed between two versions of a document, with nothing but the two files."""

from __future__ import annotations

from pathlib import Path

from airbot.evaluate.changes import find_changes, question

V1 = """# Gym terms

## 1. Fees
1.1 The monthly fee is EUR 39 for the standard plan.
1.2 A guest pass costs EUR 10 per visit.

## 2. Classes
2.1 Cancel a class at least 2 hours before it starts, or a fee of EUR 5 applies.
2.2 Lost property is kept for 28 days.
2.3 Lockers are free for members.
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_every_changed_figure_is_found_with_its_clause(tmp_path: Path) -> None:
    v2 = (V1.replace("EUR 39", "EUR 42").replace("EUR 10", "EUR 12").replace("2 hours", "3 hours")
          .replace("28 days", "21 days"))
    found = find_changes(_write(tmp_path, "v1.md", V1), _write(tmp_path, "v2.md", v2))
    assert [(c.old, c.new) for c in found] == [("EUR 39", "EUR 42"), ("EUR 10", "EUR 12"), ("2 hours", "3 hours"),
                                               ("28 days", "21 days")]
    assert [c.clause for c in found] == ["1.1", "1.2", "2.1", "2.2"]
    assert all(c.question.endswith("?") and c.new not in c.question for c in found)


def test_unchanged_and_reworded_sentences_are_not_changes(tmp_path: Path) -> None:
    v2 = V1.replace("Lockers are free for members.", "Members may use a locker at no charge.")
    assert find_changes(_write(tmp_path, "v1.md", V1), _write(tmp_path, "v2.md", v2)) == []


def test_a_question_asks_for_the_figure() -> None:
    assert question("A guest pass costs EUR 12 per visit.", "EUR 12") == "A guest pass costs how much per visit?"
    assert question("Lost property is kept for 21 days.", "21 days") == "Lost property is kept for how many days?"
    assert question("Late payments add 5% interest.", "5%") == "Late payments add what percentage interest?"
