"""The one way airbot writes and reads its files: atomic JSON, JSONL, text and arrays.

Every file a reader may open while it is being written (status.json, manifests, eval.json,
vectors) goes through ``write_atomic``: write a temporary sibling, then ``os.replace`` it over the
target, so a reader, a crash or a kill sees the old file or the new one, never half of either.
Append-only logs (metrics.jsonl, votes) use one ``O_APPEND`` write per line, so readers see whole
lines only.

Two guards for a store shared by several processes and strangers: ``resolve_name`` is the one way a
name that arrives in a request (a run, an index, a dataset, an evaluation) becomes a folder, always
inside the store; ``file_lock`` is a cross-process lock (``flock``) that a second writer of the
same index or run waits on (bounded) instead of silently overwriting the first.

    from airbot.storage import write_json, read_json, resolve_name, file_lock
    write_json(path, {"phase": "done"}); read_json(path)  # -> {"phase": "done"} or None
    resolve_name("runs", "lora-0612")    # AIRBOT_HOME/runs/lora-0612; "../x" or "/etc" is an AirbotError
    with file_lock(index_folder / ".lock", "index 'default'"): ...
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np

from airbot.errors import AirbotError, DataError, DocumentError, JobError

StoreKind = Literal["runs", "indexes", "datasets", "evals"]
"""The four kinds of thing a request may name; each lives in its own folder of the store."""
NOUNS: dict[StoreKind, str] = {"runs": "run", "indexes": "index", "datasets": "dataset", "evals": "evaluation"}
_ERRORS: dict[StoreKind, type[AirbotError]] = {"runs": JobError, "indexes": DocumentError, "datasets": DataError,
                                                "evals": AirbotError}
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
"""A stored thing's name: one folder name, never a path (no '/', no leading '.', so no '..')."""
LOCK_WAIT_S = float(os.environ.get("AIRBOT_LOCK_WAIT_S", "300"))


def write_atomic(path: Path, write: Callable[[Path], object]) -> None:
    """Write to a temporary sibling with ``write`` and rename it over ``path``; no tmp file survives."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: Path, text: str) -> None:
    """Replace ``path``'s text atomically (UTF-8)."""
    write_atomic(path, lambda p: p.write_text(text, encoding="utf-8"))


def write_json(path: Path, obj: Any, indent: int | None = 1) -> None:
    """Replace ``path`` with ``obj`` as JSON atomically; values JSON lacks are written as strings."""
    write_text(path, json.dumps(obj, indent=indent, ensure_ascii=False, default=str))


def read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object at ``path``, or None when missing, unreadable or not an object."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def write_jsonl(path: Path, rows: Iterable[Any]) -> None:
    """Replace ``path`` with one JSON line per row, atomically."""
    write_text(path, "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in rows))


def append_jsonl(path: Path, record: Any) -> None:
    """Add one line with a single ``O_APPEND`` write, so concurrent readers see whole lines only."""
    line = json.dumps(record, ensure_ascii=False, default=str) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def read_jsonl(path: Path) -> list[Any]:
    """Every complete line of a JSONL file; a line being written right now (or damaged) is skipped."""
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except (ValueError, RecursionError):
            continue
    return out


def save_npy(path: Path, array: np.ndarray) -> None:
    """Write a NumPy array atomically."""
    def write(tmp: Path) -> None:
        with tmp.open("wb") as fh:
            np.save(fh, array)
    write_atomic(path, write)


def sha256_file(path: Path) -> str:
    """The file's SHA-256, read in blocks so a large document never sits in memory twice."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- names from requests -------------------------------------------------------------------------
def store_root() -> Path:
    """The folder every name from a request resolves under: the current workspace
    (``airbot.workspace``: the visitor's own folder in the app, ``AIRBOT_HOME`` for the CLI)."""
    from airbot import workspace  # workspace imports config, which imports this module: lazy breaks the cycle

    return workspace.root()


def store_dir(kind: StoreKind) -> Path:
    """The folder of one kind of stored thing (created on first use)."""
    folder = store_root() / kind
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def looks_like_path(text: str) -> bool:
    """Whether ``text`` is written as a path (a separator, a leading '.' or '~') rather than a bare name."""
    return "/" in text or os.sep in text or text.startswith((".", "~"))


def resolve_name(kind: StoreKind, name: str | Path, *, allow_paths: bool = False) -> Path:
    """The folder of the stored ``kind`` called ``name``; the one way a request names a stored thing.

    Text is a bare name (``NAME_PATTERN``) resolved under ``store_dir(kind)``; after following
    symlinks it must still be inside that folder. ``allow_paths`` (the CLI only: its user owns the
    machine) also takes a path, used as given. A ``Path`` object was made by airbot's own code (a
    CLI argument already resolved, a folder airbot created) and is returned unchanged. Errors name
    the thing and never the server's folders.
    """
    if isinstance(name, Path):
        return name
    text = str(name or "").strip()
    noun = NOUNS[kind]
    if allow_paths and looks_like_path(text):
        return Path(text).expanduser()
    if not NAME_PATTERN.fullmatch(text):
        shown = text if len(text) <= 60 else text[:57] + "..."
        article = "an" if noun[0] in "aeiou" else "a"
        raise _ERRORS[kind](f"'{shown}' is not {article} {noun} name: names may only use letters, digits, '.', '_' "
                            f"and '-' (at most 100; no folders or paths). Pick one from the list the app shows.")
    folder = store_dir(kind)
    path = folder / text
    if not _inside(path, folder):
        raise _ERRORS[kind](f"The {noun} '{text}' points outside airbot's store, so it cannot be used. "
                            f"Pick another {noun}.")
    return path


def _inside(path: Path, folder: Path) -> bool:
    """Whether ``path``, symlinks followed, is ``folder`` itself or below it."""
    return path.resolve().is_relative_to(folder.resolve())


def inside_store(path: Path, kind: StoreKind) -> bool:
    """Whether ``path`` (symlinks followed) is one of the store's ``kind`` folders' entries."""
    folder = store_dir(kind).resolve()
    return path.resolve().parent == folder


# --- one writer at a time, across processes ---------------------------------------------------
@contextlib.contextmanager
def file_lock(path: Path, what: str, wait_s: float | None = None, message: str = "") -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if missing) while the block runs.

    Another process (or thread) holding it makes this wait up to ``wait_s`` seconds (default
    ``AIRBOT_LOCK_WAIT_S``, 300), then raise an AirbotError naming ``what`` (or ``message``): the second writer of
    an index or a run waits its turn or is told, and never overwrites the first unnoticed. The
    kernel drops the lock when its holder dies, so a killed process never leaves it stuck.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + (LOCK_WAIT_S if wait_s is None else wait_s)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise AirbotError(message or f"{what[:1].upper()}{what[1:]} is being changed by another process "
                                                 f"right now. Wait until it has finished, then try again.") from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def is_locked(path: Path) -> bool:
    """Whether some process holds ``file_lock`` on ``path`` now (a check, not a reservation)."""
    if not path.is_file():
        return False
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def remove_stale_tmp(folder: Path) -> list[str]:
    """Delete the temporary siblings ``write_atomic`` leaves when its process is killed mid-write
    (``.NAME.PID.tmp`` whose PID is gone); returns their names. Live writers' files are kept."""
    removed = []
    for tmp in folder.glob(".*.tmp") if folder.is_dir() else []:
        pid = tmp.name.rsplit(".", 2)[-2] if tmp.name.count(".") >= 3 else ""
        if pid.isdigit() and not _pid_alive(int(pid)):
            tmp.unlink(missing_ok=True)
            removed.append(tmp.name)
    return removed


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
