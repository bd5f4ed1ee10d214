"""The decision guide: does a use case want fine-tuning, RAG, or both (hybrid)?

Pure rules, no gradio or torch. Every rule is a row of the seed brief's tables, kept here as
data (``SEED_TABLES``) so the UI can show each verdict beside the rows it came from. Measured
evaluation numbers (``Evidence``) are set beside the questionnaire's verdict, never silently
over it: the person sees what their answers say and what their own data says.

    from airbot.guide import PRESETS, recommend, to_dict
    rec = recommend(PRESETS["Airline FAQs"])          # -> rec.verdict == "fine-tune"
    rec = recommend(answers, Evidence.from_eval_json(json.load(open("eval.json"))))

    python -m airbot.guide                            # the verdict for every preset
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from airbot.errors import AirbotError

Verdict = Literal["fine-tune", "rag", "hybrid"]
Agreement = Literal["agree", "disagree", "mixed"]
Change = Literal["never", "yearly", "monthly", "weekly", "daily"]
Level = Literal["low", "medium", "high"]
Style = Literal["none", "some", "strict"]
Latency = Literal["tight", "normal", "relaxed"]
PolicyOutcome = Literal["new", "old", "neither"]

MIN_EXAMPLES = 30  # the seed fine-tunes on "30–1000 airline-specific customer queries"
LORA_MAX_EXAMPLES = 20_000  # seed tip: "Use LoRA or QLoRA for < 20K examples"
STRONG = 2.5  # each side needs this much support before paying for both is worth it
BLEND_BONUS = 2.0  # the seed's blend tip applies: structure from fine-tuning, facts from RAG
CLOSE_BONUS = 0.5  # both strong without the tip: hybrid wins only a near tie
CLOSE_CALL = 1.0  # a winning margin below this is reported as a close call
MIN_GAP = 0.15  # without CIs, an accuracy gap below 15 points is noise on small eval sets
MIN_N = 10  # ... and so is any gap measured on fewer than 10 questions

LABELS: dict[str, str] = {"fine-tune": "fine-tuning", "rag": "RAG", "hybrid": "hybrid (fine-tuning + RAG)"}
_TIE_ORDER: tuple[Verdict, ...] = ("rag", "fine-tune", "hybrid")  # RAG first: docs can change any time


# --- the seed's tables, as data ---------------------------------------------------------------


@dataclass(frozen=True)
class SeedTable:
    """One table or list of the seed brief, verbatim, so the UI renders it and reasons cite it."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    style: Literal["arrow", "colon", "compare", "item"] = "item"

    def citation(self, row: tuple[str, ...]) -> str:
        """The one-line form of a row that ``Reason.seed_row`` carries."""
        head = f"{self.title} — {row[0]}"
        if self.style == "arrow":
            return f"{head} → {row[1]}"
        if self.style == "colon":
            return f"{head}: {row[1]}"
        if self.style == "compare":
            return head + " — " + " vs ".join(f"{c}: {v}" for c, v in zip(self.columns[1:], row[1:]))
        return head

    def cite(self, cell: str) -> str:
        """Citation of the row holding ``cell``; a typo fails at import, not in front of a user."""
        for row in self.rows:
            if cell in row:
                return self.citation(row)
        raise KeyError(f"{cell!r} is not in the seed table {self.title!r}")

    def citations(self) -> list[str]:
        """Every row's citation (what tests check reasons against)."""
        return [self.citation(row) for row in self.rows]


def _items(title: str, column: str, *items: str) -> SeedTable:
    """A one-column table for the seed's bullet lists."""
    return SeedTable(title, (column,), tuple((item,) for item in items))


