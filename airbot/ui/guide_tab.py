"""Decision-guide tab: the guide's tables as a questionnaire, a verdict with its reasons, and, when an
evaluation exists, the measured numbers taking part by the rule the page states, with the side-by-side
votes from the Chat tab cited beside them.

Every widget maps to one ``airbot.guide.Answers`` field, so ``python -m airbot guide`` and
``/guide_recommend`` (gradio_client) give the same answer as the form.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from typing import Any, Literal

import gradio as gr
import pandas as pd

from airbot.guide import (
    BOT_NAMES,
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
    """Evaluation results on disk by name, newest first (``AIRBOT_HOME/evals/<name>/eval.json``)."""
    from airbot.evaluate.report import list_evaluations as saved

    return [p.parent.name for p in saved()]  # names: the page never shows the server's folders


def _evidence(choice: str | None) -> Evidence | None:
    from airbot.evaluate.report import saved_eval

    path = saved_eval(choice) if choice and choice != NO_EVAL else None  # a stored evaluation's name only
    if path is None:
        return None
    return Evidence.from_eval_json(json.loads(path.read_text()))


def _verdict_md(rec: Recommendation) -> str:
    """The headline, the banner when the numbers moved it (or contradict it), then what the answers alone say."""
    lines = [f"## Recommendation: **{LABELS[rec.verdict]}**"]
    if rec.banner:
        lines += [f"> ❗ **Why {LABELS[rec.verdict]}:** {rec.banner}", ""]
    lines.append(rec.summary)
    if rec.questionnaire_verdict != rec.verdict:
        lines += ["", f"**Your answers alone** point to **{LABELS[rec.questionnaire_verdict]}**: "
                  f"{rec.questionnaire_summary}"]
    lines += [f"\nℹ️ {note}" for note in rec.notes]
    if rec.warnings:
        lines += ["", "**Warnings**"] + [f"- ⚠️ {w}" for w in rec.warnings]
    if rec.caveats:
        lines += ["", "**Watch out for**"] + [f"- {c.text} _(from the table: {c.seed_row})_" for c in rec.caveats]
    return "\n".join(lines)


_AGREEMENT = {"agree": "✅ your numbers agree with your answers", "disagree": "❗ your numbers disagree with your answers",
              "mixed": "➖ your numbers are mixed"}


def _evidence_md(rec: Recommendation) -> str:
    """What the evaluation and the votes say, every bot against every other, under the rule that uses them."""
    if rec.evidence_lines:
        lines = [f"### What your data says: {_AGREEMENT.get(rec.agreement or '', '')}".rstrip(": "),
                 *[f"- {line}" for line in rec.evidence_lines]]
    else:
        lines = ["_No evaluation selected. Run one in the Evaluate tab to see your own numbers take part._"]
    if rec.comparisons:
        lines += ["", "**Every bot against every other**", "", "| Higher | Lower | Difference |", "|---|---|---|"]
        lines += [f"| {_bot(c.leader)} {_pct(c.leader_accuracy)} | {_bot(c.other)} {_pct(c.other_accuracy)} | "
                  f"{'clear' if c.clear else 'not clear'}: {c.why} |" for c in rec.comparisons]
    if rec.vote_lines:
        lines += ["", "**Your side-by-side votes**", *[f"- {line}" for line in rec.vote_lines]]
    return "\n".join([*lines, "", f"_{rec.evidence_rule}_"])


def _bot(key: str) -> str:
    name = BOT_NAMES.get(key, key)
    return name[:1].upper() + name[1:]


def _pct(share: float) -> str:
    return f"{round(share * 100)}%"


def _reasons_md(rec: Recommendation) -> str:
    """A table, not a dataframe widget: four wide text columns read better as plain Markdown."""
    rows = [f"| {r.text} | **{LABELS[r.points_to]}** | +{r.weight:g} | _{r.seed_row}_ |" for r in rec.reasons]
    return "\n".join(["| Reason | Points to | Weight | From the table |", "|---|---|---|---|", *rows])


def _scores_frame(rec: Recommendation) -> pd.DataFrame:
    return pd.DataFrame({"approach": [LABELS[k] for k in rec.scores], "score": list(rec.scores.values())})


def recommend_from_form(*values: Any) -> tuple[str, pd.DataFrame, str, str, dict[str, Any]]:
    """Form values (in ``FIELDS`` order, then the evaluation choice) → everything the tab shows."""
    from airbot.bots.arena import read_votes  # the guide does not import the bots: the votes come in from here

    answers = answers_from_mapping(dict(zip(FIELDS, values[: len(FIELDS)])))
    rec = recommend(answers, _evidence(values[len(FIELDS)]), read_votes())
    return _verdict_md(rec), _scores_frame(rec), _reasons_md(rec), _evidence_md(rec), to_dict(rec)


def _preset_values(name: str) -> list[Any]:
    answers = PRESETS.get(name, Answers())
    return [getattr(answers, f) for f in FIELDS]


def _tables_md() -> str:
    parts = []
    for table in SEED_TABLES.values():
        header = "| " + " | ".join(table.columns) + " |\n|" + "---|" * len(table.columns)
        rows = "\n".join("| " + " | ".join(row) + " |" for row in table.rows)
        parts.append(f"#### {table.title}\n{header}\n{rows}")
    return "\n\n".join(parts)


def build(state: AppState) -> None:
    """Questionnaire on the left, verdict and evidence on the right, the guide's tables below."""
    gr.Markdown("Answer a few questions about your use case, or start from one of the example use cases. "
                "Each reason cites the table row it comes from; your own evaluation and votes count too.")
    with gr.Row():
        with gr.Column(scale=2):
            preset = gr.Dropdown(["(your own)", *PRESETS], value="(your own)", label="Start from a use case")
            defaults = Answers()
            inputs = [_widget(name, getattr(defaults, name)) for name in FIELDS]
            evals = gr.Dropdown([NO_EVAL, *list_evaluations()], value=NO_EVAL, label="Evidence from an evaluation",
                                allow_custom_value=True)  # any name: the store resolves (or refuses) it
            go = gr.Button("Recommend", variant="primary")
        with gr.Column(scale=3):
            verdict = gr.Markdown(elem_id="guide-verdict")
            scores = gr.BarPlot(x="approach", y="score", title="Score breakdown (your answers)", height=220,
                                y_lim=[0, None])  # from 0: an axis from 4.0 hides a 4.0 bar
            evidence = gr.Markdown()
            reasons = gr.Markdown()
            with gr.Accordion("As JSON (same as `python -m airbot guide --json`)", open=False):
                raw = gr.JSON(show_label=False)
    with gr.Accordion("The tables behind these rules", open=False):
        gr.Markdown(_tables_md())
    preset.change(_preset_values, preset, inputs, api_name="guide_preset")
    go.click(user_errors(recommend_from_form), [*inputs, evals], [verdict, scores, reasons, evidence, raw],
             api_name="guide_recommend")
    evals.focus(lambda: gr.Dropdown(choices=[NO_EVAL, *list_evaluations()]), None, evals, api_visibility="private")
