"""Replay against forgetting: general questions, answered by the base model itself, trained alongside the set.

Fine-tuning a 135M model for many passes on one business's FAQ teaches it that every question is
about that business: after 9 passes over the bike-share set it answered "What is the capital of
Japan?" with "48 hours". Before training, the base model answers ``train.replay`` x (pairs) general
questions (greedy, its own words, kept to whole sentences), and those rows are trained with the
user's: the adapter learns the FAQ without re-learning what a general question looks like
(self-distillation replay). The questions below never overlap the forgetting probe
(``airbot/samples/general_probe.jsonl``), so the probe still measures what it says::

    python -c "from airbot.train.replay import replay_count; print(replay_count(139, 0.2))"
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from airbot.prompts import Message, chat_messages, with_system

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

GENERAL_QUESTIONS = (
    "What is the capital of Germany?", "What is the capital of Canada?", "What is the capital of Spain?",
    "What is the capital of Egypt?", "How many hours are there in a day?", "How many months are in a year?",
    "What is 3 + 5?", "What is 10 minus 4?", "What is the boiling point of water in Celsius?",
    "What gas do plants take in from the air?", "What is the largest planet in our solar system?",
    "Which planet is known as the Red Planet?", "What is the chemical symbol for gold?",
    "How many legs does a spider have?", "What is the tallest mountain in the world?",
    "Who wrote Romeo and Juliet?", "What language is spoken in Brazil?", "What is the freezing point of water?",
    "What do cows drink?", "What is the main ingredient of bread?", "How many continents are there?",
    "What is the longest river in Africa?", "What colour are bananas when they are ripe?",
    "What do you call a baby cat?", "What is the opposite of hot?", "How many sides does a triangle have?",
    "What is the square root of 9?", "What instrument has black and white keys?",
    "What is the closest star to Earth?", "What do caterpillars turn into?", "What is H2O?",
    "Which animal is known as the king of the jungle?", "What is the currency of Japan?",
    "How many minutes are in an hour?", "What season comes after winter?", "What is the largest mammal?",
    "Give me a synonym for happy.", "Translate 'thank you' into French.", "What is a noun?",
    "Write one sentence about the sea.",
)
MIN_ROWS = 8
"""Fewest replay rows a run with replay on gets (a small set still needs a few to hold on to)."""


def replay_count(pairs: int, share: float) -> int:
    """Replay rows for ``pairs`` training pairs: ``share`` of them, at least MIN_ROWS, at most every question."""
    if share <= 0:
        return 0
    return min(len(GENERAL_QUESTIONS), max(MIN_ROWS, round(share * pairs)))


def whole_sentences(text: str) -> str:
    """``text`` up to its last full sentence (an answer cut by the token limit must not teach a cut-off stop)."""
    text = text.strip()
    if re.search(r"[.!?]$", text):
        return text
    ends = [m.end() for m in re.finditer(r"[.!?](?=\s)", text)]
    return text[:ends[-1]].strip() if ends else ""


def replay_rows(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, system_prompt: str, count: int,
                max_new_tokens: int = 48) -> list[list[Message]]:
    """``count`` general questions with the (untrained) model's own greedy answers, as training conversations."""
    from airbot.train.probe import greedy_replies

    questions = list(GENERAL_QUESTIONS[:count])
    answers = greedy_replies(model, tokenizer, [chat_messages(q, system_prompt) for q in questions], max_new_tokens)
    rows = []
    for question, answer in zip(questions, answers, strict=True):
        kept = whole_sentences(answer)
        if kept:
            rows.append(with_system([{"role": "user", "content": question}, {"role": "assistant", "content": kept}],
                                    system_prompt))
    return rows
