"""The rules: each questionnaire answer pushes towards fine-tuning or RAG with a weight and a table row.

Scores are sums of weights; hybrid is scored only when both sides are strong (it pays both costs);
hard constraints (no documents, offline without a retriever) remove options whatever the scores say.
Being offline or private favours neither side: in airbot the embedder, the index and the model all run
on the user's machine, so RAG is as local as a fine-tuned model (``notes`` says so on the page).
``airbot.guide.verdict`` puts these together into a ``Recommendation``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from airbot.guide.answers import Answers
from airbot.guide.tables import cite

Verdict = Literal["fine-tune", "rag", "hybrid"]

MIN_EXAMPLES = 30  # the seed fine-tunes on "30–1000 airline-specific customer queries"
LORA_MAX_EXAMPLES = 20_000  # seed tip: "Use LoRA or QLoRA for < 20K examples"
STRONG = 2.5  # each side needs this much support before paying for both is worth it
BLEND_BONUS = 2.0  # the seed's blend tip applies: structure from fine-tuning, facts from RAG
CLOSE_BONUS = 0.5  # both strong without the tip: hybrid wins only a near tie
CLOSE_CALL = 1.0  # a winning margin below this is reported as a close call

LABELS: dict[str, str] = {"fine-tune": "fine-tuning", "rag": "RAG", "hybrid": "hybrid (fine-tuning + RAG)"}
_TIE_ORDER: tuple[Verdict, ...] = ("rag", "fine-tune", "hybrid")  # RAG first: docs can change any time


@dataclass(frozen=True)
class Reason:
    """One answer's push towards a verdict, with the seed row that justifies it."""

    text: str
    points_to: Verdict
    weight: float
    seed_row: str
    factor: str = ""  # the questionnaire field it comes from ("blend" for the hybrid rule)


@dataclass(frozen=True)
class _Rule:
    points_to: Verdict
    weight: float
    seed_row: str
    clause: str  # "Your knowledge changes weekly" — also opens the evidence headline
    why: str

    def reason(self, factor: str, answers: Answers) -> Reason:
        text = f"{self.clause.format(n=answers.examples)}: {self.why}."
        return Reason(text, self.points_to, self.weight, self.seed_row, factor)


_DATA_UPDATE = cite("summary", "Data Update")
_STYLE = cite("when_to_fine_tune", "Need for stylistic control")
_FACTS = cite("when_to_fine_tune", "Regulatory or fact-intensive tasks")
_REPEAT = cite("when_to_fine_tune", "Repetitive tasks with known patterns")
DATASET = cite("challenges", "Requires good quality, diverse dataset")  # caveats.py cites it too
_LORA_TIP = cite("tips", "Use LoRA or QLoRA for < 20K examples")
_BLEND = cite("tips", "Blend both: fine-tune on structure, RAG for facts")

