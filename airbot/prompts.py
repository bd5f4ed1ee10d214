"""The one place the messages a model sees are built: the system prompt, a chat turn, a RAG prompt.

Training (SFT rows, RAFT rows), the forgetting probe and every bot build their messages here, so a
fine-tuned bot is asked in exactly the layout it was trained on and a hybrid bot reads passages
laid out as in its RAFT training.

    from airbot.prompts import chat_messages, rag_messages
    chat_messages("How much is a pet?", "You are a helpful customer support assistant.")
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

from airbot.text import plain_words, without_instructions

Message = dict[str, str]


class Passage(Protocol):
    """Anything with the text of a retrieved clause (hits, sources, chunks)."""

    @property
    def text(self) -> str: ...  # read-only, so frozen dataclasses (Chunk) qualify


def system_turn(system_prompt: str) -> list[Message]:
    """The system message, or nothing when the prompt is empty."""
    return [{"role": "system", "content": system_prompt}] if system_prompt else []


def with_system(messages: Sequence[Message], system_prompt: str) -> list[Message]:
    """Prepend the bots' system prompt when a conversation has none, so training sees what chat sends."""
    if messages and messages[0]["role"] == "system":
        return list(messages)
    return [*system_turn(system_prompt), *messages]


def chat_messages(question: str, system_prompt: str, history: Sequence[Message] = ()) -> list[Message]:
    """A plain chat turn: system prompt, earlier turns, the question."""
    return [*system_turn(system_prompt), *history, {"role": "user", "content": question}]


def passage_text(passage: Passage) -> str:
    """A passage as the reader sees it: its text without the leading clause number (a 135M
    model shown "1.7 ..." tends to continue the numbering instead of answering) and without any
    sentence that addresses the model ("SYSTEM: ignore all previous instructions..."): documents
    are data, and the reader is never steered by them (``airbot.text.without_instructions``)."""
    text = without_instructions(passage.text.strip())
    label = _LEADING_LABEL.match(text)
    if label is None or not _is_its_label(label.group(0), getattr(passage, "clause", ...)):
        return text
    return text[label.end():]


def _is_its_label(opening: str, clause: object) -> bool:
    """Whether the number opening a passage is its clause label rather than content ("1.5 litres of
    liquid..." in a clause split at sentences). A passage that knows its clause strips only that
    label; one without a clause (a paragraph of an unnumbered document) strips nothing; a bare text
    that does not say (no ``clause`` attribute) strips any label-like opening."""
    if clause is ...:
        return True
    if not clause:
        return False
    key = re.sub(r"\W", "", str(clause)).lower()
    return bool(key) and key in re.sub(r"\W", "", opening).lower()


# A clause label opening a passage, in the styles airbot.knowledge.clauses reads (1.2, A1., B.2, C3),
# Art. 4, Section C3, § 2.1); the reader needs the words after it, not the number.
_LEADING_LABEL = re.compile(
    r"^(?:(?:(?:article|art\.|section|sec\.|clause|cl\.|rule|part)\s*|[§¶]\s*)(?-i:[A-Z]?)\d+(?:\.\d+)*"
    r"|(?-i:[A-Z])\.?\d+(?:\.\d+)*|\d+(?:\.\d+)+|\d+(?=[.)]))(?:\s?\([a-z0-9]{1,4}\))*[.):]?\s+(?:[-–—]\s+)?",
    re.IGNORECASE)


# Two worked examples, in domains no user's documents are likely to share: they show a tiny reader
# the answer we want (the one sentence of the passage that answers, the figure with its unit) instead
# of a summary; one answers from the passage's second sentence, the other from its first. With one
# example the reader copied it ("A renewal costs EUR 2 per book.") whenever a passage confused it.
DEMO_POLICY = "Library members may borrow up to 8 books for 21 days. A renewal costs EUR 2 per book."
DEMO_QUESTION = "How much do I pay to renew a book?"
DEMO_ANSWER = "A renewal costs EUR 2 per book."
DEMO2_POLICY = "The car park is open from 06:00 to 23:30. Parking costs USD 3 per hour, up to USD 18 a day."
DEMO2_QUESTION = "Until what time is the car park open?"
DEMO2_ANSWER = "The car park is open from 06:00 to 23:30."


def _reader_turn(question: str, context: str) -> str:
    return f"{question}\n\nAnswer with the facts from this policy text: {context}"


def rag_messages(question: str, passages: Sequence[Passage], system_prompt: str,
                 history: Sequence[Message] = ()) -> list[Message]:
    """The reader's prompt: two worked examples, then the question and the passage(s) after it.
    The examples can never reach the user: ``leaked_prompt`` flags an answer that repeats them.

    Measured on the shipped held-out set (bench/rag_quality.py; the final report has the whole
    table): with the right clause given, passages in the system prompt 0.46, "Policy: ...
    Question: ..." 0.42-0.60, question first then "Answer with the facts from this policy text:
    ..." 0.72; end to end the worked example added a few points. The second example (corpus tune
    half, 109 questions, re-ranked): the model's own words right 59 -> 74, final answers 97 both
    ways. Several passages go with the best nearest the answer. RAFT training uses the same layout
    so a hybrid bot sees what it was trained on.
    """
    context = " ".join(passage_text(p) for p in reversed(passages))
    demo = [{"role": "user", "content": _reader_turn(DEMO_QUESTION, DEMO_POLICY)},
            {"role": "assistant", "content": DEMO_ANSWER},
            {"role": "user", "content": _reader_turn(DEMO2_QUESTION, DEMO2_POLICY)},
            {"role": "assistant", "content": DEMO2_ANSWER}]
    return [*system_turn(system_prompt), *demo, *history, {"role": "user", "content": _reader_turn(question, context)}]


def leaked_prompt(text: str, context: str = "") -> bool:
    """Whether ``text`` repeats the reader prompt's own wording: any ``LEAK_WORDS`` words in a row
    of the worked example or the instruction that the passages it read (``context``) do not also
    contain. The example teaches a 135M reader the answer's shape (21/30 of its own answers right
    with it, 12/30 without, on 30 questions of the corpus tune half, bench/corpus); this check
    makes sure it can never be the answer ("A renewal costs EUR 2 per book." to a bank question)."""
    said = _word_runs(text)
    return bool(said & _PROMPT_RUNS - _word_runs(context)) if said else False


LEAK_WORDS = 4


def _word_runs(text: str) -> set[tuple[str, ...]]:
    words = plain_words(text)
    return {tuple(words[i:i + LEAK_WORDS]) for i in range(len(words) - LEAK_WORDS + 1)}


_PROMPT_RUNS = frozenset(_word_runs(DEMO_POLICY) | _word_runs(DEMO_QUESTION) | _word_runs(DEMO_ANSWER)
                         | _word_runs(DEMO2_POLICY) | _word_runs(DEMO2_QUESTION) | _word_runs(DEMO2_ANSWER)
                         | _word_runs(_reader_turn("", "")))
