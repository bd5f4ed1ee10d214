"""Fine-tuning as a background job: a subprocess per run, one per workspace, a few at once, cancellable.

The app never trains in its own process: ``start_training`` writes the resolved config into a
new run folder and starts ``python -m airbot train --config RUN/config.yaml --out RUN``, so a
crash or an out-of-memory kill cannot take the app down. Progress is read back from the run
folder (``airbot.train.runs``), which is also how a reloaded page re-attaches: ``active_run`` finds
the running run on disk. ``cancel`` drops a flag file the trainer polls every step; it then
saves a usable partial adapter and ends as ``cancelled``.

Sharing one machine: each workspace (``airbot.workspace``) trains one run at a time (its
``runs/.train.lock``), and the whole machine at most ``AIRBOT_MAX_TRAININGS`` (default 1): a run
started while every slot is taken waits in line, its status saying its place, and starts when a
slot frees. A slot is a ``flock`` on ``AIRBOT_HOME/.train-slots/slot-N.lock``, handed to the
training process, so the kernel frees it when that process dies. The CLI takes a slot too. On a
ZeroGPU Space a subprocess would not get the GPU, so the run trains in the app's process inside a
``spaces.GPU`` call (``airbot.hosting.gpu_task``), writing the same status files and obeying the
same cancel flag.

    python -c "from airbot.train.jobs import start_training; from airbot.config import load_config; \\
               print(start_training(load_config(), 'airbot/samples/airline_train.jsonl'))"
"""

from __future__ import annotations

import contextlib
import contextvars
import fcntl
import json
import os
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airbot import hosting, workspace
from airbot.config import AirbotConfig, airbot_home, config_to_dict, save_config
from airbot.errors import JobError
from airbot.storage import is_locked, read_json, write_json
from airbot.train.runs import (
    ACTIVE_PHASES,
    FINAL_PHASES,
    REAPED_HERE,
    create_run,
    mark_dead,
    oom_kills,
    pid_alive,
    read_status,
    run_path,
    runs_root,
)
from airbot.train.status import cancel_requested, request_cancel, write_status

LOCK_NAME = ".train.lock"
SLOTS_DIR = ".train-slots"
SLOT_FD_ENV = "AIRBOT_TRAIN_SLOT_FD"
"""Set for a training process its launcher already holds a slot for (the flock'd file descriptor it inherits)."""
NICE_ENV = "AIRBOT_TRAIN_NICE"
"""How much lower the app's training processes run (default 10): the chat beside them keeps the CPU it needs."""
_procs: dict[str, subprocess.Popen] = {}


# --- one training per workspace ---------------------------------------------------------------
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
            f"Each workspace trains one model at a time: wait for it to finish or cancel it "
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
    """Hold the workspace's lock and one of the machine's training slots while a run trains (a run
    started by ``start_training`` takes its lock over and brings its slot along)."""
    _lower_priority()
    acquire_lock(run_dir.name, os.getpid())
    try:
        with training_slot(run_dir):
            yield
    finally:
        release_lock(run_dir.name)


def _lower_priority() -> None:
    """A training the app started yields the CPU to the people chatting (``NICE_ENV``, set by ``_spawn``).

    The training runs in its own session (``start_new_session``), and where the kernel groups processes by
    session for scheduling (``CONFIG_SCHED_AUTOGROUP``, on in most distributions and on these machines) a
    process's nice value only ranks it inside its own group: the groups share the CPU equally, so a niced
    training still took half of a 2-core box from the app. The group's own nice value
    (``/proc/self/autogroup``) is what ranks it against the app's group, so it is lowered too."""
    text = os.environ.pop(NICE_ENV, "")
    if text.lstrip("-").isdigit() and int(text) > 0:
        with contextlib.suppress(OSError):
            os.nice(int(text))
        with contextlib.suppress(OSError):
            Path("/proc/self/autogroup").write_text(str(min(int(text), 19)))


# --- a few trainings at once on the machine ------------------------------------------------------
def max_trainings() -> int:
    """Trainings the machine runs at once, whoever started them (``AIRBOT_MAX_TRAININGS``, default 1:
    two trainings on a few CPU cores each take twice as long and starve the chat)."""
    try:
        return max(int(os.environ.get("AIRBOT_MAX_TRAININGS", "1")), 1)
    except ValueError:
        return 1


def _slot_files() -> list[Path]:
    folder = airbot_home() / SLOTS_DIR  # the shared home, not a workspace: the cap is the machine's
    folder.mkdir(parents=True, exist_ok=True)
    return [folder / f"slot-{i}.lock" for i in range(max_trainings())]


