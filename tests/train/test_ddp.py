"""``python -m airbot train`` runs unchanged under torchrun and under ``accelerate launch`` with the
shipped config: two CPU processes (DDP over gloo) train together and only rank 0 writes the run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from airbot.train import runs

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "airbot" / "samples" / "airline_train.jsonl"


LAUNCHERS = {
    "torchrun": [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533"],
    "accelerate": [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
                   str(ROOT / "configs" / "accelerate" / "ddp-cpu.yaml"), "--main_process_port", "29534"],
}


@pytest.mark.parametrize("launcher", list(LAUNCHERS))
def test_two_cpu_processes_complete_a_few_lora_steps(launcher: str, fresh_home: Path, tmp_path: Path) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text("\n".join(SAMPLE.read_text().splitlines()[:8]) + "\n")
    out = tmp_path / "ddp-run"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    cmd = [*LAUNCHERS[launcher], "-m", "airbot", "train", "--data", str(data), "--out", str(out), "--method", "lora",
           "--max-steps", "2", "--no-progress", "--set", "train.probe=false", "--set", "train.max_length=96",
           "--set", "data.heldout_fraction=0", "--set", "model.device=cpu"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    status = runs.read_status(out)
    assert status["phase"] == "done" and status["summary"]["steps"] == 2, status
    assert (out / "adapter" / "adapter_config.json").is_file()
    assert proc.stdout.count("done: 2 steps") == 1  # only rank 0 reports
    lines = [ln for ln in (out / "metrics.jsonl").read_text().splitlines() if '"loss"' in ln]
    assert len(lines) == 2  # one line per step, not one per rank
