"""Run folders as training leaves them, written by hand: the run pickers' tests need every final state
(done, cancelled with and without a partial adapter, failed) without training anything."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from airbot.train import runs
from airbot.train import status as train_status


def fake_run(name: str, started: float, adapter: bool = True, **status: Any) -> Path:
    """A run folder with ``status`` in status.json and, if ``adapter``, a LoRA adapter_config.json."""
    run_dir = runs.create_run(name)
    train_status.write_status(run_dir, started=started, **status)
    if adapter:
        (run_dir / "adapter").mkdir()
        (run_dir / "adapter" / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA"}))
    return run_dir


def picker_runs() -> dict[str, Path]:
    """One run a picker must offer per usable state, and one it must not (failed, yet with an adapter)."""
    return {"finished": fake_run("finished", 1.0, phase="done", method="lora"),
            "stopped": fake_run("stopped", 2.0, phase="cancelled", partial=True, method="lora"),
            "broken": fake_run("broken", 3.0, phase="failed", method="lora")}