def free_slots() -> int:
    """Slots no training holds now."""
    return sum(not is_locked(path) for path in _slot_files())


def _take_slot() -> int | None:
    """A file descriptor holding a free slot's flock, or None when all are taken."""
    for path in _slot_files():
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return fd
    return None


def _inherited_slot() -> int | None:
    """The slot the launcher handed this process, if any (and only once)."""
    text = os.environ.pop(SLOT_FD_ENV, "")
    if not text.isdigit():
        return None
    try:
        fcntl.flock(int(text), fcntl.LOCK_EX | fcntl.LOCK_NB)  # already ours: re-locking our own lock succeeds
    except OSError:
        return None
    return int(text)


@contextlib.contextmanager
def training_slot(run_dir: Path, poll_s: float = 1.0) -> Iterator[None]:
    """Hold one of the machine's ``max_trainings()`` slots while the block trains. When all are taken
    it waits (the run's status says so; a cancel ends the wait as 'cancelled'); the kernel frees the
    slot when its holder dies, so a killed training never keeps one."""
    fd = _inherited_slot()
    if fd is None:
        fd = _take_slot()
    if fd is None and (run_dir / "status.json").is_file():
        write_status(run_dir, phase="queued", message=f"waiting for a free training slot ({_slots_said()} on this "
                                                       f"machine)")
    while fd is None:
        if cancel_requested(run_dir):
            if (run_dir / "status.json").is_file():
                write_status(run_dir, phase="cancelled", partial=False, finished=time.time(),
                             message="cancelled before it started (it was waiting for a training slot)")
            raise JobError(f"Run '{run_dir.name}' was cancelled while it waited for a training slot.")
        time.sleep(poll_s)
        fd = _take_slot()
    try:
        yield
    finally:
        os.close(fd)  # the last descriptor of the lock: closing it frees the slot


def _slots_said() -> str:
    n = max_trainings()
    return f"{n} training{'s' if n > 1 else ''} at a time"


# --- starting, watching, cancelling -----------------------------------------------------------
@dataclass
class _Waiting:
    """A run started in this process that waits for a slot (first come, first served)."""

    run_dir: Path
    config: AirbotConfig
    data_path: Path
    context: contextvars.Context
    """The starter's context: its workspace for the launch, the child and the reaper."""
    place: int = 0
    resume: bool = False
    """Continue the run from its last checkpoint (``train --resume``) instead of starting it."""


_line: list[_Waiting] = []
_line_lock = threading.RLock()
_watcher: threading.Thread | None = None


def start_training(config: AirbotConfig, data: Path | str | None, name: str | None = None) -> Path:
    """Start a background run and return its folder at once: it trains now if the machine has a free
    slot, else waits in line (its status says its place). JobError if this workspace already has a
    run training or waiting."""
    from airbot.train.finetune import resolve_train_config
    from airbot.train.sft_data import resolve_data_path

    config = resolve_train_config(config)
    check_fits(config)
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
    return _enqueue(run_dir, config, data_path, resume=False)


def resume_training(run_dir: Path) -> Path:
    """Continue a stopped, failed or killed run from its last checkpoint, in the background like
    ``start_training`` (same line, same slot rules): its own config.yaml and training file, the
    steps after the checkpoint only. JobError when it cannot resume (done, no checkpoint, busy)."""
    from airbot.config import load_config
    from airbot.train.checkpoints import checkpoint_step, latest_checkpoint
    from airbot.train.runs import check_training_target

    check_training_target(run_dir, resume=True)
    config = load_config(run_dir / "config.yaml")
    data_path = Path(config.data.path)
    if not data_path.is_file():
        raise JobError(f"Run '{run_dir.name}' trained on {data_path.name}, which is gone; it cannot resume. "
                       f"Train a new run.")
    held = read_lock()
    if held is not None:
        raise JobError(_busy_message(held))
    checkpoint = latest_checkpoint(run_dir)
    assert checkpoint is not None  # check_training_target refused a run without one
    acquire_lock(run_dir.name)
    step = checkpoint_step(checkpoint)
    return _enqueue(run_dir, config, data_path, resume=True, message=f"resuming from step {step}")


