"""Side-by-side votes as head-to-head win counts, the people's verdict the guide cites beside the numbers.

The guide does not import the bots, so the UI and the CLI pass the votes in as the Chat tab records
them (``airbot.bots.arena.read_votes()``): one mapping per vote, ``{"vote": "left" | "right" | "tie" |
"both_bad", "left": {"bot": ...}, "right": {"bot": ...}}``, plus ``"blind": true`` when the bots' names
were hidden until the vote. The lines call the votes blind only when every one of them was.

    vote_lines(arena.read_votes())   # ["In your blind side-by-side votes RAG won 7 of 9 comparisons ..."]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from airbot.guide.evidence import BOT_NAMES, MIN_N, bot_key


@dataclass(frozen=True)
class HeadToHead:
    """Every vote between two bots: who won how often."""

    first: str  # the bot with more wins (the first in base, fine-tuned, RAG, hybrid order when level)
    second: str
    first_wins: int
    second_wins: int
    draws: int  # ties and "both bad"
    blind: bool  # every one of these votes was cast with the names hidden

    @property
    def n(self) -> int:
        return self.first_wins + self.second_wins + self.draws

    def line(self) -> str:
        """'In your blind side-by-side votes RAG won 7 of 9 comparisons against the fine-tuned bot (...)'."""
        first, second = BOT_NAMES.get(self.first, self.first), BOT_NAMES.get(self.second, self.second)
        votes = f"In your {'blind ' if self.blind else ''}side-by-side votes"
        of = f"{self.first_wins} of {self.n} comparison{'s' if self.n != 1 else ''}"
        if self.first_wins == self.second_wins:
            line = f"{votes} {first} and {second} each won {of}"
        else:
            line = f"{votes} {first} won {of} against {second}"
            line += f" ({second} won {self.second_wins})" if self.second_wins else ""
        if self.draws:
            line += f"; {self.draws} {'was a tie or both bad' if self.draws == 1 else 'were ties or both bad'}"
        line += "."
        if self.n < MIN_N:
            line += f" Fewer than {MIN_N} votes: a hint, not a result."
        return line


def head_to_head(votes: Iterable[Mapping[str, Any]]) -> list[HeadToHead]:
    """One ``HeadToHead`` per pair of bots that met in a vote; malformed records are skipped."""
    counts: dict[tuple[str, str], list[int]] = {}  # (a, b) in bot order -> [a wins, b wins, draws, not blind]
    for v in votes:
        pair = _pair(v)
        if pair is None:
            continue
        a, b = sorted(pair, key=_order)
        tally = counts.setdefault((a, b), [0, 0, 0, 0])
        winner = {"left": pair[0], "right": pair[1]}.get(str(v.get("vote")))  # None: a tie or both bad
        tally[{a: 0, b: 1}.get(winner or "", 2)] += 1
        tally[3] += v.get("blind") is not True
    out = []
    for (a, b), (wins_a, wins_b, draws, unblinded) in sorted(counts.items(), key=lambda kv: _order_pair(kv[0])):
        first, second = (b, a) if wins_b > wins_a else (a, b)
        out.append(HeadToHead(first, second, max(wins_a, wins_b), min(wins_a, wins_b), draws, unblinded == 0))
    return out


def vote_lines(votes: Iterable[Mapping[str, Any]]) -> list[str]:
    """The lines the guide shows, one per pair of bots; none when nobody has voted."""
    return [h.line() for h in head_to_head(votes)]


def _pair(v: Mapping[str, Any]) -> tuple[str, str] | None:
    """The two bots of one vote record, or None if it is not a vote between two different bots."""
    if not isinstance(v, Mapping) or v.get("vote") not in ("left", "right", "tie", "both_bad"):
        return None
    sides = [v.get(side) for side in ("left", "right")]
    names = [bot_key(s["bot"]) for s in sides if isinstance(s, Mapping) and s.get("bot")]
    return (names[0], names[1]) if len(names) == 2 and names[0] != names[1] else None


def _order(bot: str) -> tuple[int, str]:
    """Base, fine-tuned, RAG, hybrid, then any other bot by name."""
    keys = list(BOT_NAMES)
    return (keys.index(bot) if bot in keys else len(keys), bot)


def _order_pair(pair: tuple[str, str]) -> tuple[tuple[int, str], tuple[int, str]]:
    return _order(pair[0]), _order(pair[1])
