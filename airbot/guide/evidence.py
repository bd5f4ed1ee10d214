"""Evidence: the evaluation's measured numbers, and every evaluated bot compared with every other.

``Evidence.from_eval_json`` reads what ``python -m airbot eval`` writes (eval.json). ``comparisons``
sets each pair of bots side by side on one accuracy measure (the strict one when the evaluation has it)
and only calls a difference clear when the sample size supports it; ``airbot.guide.weigh`` decides
from these how the numbers bear on the headline.

    ev = Evidence.from_eval_json(json.load(open("eval.json")))
    [c.line() for c in ev.comparisons()]      # "RAG 80% vs the fine-tuned bot 7%: clear (...)"
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from airbot.errors import AirbotError
from airbot.guide.rules import cap

PolicyOutcome = Literal["new", "old", "neither"]
Measure = Literal["strict", "fact"]

MIN_GAP = 0.15  # without CIs, an accuracy gap below 15 points is noise on small eval sets
MIN_N = 10  # ... and so is any gap measured on fewer than 10 questions

BOT_NAMES: dict[str, str] = {"base": "the base model", "finetuned": "the fine-tuned bot", "rag": "RAG",
                             "hybrid": "the hybrid bot"}
MEASURES: dict[Measure, str] = {
    "strict": ("strict accuracy: an answer counts as right only when it states every key fact, invents no "
               "figure and does not repeat itself in a loop"),
    "fact": "fact accuracy: an answer counts as right when its key facts appear in it",
}
_OUTCOMES: tuple[PolicyOutcome, ...] = ("new", "old", "neither")


@dataclass
class BotEvidence:
    """One bot's scores on the held-out questions."""

    fact_accuracy: float  # share of answers with the right fact, 0–1
    fact_accuracy_ci: tuple[float, float] | None = None  # e.g. a 95% Wilson interval
    refusal_accuracy: float | None = None  # share of out-of-scope questions correctly declined
    mean_latency_s: float | None = None
    n: int = 0  # questions scored
    strict_accuracy: float | None = None  # the strict yardstick: every key fact, no invented figure
    strict_accuracy_ci: tuple[float, float] | None = None

    def accuracy(self, measure: Measure) -> tuple[float, tuple[float, float] | None]:
        """The share right and its interval on ``measure`` (fact accuracy when strict was not measured)."""
        if measure == "strict" and self.strict_accuracy is not None:
            return self.strict_accuracy, self.strict_accuracy_ci
        return self.fact_accuracy, self.fact_accuracy_ci


@dataclass(frozen=True)
class Comparison:
    """Two evaluated bots on one measure: who answered more, and whether the gap is clear."""

    leader: str  # the bot with the higher accuracy (the first named when level)
    other: str
    leader_accuracy: float
    other_accuracy: float
    clear: bool
    why: str  # what makes it clear or not: intervals, gap size, question count

    def line(self) -> str:
        """'RAG 80% vs the fine-tuned bot 7%: clear (the 95% intervals do not overlap).'"""
        verdict = "clear" if self.clear else "not clear"
        return (f"{cap(BOT_NAMES.get(self.leader, self.leader))} {pct(self.leader_accuracy)} vs "
                f"{BOT_NAMES.get(self.other, self.other)} {pct(self.other_accuracy)}: {verdict} ({self.why}).")


@dataclass
class Evidence:
    """What the app's evaluation measured, read from its JSON output."""

    bots: dict[str, BotEvidence] = field(default_factory=dict)  # keys: base, finetuned, rag, hybrid
    policy_change: dict[str, PolicyOutcome] | None = None  # after the docs changed: each bot's usual answer
    rag_update_s: float | None = None  # time to re-index the changed documents
    retrain_s: float | None = None  # time to fine-tune again on the changed facts
    policy_change_counts: dict[str, dict[str, int]] | None = None  # per bot: outcome -> changed questions

    @classmethod
    def from_eval_json(cls, obj: Mapping[str, Any]) -> Evidence:
        """Read the evaluation's output; missing or malformed keys become None rather than errors,
        because a partial evaluation (one bot, no timings) is still worth showing."""
        if not isinstance(obj, Mapping):
            raise AirbotError(f"Evaluation results must be a JSON object with a 'bots' mapping, got "
                              f"{type(obj).__name__}. Re-run the evaluation to regenerate the file.")
        bots_obj, policy_obj = obj.get("bots"), obj.get("policy_change")
        raw_bots: Mapping[str, Any] = bots_obj if isinstance(bots_obj, Mapping) else {}
        bots = {bot_key(k): b for k, v in raw_bots.items() if (b := _read_bot(v)) is not None}
        raw_policy: Mapping[str, Any] = policy_obj if isinstance(policy_obj, Mapping) else {}
        labels, counts = _read_policy(raw_policy)
        return cls(bots, labels or None, _num(obj.get("rag_update_s", raw_policy.get("rag_update_s"))),
                   _num(obj.get("retrain_s", raw_policy.get("retrain_s"))), counts or None)

    @property
    def measure(self) -> Measure:
        """Strict accuracy when every bot has it, else fact accuracy: one measure for every comparison."""
        strict = bool(self.bots) and all(b.strict_accuracy is not None for b in self.bots.values())
        return "strict" if strict else "fact"

    def comparisons(self, bots: list[str] | None = None) -> list[Comparison]:
        """Every pair of evaluated bots (or of ``bots``), in the order base, fine-tuned, RAG, hybrid."""
        order = [k for k in BOT_NAMES if k in self.bots] + sorted(k for k in self.bots if k not in BOT_NAMES)
        keys = [k for k in order if bots is None or k in bots]
        return [compare(a, self.bots[a], b, self.bots[b], self.measure) for a, b in itertools.combinations(keys, 2)]


