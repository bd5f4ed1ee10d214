"""The guide tab's handler gives the same verdict as the library and the CLI."""

import json
import subprocess
import sys

import gradio as gr
import pytest

from airbot.guide import PRESETS, recommend
from airbot.ui import guide_tab


@pytest.mark.parametrize("preset", list(PRESETS))
def test_form_cli_and_library_agree(preset: str) -> None:
    values = guide_tab._preset_values(preset)
    verdict_md, scores, reasons_md, _evidence_md, raw = guide_tab.recommend_from_form(*values, guide_tab.NO_EVAL)
    expected = recommend(PRESETS[preset])
    assert raw["verdict"] == expected.verdict
    assert guide_tab.LABELS[expected.verdict] in verdict_md
    assert set(scores["score"]) == set(expected.scores.values())
    assert all(r.seed_row in reasons_md for r in expected.reasons)
    cli = subprocess.run([sys.executable, "-m", "airbot", "guide", "--preset", preset, "--json"],
                         capture_output=True, text=True, check=True)
    assert json.loads(cli.stdout)["verdict"] == expected.verdict


def test_bad_form_values_become_a_gradio_error() -> None:
    values = guide_tab._preset_values("Airline FAQs")
    values[guide_tab.FIELDS.index("examples")] = -3
    with pytest.raises(gr.Error, match="examples"):
        guide_tab.user_errors(guide_tab.recommend_from_form)(*values, guide_tab.NO_EVAL)


def test_evaluation_evidence_is_shown_beside_the_verdict(fresh_home) -> None:
    eval_dir = fresh_home / "evals" / "demo"
    eval_dir.mkdir(parents=True)
    (eval_dir / "eval.json").write_text(json.dumps({"bots": {
        "finetuned": {"fact_accuracy": 0.2, "fact_accuracy_ci": [0.1, 0.35], "n": 40},
        "rag": {"fact_accuracy": 0.85, "fact_accuracy_ci": [0.7, 0.93], "n": 40}}}))
    assert guide_tab.list_evaluations() == [str(eval_dir / "eval.json")]
    values = guide_tab._preset_values("Customer support with evolving KB")
    _, _, _, evidence_md, raw = guide_tab.recommend_from_form(*values, guide_tab.list_evaluations()[0])
    assert raw["agreement"] == "agree" and "85%" in evidence_md
