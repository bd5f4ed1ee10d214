"""How the measured numbers take part in the headline: the stated rule, the banner, the lines beside it.

The rule is ``EVIDENCE_RULE``, printed on the page as written: when one approach is clearly more accurate
on the person's own questions and their setup allows it, the headline follows the data; when the data
cannot tell the leaders apart, the questionnaire picks among them; otherwise the questionnaire decides.
A headline whose bot another bot clearly beats always carries a banner saying why, so the guide never
contradicts the person's numbers silently.

    w = weigh(answers, "fine-tune", scores, reasons, Evidence.from_eval_json(obj))
    w.verdict, w.banner, w.lines        # "rag", "The headline follows your numbers, ...", [...]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from airbot.guide.answers import Answers
from airbot.guide.evidence import BOT_NAMES, MEASURES, Comparison, Evidence, Measure, pct
from airbot.guide.rules import LABELS, RULES, Reason, Verdict, cap, constraints, pick, rule_key, top_reason

Agreement = Literal["agree", "disagree", "mixed"]

EVIDENCE_RULE = (
    "How your numbers count: when one approach is clearly more accurate on your own questions (95% intervals "
    "that do not overlap or, without intervals, at least 15 points apart on at least 10 questions each) and your "
    "setup allows it, the headline follows your data; when your data cannot tell the leaders apart, your answers "
    "pick among them; otherwise your answers decide. A bot that another clearly beats is never the headline "
    "without a banner saying why.")

_VERDICT_BOT: dict[Verdict, str] = {"fine-tune": "finetuned", "rag": "rag", "hybrid": "hybrid"}
_BOT_VERDICT: dict[str, Verdict] = {bot: v for v, bot in _VERDICT_BOT.items()}


@dataclass
class Weighed:
    """The headline after the evidence has had its say, and everything the page shows about why."""

    verdict: Verdict  # the headline
    agreement: Agreement | None  # do the numbers back what the answers alone say?
    evidence_verdict: Verdict | None  # the one approach the numbers single out; None when they cannot
    banner: str | None  # why the headline is not what the answers say, or why a beaten bot still heads
    summary: str | None  # the headline's one sentence when the numbers moved it
    lines: list[str] = field(default_factory=list)
    comparisons: list[Comparison] = field(default_factory=list)
    measure: Measure = "fact"


@dataclass(frozen=True)
class _Ctx:
    """What every sentence needs: the answers, what they alone say, and the numbers."""

    answers: Answers
    asked: Verdict
    scores: dict[str, float]
    reasons: list[Reason]
    ev: Evidence

    def measure(self) -> str:
        return "strict accuracy" if self.ev.measure == "strict" else "fact accuracy"

    def acc(self, bot: str) -> float:
        return self.ev.bots[bot].accuracy(self.ev.measure)[0]

    def answered(self, winners: list[str], losers: list[str]) -> str:
        """'RAG and the hybrid bot answered 80% and 80% vs 7% for the fine-tuned bot'."""
        who = _and([BOT_NAMES.get(k, k) for k in winners])
        vs = _and([f"{pct(self.acc(k))} for {BOT_NAMES.get(k, k)}" for k in losers])
        return f"{who} answered {_and([pct(self.acc(k)) for k in winners])} vs {vs}"


def weigh(a: Answers, asked: Verdict, scores: dict[str, float], reasons: list[Reason], ev: Evidence) -> Weighed:
    """Apply ``EVIDENCE_RULE`` to the answers' verdict ``asked`` and describe the result."""
    ctx = _Ctx(a, asked, scores, reasons, ev)
    cands = [k for k in _VERDICT_BOT.values() if k in ev.bots]
    comps = ev.comparisons()
    if len(cands) < 2:
        w = Weighed(asked, None, None, None, None, ["Fewer than two of the fine-tuned, RAG and hybrid bots were "
                                                    "evaluated, so the numbers cannot compare approaches yet."])
    else:
        w = _headline(ctx, cands, [c for c in comps if c.leader in cands and c.other in cands])
    w.comparisons, w.measure = comps, ev.measure
    w.banner = " ".join(b for b in (w.banner, _floor_banner(ctx, w.verdict, comps)) if b) or None
    measure = f"Accuracy here is {MEASURES[ev.measure]}."
    if ev.measure == "fact":
        measure += " (This evaluation did not record the strict accuracy.)"
    extra = [_base_line(ev), _refusal_line(ev), _latency_line(a, w.verdict, ev), _policy_line(ev)]
    w.lines = [w.lines[0], measure, *w.lines[1:], *(line for line in extra if line)]
    return w


