"""Evidence: the evaluation's measured numbers, set beside the questionnaire's verdict, never over it.

``Evidence.from_eval_json`` reads what ``python -m airbot eval`` writes (eval.json); ``weigh`` turns it
into lines saying whether the numbers agree with the verdict, and only claims a difference the sample
size can support.

    ev = Evidence.from_eval_json(json.load(open("eval.json")))
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from airbot.errors import AirbotError
from airbot.guide.answers import Answers
from airbot.guide.rules import LABELS, RULES, Verdict, cap, constraints, rule_key, top_reason

if TYPE_CHECKING:  # only for annotations: verdict.py imports this module to weigh evidence
    from airbot.guide.verdict import Recommendation

Agreement = Literal["agree", "disagree", "mixed"]
PolicyOutcome = Literal["new", "old", "neither"]

MIN_GAP = 0.15  # without CIs, an accuracy gap below 15 points is noise on small eval sets
MIN_N = 10  # ... and so is any gap measured on fewer than 10 questions

BOT_NAMES: dict[str, str] = {"base": "the base model", "finetuned": "the fine-tuned bot", "rag": "RAG",
                             "hybrid": "the hybrid bot"}
_VERDICT_BOT: dict[Verdict, str] = {"fine-tune": "finetuned", "rag": "rag", "hybrid": "hybrid"}
_BOT_VERDICT: dict[str, Verdict] = {bot: v for v, bot in _VERDICT_BOT.items()}
_OUTCOMES: tuple[PolicyOutcome, ...] = ("new", "old", "neither")


@dataclass
class BotEvidence:
    """One bot's scores on the held-out questions."""

    fact_accuracy: float  # share of answers with the right fact, 0–1
    fact_accuracy_ci: tuple[float, float] | None = None  # e.g. a 95% Wilson interval
    refusal_accuracy: float | None = None  # share of out-of-scope questions correctly declined
    mean_latency_s: float | None = None
    n: int = 0  # questions scored


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
        bots = {_bot_key(k): b for k, v in raw_bots.items() if (b := _read_bot(v)) is not None}
        raw_policy: Mapping[str, Any] = policy_obj if isinstance(policy_obj, Mapping) else {}
        labels, counts = _read_policy(raw_policy)
        return cls(bots, labels or None, _num(obj.get("rag_update_s", raw_policy.get("rag_update_s"))),
                   _num(obj.get("retrain_s", raw_policy.get("retrain_s"))), counts or None)


def _bot_key(name: object) -> str:
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
    """One bot's numbers; a bot without a fact accuracy cannot be compared, so it is skipped."""
    if not isinstance(raw, Mapping) or (acc := _share(raw.get("fact_accuracy"))) is None:
        return None
    n = _num(raw.get("n"))
    return BotEvidence(acc, _read_ci(raw.get("fact_accuracy_ci")), _share(raw.get("refusal_accuracy")),
                       _num(raw.get("mean_latency_s")), int(n or 0))


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
            labels[_bot_key(name)] = value.lower()  # type: ignore[assignment]
            continue
        tally = _tally(value)
        if tally:
            counts[_bot_key(name)] = tally
            labels[_bot_key(name)] = max(_OUTCOMES, key=lambda o: tally.get(o, 0))
    return labels, counts


def _tally(value: object) -> dict[str, int]:
    """Counts per outcome from a list of labels or an {outcome: count} mapping; {} if neither."""
    if isinstance(value, (list, tuple)):
        items = [str(v).lower() for v in value]
        return {o: items.count(o) for o in _OUTCOMES if o in items}
    if isinstance(value, Mapping):
        return {o: int(n) for o, n in value.items() if o in _OUTCOMES and _num(n) is not None}
    return {}


def _clear_gap(hi: BotEvidence, lo: BotEvidence) -> tuple[bool, str]:
    """Is ``hi`` meaningfully more accurate than ``lo``? Non-overlapping CIs if both have them,
    else a 15-point gap on at least 10 questions each. Returns the answer and why not."""
    if hi.fact_accuracy_ci and lo.fact_accuracy_ci:
        return hi.fact_accuracy_ci[0] > lo.fact_accuracy_ci[1], "their confidence intervals overlap"
    if min(hi.n, lo.n) < MIN_N:
        return False, f"with only {min(hi.n, lo.n)} questions"
    return round(hi.fact_accuracy - lo.fact_accuracy, 9) >= MIN_GAP, "the gap is under 15 points"


def weigh(a: Answers, rec: Recommendation, ev: Evidence) -> tuple[list[str], Agreement | None, Verdict | None]:
    """Evidence lines, whether they agree with the verdict, and what accuracy alone favours."""
    cands = {k: ev.bots[k] for k in _VERDICT_BOT.values() if k in ev.bots}
    if len(cands) < 2:
        head, agreement, favoured = ("Fewer than two of the fine-tuned, RAG and hybrid bots were evaluated, "
                                     "so the numbers cannot compare approaches yet."), None, None
    else:
        head, agreement, favoured = _accuracy_line(a, rec, cands)
    extra = [_base_line(ev), _refusal_line(ev), _latency_line(a, rec.verdict, ev), _policy_line(ev)]
    return [head] + [line for line in extra if line], agreement, favoured


