"""The questionnaire: what the person says about their use case, its presets, and validation at the boundary.

Forms and YAML files arrive as loose mappings; ``answers_from_mapping`` turns one into ``Answers`` and
collects every bad key and value into one error, so the form is fixed in one pass.

    from airbot.guide.answers import PRESETS, answers_from_mapping
    answers_from_mapping({"knowledge_change": "weekly", "examples": "200"})
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from airbot.errors import AirbotError

Change = Literal["never", "yearly", "few-times-a-year", "monthly", "weekly", "daily"]
Level = Literal["low", "medium", "high"]
Style = Literal["none", "some", "strict"]
Latency = Literal["tight", "normal", "relaxed"]


@dataclass
class Answers:
    """The questionnaire. Defaults are the undecided middle, so an untouched form is a close call."""

    knowledge_change: Change = field(
        default="yearly", metadata={"help": "How often does the knowledge your bot must know change?"})
    examples: int = field(
        default=100, metadata={"help": "How many Q&A examples could you train on? (30–1000 is typical)"})
    style_control: Style = field(
        default="none", metadata={"help": "How tightly must the bot follow your tone and answer format?"})
    offline: bool = field(
        default=False, metadata={"help": ("Must it work with limited or no internet, or keep data strictly private? "
                                          "(In airbot fine-tuning and RAG both run on your own machine.)")})
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
    # Orders, returns, shipping: repeated intents in a strict brand voice, answered instantly; the shipping
    # and returns terms change a few times a year (sales seasons).
    "E-commerce chatbot": Answers("few-times-a-year", 800, "strict", False, "low", "high", "tight", "medium", True,
                                  True, "medium"),
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
    if isinstance(raw, str) and raw.strip().isdigit():
        raw = int(raw)
    if isinstance(raw, (int, float)) and not isinstance(raw, bool) and float(raw).is_integer() and raw >= 0:
        return int(raw), None
    return raw, f"{name}: {raw!r} is not allowed; give a whole number ≥ 0"
