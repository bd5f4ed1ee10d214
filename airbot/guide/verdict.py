"""The recommendation: the headline, its reasons, warnings and caveats, and the evidence that shaped it.

The questionnaire gives a verdict; measured evidence (an eval.json) may move the headline by the rule
``EVIDENCE_RULE`` states, and then a banner says why. What the answers alone say stays on the record
(``questionnaire_verdict``, ``questionnaire_summary``), so the page shows both.

    from airbot.guide.verdict import recommend, to_dict
    to_dict(recommend(answers, evidence, votes))      # what the CLI's --json prints and the UI downloads
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from airbot.guide.answers import Answers, answers_from_mapping
from airbot.guide.caveats import Caveat, caveats
from airbot.guide.evidence import Comparison, Evidence, Measure
from airbot.guide.rules import (
    CLOSE_CALL,
    LABELS,
    MIN_EXAMPLES,
    Reason,
    Verdict,
    cap,
    constraints,
    data_warnings,
    notes,
    pick,
    score,
    side_reasons,
    top_reason,
)
from airbot.guide.votes import vote_lines
from airbot.guide.weigh import EVIDENCE_RULE, Agreement, weigh


@dataclass
class Recommendation:
    """The headline, why, what could go wrong, and (optionally) what the numbers and the votes say."""

    verdict: Verdict  # the headline: the questionnaire's, unless the numbers moved it (then ``banner`` says why)
    scores: dict[str, float]
    reasons: list[Reason]
    warnings: list[str]
    caveats: list[Caveat]  # of the headline's approach
    summary: str
    answers: Answers
    questionnaire_verdict: Verdict  # what the answers alone point to
    questionnaire_summary: str
    notes: list[str] = field(default_factory=list)  # answers that push neither way, and why
    evidence_rule: str = EVIDENCE_RULE  # how measured numbers take part in the headline, as the page states it
    banner: str | None = None  # why the headline differs from the answers, or why a clearly beaten bot heads it
    evidence_lines: list[str] = field(default_factory=list)
    agreement: Agreement | None = None  # do the numbers back the questionnaire's verdict?
    evidence_verdict: Verdict | None = None  # what the measured accuracy alone favours; None if inconclusive
    comparisons: list[Comparison] = field(default_factory=list)  # every evaluated bot against every other
    measure: Measure | None = None  # the accuracy the comparisons use: strict when the evaluation has it
    vote_lines: list[str] = field(default_factory=list)  # head-to-head counts from side-by-side votes


def recommend(answers: Answers, evidence: Evidence | None = None,
              votes: Iterable[Mapping[str, Any]] | None = None) -> Recommendation:
    """Score the answers against the guide's rules and apply the hard constraints; measured evidence then
    takes part in the headline by ``EVIDENCE_RULE``, and side-by-side ``votes`` are cited beside it."""
    answers = answers_from_mapping(dataclasses.asdict(answers))  # a hand-built Answers gets validated too
    side = side_reasons(answers)
    scores, blend = score(answers, side)
    allowed, constraint_notes = constraints(answers)
    verdict, free = pick(scores, allowed), pick(scores, {"fine-tune", "rag", "hybrid"})
    warnings = constraint_notes + data_warnings(answers)
    if free != verdict:
        warnings.append(f"Without that constraint your answers would point to {LABELS[free]}, "
                        f"scoring {scores[free]:.1f} vs {scores[verdict]:.1f}.")
    reasons = sorted(side + ([blend] if blend else []), key=lambda r: -r.weight)
    summary = _summary(verdict, scores, reasons, allowed, answers.examples < MIN_EXAMPLES)
    rec = Recommendation(verdict, scores, reasons, warnings, caveats(answers, verdict), summary, answers, verdict,
                         summary, notes(answers), vote_lines=vote_lines(votes or []))
    if evidence is not None:
        w = weigh(answers, verdict, scores, reasons, evidence)
        rec.verdict, rec.banner, rec.summary = w.verdict, w.banner, w.summary or summary
        rec.evidence_lines, rec.agreement, rec.evidence_verdict = w.lines, w.agreement, w.evidence_verdict
        rec.comparisons, rec.measure = w.comparisons, w.measure
        rec.caveats = caveats(answers, w.verdict)
    return rec


def _summary(verdict: Verdict, scores: dict[str, float], reasons: list[Reason], allowed: set[Verdict],
             few_examples: bool) -> str:
    """One sentence: the verdict, how close it was, and its strongest reason."""
    label = cap(LABELS[verdict])
    if allowed == {"fine-tune"} and scores["fine-tune"] < max(scores.values()):
        return f"{label} is the only option your setup allows; see the warnings for why."
    runner_up = max((s for v, s in scores.items() if v != verdict and v in allowed), default=0.0)
    close = " (a close call)" if scores[verdict] - runner_up < CLOSE_CALL else ""
    top = top_reason(verdict, reasons)
    why = f" {top.text}" if top else ""
    hybrid = f", hybrid {scores['hybrid']:.1f}" if scores["hybrid"] else ""
    data = f" First collect at least {MIN_EXAMPLES} Q&A examples." if verdict != "rag" and few_examples else ""
    return (f"{label} fits best{close}: fine-tuning scores {scores['fine-tune']:.1f}, RAG {scores['rag']:.1f}"
            f"{hybrid}.{why}{data}")


def to_dict(rec: Recommendation) -> dict[str, Any]:
    """A JSON-ready copy (tuples become lists) for the CLI's --json and the UI's download."""
    return _plain(dataclasses.asdict(rec))


def _plain(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    return x
