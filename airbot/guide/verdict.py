"""The recommendation: the questionnaire's verdict, its reasons, warnings and caveats, and the evidence beside it.

    from airbot.guide.verdict import recommend, to_dict
    to_dict(recommend(answers, evidence))      # what the CLI's --json prints and the UI downloads
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from airbot.guide.answers import Answers, answers_from_mapping
from airbot.guide.caveats import Caveat, caveats
from airbot.guide.evidence import Agreement, Evidence, weigh
from airbot.guide.rules import (
    CLOSE_CALL,
    LABELS,
    MIN_EXAMPLES,
    Reason,
    Verdict,
    cap,
    constraints,
    data_warnings,
    pick,
    score,
    side_reasons,
    top_reason,
)


@dataclass
class Recommendation:
    """The questionnaire's verdict, why, what could go wrong, and (optionally) what the numbers say."""

    verdict: Verdict
    scores: dict[str, float]
    reasons: list[Reason]
    warnings: list[str]
    caveats: list[Caveat]
    summary: str
    answers: Answers
    evidence_lines: list[str] = field(default_factory=list)
    agreement: Agreement | None = None
    evidence_verdict: Verdict | None = None  # what the measured accuracy alone favours; None if inconclusive


def recommend(answers: Answers, evidence: Evidence | None = None) -> Recommendation:
    """Score the answers against the seed's rules, apply the hard constraints, and set any
    measured evidence beside the verdict (the verdict itself stays the questionnaire's)."""
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
    rec = Recommendation(verdict, scores, reasons, warnings, caveats(answers, verdict),
                         _summary(verdict, scores, reasons, allowed, answers.examples < MIN_EXAMPLES), answers)
    if evidence is not None:
        rec.evidence_lines, rec.agreement, rec.evidence_verdict = weigh(answers, rec, evidence)
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
