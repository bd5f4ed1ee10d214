"""The policy-change test end to end on the real embedded models and a real index: the index is
updated on a copy (the user's stays as it was), RAG reads the new figure, every answer is
labelled new / old / neither, and the result lands in eval.json in the shape the guide reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airbot.config import load_config
from airbot.errors import AirbotError, DataError
from airbot.evaluate.policy_change import estimate_retrain, outcome_table, pick_documents, policy_change, read_changes
from airbot.guide import Evidence
from airbot.knowledge.index import KnowledgeBase
from tests import _eval_fixtures as fx
from tests._eval_fixtures import FAST, write_jsonl

tiny_files, tiny_index, tiny_run = fx.tiny_files, fx.tiny_index, fx.tiny_run  # shared session fixtures


def test_policy_change_end_to_end(tiny_files: dict[str, Path], tiny_index: Path, tiny_run: Path,
                                  tmp_path: Path) -> None:
    before = json.loads((tiny_index / "manifest.json").read_text())
    result = policy_change(["rag", "finetuned"], load_config(None, FAST), run_dir=tiny_run, index=tiny_index,
                           old="skyway.md", new=tiny_files["policy_v2"], changes=tiny_files["changes"])
    assert json.loads((tiny_index / "manifest.json").read_text()) == before, "the user's index must not change"
    counts = result["policy_change"]
    assert set(counts) == {"rag", "finetuned"}
    assert all(sum(c.values()) == 2 for c in counts.values())
    assert counts["rag"]["new"] >= 1, result["policy_change_questions"]  # it read the updated clause
    assert counts["rag"]["old"] == 0
    rag_rows = [q for q in result["policy_change_questions"] if q["bot"] == "rag"]
    assert any(q["before"] == "old" for q in rag_rows), rag_rows  # it gave the old figure before the update
    tuned = [q for q in result["policy_change_questions"] if q["bot"] == "finetuned"]
    assert all(q["answer_before"] == q["answer"] for q in tuned)  # no retrieval: the documents cannot move it
    assert 0 < result["rag_update_s"] < 60
    assert result["retrain_estimate"]["tokens_per_s"] == 50.0 and result["retrain_estimate"]["epochs"] == 2.0
    assert result["retrain_s"] > 0 and "estimate" in result["retrain_estimate"]["note"]
    rows = outcome_table(result)
    assert [r["new"] for r in rows] == ["25 kg", "USD 90"]
    assert all(r["rag"] in ("new", "old", "neither") for r in rows)
    evidence = Evidence.from_eval_json({"bots": {}, **result})
    assert evidence.policy_change and evidence.rag_update_s == result["rag_update_s"]


def test_documents_are_picked_or_the_user_is_told(tiny_index: Path, tiny_files: dict[str, Path]) -> None:
    kb = KnowledgeBase.open(tiny_index)
    name, new = pick_documents(kb, None, tiny_files["policy_v2"])  # the only document is the one that changed
    assert name == "skyway.md" and new == tiny_files["policy_v2"]
    with pytest.raises(AirbotError, match="not in the index"):
        pick_documents(kb, "contract.pdf", tiny_files["policy_v2"])


def test_changes_file_problems_are_collected(tmp_path: Path) -> None:
    bad = tmp_path / "changes.jsonl"
    bad.write_text('{"question": "Q?", "old": "1 kg"}\nnot json\n')
    with pytest.raises(DataError) as info:
        read_changes(bad)
    assert "line 1: missing new" in str(info.value) and "line 2: not JSON" in str(info.value)


def test_retrain_estimate_uses_the_runs_own_speed(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "status.json").write_text(json.dumps({"summary": {"tokens_per_s": 100.0, "train_s": 30.0, "wall_s": 40.0,
                                                             "train_tokens": 3000}}))
    (run / "metrics.jsonl").write_text(json.dumps({"epoch": 1.0, "tokens_per_s": 100.0}) + "\n")
    (run / "config.yaml").write_text("train:\n  epochs: 3\ndata:\n  path: /nowhere.jsonl\n")
    est = estimate_retrain(run)
    # 3000 tokens in 1 epoch, 3 epochs at 100 tokens/s, plus the 10 s the run spent starting up
    assert est["retrain_s"] == pytest.approx(3000 * 3 / 100 + 10)
    assert estimate_retrain(None) is None
    assert estimate_retrain(write_jsonl(tmp_path / "x", []).parent / "missing") is None


def test_found_changes_can_be_reworded_or_dropped_before_they_are_asked(tiny_files: dict[str, Path],
                                                                        tiny_index: Path, fresh_home: Path) -> None:
    """The Evaluate tab's table: the figures found between the two versions, each with its question;
    the rows as edited are what the test asks (a reworded question, a dropped row)."""
    import shutil

    import pandas as pd

    from airbot.evaluate.policy_change import edited_changes, preview_changes
    from airbot.ui import eval_tab
    from airbot.ui.state import AppState

    found = preview_changes(load_config(None, FAST), tiny_index, None, tiny_files["policy_v2"])
    assert {(c.old, c.new) for c in found} == {("23 kg", "25 kg"), ("USD 70", "USD 90")}
    assert all(c.question.endswith("?") for c in found)
    shutil.copytree(tiny_index, fresh_home / "indexes" / "skyway")  # the tab names indexes of the store
    shown = eval_tab.find_policy_changes(AppState(config=load_config(None, FAST)), "skyway",
                                         str(tiny_files["policy_v2"]))
    assert list(shown.columns) == ["question", "old", "new", "clause"] and len(shown) == len(found)
    table = shown.copy()
    row = table.index[table["old"] == "23 kg"][0]
    table.loc[row, "question"] = "How heavy may my checked bag be?"
    table.loc[table.index[table["old"] == "USD 70"][0], ["question", "old", "new", "clause"]] = ["", "", "", ""]
    asked = edited_changes(eval_tab._table_rows(table))
    assert [(c.question, c.old, c.new) for c in asked] == [("How heavy may my checked bag be?", "23 kg", "25 kg")]
    result = policy_change(["rag"], load_config(None, FAST), run_dir=None, index=tiny_index,
                           new=tiny_files["policy_v2"], changes=asked)
    assert [q["question"] for q in result["policy_change_questions"]] == ["How heavy may my checked bag be?"]
    with pytest.raises(DataError, match="row 1: new is blank"):
        edited_changes(pd.DataFrame([["Q?", "1 kg", "", ""]]).values.tolist())
    with pytest.raises(AirbotError, match="new version"):
        eval_tab.find_policy_changes(AppState(config=load_config(None, FAST)), "skyway", None)


def test_a_real_retrain_is_timed_when_asked(tiny_run: Path) -> None:
    """The run trains again from its own config.yaml and training file; the time is measured and
    labelled so (the Evaluate tab and the CLI say 'took', not 'would take ~')."""
    from airbot.evaluate.policy_change import measure_retrain
    from airbot.ui.eval_tab import _update_times

    timed = measure_retrain(tiny_run)
    assert timed["measured"] is True and timed["retrain_s"] > 0 and timed["steps"] >= 1
    assert "measured" in timed["note"] and "train.jsonl" in timed["note"]
    shown = _update_times({"rag_update_s": 0.5, "retrain_s": timed["retrain_s"], "retrain_estimate": timed}, {})
    assert "took <b>" in shown and "timed" in shown
    broken = tiny_run.parent / "no-config"
    broken.mkdir()
    with pytest.raises(AirbotError, match="cannot be retrained"):
        measure_retrain(broken)
