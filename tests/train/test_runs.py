"""The run store: names, atomic status, metrics, listing, deletion and the adapter contract."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from airbot.errors import JobError
from airbot.train import runs
from airbot.train import status as train_status
from tests._fake_runs import fake_run


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_create_run_names_are_unique_and_checked(fresh_home: Path) -> None:
    a = runs.create_run("demo")
    b = runs.create_run("demo")
    assert a.parent == fresh_home / "runs" and a.name == "demo" and b.name == "demo-2"
    assert runs.create_run(method="lora").name.startswith("lora-")
    with pytest.raises(JobError, match="not allowed"):
        runs.create_run("../escape")


def test_status_merges_atomically_and_metrics_skip_a_torn_line(fresh_home: Path) -> None:
    run_dir = runs.create_run("s")
    train_status.write_status(run_dir, phase="training", pid=os.getpid(), step=1)
    train_status.write_status(run_dir, step=2)
    status = runs.read_status(run_dir)
    assert status["phase"] == "training" and status["step"] == 2 and status["partial"] is False
    assert not list(run_dir.glob(".*tmp"))
    train_status.append_metric(run_dir, {"step": 1, "loss": 2.0})
    with open(run_dir / "metrics.jsonl", "a") as fh:
        fh.write('{"step": 2, "lo')  # a writer caught mid-line
    assert train_status.read_metrics(run_dir) == [{"step": 1, "loss": 2.0}]


def test_an_active_run_whose_process_died_reads_as_failed(fresh_home: Path) -> None:
    run_dir = runs.create_run("dead")
    train_status.write_status(run_dir, phase="training", pid=_dead_pid())
    status = runs.read_status(run_dir)
    assert status["phase"] == "failed" and "train.log" in status["message"]
    assert runs.read_status(run_dir)["phase"] == "failed"  # persisted


def test_list_compare_and_delete(fresh_home: Path) -> None:
    old, new = runs.create_run("old"), runs.create_run("new")
    train_status.write_status(old, phase="done", started=1.0, summary={"train_loss": 1.5, "tokens_per_s": 400.0})
    train_status.write_status(new, phase="training", started=2.0, pid=os.getpid(), method="lora")
    (old / "config.yaml").write_text("train:\n  method: qlora\n  epochs: 3.0\n")
    (old / "probe.json").write_text(json.dumps({"score_before": 0.6, "score_after": 0.5}))
    listed = runs.list_runs()
    assert [r.name for r in listed] == ["new", "old"]
    assert listed[1].method == "qlora" and listed[1].final_loss == 1.5 and listed[0].method == "lora"
    row = runs.compare_runs(["old", "new"])[0]
    assert row["epochs"] == 3.0 and row["probe_after"] == 0.5 and row["tokens_per_s"] == 400.0
    with pytest.raises(JobError, match="cancel it first"):
        runs.delete_run("new")
    runs.delete_run("old")
    assert not old.exists()
    with pytest.raises(JobError, match="no run"):
        runs.delete_run("old")


def test_adapter_dir_contract(fresh_home: Path) -> None:
    run_dir = runs.create_run("a")
    train_status.write_status(run_dir, phase="failed", message="bad data")
    with pytest.raises(JobError, match=r"Run 'a' has no adapter \(status: failed: bad data"):
        runs.adapter_dir(run_dir)
    (run_dir / "adapter").mkdir()
    (run_dir / "adapter" / "adapter_config.json").write_text("{}")
    assert runs.adapter_dir(run_dir) == run_dir / "adapter"
    assert runs.run_path("a") == run_dir and runs.run_path(str(run_dir), allow_paths=True) == run_dir


def test_cancel_flag(fresh_home: Path) -> None:
    run_dir = runs.create_run("c")
    assert not train_status.cancel_requested(run_dir)
    train_status.request_cancel(run_dir)
    assert train_status.cancel_requested(run_dir)


def test_usable_runs_are_done_or_cancelled_with_a_partial_adapter(fresh_home: Path) -> None:
    """What every run picker lists: the phase and the adapter on disk both have to say 'loadable'."""
    fake_run("done", 1.0, phase="done", method="lora")
    fake_run("stopped", 2.0, phase="cancelled", partial=True, method="qlora")
    fake_run("failed", 3.0, phase="failed")  # an adapter on disk does not make a failed run usable
    fake_run("early", 4.0, adapter=False, phase="cancelled", partial=False)  # cancelled before step 1
    fake_run("saving", 5.0, phase="saving", pid=os.getpid())  # adapter renamed into place, not finished
    (fake_run("empty", 6.0, adapter=False, phase="done") / "adapter").mkdir()  # a folder, no adapter in it
    usable = runs.usable_runs()
    assert [r.name for r in usable] == ["stopped", "done"]
    assert [runs.run_label(r) for r in usable] == ["stopped (qlora, cancelled: partial adapter)", "done (lora, done)"]
    assert all(runs.adapter_dir(r.path) == r.path / "adapter" for r in usable)