def _enqueue(run_dir: Path, config: AirbotConfig, data_path: Path, *, resume: bool,
             message: str = "starting the training process") -> Path:
    """Record the run as queued (this process reaps it) and put it in line; the run lock is held."""
    try:
        if not resume:
            save_config(config, run_dir / "config.yaml")
        write_status(run_dir, phase="queued", message=message, progress=0.0,
                     method=config.train.method, base=config.model.base, data=str(data_path),
                     started=time.time(), pid=None, command=shown_command(config, data_path, run_dir, resume=resume),
                     oom_kills=oom_kills())
        REAPED_HERE.add(str(run_dir))  # this process records how it ends, waiting in line included
        write_status(run_dir, pid=os.getpid())  # until its trainer starts: alive while this app is (for other readers)
    except BaseException:
        release_lock(run_dir.name)
        raise
    with _line_lock:
        _line.append(_Waiting(run_dir, config, data_path, contextvars.copy_context(), resume=resume))
    _dispatch()
    return run_dir


def _dispatch() -> None:
    """Start waiting runs while the machine has free slots; tell the others their place in line."""
    global _watcher
    with _line_lock:
        while _line and free_slots() > 0:
            waiting = _line.pop(0)
            if not waiting.context.run(_launch, waiting):
                _line.insert(0, waiting)  # a CLI run took the slot meanwhile
                break
        for place, waiting in enumerate(_line, start=1):
            if waiting.place != place:
                waiting.place = place
                write_status(waiting.run_dir, queue_position=place,
                             message=f"waiting for a training slot: number {place} in line ({_slots_said()} on this "
                                     f"machine; it starts by itself)")
        if _line and (_watcher is None or not _watcher.is_alive()):
            _watcher = threading.Thread(target=_watch_slots, daemon=True, name="airbot-train-line")
            _watcher.start()


def _watch_slots(poll_s: float = 1.0) -> None:
    """While runs wait: look for a freed slot every second (a CLI run or another process may free one)."""
    while _line:
        time.sleep(poll_s)
        _dispatch()


def _launch(waiting: _Waiting) -> bool:
    """Take a slot and start ``waiting``'s training with it (runs in the starter's context); False
    when no slot could be taken after all."""
    slot = _take_slot()
    if slot is None:
        return False
    run_dir = waiting.run_dir
    write_status(run_dir, queue_position=None, message="starting the training process")
    if hosting.zero_gpu():
        write_status(run_dir, pid=os.getpid())
        threading.Thread(target=workspace.carry(_train_here), args=(waiting, slot), daemon=True,
                         name=f"train-{run_dir.name}").start()
        return True
    try:
        proc = _spawn(waiting.config, run_dir, waiting.data_path, slot, resume=waiting.resume)
    except BaseException as err:
        write_status(run_dir, phase="failed", finished=time.time(), message=f"could not start training: {err}")
        REAPED_HERE.discard(str(run_dir))
        release_lock(run_dir.name)
        return True
    finally:
        os.close(slot)  # the child holds the slot now (its own descriptor of the same lock)
    write_status(run_dir, pid=proc.pid)
    set_lock_pid(run_dir.name, proc.pid)
    _procs[run_dir.name] = proc
    threading.Thread(target=workspace.carry(_reap), args=(proc, run_dir), daemon=True,
                     name=f"reap-{run_dir.name}").start()
    return True


def _train_here(waiting: _Waiting, slot: int) -> None:
    """ZeroGPU: train in this process inside a ``spaces.GPU`` call, holding ``slot``; same files as a subprocess."""
    from airbot.train.runs import train_into

    run_dir = waiting.run_dir
    try:
        with train_into(run_dir, resume=waiting.resume):
            _gpu_finetune()(waiting.config, str(waiting.data_path), run_dir, waiting.resume)
    except Exception as err:  # the run's status must say how it ended, whatever happened
        if (read_json(run_dir / "status.json") or {}).get("phase") not in FINAL_PHASES:
            write_status(run_dir, phase="failed", finished=time.time(), message=f"{type(err).__name__}: {err}")
    finally:
        os.close(slot)
        REAPED_HERE.discard(str(run_dir))
        release_lock(run_dir.name)
        _dispatch()


def _finetune(config: AirbotConfig, data: str, run_dir: Path, resume: bool = False) -> None:
    from airbot.train.finetune import run_finetune

    run_finetune(config, data, run_dir, resume=resume)


def _gpu_finetune() -> Any:
    """``run_finetune`` as a ZeroGPU task in the starter's workspace (``AIRBOT_ZERO_GPU_TRAIN_S`` seconds, default 600)."""
    return workspace.on_gpu(_finetune, duration=int(os.environ.get("AIRBOT_ZERO_GPU_TRAIN_S", "600")), name="train")


