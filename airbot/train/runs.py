"""The run store: one folder per fine-tuning run under ``AIRBOT_HOME/runs/<name>/``.

A run folder is the whole truth about a run, so the CLI, the UI and a reloaded page all read
the same thing and a crashed app loses nothing::

    config.yaml    resolved config (replay with: python -m airbot train --config RUN/config.yaml)
    status.json    phase, message, progress 0-1, step/total, pid, started/finished, partial, summary
    metrics.jsonl  one line per log: step, epoch, loss, eval_loss, learning_rate, tokens_per_s, ...
    adapter/       PEFT adapter (adapter_config.json) or, for full fine-tuning, a whole model (config.json)
    probe.json     forgetting probe: general questions answered before and after training
    train.log      human-readable log (and the training process's stdout/stderr)
    cancel         present while a cancel is requested

Every file is written atomically (tmp + rename) and the adapter is saved into ``adapter.tmp/``
then renamed, so a cancel or crash never leaves a half-written adapter at ``adapter/``.

    python -m airbot runs list
    python -m airbot runs show NAME
"""

from __future__ import annotations

import re
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from airbot.config import airbot_home
from airbot.errors import JobError
from airbot.storage import read_json
from airbot.train.status import write_status

Phase = Literal["queued", "loading model", "tokenizing", "training", "saving", "done", "failed", "cancelled"]
FINAL_PHASES = ("done", "failed", "cancelled")
ACTIVE_PHASES = ("queued", "loading model", "tokenizing", "training", "saving")
_NAME_OK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")


def runs_root() -> Path:
    """Where runs live; created on first use."""
    root = airbot_home() / "runs"
    root.mkdir(parents=True, exist_ok=True)
    return root


def run_path(name: str) -> Path:
    """The folder of run ``name`` (or ``name`` itself when it is a path to a run folder)."""
    candidate = Path(name).expanduser()
    if (candidate / "status.json").is_file() or (candidate / "config.yaml").is_file():
        return candidate
    if not _NAME_OK.match(name):
        raise JobError(f"'{name}' is not a run name; names use letters, digits, '.', '_' and '-' "
                       f"(see `python -m airbot runs list`).")
    return runs_root() / name


def create_run(name: str | None = None, method: str = "run") -> Path:
    """A new, empty run folder; a name already taken gets a numeric suffix rather than an error."""
    base = name or f"{method}-{time.strftime('%Y%m%d-%H%M%S')}"
    if not _NAME_OK.match(base):
        raise JobError(f"Run name '{base}' is not allowed; use letters, digits, '.', '_' and '-' (at most 80).")
    root = runs_root()
    for suffix in range(1000):
        candidate = root / (base if suffix == 0 else f"{base}-{suffix + 1}")
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        return candidate
    raise JobError(f"Could not find a free run name starting with '{base}'; delete some runs first.")


# --- status ----------------------------------------------------------------------------------
def read_status(run_dir: Path | str) -> dict[str, Any]:
    """The run's status; an active run whose process is gone is marked failed, so nothing hangs."""
    run_dir = Path(run_dir)
    status = read_json(run_dir / "status.json")
    if status is None:
        if not run_dir.is_dir():
            raise JobError(f"There is no run '{run_dir.name}' (looked in {run_dir.parent}); "
                           f"see `python -m airbot runs list`.")
        return {"name": run_dir.name, "phase": "queued", "message": "waiting to start", "progress": 0.0,
                "partial": False}
    if status.get("phase") in ACTIVE_PHASES and not pid_alive(status.get("pid")):
        status = mark_dead(run_dir, status)
    return status


def mark_dead(run_dir: Path, status: dict[str, Any], exit_code: int | None = None) -> dict[str, Any]:
    """A training process that vanished without a final status (killed, out of memory) failed."""
    how = f"exit code {exit_code}" if exit_code is not None else "no exit status"
    hint = " The system may have run out of memory: lower train.batch_size or train.max_length." \
        if exit_code in (None, -9, 137) else ""
    return write_status(run_dir, phase="failed", finished=time.time(),
                        message=f"The training process stopped during '{status.get('phase')}' without "
                                f"saving a result ({how}).{hint} See train.log for details.")


