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
