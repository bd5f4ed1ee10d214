"""The one way airbot writes and reads its files: atomic JSON, JSONL, text and arrays.

Every file a reader may open while it is being written (status.json, manifests, eval.json,
vectors) goes through ``write_atomic``: write a temporary sibling, then ``os.replace`` it over the
target, so a reader, a crash or a kill sees the old file or the new one, never half of either.
Append-only logs (metrics.jsonl, votes) use one ``O_APPEND`` write per line, so readers see whole
lines only. Nothing here knows about runs, indexes or datasets.

    from airbot.storage import write_json, read_json
    write_json(path, {"phase": "done"}); read_json(path)  # -> {"phase": "done"} or None
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np


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