SEED_TABLES: dict[str, SeedTable] = {
    "why_fine_tune": SeedTable("Why fine-tune a model?", ("Reason", "What it gives"), (
        ("Domain Expertise", "Impart knowledge specific to airlines, medicine, law, finance, etc."),
        ("Style Adaptation", "Customize tone or format (e.g., formal vs casual responses)"),
        ("Improve Accuracy", "Provide consistently correct responses for repetitive tasks"),
        ("Offline/Private Models", "No need for dynamic search or database"),
    ), "colon"),
    "when_to_fine_tune": SeedTable("When should you fine-tune?", ("Scenario", "Recommendation"), (
        ("Repetitive tasks with known patterns", "Fine-tuning"),
        ("Need for stylistic control", "Fine-tuning"),
        ("Limited or no internet access", "Fine-tuning"),
        ("Vast changing external knowledge base", "Use RAG"),
        ("Regulatory or fact-intensive tasks", "Prefer RAG"),
    ), "arrow"),
    "fine_tuned_airline_bot": SeedTable("Fine-Tuned Airline Bot", ("Pro/Con", "Point"), (
        ("Pro", "Fast, lightweight, no external lookup"),
        ("Pro", "Always-on, pre-programmed responses"),
        ("Con", "Needs retraining if policies change"),
        ("Con", "Hard to cover all edge cases"),
    ), "colon"),
    "rag_airline_bot": SeedTable("RAG Airline Bot", ("Pro/Con", "Point"), (
        ("Pro", "Always up-to-date with documents"),
        ("Pro", "Easy to scale and adapt"),
        ("Con", "Slower response due to document search"),
        ("Con", "Needs document embedding and maintenance"),
    ), "colon"),
    "techniques": SeedTable("Fine-Tuning Techniques", ("Technique", "What it is"), (
        ("Full Fine-Tuning", ("Retrain all parameters of the base LLM; requires massive GPU & data; "
                              "not memory-efficient")),
        ("LoRA (Low-Rank Adaptation)", ("Add small trainable adapter layers to freeze most of the model; "
                                        "used via PEFT in Hugging Face; lightweight, fast, efficient")),
        ("QLoRA", "Quantized LoRA (4-bit models); train LLMs on a single GPU; ideal for budget setups"),
        ("Prompt Tuning / Prefix Tuning", ("Don't change model weights; tune only soft prompt embeddings; "
                                           "useful for fast inference and limited task shifts")),
    )),
    "summary": SeedTable("RAG vs Fine-Tuning Summary Table", ("Feature", "Fine-Tuning", "RAG"), (
        ("Cost", "High (once)", "Medium (ongoing infra)"),
        ("Data Update", "Requires retraining", "Dynamic, can update docs anytime"),
        ("Accuracy", "High for narrow domains", "High if docs are up-to-date"),
        ("Use Case", "Static, repeated queries", "Dynamic, fact-based queries"),
        ("Deployment", "Easy (single model)", "Needs vector DB, retriever, encoder, model"),
    ), "compare"),
    "best_use_cases": SeedTable("Best Use Cases", ("Use Case", "Prefer"), (
        ("Airline FAQs", "Fine-tuning"),
        ("E-commerce chatbot", "Fine-tuning"),
        ("Legal Assistant (latest laws)", "RAG"),
        ("Customer support with evolving KB", "RAG"),
        ("Medical Triage Assistant", "Fine-tuning"),
        ("Research-based Q&A", "RAG"),
    ), "arrow"),
    "tools": SeedTable("Advanced Fine-Tuning Tools", ("Tool", "What it does"), (
        ("Hugging Face PEFT", "LoRA, QLoRA support"),
        ("Axolotl", "YAML-based LLM fine-tuning"),
        ("ColossalAI / Deepspeed", "For large-scale distributed training"),
        ("Lamini.ai", "Paid tool to fine-tune models quickly"),
        ("Nomic Atlas", "Visual dataset explorer and fine-tuner"),
        ("OpenRouter / Groq + Fine-Tune APIs", "APIs for hosted fine-tuning (WIP in many platforms)"),
    ), "colon"),
    "challenges": _items(
        "Challenges in Fine-Tuning", "Challenge",
        "Requires good quality, diverse dataset",
        "Catastrophic forgetting if not careful",
        "High cost for larger models",
        "Evaluation is tricky: need human-in-the-loop or scoring metrics",
        "Lack of generalization on unseen queries",
    ),
    "tips": _items(
        "Tips", "Tip",
        "Use LoRA or QLoRA for < 20K examples",
        "Consider RAG if your knowledge changes weekly",
        "Blend both: fine-tune on structure, RAG for facts",
    ),
}


def seed_citations() -> set[str]:
    """Every citable row of every seed table."""
    return {c for table in SEED_TABLES.values() for c in table.citations()}


def _cite(table: str, cell: str) -> str:
    return SEED_TABLES[table].cite(cell)