def _headline(ctx: _Ctx, cands: list[str], comps: list[Comparison]) -> Weighed:
    """The rule itself: who leads (no other approach clearly beats them), and what that does to the headline."""
    beats = {(c.leader, c.other) for c in comps if c.clear}
    leaders = [k for k in cands if not any((j, k) in beats for j in cands)] or [max(cands, key=ctx.acc)]
    beaten = [k for k in cands if k not in leaders]
    favoured = _BOT_VERDICT[leaders[0]] if len(leaders) == 1 else None
    mine = _VERDICT_BOT[ctx.asked]
    if not beaten:
        return Weighed(ctx.asked, "mixed", None, None, None, [_too_close(ctx, cands, comps)])
    if mine not in cands:
        best = max(leaders, key=ctx.acc)
        return Weighed(ctx.asked, "mixed", favoured, None, None, [
            f"{cap(BOT_NAMES[best])} answered best ({pct(ctx.acc(best))}), but {BOT_NAMES[mine]} was not "
            "evaluated, so the numbers cannot confirm your answers."])
    if mine in leaders:
        return _backed(ctx, mine, leaders, beaten, comps)
    return _overruled(ctx, mine, leaders, comps)


def _too_close(ctx: _Ctx, cands: list[str], comps: list[Comparison]) -> str:
    ranked = sorted(cands, key=lambda k: -ctx.acc(k))
    why = _between(comps, ranked[0], ranked[1]).why
    return (f"{cap(ctx.answered(ranked[:1], ranked[1:2]))}, but {why}: the sets are too small to tell the "
            "approaches apart, so your answers decide.")


def _backed(ctx: _Ctx, mine: str, leaders: list[str], beaten: list[str], comps: list[Comparison]) -> Weighed:
    """The answers' verdict leads on the data too, alone ("agree") or level with another ("mixed")."""
    clause, label = _clause(ctx), LABELS[ctx.asked]
    co = [k for k in leaders if k != mine]
    if not co:
        return Weighed(ctx.asked, "agree", ctx.asked, None, None, [
            f"{clause} and {ctx.answered([mine], beaten)}: the numbers agree with {label}."])
    level = _between(comps, mine, co[0])
    line = (f"{clause}. {cap(ctx.answered([mine, *co], beaten))}, but your data cannot tell "
            f"{_and([BOT_NAMES[k] for k in [mine, *co]])} apart ({level.why}), so your answers pick {label}.")
    if mine == "hybrid" and "rag" in co:
        line += " RAG alone did as well on your questions, without a fine-tuning run."
    return Weighed(ctx.asked, "mixed", None, None, None, [line])


def _overruled(ctx: _Ctx, mine: str, leaders: list[str], comps: list[Comparison]) -> Weighed:
    """Another approach clearly beats the answers' verdict: the headline follows it if the setup allows."""
    allowed, notes = constraints(ctx.answers)
    usable = {_BOT_VERDICT[k] for k in leaders if _BOT_VERDICT[k] in allowed}
    favoured = _BOT_VERDICT[leaders[0]] if len(leaders) == 1 else None
    if not usable:
        return _ruled_out(ctx, mine, leaders, comps, favoured, notes)
    head = pick(ctx.scores, usable)
    lead = _VERDICT_BOT[head]
    line = (f"{_clause(ctx)}, but {ctx.answered(leaders, [mine])}: the numbers disagree, so the headline follows "
            f"your data: {LABELS[head]}.")
    if len(leaders) > 1:
        line += (f" Your data cannot tell {_and([BOT_NAMES[k] for k in leaders])} apart, so your answers pick "
                 "among them.")
    banner = (f"The headline follows your numbers, not your answers: on your questions "
              f"{ctx.answered([lead], [mine])} ({ctx.measure()}; {_between(comps, lead, mine).why}). Your answers "
              f"alone point to {LABELS[ctx.asked]}; their reasons are below.")
    level = [BOT_NAMES[k] for k in leaders if k != lead]
    tie = f" (level with {_and(level)}; your answers pick it)" if level else ""
    summary = f"{cap(LABELS[head])} fits your data best{tie}; your answers alone point to {LABELS[ctx.asked]}."
    return Weighed(head, "disagree", favoured, banner, summary, [line])


