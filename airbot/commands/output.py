"""How commands print: JSON on stdout, a progress bar on stderr (so stdout stays parseable)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any


def print_json(obj: Any) -> None:
    print(json.dumps(obj, ensure_ascii=False, default=str))


def progress_bar(enabled: bool) -> Callable[[float, str], None] | None:
    """A one-line progress bar on stderr (stdout stays clean for the table or JSON)."""
    if not enabled:
        return None

    def show(fraction: float, message: str) -> None:
        filled = int(max(0.0, min(1.0, fraction)) * 30)
        print(f"\r[{'#' * filled}{'.' * (30 - filled)}] {fraction * 100:3.0f}% {message[:60]:<60}",
              end="\n" if fraction >= 1 else "", file=sys.stderr, flush=True)
    return show