# --- the questionnaire ---------------------------------------------------------------------


@dataclass
class Answers:
    """The questionnaire. Defaults are the undecided middle, so an untouched form is a close call."""

    knowledge_change: Change = field(
        default="yearly", metadata={"help": "How often does the knowledge your bot must know change?"})
    examples: int = field(
        default=100, metadata={"help": "How many Q&A examples could you train on? (the seed uses 30–1000)"})
    style_control: Style = field(
        default="none", metadata={"help": "How tightly must the bot follow your tone and answer format?"})
    offline: bool = field(
        default=False, metadata={"help": "Must it work with limited or no internet, or keep data strictly private?"})
    fact_intensive: Level = field(
        default="medium", metadata={"help": "How regulatory or fact-intensive are the answers (exact figures)?"})
    repetitive: Level = field(
        default="medium", metadata={"help": "How repetitive are the questions (known patterns, the same queries)?"})
    latency_budget: Latency = field(
        default="normal", metadata={"help": "How fast must answers come back?"})
    cost_budget: Level = field(
        default="medium", metadata={"help": "How much can you spend up front on training?"})
    can_run_retriever: bool = field(
        default=True, metadata={"help": "Can you run a retriever, vector DB and index next to the model?"})
    has_documents: bool = field(
        default=True, metadata={"help": "Do you have source documents (policies, manuals) to retrieve from?"})
    needs_generalization: Level = field(
        default="medium", metadata={"help": "How much do unseen and edge-case questions matter?"})


def question_help(name: str) -> str:
    """The question text for one field (the UI's label)."""
    return {f.name: f.metadata["help"] for f in dataclasses.fields(Answers)}[name]


PRESETS: dict[str, Answers] = {
    # Static policies asked the same way again and again, answered in the airline's voice.
    "Airline FAQs": Answers("yearly", 300, "some", False, "medium", "high", "tight", "medium", True, True, "low"),
    # Orders, returns, shipping: repeated intents in a strict brand voice, answered instantly.
    "E-commerce chatbot": Answers("yearly", 800, "strict", False, "low", "high", "tight", "medium", True, True,
                                  "medium"),
    # The law changes weekly, every answer must cite the current text, questions vary widely.
    "Legal assistant (latest laws)": Answers("weekly", 200, "some", False, "high", "low", "relaxed", "medium",
                                             True, True, "high"),
    # A help centre rewritten every week, tickets in every shape, infrastructure budget not training.
    "Customer support with evolving KB": Answers("weekly", 500, "some", False, "medium", "medium", "normal", "low",
                                                 True, True, "high"),
    # Private patient data on a clinic's own machine, a fixed triage protocol and format, fast answers.
    "Medical triage assistant": Answers("yearly", 1000, "strict", True, "medium", "high", "tight", "high", True,
                                        True, "medium"),
    # New papers every day, answers must quote them, few curated Q&A pairs, no style to teach.
    "Research-based Q&A": Answers("daily", 50, "none", False, "high", "low", "relaxed", "low", True, True, "high"),
}


# --- the rules -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reason:
    """One answer's push towards a verdict, with the seed row that justifies it."""

    text: str
    points_to: Verdict
    weight: float
    seed_row: str
    factor: str = ""  # the questionnaire field it comes from ("blend" for the hybrid rule)


@dataclass(frozen=True)
class Caveat:
    """A known risk of the chosen approach that applies to these answers."""

    text: str
    seed_row: str


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


_DATA_UPDATE = _cite("summary", "Data Update")
_STYLE = _cite("when_to_fine_tune", "Need for stylistic control")
_FACTS = _cite("when_to_fine_tune", "Regulatory or fact-intensive tasks")
_REPEAT = _cite("when_to_fine_tune", "Repetitive tasks with known patterns")
_DATASET = _cite("challenges", "Requires good quality, diverse dataset")
_LORA_TIP = _cite("tips", "Use LoRA or QLoRA for < 20K examples")
_BLEND = _cite("tips", "Blend both: fine-tune on structure, RAG for facts")

