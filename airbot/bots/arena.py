"""Side-by-side answers and the votes people cast on them (the Chat tab's library half).

Several bots answer one question at the same time, each in its own thread, and their text
arrives interleaved as it is generated, so the slower bot is visibly slower. Votes go to
``preferences.jsonl`` of the asker's workspace with both answers and the settings that produced them, so
a preference log can be replayed or analysed later.

    python -m airbot ask --bot rag --index ~/.airbot/indexes/default "Can I bring my dog?"
"""

from __future__ import annotations

import contextlib
import json
import queue
import random
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from airbot.errors import AirbotError
from airbot.storage import store_dir, store_root
from airbot.workspace import carry

if TYPE_CHECKING:
    from airbot.bots.kinds import Answer, Bot

Vote = Literal["left", "right", "tie", "both_bad"]
VOTES: tuple[Vote, ...] = ("left", "right", "tie", "both_bad")


@dataclass
class Event:
    """One thing that happened in a side-by-side race: text for a bot, or a bot finished."""

    bot: str
    delta: str = ""
    answer: Answer | None = None  # the bot's final Answer once it is done
    error: str | None = None


@dataclass
class Race:
    """The growing state of every pane; the UI renders it after each event."""

    texts: dict[str, str] = field(default_factory=dict)
    answers: dict[str, Answer] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def apply(self, event: Event) -> None:
        self.texts[event.bot] = self.texts.get(event.bot, "") + event.delta
        if event.answer is not None:
            self.answers[event.bot] = event.answer
            self.texts[event.bot] = event.answer.text
        if event.error:
            self.errors[event.bot] = event.error


def _pump(name: str, bot: Bot, question: str, history: list[dict[str, str]] | None, out: queue.Queue) -> None:
    """Run one bot to completion, forwarding its deltas; an error ends this pane, not the others."""
    try:
        reply = bot.reply(question, history)
        for delta in reply:
            out.put(Event(name, delta=delta))
        out.put(Event(name, answer=reply.answer))
    except AirbotError as err:
        out.put(Event(name, error=str(err)))
    except Exception as err:  # a crashed bot must not freeze the other panes
        out.put(Event(name, error=f"{type(err).__name__}: {err}"))
    finally:
        out.put(None)


class Chatting:
    """How many answers are being written for people right now (``race``: the Chat tab, ``/ask``), so work in
    the same process that nobody is waiting on word by word (an evaluation) lets them have the CPU first.

    An evaluation on the app's 2 cores used to take its share beside 8 people chatting; it now waits
    between its questions while anyone's answer is being written (``wait_quiet``), a bounded time each."""

    def __init__(self) -> None:
        self._count = 0
        self._quiet = threading.Condition()

    @contextlib.contextmanager
    def answering(self) -> Iterator[None]:
        with self._quiet:
            self._count += 1
        try:
            yield
        finally:
            with self._quiet:
                self._count -= 1
                self._quiet.notify_all()

    @property
    def busy(self) -> bool:
        return self._count > 0

    def wait_quiet(self, timeout: float) -> float:
        """Wait until no answer is being written, at most ``timeout`` seconds; the seconds waited."""
        started = time.monotonic()
        with self._quiet:
            self._quiet.wait_for(lambda: self._count == 0, timeout)
        return time.monotonic() - started


CHATTING = Chatting()
"""The process's answers in flight for people (one per question asked, whatever the number of bots)."""


def race(bots: Mapping[str, Bot], question: str, history: Mapping[str, list[dict[str, str]]] | None = None,
         ) -> Iterator[Race]:
    """Stream every bot's answer at once; yields the shared state after each event."""
    with CHATTING.answering():
        yield from _race(bots, question, history)


def _race(bots: Mapping[str, Bot], question: str, history: Mapping[str, list[dict[str, str]]] | None) -> Iterator[Race]:
    events: queue.Queue = queue.Queue()
    # carry: each pane's thread works in the asker's workspace (a thread starts with an empty context)
    threads = [threading.Thread(target=carry(_pump), args=(name, bot, question, (history or {}).get(name), events),
                                daemon=True) for name, bot in bots.items()]
    for thread in threads:
        thread.start()
    state, running = Race(), len(threads)
    while running:
        event = events.get()
        if event is None:
            running -= 1
            continue
        state.apply(event)
        yield state


def list_indexes() -> list[str]:
    """Knowledge bases on disk that have been built (a manifest exists), last changed first: the one
    the user just built or updated is the one every picker preselects."""
    manifests = sorted(store_dir("indexes").glob("*/manifest.json"), key=lambda p: (p.stat().st_mtime, p.parent.name),
                       reverse=True)
    return [p.parent.name for p in manifests]


def preferences_path() -> Path:
    return store_root() / "preferences.jsonl"  # per workspace: votes are each person's own


def record_vote(vote: str, question: str, left: Mapping[str, Any], right: Mapping[str, Any],
                settings: Mapping[str, Any] | None = None, blind: bool = False) -> dict[str, Any]:
    """Append one vote (question, both answers, which bots, their settings) to the preference log;
    ``blind``: the voter saw the answers without the bots' names (the guide trusts those more)."""
    if vote not in VOTES:
        raise AirbotError(f"Vote '{vote}' is not one of {', '.join(VOTES)}.")
    if not question.strip() or not left.get("answer") or not right.get("answer"):
        raise AirbotError("Ask a question and let both bots answer before voting.")
    record: dict[str, Any] = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "vote": vote, "question": question,
                              "left": dict(left), "right": dict(right), "settings": dict(settings or {})}
    if blind:
        record["blind"] = True
    with preferences_path().open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
    return record


def blind_pair(available: list[str], rng: random.Random | None = None) -> tuple[str, str]:
    """Two different bots of ``available`` in random order, for a blind comparison: which two and
    which is "A" are both drawn, so neither position nor habit tells the voter who is who."""
    if len(set(available)) < 2:
        raise AirbotError("A blind comparison needs two bots: pick a fine-tuned run or a knowledge index (the base "
                          "model is always there).")
    first, second = (rng or random.SystemRandom()).sample(sorted(set(available)), 2)
    return first, second


def read_votes() -> list[dict[str, Any]]:
    """Every vote so far (a torn last line from a crash is skipped, not fatal)."""
    path = preferences_path()
    if not path.is_file():
        return []
    votes = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            votes.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return votes


def tally(votes: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Wins, losses and ties per bot, the way an arena leaderboard counts them."""
    table: dict[str, dict[str, int]] = {}
    for v in votes:
        left, right = v["left"].get("bot", "left"), v["right"].get("bot", "right")
        for bot in (left, right):
            table.setdefault(bot, {"wins": 0, "losses": 0, "ties": 0, "both_bad": 0})
        if v["vote"] in ("left", "right"):
            winner, loser = (left, right) if v["vote"] == "left" else (right, left)
            table[winner]["wins"] += 1
            table[loser]["losses"] += 1
        else:
            key = "ties" if v["vote"] == "tie" else "both_bad"
            table[left][key] += 1
            table[right][key] += 1
    return table


def export_conversation(turns: list[dict[str, Any]], path: Path) -> Path:
    """Write the side-by-side conversation (every bot's answers, sources, timings) as JSON."""
    path.write_text(json.dumps({"exported": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "turns": turns},
                               ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    return path