RULES: dict[tuple[str, object], _Rule] = {
    ("knowledge_change", "never"): _Rule("fine-tune", 1.0, _DATA_UPDATE, "Your knowledge never changes",
                                         "a fine-tuned model learns it once and never needs retraining"),
    ("knowledge_change", "yearly"): _Rule("fine-tune", 0.5, _DATA_UPDATE, "Your knowledge changes about once a year",
                                          "retraining a fine-tuned model that rarely is affordable"),
    ("knowledge_change", "few-times-a-year"): _Rule(
        "rag", 0.5, cite("fine_tuned_airline_bot", "Needs retraining if policies change"),
        "Your knowledge changes a few times a year",
        "each change means retraining a fine-tuned model, while RAG only re-indexes the changed documents"),
    ("knowledge_change", "monthly"): _Rule(
        "rag", 1.0, cite("fine_tuned_airline_bot", "Needs retraining if policies change"),
        "Your knowledge changes monthly",
        "a fine-tuned model needs retraining every month, while RAG only re-indexes the changed documents"),
    ("knowledge_change", "weekly"): _Rule(
        "rag", 2.5, cite("tips", "Consider RAG if your knowledge changes weekly"), "Your knowledge changes weekly",
        "the guide's tip is to consider RAG, which picks up new documents without retraining"),
    ("knowledge_change", "daily"): _Rule(
        "rag", 3.0, cite("when_to_fine_tune", "Vast changing external knowledge base"),
        "Your knowledge changes daily", "a constantly changing knowledge base is the clearest case for RAG"),
    ("examples", "none"): _Rule("rag", 2.0, DATASET, "You have no Q&A examples",
                                "there is nothing to fine-tune on yet, while RAG works from documents alone"),
    ("examples", "few"): _Rule("rag", 1.0, DATASET, "You have only {n} Q&A examples",
                               "fine-tuning needs a good, diverse set of at least 30, so RAG is the safer start"),
    ("examples", "some"): _Rule("fine-tune", 0.5, _LORA_TIP, "You have {n} Q&A examples",
                                "enough for a LoRA fine-tune, which needs far fewer than 20K examples"),
    ("examples", "many"): _Rule("fine-tune", 1.0, _LORA_TIP, "You have {n} Q&A examples",
                                "a solid set for a LoRA or QLoRA fine-tune"),
    ("examples", "huge"): _Rule("fine-tune", 1.0, cite("techniques", "Full Fine-Tuning"), "You have {n} Q&A examples",
                                "plenty to fine-tune on, beyond the LoRA range, so full fine-tuning is an option"),
    ("style_control", "some"): _Rule("fine-tune", 1.0, _STYLE, "You want some control over tone and format",
                                     "fine-tuning teaches the model your style"),
    ("style_control", "strict"): _Rule("fine-tune", 2.0, _STYLE, "You need strict control over tone and format",
                                       "fine-tuning trains that style into the model, which retrieval alone cannot"),
    ("fact_intensive", "medium"): _Rule("rag", 1.0, _FACTS, "Your answers are fairly fact-heavy",
                                        "RAG grounds them in your documents and shows its sources"),
    ("fact_intensive", "high"): _Rule("rag", 2.0, _FACTS, "Your task is regulatory or fact-intensive",
                                      "the guide says prefer RAG, which answers from the source text and can cite it"),
    ("repetitive", "low"): _Rule(
        "rag", 0.5, cite("summary", "Use Case"), "Your questions vary rather than repeat",
        "the comparison table matches RAG to dynamic, fact-based queries and fine-tuning to static, repeated ones"),
    ("repetitive", "medium"): _Rule("fine-tune", 0.5, _REPEAT, "Many of your questions repeat",
                                    "fine-tuning answers known patterns consistently"),
    ("repetitive", "high"): _Rule("fine-tune", 1.5, _REPEAT, "Your questions are repetitive with known patterns",
                                  "that is the guide's first case for fine-tuning"),
    ("latency_budget", "tight"): _Rule(
        "fine-tune", 1.0, cite("rag_airline_bot", "Slower response due to document search"), "You need fast answers",
        "RAG is slower because it searches documents first, while a fine-tuned model answers directly"),
    ("cost_budget", "low"): _Rule(
        "rag", 0.5, cite("summary", "Cost"), "Your upfront budget is low",
        "fine-tuning is paid up front (high, once) while RAG is paid as running infrastructure (medium, ongoing)"),
    ("cost_budget", "high"): _Rule("fine-tune", 0.5, cite("summary", "Cost"), "You can afford an upfront training run",
                                   "that one-off cost is fine-tuning's main price"),
    ("can_run_retriever", False): _Rule(
        "fine-tune", 2.0, cite("summary", "Deployment"), "You would rather not run a vector database and retriever",
        "a fine-tuned model deploys as one model, while RAG needs a vector DB, retriever, encoder and model"),
    ("needs_generalization", "medium"): _Rule(
        "rag", 0.5, cite("challenges", "Lack of generalization on unseen queries"), "Unseen questions matter to you",
        "fine-tuned models generalise poorly beyond their examples, while RAG can look answers up"),
    ("needs_generalization", "high"): _Rule(
        "rag", 1.0, cite("fine_tuned_airline_bot", "Hard to cover all edge cases"),
        "Unseen and edge-case questions matter a lot to you",
        "a fine-tuned bot cannot cover every edge case, while RAG looks the answer up in your documents"),
    ("blend", "tip"): _Rule("hybrid", BLEND_BONUS, _BLEND, "You need both control over structure and grounded facts",
                            "the guide's tip is to fine-tune on structure and use RAG for facts"),
    ("blend", "close"): _Rule("hybrid", CLOSE_BONUS, _BLEND, "Both approaches have strong support in your answers",
                              "blending them keeps the strengths of each"),
}


