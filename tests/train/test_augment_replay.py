"""The data-side techniques measured for generalization and forgetting: template rewordings of the training
questions (``airbot.train.augment``) and replay of the base model's own general answers (``airbot.train.replay``).
Pure parts only; bench/finetune_quality.py measures what they do to a trained bot."""

from __future__ import annotations

from airbot.prompts import with_system
from airbot.samples import sample_path
from airbot.train.augment import augmented, rewordings
from airbot.train.replay import GENERAL_QUESTIONS, MIN_ROWS, replay_count, whole_sentences


def test_rewordings_differ_from_the_question_and_from_each_other() -> None:
    for question in ("How much is delivery?", "delivery fee?", "Can I cancel my booking for free?",
                     "What's the minimum order for delivery?"):
        found = rewordings(question, 3)
        assert len(found) == 3 and question not in found
        assert len({f.lower() for f in found}) == 3
        assert rewordings(question, 3) == found  # the same on every run and machine


def test_augmented_rows_keep_the_answer_and_the_system_prompt() -> None:
    row = with_system([{"role": "user", "content": "How much is delivery?"},
                       {"role": "assistant", "content": "Delivery costs $3."}], "Be brief.")
    multi = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"},
             {"role": "user", "content": "Fee?"}, {"role": "assistant", "content": "$3."}]
    rows = augmented([row, multi], 2)
    assert rows[:2] == [row, multi] and len(rows) == 4  # the multi-turn row gets no rewordings
    for extra in rows[2:]:
        assert extra[0] == row[0] and extra[-1] == row[-1] and extra[1]["content"] != row[1]["content"]
    assert augmented([row], 0) == [row]


def test_replay_size_follows_the_pairs_within_bounds() -> None:
    assert replay_count(139, 0) == 0
    assert replay_count(20, 0.2) == MIN_ROWS and replay_count(139, 0.2) == 28
    assert replay_count(10_000, 0.2) == len(GENERAL_QUESTIONS)


def test_replay_questions_never_overlap_the_forgetting_probe() -> None:
    import json

    probe = {json.loads(line)["question"].lower() for line in sample_path("probe").read_text().splitlines()}
    assert not probe & {q.lower() for q in GENERAL_QUESTIONS}
    assert len(set(GENERAL_QUESTIONS)) == len(GENERAL_QUESTIONS)


def test_replay_answers_end_on_a_whole_sentence() -> None:
    assert whole_sentences("The capital is Berlin. It has many") == "The capital is Berlin."
    assert whole_sentences("It is 24 hours.") == "It is 24 hours."
    assert whole_sentences("a cut-off answer without an end") == ""