_RULES: dict[tuple[str, object], _Rule] = {
    ("knowledge_change", "never"): _Rule("fine-tune", 1.0, _DATA_UPDATE, "Your knowledge never changes",
                                         "a fine-tuned model learns it once and never needs retraining"),
    ("knowledge_change", "yearly"): _Rule("fine-tune", 0.5, _DATA_UPDATE, "Your knowledge changes about once a year",
                                          "retraining a fine-tuned model that rarely is affordable"),
    ("knowledge_change", "monthly"): _Rule(
        "rag", 1.0, _cite("fine_tuned_airline_bot", "Needs retraining if policies change"),
        "Your knowledge changes monthly",
        "a fine-tuned model needs retraining every month, while RAG only re-indexes the changed documents"),
    ("knowledge_change", "weekly"): _Rule(
        "rag", 2.5, _cite("tips", "Consider RAG if your knowledge changes weekly"), "Your knowledge changes weekly",
        "the seed's tip is to consider RAG, which picks up new documents without retraining"),
    ("knowledge_change", "daily"): _Rule(
        "rag", 3.0, _cite("when_to_fine_tune", "Vast changing external knowledge base"),
        "Your knowledge changes daily", "a constantly changing knowledge base is the seed's clearest case for RAG"),
    ("examples", "none"): _Rule("rag", 2.0, _DATASET, "You have no Q&A examples",
                                "there is nothing to fine-tune on yet, while RAG works from documents alone"),
    ("examples", "few"): _Rule("rag", 1.0, _DATASET, "You have only {n} Q&A examples",
                               "fine-tuning needs a good, diverse set of at least 30, so RAG is the safer start"),
    ("examples", "some"): _Rule("fine-tune", 0.5, _LORA_TIP, "You have {n} Q&A examples",
                                "enough for a LoRA fine-tune (the seed's airline bot learned from 100)"),
    ("examples", "many"): _Rule("fine-tune", 1.0, _LORA_TIP, "You have {n} Q&A examples",
                                "a solid set for a LoRA or QLoRA fine-tune"),
    ("examples", "huge"): _Rule("fine-tune", 1.0, _cite("techniques", "Full Fine-Tuning"), "You have {n} Q&A examples",
                                "plenty to fine-tune on, beyond the LoRA range, so full fine-tuning is an option"),
    ("style_control", "some"): _Rule("fine-tune", 1.0, _STYLE, "You want some control over tone and format",
                                     "fine-tuning teaches the model your style"),
    ("style_control", "strict"): _Rule("fine-tune", 2.0, _STYLE, "You need strict control over tone and format",
                                       "fine-tuning trains that style into the model, which retrieval alone cannot"),
    ("offline", True): _Rule(
        "fine-tune", 1.5, _cite("when_to_fine_tune", "Limited or no internet access"),
        "Your bot must work with limited or no internet, or keep data private",
        "a fine-tuned model answers with no external lookup"),
    ("fact_intensive", "medium"): _Rule("rag", 1.0, _FACTS, "Your answers are fairly fact-heavy",
                                        "RAG grounds them in your documents and shows its sources"),
    ("fact_intensive", "high"): _Rule("rag", 2.0, _FACTS, "Your task is regulatory or fact-intensive",
                                      "the seed says prefer RAG, which answers from the source text and can cite it"),
    ("repetitive", "low"): _Rule(
        "rag", 0.5, _cite("summary", "Use Case"), "Your questions vary rather than repeat",
        "the seed matches RAG to dynamic, fact-based queries and fine-tuning to static, repeated ones"),
    ("repetitive", "medium"): _Rule("fine-tune", 0.5, _REPEAT, "Many of your questions repeat",
                                    "fine-tuning answers known patterns consistently"),
    ("repetitive", "high"): _Rule("fine-tune", 1.5, _REPEAT, "Your questions are repetitive with known patterns",
                                  "that is the seed's first case for fine-tuning"),
    ("latency_budget", "tight"): _Rule(
        "fine-tune", 1.0, _cite("rag_airline_bot", "Slower response due to document search"), "You need fast answers",
        "RAG is slower because it searches documents first, while a fine-tuned model answers directly"),
    ("cost_budget", "low"): _Rule(
        "rag", 0.5, _cite("summary", "Cost"), "Your upfront budget is low",
        "fine-tuning is paid up front (high, once) while RAG is paid as running infrastructure (medium, ongoing)"),
    ("cost_budget", "high"): _Rule("fine-tune", 0.5, _cite("summary", "Cost"), "You can afford an upfront training run",
                                   "that one-off cost is fine-tuning's main price"),
    ("can_run_retriever", False): _Rule(
        "fine-tune", 2.0, _cite("summary", "Deployment"), "You would rather not run a vector database and retriever",
        "a fine-tuned model deploys as one model, while RAG needs a vector DB, retriever, encoder and model"),
    ("needs_generalization", "medium"): _Rule(
        "rag", 0.5, _cite("challenges", "Lack of generalization on unseen queries"), "Unseen questions matter to you",
        "fine-tuned models generalise poorly beyond their examples, while RAG can look answers up"),
    ("needs_generalization", "high"): _Rule(
        "rag", 1.0, _cite("fine_tuned_airline_bot", "Hard to cover all edge cases"),
        "Unseen and edge-case questions matter a lot to you",
        "a fine-tuned bot cannot cover every edge case, while RAG looks the answer up in your documents"),
    ("blend", "tip"): _Rule("hybrid", BLEND_BONUS, _BLEND, "You need both control over structure and grounded facts",
                            "the seed's tip is to fine-tune on structure and use RAG for facts"),
    ("blend", "close"): _Rule("hybrid", CLOSE_BONUS, _BLEND, "Both approaches have strong support in your answers",
                              "blending them keeps the strengths of each"),
}


