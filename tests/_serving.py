"""What tests that serve the app share: a free local port, and waiting for a started app to answer."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable


def free_port() -> int:
    """A port on 127.0.0.1 nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_page(url: str, proc: subprocess.Popen, timeout_s: float, output: Callable[[], str]) -> str:
    """The page at ``url`` once the app process ``proc`` serves it; if the app exits first, or never
    answers, an AssertionError with the end of its ``output()`` (its log or stderr)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the app exited ({proc.returncode}):\n{output()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return str(response.read().decode())
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"the app did not answer at {url} within {timeout_s:.0f} s:\n{output()[-3000:]}")
