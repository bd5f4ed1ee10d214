"""Whose files a request works on: the workspace, one folder of ``AIRBOT_HOME`` per person.

A workspace holds one person's datasets, runs, indexes, evaluations, votes and exports; the model
cache (``AIRBOT_HOME/models``) and the shipped sample stay shared and read-only. Where it lives::

    AIRBOT_HOME/                 "home": the CLI's single-user workspace (and a local app's)
    AIRBOT_HOME/users/<name>/    an app login (AIRBOT_AUTH) or ``python -m airbot --user NAME``
    AIRBOT_HOME/hf/<name>/       a Hugging Face login on Spaces
    AIRBOT_HOME/sessions/<id>/   an anonymous visitor of a share link: one per browser, kept for
                                 AIRBOT_SESSION_TTL_H hours after its last use, at most
                                 AIRBOT_SESSION_QUOTA_MB

The current workspace is a ``ContextVar`` that the app sets for each event (``airbot.ui.identity``)
and ``airbot.storage.store_root`` reads, so every name from a request resolves inside it. Outside
an event it is ``AIRBOT_WORKSPACE`` (the CLI's ``--user``, and what a training process is given),
else home. A thread started during an event does not inherit it: start it with ``carry(fn)``.

    python -m airbot --user alice runs list
    python -c "from airbot import workspace as w; print(w.Workspace.parse('user:alice').root)"
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import hashlib
import inspect
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from airbot import hosting
from airbot.config import airbot_home
from airbot.errors import AirbotError

Kind = Literal["home", "user", "hf", "session", "nobody"]
FOLDERS: dict[Kind, str] = {"user": "users", "hf": "hf", "session": "sessions", "nobody": ".nobody"}
"""The folder under AIRBOT_HOME that holds each kind's workspaces."""
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
ENV = "AIRBOT_WORKSPACE"
"""The workspace of a process that no event set one for: the CLI's --user, a training subprocess."""
SEEN = ".last-seen"
"""Touched (at most once a minute) whenever a session workspace is used; its age is the TTL's clock."""
T = TypeVar("T")


class WorkspaceError(AirbotError):
    """A workspace name that cannot be used, or a session over its quota."""


@dataclass(frozen=True)
class Workspace:
    """One person's share of the store: ``kind`` and a folder-safe ``name`` (empty for home)."""

    kind: Kind
    name: str = ""

    @classmethod
    def of(cls, kind: Kind, who: str) -> Workspace:
        """The workspace of a login, HF account or session token ``who``; a name that is not
        folder-safe (an e-mail, spaces) becomes ``_`` + a hash, which no safe name can equal."""
        who = who.strip()
        if not who:
            raise WorkspaceError(f"An empty name cannot have a {kind} workspace.")
        if kind == "session":  # a browser's secret token: never written to disk as it is
            return cls(kind, hashlib.sha256(who.encode()).hexdigest()[:32])
        safe = SAFE_NAME.fullmatch(who) and ".." not in who
        return cls(kind, who if safe else "_" + hashlib.sha256(who.encode()).hexdigest()[:24])

    @classmethod
    def parse(cls, spec: str) -> Workspace:
        """``home``, ``NAME`` or ``user:NAME``, ``hf:NAME``, ``session:ID`` (the ``spec`` form)."""
        spec = spec.strip()
        if spec in ("", "home"):
            return HOME
        kind, _, name = spec.partition(":") if ":" in spec else ("user", "", spec)
        if kind not in ("user", "hf", "session", "nobody") or not (SAFE_NAME.fullmatch(name) or
                                                                   re.fullmatch(r"_[0-9a-f]{24}", name)):
            raise WorkspaceError(f"'{spec}' is not a workspace: use NAME (letters, digits, '.', '_', '-'), "
                                 f"user:NAME, hf:NAME or session:ID.")
        return cls(kind, name)  # type: ignore[arg-type]  # checked just above

    @property
    def spec(self) -> str:
        """What ``parse`` reads back (and what a training subprocess is handed in AIRBOT_WORKSPACE)."""
        return "home" if self.kind == "home" else f"{self.kind}:{self.name}"

    @property
    def root(self) -> Path:
        """The workspace's folder (not created here)."""
        home = airbot_home()
        return home if self.kind == "home" else home / FOLDERS[self.kind] / self.name

    @property
    def label(self) -> str:
        """How the page names it to its owner."""
        return {"home": "this machine's workspace", "user": f"{self.name}'s workspace",
                "hf": f"{self.name}'s workspace (Hugging Face)", "session": "this browser's workspace",
                "nobody": "no workspace"}[self.kind]


HOME = Workspace("home")
NOBODY = Workspace("nobody", "build")
"""What the app's layout is built in: an empty workspace, so no one's names reach the shared page."""
_current: contextvars.ContextVar[Workspace | None] = contextvars.ContextVar("airbot_workspace", default=None)
_strict = False


def current() -> Workspace:
    """The workspace of the running event, else ``AIRBOT_WORKSPACE``, else home.

    In a multi-user app (``strict``) there is no fallback: code that reaches the store outside any
    event (a thread started without ``carry``) is a bug that would write into someone else's
    workspace, so it fails loudly instead.
    """
    found = _current.get()
    if found is not None:
        return found
    if _strict:
        raise RuntimeError("airbot reached its store outside any visitor's workspace (a thread started without "
                           "airbot.workspace.carry?)")
    return Workspace.parse(os.environ.get(ENV, ""))


