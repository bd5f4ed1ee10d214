"""airbot.prompts: the system prompt goes in once, chat turns keep their order, and a RAG prompt
asks the question with the passages (clause numbers stripped, best passage last) in its last turn."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from airbot.prompts import chat_messages, passage_text, rag_messages, with_system

SYSTEM = "You are a helpful customer support assistant."


@dataclass
class P:
    text: str


def test_with_system_adds_the_prompt_only_when_missing() -> None:
    turns = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]
    assert with_system(turns, SYSTEM) == [{"role": "system", "content": SYSTEM}, *turns]
    own = [{"role": "system", "content": "Be terse."}, *turns]
    assert with_system(own, SYSTEM) == own
    assert with_system(turns, "") == turns
    assert with_system([], SYSTEM) == [{"role": "system", "content": SYSTEM}]


def test_chat_messages_order_system_history_question() -> None:
    history = [{"role": "user", "content": "Can I bring a pet?"}, {"role": "assistant", "content": "Yes, small ones."}]
    messages = chat_messages("How much is it?", SYSTEM, history)
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[1:3] == history and messages[-1]["content"] == "How much is it?"
    assert chat_messages("Hi", "") == [{"role": "user", "content": "Hi"}]


@pytest.mark.parametrize(("text", "expected"), [
    ("1.7 Pets travel in the cabin.", "Pets travel in the cabin."),
    ("  3.2. Refunds take 7 days.", "Refunds take 7 days."),
    ("Section 4.1) Bags weigh 23 kg.", "Bags weigh 23 kg."),
    ("clause 2 Seats are assigned.", "Seats are assigned."),
    ("Bags weigh 23 kg. 1.2 more", "Bags weigh 23 kg. 1.2 more"),
])
def test_passage_text_strips_only_a_leading_clause_number(text: str, expected: str) -> None:
    assert passage_text(P(text)) == expected


def test_rag_messages_put_question_and_passages_in_the_last_user_turn() -> None:
    passages = [P("2.1 Best clause about pets."), P("5.3 Second clause about bags.")]
    history = [{"role": "user", "content": "Earlier?"}, {"role": "assistant", "content": "Earlier."}]
    messages = rag_messages("Can my dog fly?", passages, SYSTEM, history)
    assert messages[0] == {"role": "system", "content": SYSTEM}
    assert messages[-3:-1] == history
    last = messages[-1]
    assert last["role"] == "user" and last["content"].startswith("Can my dog fly?")
    assert "Best clause about pets." in last["content"] and "2.1" not in last["content"]
    # the best passage sits nearest the answer, i.e. last
    assert last["content"].index("Second clause") < last["content"].index("Best clause")
    assert all("dog" not in m["content"] for m in messages[:-1])


@dataclass
class Clause:
    text: str
    clause: str | None


@pytest.mark.parametrize(("text", "clause", "expected"), [
    ("1.5 litres of liquid are allowed.", "4.2", "1.5 litres of liquid are allowed."),  # content, not its label
    ("4.2 Liquids: 1.5 litres.", "4.2", "Liquids: 1.5 litres."),
    ("A15. Fees apply.", "A15", "Fees apply."),
    ("Art. 4 Refunds take 14 days.", "Art. 4", "Refunds take 14 days."),
    ("24 hours before departure, check-in closes.", None, "24 hours before departure, check-in closes."),
    ("3. Pets cost EUR 40.", None, "3. Pets cost EUR 40."),  # an unnumbered document's paragraph keeps its figure
])
def test_a_passage_that_knows_its_clause_strips_only_that_label(text: str, clause: str | None, expected: str) -> None:
    assert passage_text(Clause(text, clause)) == expected