def _accuracy_line(a: Answers, rec: Recommendation,
                   cands: dict[str, BotEvidence]) -> tuple[str, Agreement, Verdict | None]:
    """The headline: who answered best, whether that is a real difference, and if it backs the verdict."""
    ranked = sorted(cands, key=lambda k: -cands[k].fact_accuracy)
    best, mine = ranked[0], _VERDICT_BOT[rec.verdict]
    top = [k for k in ranked if k == best or not _clear_gap(cands[best], cands[k])[0]]
    favoured = _BOT_VERDICT[best] if len(top) == 1 else None
    pct = {k: f"{round(b.fact_accuracy * 100)}%" for k, b in cands.items()}
    if len(top) == len(ranked):
        why = _clear_gap(cands[best], cands[ranked[1]])[1]
        return (f"{cap(BOT_NAMES[best])} answered {pct[best]} vs {pct[ranked[1]]} for {BOT_NAMES[ranked[1]]}, "
                f"but {why}: the sets are too small to tell."), "mixed", None
    if mine not in cands:
        return (f"{cap(BOT_NAMES[best])} answered best ({pct[best]}), but the {LABELS[rec.verdict]} bot was not "
                "evaluated, so the numbers cannot confirm the questionnaire."), "mixed", favoured
    clause = _verdict_clause(a, rec)
    if mine in top:
        other = next(k for k in ranked if k not in top)
        return (f"{clause} and {BOT_NAMES[mine]} answered {pct[mine]} vs {pct[other]} for {BOT_NAMES[other]}: "
                f"the numbers agree with {LABELS[rec.verdict]}."), "agree", favoured
    return (f"{clause}, but {BOT_NAMES[best]} answered {pct[best]} vs {pct[mine]} for {BOT_NAMES[mine]}: the "
            f"numbers disagree and favour {LABELS[_BOT_VERDICT[best]]}."), "disagree", favoured


def _verdict_clause(a: Answers, rec: Recommendation) -> str:
    """'Your knowledge changes monthly': the verdict's strongest reason, as a sentence opener."""
    if constraints(a)[0] == {"fine-tune"}:
        return "Your setup rules out RAG"
    top = top_reason(rec.verdict, rec.reasons)
    if top is None:
        return f"The questionnaire points to {LABELS[rec.verdict]}"
    return RULES[(top.factor, rule_key(a, top.factor))].clause.format(n=a.examples)


def _base_line(ev: Evidence) -> str | None:
    base = ev.bots.get("base")
    if base is None:
        return None
    return (f"The base model with no fine-tuning and no documents answered {round(base.fact_accuracy * 100)}%: "
            "the floor the other bots should clear.")


def _refusal_line(ev: Evidence) -> str | None:
    parts = [f"{BOT_NAMES.get(k, k)} {round(b.refusal_accuracy * 100)}%" for k, b in ev.bots.items()
             if b.refusal_accuracy is not None]
    return f"Out-of-scope questions correctly declined: {', '.join(parts)}." if parts else None


def _latency_line(a: Answers, verdict: Verdict, ev: Evidence) -> str | None:
    """Mean answer times, and how the verdict's bot compares with the fastest approach (the seed:
    RAG is slower because it searches first). The base model is listed but is no alternative."""
    timed = {k: b.mean_latency_s for k, b in ev.bots.items() if b.mean_latency_s is not None}
    rivals = {k: t for k, t in timed.items() if k in _BOT_VERDICT}
    if len(timed) < 2:
        return None
    line = "Mean answer time: " + ", ".join(f"{BOT_NAMES.get(k, k)} {t:.1f} s" for k, t in timed.items()) + "."
    mine = _VERDICT_BOT[verdict]
    if mine not in rivals or len(rivals) < 2:
        return line
    fastest = min(rivals, key=lambda k: rivals[k])
    tight = a.latency_budget == "tight"
    if mine == fastest:
        return line + f" {cap(BOT_NAMES[mine])} is the fastest" + (", as your tight budget needs." if tight else ".")
    ratio = rivals[mine] / rivals[fastest] if rivals[fastest] > 0 else float("inf")
    return line + (f" {cap(BOT_NAMES[mine])} is {ratio:.1f}× slower than {BOT_NAMES[fastest]}"
                   + (", and you asked for tight latency." if tight else "."))


def _policy_line(ev: Evidence) -> str | None:
    """'After the policy update RAG gave the new figure in 4/4 changed questions, ...; updating RAG took ...'"""
    if not ev.policy_change:
        return None
    said = {"new": "the new figure", "old": "the old one", "neither": "neither figure"}
    parts = []
    for i, (bot, outcome) in enumerate(ev.policy_change.items()):
        tally = (ev.policy_change_counts or {}).get(bot)
        where = f" in {tally[outcome]}/{sum(tally.values())}" if tally else ""
        where += " changed questions" if tally and i == 0 else ""
        parts.append(f"{BOT_NAMES.get(bot, bot)} {'gave ' if i == 0 else ''}{said[outcome]}{where}")
    line = "After the policy update " + ", ".join(parts)
    if ev.rag_update_s is not None and ev.retrain_s is not None:
        line += f"; updating RAG took {ev.rag_update_s:.1f} s vs ~{ev.retrain_s:.0f} s to retrain"
    return line + "."