def rule_key(answers: Answers, factor: str) -> object:
    """The answer value a rule is keyed on; example counts are bucketed by the seed's thresholds."""
    if factor == "blend":
        return "tip" if _blend_applies(answers) else "close"
    value = getattr(answers, factor)
    if factor != "examples":
        return value
    if value == 0:
        return "none"
    if value < MIN_EXAMPLES:
        return "few"
    if value < 1000:
        return "some"
    return "many" if value <= LORA_MAX_EXAMPLES else "huge"


def _blend_applies(a: Answers) -> bool:
    """Seed tip "fine-tune on structure, RAG for facts": a strict format to train in, and facts to look up.

    "Some" style is left out on purpose: prompting gets that far, so it does not justify a second system.
    """
    return a.style_control == "strict" and a.fact_intensive != "low"


def side_reasons(a: Answers) -> list[Reason]:
    """One reason per answer that pushes either way (middle answers push neither)."""
    out = []
    for name in (f.name for f in dataclasses.fields(Answers)):
        rule = RULES.get((name, rule_key(a, name)))
        if rule is not None:
            out.append(rule.reason(name, a))
    return out


def score(a: Answers, reasons: list[Reason]) -> tuple[dict[str, float], Reason | None]:
    """Each side's score is the sum of its reasons' weights.

    Hybrid pays the costs of both, so it is considered only when both sides reach ``STRONG``;
    then it scores the mean of the two plus the blend reason's weight.
    """
    ft = sum(r.weight for r in reasons if r.points_to == "fine-tune")
    rag = sum(r.weight for r in reasons if r.points_to == "rag")
    blend = RULES[("blend", rule_key(a, "blend"))].reason("blend", a) if min(ft, rag) >= STRONG else None
    hybrid = (ft + rag) / 2 + blend.weight if blend else 0.0
    return {"fine-tune": ft, "rag": rag, "hybrid": hybrid}, blend


def constraints(a: Answers) -> tuple[set[Verdict], list[str]]:
    """Hard constraints: what cannot work whatever the scores say, and why."""
    allowed: set[Verdict] = {"fine-tune", "rag", "hybrid"}
    notes = []
    if not a.has_documents:
        allowed -= {"rag", "hybrid"}
        notes.append("You have no source documents, so RAG and hybrid are impossible: there is nothing to "
                     "retrieve from. Only fine-tuning is considered.")
    if a.offline and not a.can_run_retriever:
        allowed -= {"rag", "hybrid"}
        notes.append("Offline and without a retriever nothing can search your documents, so RAG and hybrid are "
                     "ruled out. (In airbot RAG runs offline too, with a local index on your own machine: if you "
                     "can host one, say so.)")
    return allowed, notes


def pick(scores: dict[str, float], allowed: set[Verdict]) -> Verdict:
    """Highest score among allowed verdicts; ties go to RAG, then fine-tuning (the cheaper to undo)."""
    return max((v for v in _TIE_ORDER if v in allowed), key=lambda v: round(scores[v], 6))


def data_warnings(a: Answers) -> list[str]:
    """What the example count says about fine-tuning, whatever the verdict."""
    if a.examples < MIN_EXAMPLES:
        return [(f"You have {a.examples} Q&A examples; fine-tuning needs at least {MIN_EXAMPLES} (30–1000 is "
                 "typical), so your data does not support fine-tuning yet. Collect more examples first.")]
    if a.examples > LORA_MAX_EXAMPLES:
        return [(f"You have {a.examples} examples, past the guide's tip 'Use LoRA or QLoRA for < 20K examples': "
                 "consider full fine-tuning with a larger GPU budget, or train LoRA on a diverse subset.")]
    return []


def notes(a: Answers) -> list[str]:
    """What an answer means here without pushing either way (shown beside the reasons, weight 0)."""
    if a.offline and a.can_run_retriever:
        return ["You need it offline or private: that favours neither side here, because in airbot fine-tuning "
                "and RAG both run on your own machine (the embedder, the document index and the model are local; "
                "nothing is sent to a cloud service)."]
    return []


def top_reason(verdict: Verdict, reasons: list[Reason]) -> Reason | None:
    """The heaviest reason for ``verdict``: the one the summary and the evidence headline quote."""
    return max((r for r in reasons if r.points_to == verdict), key=lambda r: r.weight, default=None)


def cap(text: str) -> str:
    """Upper-case the first letter only (``str.capitalize`` would lower-case 'RAG')."""
    return text[:1].upper() + text[1:]
