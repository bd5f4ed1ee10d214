"""The Evaluate tab: stable api_names, and a saved evaluation rendered as charts, a per-question
table where disagreements stand out, and the policy change as a before/after table."""

from __future__ import annotations

import json
from pathlib import Path

import gradio as gr
import pytest

from airbot.config import load_config
from airbot.ui import eval_tab
from airbot.ui.state import AppState
from tests._fake_runs import picker_runs

REPORT = {
    "name": "demo", "note": "Small sets: ...",
    "bots": {"finetuned": {"n": 2, "fact_accuracy": 0.5, "fact_accuracy_ci": [0.09, 0.91], "similarity": 0.7,
                           "refusal_accuracy": 0.0, "mean_latency_s": 0.4},
             "rag": {"n": 2, "fact_accuracy": 1.0, "fact_accuracy_ci": [0.34, 1.0], "similarity": 0.9,
                     "refusal_accuracy": 1.0, "mean_latency_s": 1.2}},
    "questions": [
        {"bot": "finetuned", "kind": "heldout", "question": "Bag weight?", "answer": "23 kg", "facts_ok": True,
         "refused": False},
        {"bot": "rag", "kind": "heldout", "question": "Bag weight?", "answer": "23 kg", "facts_ok": True,
         "refused": False},
        {"bot": "finetuned", "kind": "heldout", "question": "Pet fee?", "answer": "USD 700 <b>", "facts_ok": False,
         "refused": False},
        {"bot": "rag", "kind": "heldout", "question": "Pet fee?", "answer": "USD 70", "facts_ok": True,
         "refused": False},
        {"bot": "rag", "kind": "out_of_scope", "question": "Weather?", "answer": "Not covered.", "facts_ok": None,
         "refused": True}],
    "policy_change": {"rag": {"new": 1, "old": 0, "neither": 0}, "finetuned": {"new": 0, "old": 1, "neither": 0}},
    "policy_change_questions": [
        {"bot": "rag", "question": "Bag weight?", "old": "23 kg", "new": "25 kg", "outcome": "new", "before": "old"},
        {"bot": "finetuned", "question": "Bag weight?", "old": "23 kg", "new": "25 kg", "outcome": "old",
         "before": "old"}],
    "rag_update_s": 0.9, "retrain_s": 1500.0,
}


def test_api_names_are_stable() -> None:
    with gr.Blocks() as demo:
        eval_tab.build(AppState(config=load_config()))
    names = {dep.get("api_name") for dep in demo.config["dependencies"]}
    assert {"eval_run", "eval_results", "policy_change_run"} <= names


def test_saved_evaluation_renders(fresh_home: Path) -> None:
    folder = fresh_home / "evals" / "demo"
    folder.mkdir(parents=True)
    (folder / "eval.json").write_text(json.dumps({k: v for k, v in REPORT.items() if k != "questions"}))
    (folder / "questions.jsonl").write_text("".join(json.dumps(q) + "\n" for q in REPORT["questions"]))
    assert eval_tab.eval_choices() == ["demo"]  # names, never the server's folders
    plot, latency, table, header, questions, policy, raw = eval_tab.show_results("demo")
    assert isinstance(plot, gr.BarPlot)
    scores = eval_tab.scores_frame(REPORT)
    assert set(scores["measure"]) == {"fact accuracy", "similarity", "refusal correctness"}
    assert len(scores) == 6 and scores["bar"].is_unique  # grouped: one bar per (measure, bot)
    assert isinstance(latency, gr.BarPlot) and latency.y_lim[0] == 0  # bars start at zero seconds
    assert list(eval_tab.latency_frame(REPORT)["bot"]) == ["finetuned", "rag"]
    assert table.loc[table["bot"] == "rag", "fact accuracy [95% CI]"].item() == "100% [34–100]"
    assert "Small sets" in header
    pet = next(r for r in questions.split("<tr") if "Pet fee?" in r)
    bag = next(r for r in questions.split("<tr") if "Bag weight?" in r)
    assert "background" in pet and "background" not in bag  # only the disagreement is shaded
    assert "USD 700 &lt;b&gt;" in pet  # answers are escaped, shown on hover and on click
    assert "old → ⚠️ old figure" in policy and "old → ✅ new figure" in policy and "1500" in policy and "estimate" in policy
    assert "questions" not in raw


def test_missing_selection_is_a_gradio_error() -> None:
    with pytest.raises(gr.Error, match="Pick a saved evaluation"):
        eval_tab.user_errors(eval_tab.show_results)(None)


def test_run_picker_offers_partial_runs_and_hides_failed_ones(fresh_home: Path) -> None:
    """A cancelled run's partial adapter is evaluable, and its label says it is partial."""
    made = picker_runs()
    choices = eval_tab.run_choices()
    assert choices[0] == (eval_tab.NO_RUN, eval_tab.NO_RUN)
    by_name = {name: label for label, name in choices[1:]}
    assert set(by_name) == {made["finished"].name, made["stopped"].name}  # names, never the server's folders
    assert "partial" in by_name[made["stopped"].name] and "partial" not in by_name[made["finished"].name]


def test_an_empty_limit_box_is_accepted() -> None:
    """The browser sends an empty number box as 0; Gradio's own check ran before the handler and
    refused it ('Value 0 is less than minimum value 1'), so Run evaluation failed for everyone."""
    with gr.Blocks():
        eval_tab.build(AppState(config=load_config()))
        limit = next(c for c in gr.context.Context.root_block.blocks.values()  # type: ignore[union-attr]
                     if isinstance(c, gr.Number) and str(c.label).startswith("At most N questions"))
        assert limit.preprocess(0) == 0 and limit.preprocess(None) is None