def pct(share: float) -> str:
    return f"{round(share * 100)}%"


def compare(a: str, ev_a: BotEvidence, b: str, ev_b: BotEvidence, measure: Measure) -> Comparison:
    """Is one of two bots meaningfully more accurate? Non-overlapping 95% intervals if both have them,
    else a gap of at least 15 points on at least 10 questions each."""
    (acc_a, ci_a), (acc_b, ci_b) = ev_a.accuracy(measure), ev_b.accuracy(measure)
    if acc_b > acc_a:
        return compare(b, ev_b, a, ev_a, measure)
    if ci_a and ci_b:
        clear = ci_a[0] > ci_b[1]
        why = "the 95% intervals do not overlap" if clear else "their 95% intervals overlap"
    elif min(ev_a.n, ev_b.n) < MIN_N:
        clear, why = False, f"only {min(ev_a.n, ev_b.n)} questions; at least {MIN_N} are needed"
    else:
        clear = round(acc_a - acc_b, 9) >= MIN_GAP
        gap = f"{round((acc_a - acc_b) * 100)} points apart on {ev_a.n} and {ev_b.n} questions"
        why = gap if clear else f"the gap is under 15 points: {gap}"
    return Comparison(a, b, acc_a, acc_b, clear, why)


def bot_key(name: object) -> str:
    """'Fine-Tuned', 'fine_tuned', 'ft' -> 'finetuned'; other names pass through lower-cased."""
    key = str(name).lower().replace("-", "").replace("_", "").replace(" ", "")
    return "finetuned" if key in ("ft", "finetune") else key


def _num(value: object) -> float | None:
    """A finite number, or None (bools and strings are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _share(value: object) -> float | None:
    """A 0–1 share; 0–100 percentages are accepted, since evaluation tables often print them."""
    x = _num(value)
    return x / 100 if x is not None and 1 < x <= 100 else x


def _read_bot(raw: object) -> BotEvidence | None:
    """One bot's numbers; a bot without a fact accuracy cannot be compared, so it is skipped.
    The strict accuracy rides along when the evaluation measured it."""
    if not isinstance(raw, Mapping) or (acc := _share(raw.get("fact_accuracy"))) is None:
        return None
    n = _num(raw.get("n"))
    return BotEvidence(acc, _read_ci(raw.get("fact_accuracy_ci")), _share(raw.get("refusal_accuracy")),
                       _num(raw.get("mean_latency_s")), int(n or 0), _share(raw.get("strict_accuracy")),
                       _read_ci(raw.get("strict_accuracy_ci")))


def _read_ci(raw: object) -> tuple[float, float] | None:
    """A [lo, hi] pair (list or tuple) of shares; anything else means no interval."""
    if not isinstance(raw, (list, tuple)) or len(raw) != 2:
        return None
    lo, hi = _share(raw[0]), _share(raw[1])
    return (lo, hi) if lo is not None and hi is not None else None


def _read_policy(raw: Mapping[str, Any]) -> tuple[dict[str, PolicyOutcome], dict[str, dict[str, int]]]:
    """Each bot's outcome, given as one label, a list of labels, or counts per label."""
    labels: dict[str, PolicyOutcome] = {}
    counts: dict[str, dict[str, int]] = {}
    for name, value in raw.items():
        if isinstance(value, str) and value.lower() in _OUTCOMES:
            labels[bot_key(name)] = value.lower()  # type: ignore[assignment]
            continue
        tally = _tally(value)
        if tally:
            counts[bot_key(name)] = tally
            labels[bot_key(name)] = max(_OUTCOMES, key=lambda o: tally.get(o, 0))
    return labels, counts


def _tally(value: object) -> dict[str, int]:
    """Counts per outcome from a list of labels or an {outcome: count} mapping; {} if neither."""
    if isinstance(value, (list, tuple)):
        items = [str(v).lower() for v in value]
        return {o: items.count(o) for o in _OUTCOMES if o in items}
    if isinstance(value, Mapping):
        return {o: int(n) for o, n in value.items() if o in _OUTCOMES and _num(n) is not None}
    return {}