def pid_alive(pid: Any) -> bool:
    """True while ``pid`` runs (a zombie, finished but not yet reaped, counts as gone)."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


# --- listing ---------------------------------------------------------------------------------
@dataclass
class RunInfo:
    """One row of the run history."""

    name: str
    path: Path
    phase: str
    method: str
    started: float | None
    wall_s: float | None
    final_loss: float | None
    eval_loss: float | None
    tokens_per_s: float | None
    partial: bool
    message: str

    def as_row(self) -> dict[str, Any]:
        """JSON-friendly mapping for the CLI and the UI table."""
        row = asdict(self)
        row["path"] = str(self.path)
        return row


def run_info(run_dir: Path) -> RunInfo:
    """Summarize a run from its status (and config for the method)."""
    status = read_status(run_dir)
    summary = status.get("summary") or {}
    started, finished = status.get("started"), status.get("finished")
    wall = summary.get("wall_s")
    if wall is None and started:
        wall = (finished or time.time()) - started
    return RunInfo(name=run_dir.name, path=run_dir, phase=str(status.get("phase", "queued")),
                   method=str(status.get("method") or _config_method(run_dir)), started=started, wall_s=wall,
                   final_loss=summary.get("train_loss"), eval_loss=summary.get("eval_loss"),
                   tokens_per_s=summary.get("tokens_per_s"), partial=bool(status.get("partial")),
                   message=str(status.get("message", "")))


def _config_method(run_dir: Path) -> str:
    import yaml

    try:
        return str((yaml.safe_load((run_dir / "config.yaml").read_text()) or {}).get("train", {}).get("method", "?"))
    except (OSError, ValueError, AttributeError):
        return "?"


def list_runs() -> list[RunInfo]:
    """Every run, newest first."""
    runs = [run_info(p) for p in runs_root().iterdir() if p.is_dir() and not p.name.startswith(".")]
    return sorted(runs, key=lambda r: r.started or r.path.stat().st_mtime, reverse=True)


def usable_runs() -> list[RunInfo]:
    """Runs a bot can load, newest first: finished ones, and cancelled ones that saved a partial adapter.

    The one list every run picker shows (Chat, Evaluate, Train's download), so they cannot disagree.
    The phase is checked as well as the files: a run still 'saving' already has ``adapter/`` but not
    its probe and summary, and a failed run's adapter, if any, is not one anyone asked for.
    """
    return [r for r in list_runs() if is_usable(r)]


def is_usable(info: RunInfo) -> bool:
    """Done, or cancelled with a partial adapter, and the adapter really is on disk."""
    finished = info.phase == "done" or (info.phase == "cancelled" and info.partial)
    return finished and has_adapter(info.path)


def run_label(info: RunInfo) -> str:
    """How a picker names a run: 'lora-0612 (lora, done)' or 'lora-0613 (lora, cancelled: partial adapter)'."""
    state = "cancelled: partial adapter" if info.partial else info.phase
    return f"{info.name} ({info.method}, {state})"


def compare_runs(names: list[str]) -> list[dict[str, Any]]:
    """Side-by-side figures of several runs: settings, losses, speed and forgetting."""
    rows = []
    for name in names:
        run_dir = run_path(name)
        info = run_info(run_dir)
        train = _read_config_section(run_dir, "train")
        probe = read_json(run_dir / "probe.json") or {}
        rows.append({"name": info.name, "phase": info.phase, "method": info.method,
                     "epochs": train.get("epochs"), "learning_rate": train.get("learning_rate"),
                     "lora_r": train.get("lora_r"), "final_loss": info.final_loss, "eval_loss": info.eval_loss,
                     "tokens_per_s": info.tokens_per_s, "wall_s": info.wall_s,
                     "probe_before": probe.get("score_before"), "probe_after": probe.get("score_after")})
    return rows


def _read_config_section(run_dir: Path, section: str) -> dict[str, Any]:
    import yaml

    try:
        return (yaml.safe_load((run_dir / "config.yaml").read_text()) or {}).get(section, {}) or {}
    except (OSError, ValueError, AttributeError):
        return {}


def delete_run(name: str) -> None:
    """Remove a finished run; a running one must be cancelled first."""
    run_dir = run_path(name)
    if not run_dir.is_dir():
        raise JobError(f"There is no run '{name}'; see `python -m airbot runs list`.")
    phase = read_status(run_dir).get("phase")
    if phase in ACTIVE_PHASES:
        raise JobError(f"Run '{run_dir.name}' is still {phase}; cancel it first (Cancel in the Train tab), "
                       f"then delete it.")
    shutil.rmtree(run_dir)


def adapter_dir(run_dir: Path | str) -> Path:
    """The run's saved adapter (or full model); a clear error when the run has none."""
    run_dir = Path(run_dir)
    if has_adapter(run_dir):
        return run_dir / "adapter"
    status = read_status(run_dir) if run_dir.is_dir() else {"phase": "missing", "message": "no such run"}
    raise JobError(f"Run '{run_dir.name}' has no adapter (status: {status.get('phase')}: "
                   f"{status.get('message', '')}). Train it again, or pick a run that is done "
                   "(or cancelled with a partial adapter).")


def has_adapter(run_dir: Path) -> bool:
    """Whether ``adapter/`` holds a PEFT adapter or a full model (an empty or foreign folder does not count)."""
    path = run_dir / "adapter"
    return (path / "adapter_config.json").is_file() or (path / "config.json").is_file()