def _rule_key(answers: Answers, factor: str) -> object:
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


def _side_reasons(a: Answers) -> list[Reason]:
    """One reason per answer that pushes either way (middle answers push neither)."""
    out = []
    for name in (f.name for f in dataclasses.fields(Answers)):
        rule = _RULES.get((name, _rule_key(a, name)))
        if rule is not None:
            out.append(rule.reason(name, a))
    return out


def _score(a: Answers, reasons: list[Reason]) -> tuple[dict[str, float], Reason | None]:
    """Each side's score is the sum of its reasons' weights.

    Hybrid pays the costs of both, so it is considered only when both sides reach ``STRONG``;
    then it scores the mean of the two plus the blend reason's weight.
    """
    ft = sum(r.weight for r in reasons if r.points_to == "fine-tune")
    rag = sum(r.weight for r in reasons if r.points_to == "rag")
    blend = _RULES[("blend", _rule_key(a, "blend"))].reason("blend", a) if min(ft, rag) >= STRONG else None
    hybrid = (ft + rag) / 2 + blend.weight if blend else 0.0
    return {"fine-tune": ft, "rag": rag, "hybrid": hybrid}, blend


def _allowed(a: Answers) -> tuple[set[Verdict], list[str]]:
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
                     "ruled out. (RAG itself runs offline with a local index: if you can host one, say so.)")
    return allowed, notes


def _pick(scores: dict[str, float], allowed: set[Verdict]) -> Verdict:
    """Highest score among allowed verdicts; ties go to RAG, then fine-tuning (the cheaper to undo)."""
    return max((v for v in _TIE_ORDER if v in allowed), key=lambda v: round(scores[v], 6))


def _data_warnings(a: Answers) -> list[str]:
    """What the example count says about fine-tuning, whatever the verdict."""
    if a.examples < MIN_EXAMPLES:
        return [(f"You have {a.examples} Q&A examples; fine-tuning needs at least {MIN_EXAMPLES} (the seed "
                 "fine-tunes on 30–1000), so your data does not support fine-tuning yet. Collect more examples first.")]
    if a.examples > LORA_MAX_EXAMPLES:
        return [(f"You have {a.examples} examples, past the seed's tip 'Use LoRA or QLoRA for < 20K examples': "
                 "consider full fine-tuning with a larger GPU budget, or train LoRA on a diverse subset.")]
    return []


# --- caveats: the seed's challenges, where they apply -----------------------------------------

