"""The files through which a training process and the app talk: status.json, metrics.jsonl, cancel.

The trainer (``progress``) writes them and the run store (``runs``) and the UI read them; neither
side imports the other. Status writes are atomic and metrics lines are single appends
(``airbot.storage``), so a reader polling once a second never sees half a record.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from airbot.storage import append_jsonl, read_json, read_jsonl, write_json


def write_status(run_dir: Path, **fields: Any) -> dict[str, Any]:
    """Merge ``fields`` into status.json (phase, message, progress, ...) and return the result."""
    status = read_json(run_dir / "status.json") or {"name": run_dir.name, "partial": False}
    status.update(fields)
    status["updated"] = time.time()
    write_json(run_dir / "status.json", status)
    return status


def append_metric(run_dir: Path, record: dict[str, Any]) -> None:
    """Add one metrics line (loss, tokens/s, ETA, ...)."""
    append_jsonl(run_dir / "metrics.jsonl", record)


def keep_metrics_until(run_dir: Path, step: int) -> None:
    """Drop the metrics lines after ``step``: a run resumed from the checkpoint at ``step`` trains
    those steps again, and the loss chart must show each step once."""
    from airbot.storage import write_jsonl

    write_jsonl(run_dir / "metrics.jsonl", [r for r in read_metrics(run_dir) if r.get("step", 0) <= step])


def read_metrics(run_dir: Path | str) -> list[dict[str, Any]]:
    """Every complete metrics line (a line being written right now is skipped)."""
    return [r for r in read_jsonl(Path(run_dir) / "metrics.jsonl") if isinstance(r, dict)]


def request_cancel(run_dir: Path) -> None:
    """Ask the training process to stop at its next step (it polls this flag file)."""
    (run_dir / "cancel").touch()


def cancel_requested(run_dir: Path) -> bool:
    """Whether someone asked this run to stop."""
    return (run_dir / "cancel").exists()