def _ruled_out(ctx: _Ctx, mine: str, leaders: list[str], comps: list[Comparison], favoured: Verdict | None,
               notes: list[str]) -> Weighed:
    """The numbers favour what a hard constraint forbids: the headline stays, the banner says it is only that."""
    labels = _and([LABELS[_BOT_VERDICT[k]] for k in leaders])
    best = max(leaders, key=ctx.acc)
    banner = (f"{cap(ctx.answered([best], [mine]))} on your questions ({ctx.measure()}; "
              f"{_between(comps, best, mine).why}), but your setup rules out {labels}: "
              f"{notes[0] if notes else 'see the warnings.'} The headline stays {LABELS[ctx.asked]} only because "
              "of that.")
    return Weighed(ctx.asked, "disagree", favoured, banner, None, [
        f"{_clause(ctx)}, but {ctx.answered(leaders, [mine])}: the numbers disagree and favour {labels}, which "
        "your setup rules out."])


def _floor_banner(ctx: _Ctx, verdict: Verdict, comps: list[Comparison]) -> str | None:
    """The headline's bot answered clearly worse than the untouched base model: say so, whatever the rule did."""
    bot = _VERDICT_BOT[verdict]
    if "base" not in ctx.ev.bots or bot not in ctx.ev.bots:
        return None
    pair = _between(comps, "base", bot)
    if not (pair.clear and pair.leader == "base"):
        return None
    check = {"finetuned": "its training run", "rag": "its index and documents", "hybrid": "its training run and index"}
    return (f"The base model, with no training and no documents, answered {pct(ctx.acc('base'))} vs "
            f"{pct(ctx.acc(bot))} for {BOT_NAMES[bot]}: check {check[bot]} before relying on it.")


def _between(comps: list[Comparison], a: str, b: str) -> Comparison:
    return next(c for c in comps if {c.leader, c.other} == {a, b})


def _and(items: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _clause(ctx: _Ctx) -> str:
    """'Your knowledge changes monthly': the answers' strongest reason, as a sentence opener."""
    if constraints(ctx.answers)[0] == {"fine-tune"}:
        return "Your setup rules out RAG"
    top = top_reason(ctx.asked, ctx.reasons)
    if top is None:
        return f"Your answers point to {LABELS[ctx.asked]}"
    return RULES[(top.factor, rule_key(ctx.answers, top.factor))].clause.format(n=ctx.answers.examples)


def _base_line(ev: Evidence) -> str | None:
    base = ev.bots.get("base")
    if base is None:
        return None
    return (f"The base model with no fine-tuning and no documents answered {pct(base.accuracy(ev.measure)[0])}: "
            "the floor the other bots should clear.")


def _refusal_line(ev: Evidence) -> str | None:
    parts = [f"{BOT_NAMES.get(k, k)} {pct(b.refusal_accuracy)}" for k, b in ev.bots.items()
             if b.refusal_accuracy is not None]
    return f"Out-of-scope questions correctly declined: {', '.join(parts)}." if parts else None


def _latency_line(a: Answers, verdict: Verdict, ev: Evidence) -> str | None:
    """Mean answer times, and how the headline's bot compares with the fastest approach (RAG is slower
    because it searches first). The base model is listed but is no alternative."""
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