_FT_CAVEATS: tuple[tuple[typing.Callable[[Answers], bool], str, str], ...] = (
    (lambda a: True, _cite("challenges", "Evaluation is tricky: need human-in-the-loop or scoring metrics"),
     "Evaluation is tricky: score the fine-tuned bot on held-out questions and read a sample of its answers."),
    (lambda a: a.needs_generalization != "low", _cite("challenges", "Catastrophic forgetting if not careful"),
     "Fine-tuning can make the model forget general skills: keep epochs few and compare it with the base model."),
    (lambda a: a.needs_generalization == "high", _cite("challenges", "Lack of generalization on unseen queries"),
     "A fine-tuned bot answers unseen questions poorly: your examples must cover the edge cases you care about."),
    (lambda a: a.examples < 100, _DATASET,
     "With few examples, quality and diversity matter most: cover every kind of question, not many of one kind."),
    (lambda a: a.cost_budget == "low", _cite("challenges", "High cost for larger models"),
     "Training cost grows with model size: use QLoRA on a small model (the seed: ideal for budget setups)."),
    (lambda a: a.knowledge_change in ("monthly", "weekly", "daily"),
     _cite("fine_tuned_airline_bot", "Needs retraining if policies change"),
     "Facts baked into the weights go stale when your policies change: keep changing facts out of the training set."),
)
_RAG_CAVEATS: tuple[tuple[typing.Callable[[Answers], bool], str, str], ...] = (
    (lambda a: True, _cite("rag_airline_bot", "Needs document embedding and maintenance"),
     "RAG is only as good as its documents: re-index them whenever they change and drop outdated ones."),
    (lambda a: a.latency_budget == "tight", _cite("rag_airline_bot", "Slower response due to document search"),
     "Every answer waits for a document search: keep the index small and the retrieved passages few."),
)


def _caveats(a: Answers, verdict: Verdict) -> list[Caveat]:
    """The seed's challenges of whatever the verdict involves, filtered to those these answers trigger."""
    rules = (_FT_CAVEATS if verdict != "rag" else ()) + (_RAG_CAVEATS if verdict != "fine-tune" else ())
    return [Caveat(text, row) for applies, row, text in rules if applies(a)]


# --- the recommendation ----------------------------------------------------------------------


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
    side = _side_reasons(answers)
    scores, blend = _score(answers, side)
    allowed, constraint_notes = _allowed(answers)
    verdict, free = _pick(scores, allowed), _pick(scores, {"fine-tune", "rag", "hybrid"})
    warnings = constraint_notes + _data_warnings(answers)
    if free != verdict:
        warnings.append(f"Without that constraint your answers would point to {LABELS[free]}, "
                        f"scoring {scores[free]:.1f} vs {scores[verdict]:.1f}.")
    reasons = sorted(side + ([blend] if blend else []), key=lambda r: -r.weight)
    rec = Recommendation(verdict, scores, reasons, warnings, _caveats(answers, verdict),
                         _summary(verdict, scores, reasons, allowed, answers.examples < MIN_EXAMPLES), answers)
    if evidence is not None:
        rec.evidence_lines, rec.agreement, rec.evidence_verdict = _weigh(answers, rec, evidence)
    return rec


def _summary(verdict: Verdict, scores: dict[str, float], reasons: list[Reason], allowed: set[Verdict],
             few_examples: bool) -> str:
    """One sentence: the verdict, how close it was, and its strongest reason."""
    label = _cap(LABELS[verdict])
    if allowed == {"fine-tune"} and scores["fine-tune"] < max(scores.values()):
        return f"{label} is the only option your setup allows; see the warnings for why."
    runner_up = max((s for v, s in scores.items() if v != verdict and v in allowed), default=0.0)
    close = " (a close call)" if scores[verdict] - runner_up < CLOSE_CALL else ""
    top = _top_reason(verdict, reasons)
    why = f" {top.text}" if top else ""
    hybrid = f", hybrid {scores['hybrid']:.1f}" if scores["hybrid"] else ""
    data = f" First collect at least {MIN_EXAMPLES} Q&A examples." if verdict != "rag" and few_examples else ""
    return (f"{label} fits best{close}: fine-tuning scores {scores['fine-tune']:.1f}, RAG {scores['rag']:.1f}"
            f"{hybrid}.{why}{data}")


def _top_reason(verdict: Verdict, reasons: list[Reason]) -> Reason | None:
    return max((r for r in reasons if r.points_to == verdict), key=lambda r: r.weight, default=None)


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


