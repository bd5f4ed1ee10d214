"""The seed brief's tables, verbatim, as data: the UI renders them and every rule cites a row of them.

Kept apart from the rules so a wording fix in the brief is a data edit, and a citation typo fails at
import (``cite`` raises) rather than in front of a user.

    from airbot.guide.tables import SEED_TABLES, cite
    cite("tips", "Use LoRA or QLoRA for < 20K examples")   # -> "Tips — Use LoRA or QLoRA for < 20K examples"
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


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


def cite(table: str, cell: str) -> str:
    """Citation of the row holding ``cell`` in the seed table named ``table`` (a key of ``SEED_TABLES``)."""
    return SEED_TABLES[table].cite(cell)
