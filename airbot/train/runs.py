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
    .run.lock      held (flock) by the training process, so a second trainer of the folder is refused

Every file is written atomically (tmp + rename) and the adapter is saved into ``adapter.tmp/``
then renamed, so a cancel or crash never leaves a half-written adapter at ``adapter/``. A trainer
that dies without a final status is found out (``read_status``): its leftovers are removed, a
saved adapter is kept (and said to be), and a kill is reported as a kill.

    python -m airbot runs list
    python -m airbot runs show NAME
"""

from __future__ import annotations

import re
import shutil
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from airbot.errors import JobError
from airbot.storage import file_lock, inside_store, is_locked, read_json, remove_stale_tmp, resolve_name, store_dir
from airbot.train.checkpoints import latest_checkpoint
from airbot.train.status import write_status

Phase = Literal["queued", "loading model", "tokenizing", "training", "saving", "done", "failed", "cancelled"]
FINAL_PHASES = ("done", "failed", "cancelled")
ACTIVE_PHASES = ("queued", "loading model", "tokenizing", "training", "saving")
_NAME_OK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")
RUN_LOCK = ".run.lock"
"""Held (``flock``) by the process training a run for its whole life: a second trainer of the same
folder is refused, and a held lock means the trainer is alive whatever its pid says."""
REAPED_HERE: set[str] = set()
"""Run folders whose training process is this process's child: its reaper (``airbot.train.jobs``)
records how it ended, exit code included, so a reader here does not guess first."""


def runs_root() -> Path:
    """Where runs live; created on first use."""
    return store_dir("runs")


def run_path(name: str | Path, *, allow_paths: bool = False) -> Path:
    """The folder of run ``name``: a bare name inside the run store (``airbot.storage.resolve_name``);
    a path only with ``allow_paths`` (the CLI). A JobError for anything else, naming the run."""
    return resolve_name("runs", name, allow_paths=allow_paths)


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
            raise JobError(f"There is no run '{run_dir.name}'; see `python -m airbot runs list` (or the Train tab's "
                           f"run history).")
        return {"name": run_dir.name, "phase": "queued", "message": "waiting to start", "progress": 0.0,
                "partial": False}
    if status.get("phase") in ACTIVE_PHASES and not _trainer_alive(run_dir, status) \
            and str(run_dir) not in REAPED_HERE:
        status = mark_dead(run_dir, status)
    return status


def _trainer_alive(run_dir: Path, status: dict[str, Any]) -> bool:
    """Its process runs, or holds the run folder's lock, or was started a moment ago and has not
    recorded its pid yet (the launcher writes it just after the start)."""
    if pid_alive(status.get("pid")) or is_locked(run_dir / RUN_LOCK):
        return True
    return status.get("pid") is None and time.time() - float(status.get("updated") or 0) < 60


def mark_dead(run_dir: Path, status: dict[str, Any], exit_code: int | None = None) -> dict[str, Any]:
    """Final status of a training process that vanished without writing one (killed, crashed).

    Its leftovers (``adapter.tmp/``, half-written files) are removed. If it had already saved its
    adapter (killed during the forgetting probe, say) the run keeps it and says so; otherwise it
    failed. How it ended is reported as it was: a signal is a kill, and memory is blamed only when
    the system counted an out-of-memory kill while the run was going (``oom_kills``).
    """
    remove_leftovers(run_dir)
    phase = status.get("phase")
    how = _how_it_ended(exit_code)
    memory = _memory_note(status, exit_code)
    if has_adapter(run_dir):
        partial = bool(status.get("partial")) or (run_dir / "cancel").exists()
        return write_status(run_dir, phase="cancelled" if partial else "done", partial=partial, interrupted=True,
                            finished=time.time(), progress=1.0 if not partial else status.get("progress"),
                            message=f"The training process {how} during '{phase}', after its adapter was saved: the "
                                    f"adapter is complete and usable; the forgetting probe and the run summary are "
                                    f"missing.{memory}")
    return write_status(run_dir, phase="failed", finished=time.time(),
                        message=f"The training process {how} during '{phase}', before it saved an adapter; "
                                f"nothing was kept.{memory} See train.log for details.")


def _how_it_ended(exit_code: int | None) -> str:
    """'was killed (SIGKILL)', 'was stopped by SIGTERM', 'exited with code 1', or 'is gone'."""
    if exit_code is None:
        return "is gone (no exit status: it was killed, or the machine or the app restarted)"
    number = -exit_code if exit_code < 0 else exit_code - 128 if exit_code > 128 else 0
    if number > 0:
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        return f"was killed ({name})" if number == signal.SIGKILL else f"was stopped by {name}"
    return f"exited with code {exit_code}"


def _memory_note(status: dict[str, Any], exit_code: int | None) -> str:
    """Memory is named only when the kernel's out-of-memory killer fired during the run."""
    before, now = status.get("oom_kills"), oom_kills()
    if exit_code is not None and 0 <= exit_code <= 128:  # an exit, not a signal
        return ""
    if isinstance(before, int) and now is not None and now > before:
        return (" The system's out-of-memory killer fired while it ran: lower train.batch_size or "
                "train.max_length, or use method qlora.")
    return ""