# --- evidence: measured numbers beside the verdict -------------------------------------------

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
        raw_bots = obj.get("bots") if isinstance(obj.get("bots"), Mapping) else {}
        bots = {_bot_key(k): b for k, v in raw_bots.items() if (b := _read_bot(v)) is not None}
        raw_policy = obj.get("policy_change") if isinstance(obj.get("policy_change"), Mapping) else {}
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


def _weigh(a: Answers, rec: Recommendation, ev: Evidence) -> tuple[list[str], Agreement | None, Verdict | None]:
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
        return (f"{_cap(BOT_NAMES[best])} answered {pct[best]} vs {pct[ranked[1]]} for {BOT_NAMES[ranked[1]]}, "
                f"but {why}: the sets are too small to tell."), "mixed", None
    if mine not in cands:
        return (f"{_cap(BOT_NAMES[best])} answered best ({pct[best]}), but the {LABELS[rec.verdict]} bot was not "
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
    if _allowed(a)[0] == {"fine-tune"}:
        return "Your setup rules out RAG"
    top = _top_reason(rec.verdict, rec.reasons)
    if top is None:
        return f"The questionnaire points to {LABELS[rec.verdict]}"
    return _RULES[(top.factor, _rule_key(a, top.factor))].clause.format(n=a.examples)


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
        return line + f" {_cap(BOT_NAMES[mine])} is the fastest" + (", as your tight budget needs." if tight else ".")
    ratio = rivals[mine] / rivals[fastest] if rivals[fastest] > 0 else float("inf")
    return line + (f" {_cap(BOT_NAMES[mine])} is {ratio:.1f}× slower than {BOT_NAMES[fastest]}"
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


# --- boundaries: validation and JSON ---------------------------------------------------------


def answers_from_mapping(d: Mapping[str, Any]) -> Answers:
    """Build ``Answers`` from a form or YAML mapping. Missing keys take defaults; every unknown key
    and bad value is collected into one ``AirbotError`` so the form is fixed in one pass."""
    if not isinstance(d, Mapping):
        raise AirbotError(f"The questionnaire must be a mapping of field: answer, got {type(d).__name__}.")
    hints = typing.get_type_hints(Answers)
    problems = [f"unknown field '{k}'{_did_you_mean(str(k), hints)}" for k in d if k not in hints]
    values: dict[str, Any] = {}
    for name, raw in d.items():
        if name in hints:
            value, problem = _coerce(name, raw, hints[name])
            values[name] = value
            problems += [problem] if problem else []
    if problems:
        raise AirbotError.collected(f"The questionnaire has {len(problems)} problem(s):", problems)
    return Answers(**values)


def _did_you_mean(key: str, hints: Mapping[str, Any]) -> str:
    close = difflib.get_close_matches(key, list(hints), n=1)
    return f" (did you mean '{close[0]}'?)" if close else f" (known: {', '.join(hints)})"


def _coerce(name: str, raw: object, hint: Any) -> tuple[Any, str | None]:
    """One answer in its field's type, or the problem naming the field and what it accepts."""
    if typing.get_origin(hint) is Literal:
        allowed = typing.get_args(hint)
        value = raw.strip().lower() if isinstance(raw, str) else raw
        ok = value in allowed
        return value, None if ok else f"{name}: {raw!r} is not allowed; choose one of {', '.join(allowed)}"
    if hint is bool:
        value = {"true": True, "yes": True, "false": False, "no": False}.get(str(raw).strip().lower())
        ok = isinstance(raw, bool) or (isinstance(raw, str) and value is not None)
        return value, None if ok else f"{name}: {raw!r} is not allowed; answer true or false"
    whole = isinstance(raw, (int, float)) and not isinstance(raw, bool) and float(raw).is_integer()
    if isinstance(raw, str) and raw.strip().isdigit():
        raw, whole = int(raw), True
    ok = whole and raw >= 0  # type: ignore[operator]
    return (int(raw) if ok else raw), None if ok else f"{name}: {raw!r} is not allowed; give a whole number ≥ 0"


def to_dict(rec: Recommendation) -> dict[str, Any]:
    """A JSON-ready copy (tuples become lists) for the CLI's --json and the UI's download."""
    return _plain(dataclasses.asdict(rec))


def _plain(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    return x


if __name__ == "__main__":
    for preset, preset_answers in PRESETS.items():
        result = recommend(preset_answers)
        print(f"{preset:36} {result.verdict:10} {result.summary}")
