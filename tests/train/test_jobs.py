"""Background training: one job at a time, cancel leaves a usable partial adapter, failures end as
'failed' with a message (never a hang), and stale locks from dead processes are cleaned."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from airbot.config import load_config
from airbot.errors import JobError
from airbot.train import jobs, runs
from airbot.train import status as train_status

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "airbot" / "samples" / "airline_train.jsonl"


def _tiny(path: Path, n: int = 8) -> Path:
    path.write_text("\n".join(SAMPLE.read_text().splitlines()[:n]) + "\n")
    return path


def _wait_for(run_dir: Path, predicate: Callable[[dict], bool], timeout_s: float = 300) -> dict:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        status = runs.read_status(run_dir)
        if predicate(status):
            return status
        time.sleep(0.3)
    raise AssertionError(f"timed out; last status {runs.read_status(run_dir)}")


def test_second_job_is_refused_and_cancel_saves_a_partial_adapter(fresh_home: Path, tmp_path: Path) -> None:
    from peft import PeftModel

    from airbot.models import load_causal_lm

    config = load_config(None, ["train.method=lora", "train.max_steps=500", "train.max_length=96",
                                "train.probe=false", "data.heldout_fraction=0", "model.device=cpu"])
    run_dir = jobs.start_training(config, _tiny(tmp_path / "d.jsonl"), name="long")
    assert run_dir == fresh_home / "runs" / "long"
    assert runs.read_status(run_dir)["phase"] in runs.ACTIVE_PHASES  # returned at once
    with pytest.raises(JobError, match="'long' is already running"):
        jobs.start_training(config, SAMPLE)
    assert jobs.active_run() == run_dir

    _wait_for(run_dir, lambda s: (s.get("step") or 0) >= 1 or s["phase"] in runs.FINAL_PHASES)
    jobs.cancel(run_dir)
    # a bound, not a timing: the job runs at a lower priority (nice and autogroup), so on a loaded 2-core
    # machine finishing the step, saving the adapter and the learned check took over 120 s once
    status = jobs.wait(run_dir, timeout_s=360)
    assert status["phase"] == "cancelled" and status["partial"] is True, status
    assert status["summary"]["steps"] < 500
    PeftModel.from_pretrained(load_causal_lm(device="cpu"), runs.adapter_dir(run_dir))  # loads
    _wait_for(run_dir, lambda s: jobs.read_lock() is None, timeout_s=30)
    assert "cancel" in (run_dir / "train.log").read_text().lower()


def test_bad_data_ends_as_failed_with_the_reason(fresh_home: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("question,reply\nWhat is the bag limit?,\n")
    run_dir = jobs.start_training(load_config(None, ["train.probe=false"]), bad)
    status = jobs.wait(run_dir, timeout_s=180)
    assert status["phase"] == "failed" and "bad.csv" in status["message"], status
    with pytest.raises(JobError, match="has no adapter"):
        runs.adapter_dir(run_dir)
    _wait_for(run_dir, lambda s: jobs.read_lock() is None, timeout_s=30)


def test_a_killed_job_is_marked_failed_not_left_hanging(fresh_home: Path) -> None:
    run_dir = runs.create_run("killed")
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    train_status.write_status(run_dir, phase="training", pid=proc.pid)
    jobs.acquire_lock("killed", proc.pid)
    assert runs.read_status(run_dir)["phase"] == "training"
    proc.kill()
    proc.wait()
    status = runs.read_status(run_dir)
    assert status["phase"] == "failed" and "before it saved an adapter" in status["message"]
    assert jobs.read_lock() is None  # the dead holder's lock is cleaned


def test_lock_names_the_holder_and_is_released(fresh_home: Path) -> None:
    jobs.acquire_lock("first", os.getpid())
    with pytest.raises(JobError, match="'first' is already running"):
        jobs.acquire_lock("second", os.getpid())
    jobs.release_lock("second")  # not the holder: no effect
    assert jobs.read_lock()["run"] == "first"
    jobs.release_lock("first")
    with jobs.training_lock(runs.create_run("third")):
        assert jobs.read_lock()["run"] == "third"
    assert jobs.read_lock() is None


def test_cancelling_a_finished_run_changes_nothing(fresh_home: Path) -> None:
    run_dir = runs.create_run("finished")
    train_status.write_status(run_dir, phase="done")
    assert jobs.cancel(run_dir)["phase"] == "done" and not train_status.cancel_requested(run_dir)


@pytest.mark.skipif(not Path("/proc/self/autogroup").exists(), reason="the kernel does not group processes by session")
def test_a_training_started_by_the_app_yields_across_the_kernels_session_groups() -> None:
    """The training runs in its own session; with autogroup scheduling its process nice value alone would not
    rank it below the app (the groups share the CPU equally), so the group's nice value is lowered too."""
    code = ("import os; from airbot.train.jobs import _lower_priority; _lower_priority(); "
            "print(open('/proc/self/autogroup').read().split()[-1], os.nice(0))")
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, jobs.NICE_ENV: "10"}, start_new_session=True,
                         capture_output=True, text=True, timeout=120, check=True).stdout.split()
    assert out == ["10", "10"]