def oom_kills() -> int | None:
    """How many processes the kernel's out-of-memory killer has ended (this cgroup, else the
    machine), or None where Linux does not say."""
    for path, key in ((Path("/sys/fs/cgroup/memory.events"), "oom_kill"), (Path("/proc/vmstat"), "oom_kill")):
        try:
            for line in path.read_text().splitlines():
                name, _, value = line.partition(" ")
                if name == key and value.strip().isdigit():
                    return int(value)
        except OSError:
            continue
    return None


def remove_leftovers(run_dir: Path) -> None:
    """What a killed trainer leaves: the half-saved ``adapter.tmp/`` and dead writers' temporary files."""
    shutil.rmtree(run_dir / "adapter.tmp", ignore_errors=True)
    for folder in (run_dir, run_dir / "exports"):
        remove_stale_tmp(folder)
    for partial in run_dir.glob("exports/*.partial*"):
        partial.unlink(missing_ok=True)


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


def default_run() -> str | None:
    """The run every picker preselects: the newest finished run, else the newest partial one (a
    cancelled run should not win over a complete one just because it is newer)."""
    found = usable_runs()
    done = [r for r in found if r.phase == "done"]
    return (done or found)[0].name if found else None


def is_usable(info: RunInfo) -> bool:
    """Done, or cancelled with a partial adapter, and the adapter really is on disk."""
    finished = info.phase == "done" or (info.phase == "cancelled" and info.partial)
    return finished and has_adapter(info.path)


def run_choices() -> list[tuple[str, str]]:
    """Every run picker's options, newest first, as (label, name): the label says which are partial;
    the value is the bare name the API takes (never a server folder)."""
    return [(run_label(r), r.name) for r in usable_runs()]


def run_label(info: RunInfo) -> str:
    """How a picker names a run: 'lora-0612 (lora, done)' or 'lora-0613 (lora, cancelled: partial adapter)'."""
    state = "cancelled: partial adapter" if info.partial else info.phase
    return f"{info.name} ({info.method}, {state})"


def compare_runs(names: list[str], *, allow_paths: bool = False) -> list[dict[str, Any]]:
    """Side-by-side figures of several runs: settings, losses, speed and forgetting."""
    rows = []
    for name in names:
        run_dir = run_path(name, allow_paths=allow_paths)
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


def delete_run(name: str | Path, *, allow_paths: bool = False) -> None:
    """Remove a finished run of the store; a running one must be cancelled first. Even given a
    path (the CLI), only a folder of the run store is deleted: nothing outside it, ever."""
    run_dir = run_path(name, allow_paths=allow_paths)
    if not run_dir.is_dir():
        raise JobError(f"There is no run '{run_dir.name}'; see `python -m airbot runs list`.")
    if not inside_store(run_dir, "runs"):
        raise JobError(f"'{name}' is not a run of airbot's run store, so airbot does not delete it. Delete runs by "
                       f"the names `python -m airbot runs list` shows; remove other folders yourself.")
    phase = read_status(run_dir).get("phase")
    if phase in ACTIVE_PHASES:
        raise JobError(f"Run '{run_dir.name}' is still {phase}; cancel it first (Cancel in the Train tab), "
                       f"then delete it.")
    trash = run_dir.with_name(f".trash-{run_dir.name}-{time.time_ns()}")
    run_dir.rename(trash)  # gone from every list at once; a crash mid-delete leaves only hidden trash
    shutil.rmtree(trash, ignore_errors=True)


