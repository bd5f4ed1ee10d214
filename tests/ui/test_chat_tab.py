"""The Chat tab's pure helpers (the streaming panes are covered by the browser flow in tests/e2e)."""

from __future__ import annotations

from pathlib import Path

from airbot.ui import chat_tab
from tests._fake_runs import picker_runs


def test_run_picker_offers_partial_runs_and_hides_failed_ones(fresh_home: Path) -> None:
    """Same runs as the Evaluate tab; the value stays the bare name that /chat_ask takes."""
    picker_runs()
    choices = dict(chat_tab.run_choices())  # label -> name
    assert sorted(choices.values()) == ["finished", "stopped"]
    partial = [label for label, name in choices.items() if "partial" in label]
    assert [choices[label] for label in partial] == ["stopped"]


def test_refresh_preselects_the_newest_finished_run_over_a_newer_partial_one(fresh_home: Path) -> None:
    picker_runs()  # "stopped" (cancelled, partial) is newer than "finished"
    assert chat_tab.default_run() == "finished"


def test_rag_sources_show_the_best_match_against_the_threshold(fresh_home: Path, tmp_path: Path) -> None:
    """Under the RAG answer: its best match against the index's threshold, answered or refused."""
    from airbot.config import load_config
    from airbot.knowledge.index import build_index
    from airbot.ui.state import AppState

    index = build_index([Path(__file__).resolve().parents[1] / "fixtures" / "telecom" / "policy.md"],
                        fresh_home / "indexes" / "telecom")  # the UI names indexes of the store, never folders
    state = AppState(config=load_config())
    limit = f"{index.refusal_threshold():.2f}"
    for question, verdict in (("How long am I tied in when I sign up?", "→ answered"),
                              ("How do I bake sourdough bread?", "→ refused: not in your documents")):
        *_, out = chat_tab.ask_side_by_side(question, None, "telecom", [], [], [], [], [], [],
                                            state=state)
        sources, answer = out[8], out[10][-1]["answers"]["rag"]
        assert sources.startswith("**best match ") and f" {limit} {verdict}**" in sources.splitlines()[0]
        assert answer["threshold"] == index.refusal_threshold() and answer["best_score"] is not None