def root() -> Path:
    """The current workspace's folder, created on first use."""
    folder = current().root
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextlib.contextmanager
def using(workspace: Workspace) -> Iterator[Workspace]:
    """Make ``workspace`` current for the block (this thread and what it ``carry``-starts)."""
    token = _current.set(workspace)
    try:
        yield workspace
    finally:
        _current.reset(token)


def strict(on: bool = True) -> None:
    """Multi-user mode: no silent fallback to AIRBOT_HOME (see ``current``)."""
    global _strict
    _strict = on


def carry(fn: Callable[..., T]) -> Callable[..., T]:
    """``fn`` bound to a copy of the current context: a thread started with it works in the same
    workspace (threads start with an empty context)."""
    context = contextvars.copy_context()
    return lambda *args, **kwargs: context.run(fn, *args, **kwargs)


def on_gpu(fn: Callable[..., T], duration: int = 120, name: str = "") -> Callable[..., T]:
    """``fn`` as a ZeroGPU task (``hosting.gpu_task``) that works in its caller's workspace: the GPU
    worker is another process that gets only the arguments, so the workspace travels as one. Off
    ZeroGPU, ``fn`` itself."""
    if not hosting.zero_gpu():
        return fn
    name = name or getattr(fn, "__name__", "fn")
    if inspect.isgeneratorfunction(fn):
        def gpu_steps(spec: str, *args: Any, **kwargs: Any) -> Any:
            with using(Workspace.parse(spec)):
                yield from fn(*args, **kwargs)
        gpu_gen = hosting.gpu_task(gpu_steps, duration, name)

        @functools.wraps(fn)
        def steps(*args: Any, **kwargs: Any) -> Any:
            yield from gpu_gen(current().spec, *args, **kwargs)
        return steps

    def gpu_call(spec: str, *args: Any, **kwargs: Any) -> T:
        with using(Workspace.parse(spec)):
            return fn(*args, **kwargs)
    gpu_fn = hosting.gpu_task(gpu_call, duration, name)

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> T:
        return gpu_fn(current().spec, *args, **kwargs)
    return call


# --- anonymous sessions: kept for a while, within a quota ---------------------------------------
def session_ttl_h() -> float:
    """Hours a session workspace is kept after its last use (``AIRBOT_SESSION_TTL_H``, default 24)."""
    return _env_float("AIRBOT_SESSION_TTL_H", 24.0)


def session_quota_mb() -> float:
    """Most a session workspace may hold before new work is refused (``AIRBOT_SESSION_QUOTA_MB``, 500)."""
    return _env_float("AIRBOT_SESSION_QUOTA_MB", 500.0)


def _env_float(name: str, default: float) -> float:
    try:
        return max(float(os.environ.get(name, default)), 0.0)
    except ValueError:
        return default


_last_touch: dict[Path, float] = {}


def touch(workspace: Workspace) -> None:
    """Record that a session workspace was used now (its TTL counts from here)."""
    if workspace.kind != "session":
        return
    folder = workspace.root
    if time.monotonic() - _last_touch.get(folder, -120.0) < 60:
        return
    folder.mkdir(parents=True, exist_ok=True)
    (folder / SEEN).touch()
    _last_touch[folder] = time.monotonic()


def usage_mb(workspace: Workspace) -> float:
    """Megabytes the workspace's files take (links not followed)."""
    total = 0
    for dirpath, _, files in os.walk(workspace.root):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total / 2**20


def check_quota(workspace: Workspace) -> None:
    """Refuse new work in a session workspace that holds more than its quota (logins have none)."""
    if workspace.kind != "session":
        return
    used, quota = usage_mb(workspace), session_quota_mb()
    if used > quota:
        raise WorkspaceError(f"This browser's workspace already holds {used:.1f} MB, more than the {quota:g} MB a "
                             f"visitor without a login may keep here. Delete runs or knowledge documents you no "
                             f"longer need, or sign in.")


def sweep_sessions(ttl_h: float | None = None, now: float | None = None) -> list[str]:
    """Delete session workspaces unused for ``ttl_h`` hours (default ``session_ttl_h``); returns their ids.
    One whose training is still running (its run folder's lock is held) is kept."""
    from airbot.storage import is_locked  # storage imports this module lazily: keep the cycle lazy too

    ttl_s = (session_ttl_h() if ttl_h is None else ttl_h) * 3600
    now = time.time() if now is None else now
    folder = airbot_home() / FOLDERS["session"]
    removed = []
    for ws in sorted(folder.iterdir()) if folder.is_dir() else []:
        seen = ws / SEEN
        last = (seen if seen.exists() else ws).stat().st_mtime
        busy = any(is_locked(lock) for lock in ws.glob("runs/*/.run.lock"))
        if ws.is_dir() and now - last > ttl_s and not busy:
            shutil.rmtree(ws, ignore_errors=True)
            _last_touch.pop(ws, None)
            removed.append(ws.name)
    return removed
