"""The quality report flags what a careful person would fix before training, on any Q&A set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airbot.data.dataset import read_dataset
from airbot.data.quality import QualityReport, length_stats, quality_report, repeats
from airbot.models import shared_embedder, shared_tokenizer

CRAFTED = [
    ("How do I reset my password?", "Open Settings, choose Security and press Reset password."),  # line 1
    ("How can I reset my password?", "Go to Settings > Security > Reset password."),  # 2: near duplicate of 1
    ("Can I get a refund for my order?", "Yes, within 30 days, to the original payment method."),  # 3
    ("Can I get a refund for my order?", "Yes, within 30 days, to the original payment method."),  # 4: exact dup of 3
    ("Do you ship to Canada?", "Yes."),  # 5: short
    ("What is the return window?", "The return window is the return window."),  # 6: repeats the question
    ("Do you ship to Canada?", "No, we only ship within the EU."),  # 7: conflicts with 5
    ("Which payment cards are accepted?", "Visa, Mastercard and American Express are accepted at checkout."),  # 8
]


@pytest.fixture(scope="module")
def crafted_report(tmp_path_factory: pytest.TempPathFactory) -> QualityReport:
    path = tmp_path_factory.mktemp("q") / "crafted.jsonl"
    path.write_text("".join(json.dumps({"question": q, "answer": a}) + "\n" for q, a in CRAFTED))
    return quality_report(read_dataset(path), shared_tokenizer(), shared_embedder(), max_length=20)


def test_flags_duplicates_conflicts_and_near_duplicates(crafted_report: QualityReport) -> None:
    assert crafted_report.exact_duplicates == [[3, 4]]
    assert crafted_report.conflicting_answers == [[5, 7]]
    assert [(a, b) for a, b, _ in crafted_report.near_duplicates] == [(1, 2)]


def test_flags_repeats_short_answers_small_size_and_long_rows(crafted_report: QualityReport) -> None:
    assert crafted_report.repeats_question == [6]
    assert crafted_report.short_answers == [5]
    assert crafted_report.over_length  # max_length=20 is shorter than every templated row
    text = " ".join(crafted_report.warnings)
    for fragment in ("Only 8 examples", "exact duplicates (lines 3 & 4)", "different answers (lines 5 & 7)",
                     "nearly the same", "lines 1 & 2", "repeat their question (line 6)", "fewer than 3 words (line 5)",
                     "train.max_length=20"):
        assert fragment in text, fragment


def test_lengths_and_json_are_complete(crafted_report: QualityReport) -> None:
    c = crafted_report.conversation_tokens
    assert c.min <= c.median <= c.p95 <= c.max and sum(b["count"] for b in c.histogram) == 8
    data = json.loads(json.dumps(crafted_report.to_dict()))
    assert data["rows"] == 8 and data["row_unit"] == "line" and "warnings" in data
    assert any(line.startswith("warning:") for line in crafted_report.lines())


def test_topics_cover_every_row_and_a_dominant_topic_is_warned(tmp_path: Path) -> None:
    items = ["shoes", "a jacket", "my phone", "the lamp", "a gift card", "sunglasses", "a laptop", "the sofa"]
    templates = ["Can I get a refund for {}?", "How long does a refund for {} take?", "Is a refund possible on {}?"]
    refunds = [(t.format(item), f"Yes, {item} can be refunded within 30 days.") for t in templates for item in items]
    other = [("Do you ship to Canada?", "Yes, in 5 to 7 working days."), ("Which cards do you accept?", "Visa and Mastercard."),
             ("Is there a store in Berlin?", "Yes, on Alexanderplatz."), ("Can I change my address?", "Yes, until it ships."),
             ("How do I contact support?", "Use the chat or call 030 1234."), ("Do gift cards expire?", "After three years.")]
    path = tmp_path / "skewed.csv"
    path.write_text("question,answer\n" + "".join(f'"{q}","{a}"\n' for q, a in refunds + other))
    report = quality_report(read_dataset(path), shared_tokenizer(), shared_embedder())
    assert 2 <= len(report.topics) <= 8 and sum(t.size for t in report.topics) == 30
    assert "refund" in report.topics[0].label and report.topics[0].share > 0.5
    assert any("One topic" in w for w in report.warnings) and not any("Only" in w for w in report.warnings)


def test_repeats_and_length_stats_helpers() -> None:
    assert repeats("Is the shop open on Sunday?", "The shop is open on Sunday.")
    assert not repeats("Is the shop open on Sunday?", "Yes, from 10 to 4, except on public holidays.")
    stats = length_stats([5, 7, 9, 100])
    assert (stats.min, stats.max, stats.p95) == (5, 100, 100) and stats.histogram[0]["start"] <= 5
