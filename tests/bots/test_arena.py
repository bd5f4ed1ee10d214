"""airbot.bots.arena: votes land in AIRBOT_HOME/preferences.jsonl and tally into a leaderboard,
a conversation exports as JSON, and ``race`` streams every bot at once until all have finished
(a crashing bot ends its own pane, not the race)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from airbot.bots import arena
from airbot.errors import AirbotError


class StandInReply:
    """What ``bot.reply`` returns: an iterator of text deltas with ``.answer`` set once it is spent."""

    def __init__(self, deltas: list[str]) -> None:
        self.deltas, self.answer = deltas, None

    def __iter__(self) -> Iterator[str]:
        yield from self.deltas
        self.answer = SimpleNamespace(text="".join(self.deltas).strip())


class StandInBot:
    def __init__(self, deltas: list[str], crash: bool = False) -> None:
        self.deltas, self.crash, self.asked = deltas, crash, []

    def reply(self, question: str, history: list[dict[str, str]] | None) -> StandInReply:
        self.asked.append((question, history))
        if self.crash:
            raise RuntimeError("out of memory")
        return StandInReply(self.deltas)


def test_votes_are_recorded_read_back_and_tallied(fresh_home: Path) -> None:
    assert arena.read_votes() == []
    base, rag, tuned = {"bot": "base", "answer": "a"}, {"bot": "rag", "answer": "b"}, {"bot": "tuned", "answer": "c"}
    record = arena.record_vote("right", "Can I bring my dog?", base, rag, {"top_k": 3})
    assert record["left"] == base and record["settings"] == {"top_k": 3}
    arena.record_vote("left", "Refunds?", rag, tuned)
    arena.record_vote("tie", "Bags?", base, rag)
    arena.record_vote("both_bad", "Seats?", tuned, base)
    with arena.preferences_path().open("a", encoding="utf-8") as fh:
        fh.write('{"vote": "left", "que')  # torn by a crash
    votes = arena.read_votes()
    assert arena.preferences_path() == fresh_home / "preferences.jsonl"
    assert [v["vote"] for v in votes] == ["right", "left", "tie", "both_bad"]
    assert arena.tally(votes) == {
        "base": {"wins": 0, "losses": 1, "ties": 1, "both_bad": 1},
        "rag": {"wins": 2, "losses": 0, "ties": 1, "both_bad": 0},
        "tuned": {"wins": 0, "losses": 1, "ties": 0, "both_bad": 1},
    }


def test_record_vote_refuses_unknown_votes_and_unanswered_questions(fresh_home: Path) -> None:
    left, right = {"bot": "base", "answer": "a"}, {"bot": "rag", "answer": "b"}
    with pytest.raises(AirbotError, match="not one of"):
        arena.record_vote("draw", "Q?", left, right)
    with pytest.raises(AirbotError, match="both bots answer"):
        arena.record_vote("left", "Q?", left, {"bot": "rag", "answer": ""})
    with pytest.raises(AirbotError, match="both bots answer"):
        arena.record_vote("left", "  ", left, right)
    assert not arena.preferences_path().exists()


def test_export_conversation_writes_valid_json(tmp_path: Path) -> None:
    turns = [{"question": "Pets?", "answers": {"base": "Yes.", "rag": "Small pets, EUR 50."}, "where": tmp_path}]
    path = arena.export_conversation(turns, tmp_path / "chat.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["turns"] == [{**turns[0], "where": str(tmp_path)}] and data["exported"]


def test_race_streams_both_bots_and_finishes() -> None:
    left, right = StandInBot(["Small ", "pets ", "fly."]), StandInBot(["No."])
    history = {"left": [{"role": "user", "content": "Hi"}]}
    states = list(arena.race({"left": left, "right": right}, "Can my dog fly?", history))
    final = states[-1]
    assert final.texts == {"left": "Small pets fly.", "right": "No."}
    assert {name: a.text for name, a in final.answers.items()} == {"left": "Small pets fly.", "right": "No."}
    assert final.errors == {}
    assert len(states) == 3 + 1 + 1 + 1  # one state per delta and one per finished bot
    assert left.asked == [("Can my dog fly?", history["left"])] and right.asked == [("Can my dog fly?", None)]


def test_a_crashing_bot_ends_only_its_own_pane() -> None:
    bots = {"ok": StandInBot(["Yes."]), "broken": StandInBot([], crash=True)}
    final = list(arena.race(bots, "Q?"))[-1]
    assert final.answers["ok"].text == "Yes." and "broken" not in final.answers
    assert final.errors == {"broken": "RuntimeError: out of memory"}


def test_answers_in_flight_are_counted_while_a_race_runs_and_after_it_is_dropped() -> None:
    assert not arena.CHATTING.busy
    states = arena.race({"one": StandInBot(["Yes", "."])}, "Q?")
    next(states)
    assert arena.CHATTING.busy  # an answer is being written for someone
    states.close()  # the asker went away mid-answer
    assert not arena.CHATTING.busy
    list(arena.race({"one": StandInBot(["No."])}, "Q?"))
    assert not arena.CHATTING.busy


def test_an_evaluation_waits_for_chat_answers_but_never_for_ever(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading
    import time

    from airbot.evaluate import runner

    assert runner._yield_to_chat(None) is False  # nobody chatting: no wait
    monkeypatch.setattr(runner, "CHAT_YIELD_S", 0.6)
    with arena.CHATTING.answering():
        started = time.monotonic()
        assert runner._yield_to_chat(None) is True
        assert 0.5 <= time.monotonic() - started < 5  # bounded: someone chatting all day cannot starve it
        started = time.monotonic()
        runner._yield_to_chat(lambda: True)  # a stop is heard at once
        assert time.monotonic() - started < 0.5
    monkeypatch.setattr(runner, "CHAT_YIELD_S", 10.0)
    answer = arena.CHATTING.answering()
    answer.__enter__()
    threading.Timer(0.2, answer.__exit__, (None, None, None)).start()
    started = time.monotonic()
    assert runner._yield_to_chat(None) is True
    assert time.monotonic() - started < 3  # it goes on as soon as the answer is written, not after 10 s
