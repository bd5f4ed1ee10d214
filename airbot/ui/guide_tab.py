"""Decision-guide tab: the seed's tables as a questionnaire, a verdict with its reasons, and,
when an evaluation exists, the measured numbers beside it.

Every widget maps to one ``airbot.guide.Answers`` field, so ``python -m airbot guide`` and
``/guide_recommend`` (gradio_client) give the same answer as the form.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from pathlib import Path
from typing import Any, Literal

import gradio as gr
import pandas as pd

from airbot.guide import (
    LABELS,
    PRESETS,
    SEED_TABLES,
    Answers,
    Evidence,
    Recommendation,
    answers_from_mapping,
    question_help,
    recommend,
    to_dict,
)
from airbot.ui.errors import user_errors
from airbot.ui.state import AppState

FIELDS = [f.name for f in dataclasses.fields(Answers)]
NO_EVAL = "(none: questionnaire only)"


def _widget(name: str, default: Any) -> gr.components.Component:
    """A radio for each multiple-choice question, a checkbox for yes/no, a number for counts."""
    hint = typing.get_type_hints(Answers)[name]
    label = question_help(name)
    if typing.get_origin(hint) is Literal:
        return gr.Radio(list(typing.get_args(hint)), value=default, label=label)
    if hint is bool:
        return gr.Checkbox(value=default, label=label)
    return gr.Number(value=default, precision=0, minimum=0, label=label)


def list_evaluations() -> list[str]:
    """Evaluation results on disk, newest first (``AIRBOT_HOME/evals/<name>/eval.json``)."""
    from airbot.evaluate.report import list_evaluations as saved

    return [str(p) for p in saved()]


def _evidence(choice: str | None) -> Evidence | None:
    if not choice or choice == NO_EVAL or not Path(choice).is_file():
        return None
    return Evidence.from_eval_json(json.loads(Path(choice).read_text()))


def _verdict_md(rec: Recommendation) -> str:
    lines = [f"## Recommendation: **{LABELS[rec.verdict]}**", rec.summary]
    if rec.warnings:
        lines += ["", "**Warnings**"] + [f"- ⚠️ {w}" for w in rec.warnings]
    if rec.caveats:
        lines += ["", "**Watch out for** (the seed's challenges)"] + [f"- {c.text} _({c.seed_row})_" for c in rec.caveats]
    return "\n".join(lines)


def _evidence_md(rec: Recommendation) -> str:
    if not rec.evidence_lines:
        return "_No evaluation selected. Run one in the Evaluate tab to see your own numbers beside the verdict._"
    head = {"agree": "✅ The numbers agree", "disagree": "❗ The numbers disagree", "mixed": "➖ The numbers are mixed"}
    lines = [f"### What your data says: {head.get(rec.agreement or '', '')}"]
    return "\n".join(lines + [f"- {line}" for line in rec.evidence_lines])


def _reasons_md(rec: Recommendation) -> str:
    """A table, not a dataframe widget: four wide text columns read better as plain Markdown."""
    rows = [f"| {r.text} | **{LABELS[r.points_to]}** | +{r.weight:g} | _{r.seed_row}_ |" for r in rec.reasons]
    return "\n".join(["| Reason | Points to | Weight | From the guide |", "|---|---|---|---|", *rows])


def _scores_frame(rec: Recommendation) -> pd.DataFrame:
    return pd.DataFrame({"approach": [LABELS[k] for k in rec.scores], "score": list(rec.scores.values())})


def recommend_from_form(*values: Any) -> tuple[str, pd.DataFrame, str, str, dict[str, Any]]:
    """Form values (in ``FIELDS`` order, then the evaluation choice) → everything the tab shows."""
    answers = answers_from_mapping(dict(zip(FIELDS, values[: len(FIELDS)])))
    rec = recommend(answers, _evidence(values[len(FIELDS)]))
    return _verdict_md(rec), _scores_frame(rec), _reasons_md(rec), _evidence_md(rec), to_dict(rec)


def _preset_values(name: str) -> list[Any]:
    answers = PRESETS.get(name, Answers())
    return [getattr(answers, f) for f in FIELDS]


def _seed_tables_md() -> str:
    parts = []
    for table in SEED_TABLES.values():
        header = "| " + " | ".join(table.columns) + " |\n|" + "---|" * len(table.columns)
        rows = "\n".join("| " + " | ".join(row) + " |" for row in table.rows)
        parts.append(f"#### {table.title}\n{header}\n{rows}")
    return "\n\n".join(parts)


def build(state: AppState) -> None:
    """Questionnaire on the left, verdict and evidence on the right, the seed's tables below."""
    gr.Markdown("Answer a few questions about your use case, or start from one of the seed's examples. "
                "Each reason cites the row of the guide it comes from.")
    with gr.Row():
        with gr.Column(scale=2):
            preset = gr.Dropdown(["(your own)", *PRESETS], value="(your own)", label="Start from a use case")
            defaults = Answers()
            inputs = [_widget(name, getattr(defaults, name)) for name in FIELDS]
            evals = gr.Dropdown([NO_EVAL, *list_evaluations()], value=NO_EVAL, label="Evidence from an evaluation")
            go = gr.Button("Recommend", variant="primary")
        with gr.Column(scale=3):
            verdict = gr.Markdown(elem_id="guide-verdict")
            scores = gr.BarPlot(x="approach", y="score", title="Score breakdown", height=220)
            evidence = gr.Markdown()
            reasons = gr.Markdown()
            with gr.Accordion("As JSON (same as `python -m airbot guide --json`)", open=False):
                raw = gr.JSON(show_label=False)
    with gr.Accordion("The guide's tables (from the brief)", open=False):
        gr.Markdown(_seed_tables_md())
    preset.change(_preset_values, preset, inputs, api_name="guide_preset")
    go.click(user_errors(recommend_from_form), [*inputs, evals], [verdict, scores, reasons, evidence, raw],
             api_name="guide_recommend")
    evals.focus(lambda: gr.Dropdown(choices=[NO_EVAL, *list_evaluations()]), None, evals, api_name=False)