# --- the folder a training process writes ------------------------------------------------------
@contextmanager
def train_into(run_dir: Path, resume: bool = False) -> Iterator[Path]:
    """Hold ``run_dir`` for one training process, refusing what must not be trained into.

    ``resume``: continue a stopped, failed or killed run from its last checkpoint instead (refused
    for a run that is done, or that has no checkpoint).

    Refused before anything is written: a file, a folder that is not an airbot run, a finished run
    (its adapter would be replaced: train a new run instead) and a run another process is training
    (a cross-process lock on ``RUN/.run.lock``, so two ``train --out X`` never interleave).
    """
    check_training_target(run_dir, resume)
    run_dir.mkdir(parents=True, exist_ok=True)
    # a short wait only absorbs a reader probing the lock (``is_locked``); a real trainer holds it for its life
    with file_lock(run_dir / RUN_LOCK, f"run '{run_dir.name}'", wait_s=2, message=_busy(run_dir)):
        _refuse_resume(run_dir) if resume else _refuse_finished(run_dir)
        remove_leftovers(run_dir)
        if "oom_kills" not in (read_json(run_dir / "status.json") or {}):  # the app's launcher records it itself
            write_status(run_dir, oom_kills=oom_kills())
        yield run_dir


def check_training_target(run_dir: Path, resume: bool = False) -> None:
    """What ``train_into`` refuses, checked without the lock: cheap, so the CLI says it before any
    heavy import (``train_into`` checks again once it holds the folder)."""
    if resume:
        _refuse_resume(run_dir)
        if is_locked(run_dir / RUN_LOCK):
            raise JobError(_busy(run_dir))
        return
    if run_dir.exists() and not run_dir.is_dir():
        raise JobError(f"'{run_dir.name}' is a file, not a run folder. Give --out a new folder name, or leave it "
                       f"out to create a new run under the run store.")
    if run_dir.is_dir() and not _is_run(run_dir) and any(run_dir.iterdir()):
        raise JobError(f"'{run_dir.name}' is a folder with other files in it, not an airbot run; training would "
                       f"write into it. Give --out a new or empty folder.")
    if run_dir.is_dir():
        _refuse_finished(run_dir)
    if is_locked(run_dir / RUN_LOCK):
        raise JobError(_busy(run_dir))


def _busy(run_dir: Path) -> str:
    return (f"Run '{run_dir.name}' is being trained by another process right now; two trainings cannot share one "
            f"run folder. Train into a new run, or wait for that one (or cancel it: `python -m airbot runs cancel "
            f"{run_dir.name}`).")


def _is_run(run_dir: Path) -> bool:
    return (run_dir / "status.json").is_file() or (run_dir / "config.yaml").is_file()


def _refuse_finished(run_dir: Path) -> None:
    status = read_json(run_dir / "status.json") or {}
    phase = status.get("phase")
    if has_adapter(run_dir) or phase == "done":
        raise JobError(f"Run '{run_dir.name}' is finished ({phase}, with a saved adapter); training into it would "
                       f"replace that adapter. Train into a new run (leave out --out, or give a new name), or delete "
                       f"it first (`python -m airbot runs delete {run_dir.name}`).")


def _refuse_resume(run_dir: Path) -> None:
    """A run resumes only when it stopped before the end and left a checkpoint to go on from."""
    if not run_dir.is_dir() or not _is_run(run_dir):
        raise JobError(f"There is no run '{run_dir.name}' to resume. `python -m airbot runs list` shows the runs.")
    phase = (read_json(run_dir / "status.json") or {}).get("phase")
    if phase == "done":
        raise JobError(f"Run '{run_dir.name}' is done; there is nothing to resume. Train a new run to train more.")
    if latest_checkpoint(run_dir) is None:
        raise JobError(f"Run '{run_dir.name}' ({phase}) has no checkpoint to resume from (it stopped before its "
                       f"first one: train.checkpoint_every_s). Start it again as a new run.")


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
