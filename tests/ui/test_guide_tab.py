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
    assert guide_tab.list_evaluations() == ["demo"]  # names, never the server's folders
    values = guide_tab._preset_values("Customer support with evolving KB")
    _, _, _, evidence_md, raw = guide_tab.recommend_from_form(*values, guide_tab.list_evaluations()[0])
    assert raw["agreement"] == "agree" and "85%" in evidence_md


def _built() -> gr.Blocks:
    from airbot.config import load_config
    from airbot.ui.state import AppState

    with gr.Blocks() as demo:
        guide_tab.build(AppState(config=load_config()))
    return demo


def test_every_chart_starts_at_zero() -> None:
    """An axis from 4.0 hid the RAG bar: every plot on the tab is drawn from 0."""
    plots = [b for b in _built().blocks.values() if isinstance(b, (gr.BarPlot, gr.LinePlot, gr.ScatterPlot))]
    assert plots and all(p.y_lim is not None and p.y_lim[0] == 0 for p in plots)


def test_the_page_speaks_to_the_user(fresh_home) -> None:
    """No 'seed' or 'brief' in any label, static text, choice or rendered answer of the tab."""
    import re

    internal = re.compile(r"\b(seed|brief)", re.IGNORECASE)
    texts = []
    for block in _built().blocks.values():
        texts += [str(getattr(block, attr, "") or "") for attr in ("label", "info", "value")]
        texts += [str(c) for c in getattr(block, "choices", None) or []]
    for preset in PRESETS:
        verdict_md, _, reasons_md, evidence_md, _ = guide_tab.recommend_from_form(*guide_tab._preset_values(preset),
                                                                                   guide_tab.NO_EVAL)
        texts += [verdict_md, reasons_md, evidence_md]
    assert [t for t in texts if internal.search(t)] == []
    assert any("few-times-a-year" in t for t in texts)  # the new answer is on the radio


def test_the_bank_case_on_the_page(fresh_home) -> None:
    """The issue's numbers: the headline follows them with a banner, the answers' verdict stays visible,
    every pair is listed, the rule is stated, the votes are cited."""
    from airbot.bots import arena

    eval_dir = fresh_home / "evals" / "bank"
    eval_dir.mkdir(parents=True)
    (eval_dir / "eval.json").write_text(json.dumps({"bots": {
        "finetuned": {"fact_accuracy": 0.07, "fact_accuracy_ci": [0.012, 0.298], "n": 15},
        "rag": {"fact_accuracy": 0.8, "fact_accuracy_ci": [0.548, 0.93], "n": 15},
        "hybrid": {"fact_accuracy": 0.8, "fact_accuracy_ci": [0.548, 0.93], "n": 15}}}))
    rag, tuned = {"bot": "rag", "answer": "EUR 25"}, {"bot": "finetuned", "answer": "EUR 20"}
    for _ in range(3):
        arena.record_vote("left", "Card fee abroad?", rag, tuned)
    values = guide_tab._preset_values("Airline FAQs")  # answers that point to fine-tuning
    verdict_md, scores, _, evidence_md, raw = guide_tab.recommend_from_form(*values, "bank")
    assert verdict_md.startswith("## Recommendation: **RAG**\n> ❗ **Why RAG:** The headline follows your numbers")
    assert "**Your answers alone** point to **fine-tuning**" in verdict_md
    assert raw["verdict"] == "rag" and raw["questionnaire_verdict"] == "fine-tune"
    assert "| RAG 80% | The hybrid bot 80% | not clear: their 95% intervals overlap |" in evidence_md
    assert "| RAG 80% | The fine-tuned bot 7% | clear: the 95% intervals do not overlap |" in evidence_md
    assert "_How your numbers count: when one approach is clearly more accurate" in evidence_md
    assert "side-by-side votes RAG won 3 of 3 comparisons against the fine-tuned bot" in evidence_md
    assert set(scores["score"]) == set(recommend(PRESETS["Airline FAQs"]).scores.values())  # the answers' scores