def check_fits(config: AirbotConfig) -> float:
    """Refuse, in a second and before any model loads, a run whose estimated memory
    (``airbot.train.preflight.memory_mb``: weights, optimizer state, a full batch's activations)
    exceeds this machine's memory (the GPU's when training on CUDA); returns the estimate in MB."""
    from airbot.models import pick_device
    from airbot.train.preflight import memory_mb, parameter_counts

    t = config.train
    trainable, _, counts = parameter_counts(config.model.base, t.method, t.lora_r, t.target_modules,
                                            t.num_virtual_tokens)
    needed = memory_mb(config, counts, trainable)
    device = pick_device(config.model.device)
    have, where = _memory_mb(device)
    if needed > have:
        raise JobError(f"This run would need about {needed / 1024:.1f} GB of memory, more than the {have / 1024:.1f} GB "
                       f"{where} has (batch size {t.batch_size} x max length {t.max_length} tokens, method "
                       f"{t.method}, LoRA rank {t.lora_r}). Lower train.batch_size or train.max_length (or use "
                       f"train.grad_accum for the same effective batch).")
    return needed


def _memory_mb(device: str) -> tuple[float, str]:
    """Total memory of what trains: the GPU on CUDA, else the machine (or its container's limit)."""
    if device == "cuda":
        import torch

        return torch.cuda.get_device_properties(0).total_memory / 2**20, "the GPU"
    import psutil

    total = psutil.virtual_memory().total
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        total = min(total, int(limit)) if limit.isdigit() else total
    except OSError:
        pass
    return total / 2**20, "this machine"


def train_args(config: AirbotConfig, data: Path | str, out: Path | None = None, resume: bool = False) -> list[str]:
    """``airbot train`` arguments that reproduce ``config`` exactly: every key that differs from the
    defaults as ``--set section.key=value`` (JSON values, which YAML reads back unchanged); with
    ``resume``, the run in ``out`` goes on from its last checkpoint."""
    defaults = config_to_dict(AirbotConfig())
    args = ["train", "--data", str(data), *(["--out", str(out)] if out is not None else []),
            *(["--resume"] if resume else [])]
    for section, values in config_to_dict(config).items():
        for key, value in values.items():
            if value != defaults[section][key]:
                args += ["--set", f"{section}.{key}={json.dumps(value, ensure_ascii=False)}"]
    return args


def shown_command(config: AirbotConfig, data: Path | str, out: Path | None = None, resume: bool = False) -> str:
    """What the Train tab shows: the very command a background run executes, as a terminal would type it."""
    return shlex.join(["python", "-m", "airbot", *train_args(config, data, out, resume)])


def train_command(config: AirbotConfig, run_dir: Path, data: Path | str, resume: bool = False) -> list[str]:
    """The exact command a background run executes."""
    return [sys.executable, "-m", "airbot", *train_args(config, data, run_dir, resume)]


def _spawn(config: AirbotConfig, run_dir: Path, data_path: Path, slot: int | None = None,
           resume: bool = False) -> subprocess.Popen:
    """The training process, in the starter's workspace (``AIRBOT_WORKSPACE``), holding ``slot`` if given."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false")
    env[workspace.ENV] = workspace.current().spec  # its --out is inside the workspace; names it reads resolve there
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    if slot is not None:
        env[SLOT_FD_ENV] = str(slot)
    env[NICE_ENV] = os.environ.get(NICE_ENV, "10")
    with open(run_dir / "train.log", "ab") as log:  # the child keeps its own handle
        return subprocess.Popen(train_command(config, run_dir, data_path, resume), stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env, start_new_session=True,
                                pass_fds=() if slot is None else (slot,))


def _reap(proc: subprocess.Popen, run_dir: Path) -> None:
    """Wait for the child (no zombies); a child that died without a final status is marked failed."""
    code = proc.wait()
    try:
        status = read_json(run_dir / "status.json") or {}
        if status.get("phase") not in FINAL_PHASES:
            mark_dead(run_dir, status, exit_code=code)
    finally:
        REAPED_HERE.discard(str(run_dir))
        release_lock(run_dir.name)
        _procs.pop(run_dir.name, None)
        _dispatch()  # its slot is free: the next in line starts now


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
    """Ask a run to stop at its next step (one still waiting in line just leaves it); returns its
    status. Cancelling a finished run does nothing."""
    run_dir = run_path(str(run_dir)) if not isinstance(run_dir, Path) else run_dir
    with _line_lock:
        waiting = next((w for w in _line if w.run_dir == run_dir), None)
        if waiting is not None:
            _line.remove(waiting)
    if waiting is not None:
        REAPED_HERE.discard(str(run_dir))
        status = write_status(run_dir, phase="cancelled", partial=False, finished=time.time(), queue_position=None,
                              message="cancelled before it started (it was waiting for a training slot)")
        release_lock(run_dir.name)
        _dispatch()  # the others move up
        return status
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
