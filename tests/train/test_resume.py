"""Resume: a training process killed with SIGKILL goes on from its last checkpoint, trains the
remaining steps only, and ends as one run (each step once in the loss chart, no checkpoint left)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from airbot.cli import main
from airbot.train import checkpoints, runs
from airbot.train import status as train_status
from airbot.ui import train_tab

ROOT = Path(__file__).resolve().parents[2]
STEPS = 8
SETTINGS = ["--method", "lora", "--max-steps", str(STEPS), "--no-progress",
            "--set", "train.checkpoint_every_s=0.001",  # a checkpoint after every step
            "--set", "train.max_length=64", "--set", "train.probe=false", "--set", "train.replay=0",
            "--set", "train.learned_check=false", "--set", "data.heldout_fraction=0", "--set", "train.warmup_ratio=0"]


def _data(path: Path) -> Path:
    rows = [{"question": f"How many biscuits does kennel {i} give a day?", "answer": f"Kennel {i} gives {i + 2}."}
            for i in range(12)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_a_killed_run_resumes_from_its_checkpoint_and_finishes(fresh_home: Path, tmp_path: Path) -> None:
    run_dir = fresh_home / "runs" / "interrupted"
    env = {**os.environ, "AIRBOT_HOME": str(fresh_home)}
    proc = subprocess.Popen([sys.executable, "-m", "airbot", "train", "--data", str(_data(tmp_path / "d.jsonl")),
                             "--out", str(run_dir), *SETTINGS], cwd=ROOT, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while (checkpoints.latest_checkpoint(run_dir) if run_dir.is_dir() else None) is None or \
            checkpoints.checkpoint_step(checkpoints.latest_checkpoint(run_dir)) < 3:  # type: ignore[arg-type]
        assert proc.poll() is None and time.monotonic() < deadline, "no checkpoint before the run ended"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # no chance to save anything
    proc.wait()
    while True:  # the whole process group gone, so nothing still holds the run's locks
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        assert time.monotonic() < deadline
        time.sleep(0.05)
    at = checkpoints.checkpoint_step(checkpoints.latest_checkpoint(run_dir))  # type: ignore[arg-type]
    assert 3 <= at < STEPS and runs.read_status(run_dir)["phase"] != "done"

    # the Train tab's Resume (/train_resume): a background job running `train --out RUN --resume`
    assert train_tab.train_resume("", "interrupted") == "interrupted"
    while runs.read_status(run_dir)["phase"] not in runs.FINAL_PHASES:
        assert time.monotonic() < deadline + 300, runs.read_status(run_dir)
        time.sleep(0.5)
    status = runs.read_status(run_dir)
    log = (run_dir / "train.log").read_text()
    assert status["phase"] == "done" and status["summary"]["steps"] == STEPS, (status, log[-3000:])
    assert f"resuming from the checkpoint after step {at}" in log
    assert f"step {at + 1}/{STEPS}" in log.split("resuming from")[-1]  # it went on, not back to step 1
    assert "step 1/" not in log.split("resuming from")[-1]
    steps = [m["step"] for m in train_status.read_metrics(run_dir) if "loss" in m]
    assert steps == list(range(1, STEPS + 1)), (at, steps)  # each step once in the loss chart
    assert runs.has_adapter(run_dir) and checkpoints.latest_checkpoint(run_dir) is None  # checkpoints dropped at the end

    assert "--resume" in status.get("command", "")  # the command it ran, as the Train tab shows it
    assert main(["train", "--resume", "interrupted"]) == 2  # done: nothing to resume


def test_a_run_without_a_checkpoint_says_so(fresh_home: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    run_dir = runs.create_run("early")
    train_status.write_status(run_dir, phase="failed", message="killed")
    assert main(["train", "--resume", "early"]) == 2
    assert "no checkpoint to resume from" in capsys.readouterr().err
    assert main(["train", "--resume", "nonexistent"]) == 2
