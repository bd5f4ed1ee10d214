"""Fine-tuning as a background job: a subprocess per run, one at a time, cancellable.

The app never trains in its own process: ``start_training`` writes the resolved config into a
new run folder and starts ``python -m airbot train --config RUN/config.yaml --out RUN``, so a
crash or an out-of-memory kill cannot take the app down. Progress is read back from the run
folder (``airbot.train.runs``), which is also how a reloaded page re-attaches: ``active_run`` finds
the running run on disk. ``cancel`` drops a flag file the trainer polls every step; it then
saves a usable partial adapter and ends as ``cancelled``.

    python -c "from airbot.train.jobs import start_training; from airbot.config import load_config; \\
               print(start_training(load_config(), None))"
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from airbot.config import AirbotConfig, config_to_dict, save_config
from airbot.errors import JobError
from airbot.storage import read_json, write_json
from airbot.train.runs import ACTIVE_PHASES, FINAL_PHASES, create_run, mark_dead, pid_alive, read_status, run_path, runs_root
from airbot.train.status import request_cancel, write_status

LOCK_NAME = ".train.lock"
_procs: dict[str, subprocess.Popen] = {}


# --- one training at a time ------------------------------------------------------------------
def _lock_path() -> Path:
    return runs_root() / LOCK_NAME


def read_lock() -> dict[str, Any] | None:
    """Who holds the training lock ({'run', 'pid', 'since'}), or None; a dead holder is cleaned up."""
    held = read_json(_lock_path())
    if held is not None and not pid_alive(held.get("pid")):
        _lock_path().unlink(missing_ok=True)
        return None
    return held


def acquire_lock(run_name: str, pid: int | None = None) -> None:
    """Take the training lock for ``run_name`` or raise JobError naming the run that holds it."""
    pid = pid or os.getpid()
    for _ in range(3):
        try:
            fd = os.open(_lock_path(), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            held = read_lock()
            if held is not None and held.get("run") != run_name:
                raise JobError(_busy_message(held)) from None
            _lock_path().unlink(missing_ok=True)  # stale, or our own run taking over from its launcher
            continue
        with os.fdopen(fd, "w") as fh:
            json.dump({"run": run_name, "pid": pid, "since": time.time()}, fh)
        return
    raise JobError("Could not take the training lock; try again in a moment.")


def _busy_message(held: dict[str, Any]) -> str:
    since = time.strftime("%H:%M:%S", time.localtime(held.get("since", time.time())))
    return (f"Training run '{held.get('run')}' is already running (since {since}, pid {held.get('pid')}). "
            f"airbot trains one model at a time: wait for it to finish or cancel it "
            f"(Train tab → Cancel, or `python -m airbot runs cancel {held.get('run')}`).")


def set_lock_pid(run_name: str, pid: int) -> None:
    """Hand the lock to the process that actually trains (the launcher's child)."""
    held = read_json(_lock_path())
    if held and held.get("run") == run_name:
        write_json(_lock_path(), {**held, "pid": pid})


def release_lock(run_name: str) -> None:
    """Drop the lock if ``run_name`` holds it (never someone else's)."""
    held = read_json(_lock_path())
    if held and held.get("run") == run_name:
        _lock_path().unlink(missing_ok=True)


@contextlib.contextmanager
def training_lock(run_dir: Path) -> Iterator[None]:
    """Hold the lock while a CLI run trains; a run started by ``start_training`` takes its lock over."""
    acquire_lock(run_dir.name, os.getpid())
    try:
        yield
    finally:
        release_lock(run_dir.name)


# --- starting, watching, cancelling -----------------------------------------------------------
def start_training(config: AirbotConfig, data: Path | str | None, name: str | None = None) -> Path:
    """Start a background run and return its folder at once; JobError if one is already running."""
    from airbot.train.finetune import resolve_train_config
    from airbot.train.sft_data import resolve_data_path

    config = resolve_train_config(config)
    data_path = resolve_data_path(config, data).resolve()
    held = read_lock()
    if held is not None:
        raise JobError(_busy_message(held))
    run_dir = create_run(name, config.train.method)
    try:
        acquire_lock(run_dir.name)
    except JobError:
        run_dir.rmdir()
        raise
    try:
        save_config(config, run_dir / "config.yaml")
        write_status(run_dir, phase="queued", message="starting the training process", progress=0.0,
                     method=config.train.method, base=config.model.base, data=str(data_path),
                     started=time.time(), pid=None, command=shown_command(config, data_path, run_dir))
        proc = _spawn(config, run_dir, data_path)
    except BaseException:
        release_lock(run_dir.name)
        raise
    write_status(run_dir, pid=proc.pid)
    set_lock_pid(run_dir.name, proc.pid)
    _procs[run_dir.name] = proc
    threading.Thread(target=_reap, args=(proc, run_dir), daemon=True, name=f"reap-{run_dir.name}").start()
    return run_dir


def train_args(config: AirbotConfig, data: Path | str, out: Path | None = None) -> list[str]:
    """``airbot train`` arguments that reproduce ``config`` exactly: every key that differs from the
    defaults as ``--set section.key=value`` (JSON values, which YAML reads back unchanged)."""
    defaults = config_to_dict(AirbotConfig())
    args = ["train", "--data", str(data), *(["--out", str(out)] if out is not None else [])]
    for section, values in config_to_dict(config).items():
        for key, value in values.items():
            if value != defaults[section][key]:
                args += ["--set", f"{section}.{key}={json.dumps(value, ensure_ascii=False)}"]
    return args


def shown_command(config: AirbotConfig, data: Path | str, out: Path | None = None) -> str:
    """What the Train tab shows: the very command a background run executes, as a terminal would type it."""
    return shlex.join(["python", "-m", "airbot", *train_args(config, data, out)])


def train_command(config: AirbotConfig, run_dir: Path, data: Path | str) -> list[str]:
    """The exact command a background run executes."""
    return [sys.executable, "-m", "airbot", *train_args(config, data, run_dir)]


def _spawn(config: AirbotConfig, run_dir: Path, data_path: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false")
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    with open(run_dir / "train.log", "ab") as log:  # the child keeps its own handle
        return subprocess.Popen(train_command(config, run_dir, data_path), stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env, start_new_session=True)


def _reap(proc: subprocess.Popen, run_dir: Path) -> None:
    """Wait for the child (no zombies); a child that died without a final status is marked failed."""
    code = proc.wait()
    status = read_json(run_dir / "status.json") or {}
    if status.get("phase") not in FINAL_PHASES:
        mark_dead(run_dir, status, exit_code=code)
    release_lock(run_dir.name)
    _procs.pop(run_dir.name, None)


def active_run() -> Path | None:
    """The run that is training now, found on disk (so a reloaded page or a restarted app re-attaches)."""
    held = read_lock()
    if held is not None:
        path = runs_root() / str(held.get("run"))
        if path.is_dir():
            return path
    for path in sorted(runs_root().iterdir(), key=lambda p: p.stat().st_mtime, reverse=True):
        if path.is_dir() and (path / "status.json").is_file() and read_status(path).get("phase") in ACTIVE_PHASES:
            return path
    return None


def cancel(run_dir: Path | str) -> dict[str, Any]:
    """Ask a run to stop at its next step; returns its status. Cancelling a finished run does nothing."""
    run_dir = run_path(str(run_dir)) if not isinstance(run_dir, Path) else run_dir
    status = read_status(run_dir)
    if status.get("phase") in ACTIVE_PHASES:
        request_cancel(run_dir)
        status = write_status(run_dir, message="cancel requested: stopping at the next step")
    return status


def wait(run_dir: Path, timeout_s: float = 600, poll_s: float = 0.5) -> dict[str, Any]:
    """Block until the run reaches a final phase (tests, scripts); JobError after ``timeout_s``."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        status = read_status(run_dir)
        if status.get("phase") in FINAL_PHASES:
            return status
        time.sleep(poll_s)
    raise JobError(f"Run '{run_dir.name}' did not finish within {timeout_s:.0f} s; it is still "
                   f"{read_status(run_dir).get('phase')}.")
