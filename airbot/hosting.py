"""Where airbot runs: Hugging Face Spaces (ZeroGPU or not) or a local machine.

On a ZeroGPU Space, GPU work must run inside a function decorated with ``spaces.GPU``;
everywhere else that decorator does not exist, so ``gpu_task`` is a no-op there.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def on_spaces() -> bool:
    """Spaces sets SPACE_ID in every container."""
    return bool(os.environ.get("SPACE_ID"))


def zero_gpu() -> bool:
    """ZeroGPU Spaces expose SPACES_ZERO_GPU and ship the ``spaces`` package."""
    return bool(os.environ.get("SPACES_ZERO_GPU")) and importlib.util.find_spec("spaces") is not None


def gpu_task(fn: F, duration: int = 120) -> F:
    """Borrow a GPU for ``fn`` on ZeroGPU; return ``fn`` unchanged anywhere else."""
    if not zero_gpu():
        return fn
    import spaces

    return spaces.GPU(duration=duration)(fn)


def auth_from_settings() -> list[tuple[str, str]] | None:
    """Login is off unless AIRBOT_AUTH="user:password[,user2:pw2]" is set (a Space secret)."""
    raw = os.environ.get("AIRBOT_AUTH", "").strip()
    if not raw:
        return None
    pairs = [item.split(":", 1) for item in raw.split(",") if ":" in item]
    return [(user.strip(), pw) for user, pw in pairs] or None
