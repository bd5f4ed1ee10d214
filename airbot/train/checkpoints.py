"""Trainer checkpoints in a run folder: which is the latest complete one, its step, and removing
them once the final adapter is saved. Plain file-system work, so the run store (``train.runs``)
and the trainer (``train.finetune``) share it; ``train.progress.CheckpointEvery`` decides when
one is written."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete trainer checkpoint (``checkpoint-N/`` with its ``trainer_state.json``,
    which the trainer writes after the weights and the optimizer: a checkpoint cut by a kill has none)."""
    found = [(int(m.group(1)), p) for p in (run_dir.iterdir() if run_dir.is_dir() else [])
             if (m := CHECKPOINT.match(p.name)) and (p / "trainer_state.json").is_file()]
    return max(found)[1] if found else None


def checkpoint_step(checkpoint: Path) -> int:
    """The optimizer step a checkpoint was taken after."""
    match = CHECKPOINT.match(checkpoint.name)
    return int(match.group(1)) if match else 0


def drop_checkpoints(run_dir: Path) -> None:
    """Remove the trainer checkpoints once the run has saved its final adapter: they only served a resume
    and weigh several times the adapter (optimizer state)."""
    for path in run_dir.glob("checkpoint-*"):
        if CHECKPOINT.match(path.name) and path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
