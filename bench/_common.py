"""Helpers every bench script shares: repeat statistics, peak memory, printing, isolated workers.

Each script prints one line per figure (``name: median (min..max) unit``) and, with ``--json``,
one machine-readable JSON line at the end. The machine's load is printed with every run,
because on a shared 2-core box a figure taken beside other work is not the idle figure.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@dataclass
class Figure:
    """One measured quantity: every sample, summarized as min / median / max."""

    name: str
    unit: str
    samples: list[float] = field(default_factory=list)
    note: str = ""

    @property
    def median(self) -> float | None:
        return statistics.median(self.samples) if self.samples else None

    def summary(self) -> dict[str, Any]:
        s = self.samples
        return {"name": self.name, "unit": self.unit, "n": len(s), "median": _round(self.median),
                "min": _round(min(s)) if s else None, "max": _round(max(s)) if s else None,
                **({"p95": _round(percentile(s, 95))} if len(s) >= 5 else {}), **({"note": self.note} if self.note else {})}

    def line(self) -> str:
        if not self.samples:
            return f"{self.name}: n/a{'  (' + self.note + ')' if self.note else ''}"
        s = self.summary()
        spread = f" ({_fmt(s['min'])}..{_fmt(s['max'])}, n={s['n']})" if len(self.samples) > 1 else ""
        return f"{self.name}: {_fmt(s['median'])} {self.unit}{spread}{'  ' + self.note if self.note else ''}"


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4 if abs(value) < 10 else 1)


def _fmt(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (no interpolation: with few samples it is one of them)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def parser(description: str) -> argparse.ArgumentParser:
    """The options every script has."""
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=3, help="Repeat each measurement N times (min/median/max).")
    p.add_argument("--json", action="store_true", help="Also print one JSON line with every figure.")
    return p


def machine() -> dict[str, Any]:
    """What the figures were taken on, and how busy it was (1-minute load vs cores)."""
    import platform

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {"cpus": os.cpu_count(), "load_1min": round(load, 2) if load is not None else None,
            "shared": bool(load is not None and load > (os.cpu_count() or 1) * 0.5), "python": platform.python_version()}


def report(title: str, figures: Sequence[Figure], extra: dict[str, Any] | None = None, as_json: bool = False) -> None:
    """Print the figures, one line each, then (``as_json``) the JSON line."""
    info = machine()
    busy = " — SHARED machine: figures are noisy, compare rows of this run only" if info["shared"] else ""
    print(f"# {title}  [cpus={info['cpus']} load={info['load_1min']}{busy}]")
    for fig in figures:
        print(fig.line())
    for key, value in (extra or {}).items():
        print(f"{key}: {value}")
    if as_json:
        print(json.dumps({"bench": title, "machine": info, "figures": [f.summary() for f in figures], **(extra or {})}))


def peak_rss_mb(children: bool = False) -> float:
    """Peak resident memory of this process (or of its finished children), in MB."""
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return round(resource.getrusage(who).ru_maxrss / 1024, 1)


def run_worker(script: Path, args: list[str], timeout: float, env: dict[str, str] | None = None,
               python: str | None = None) -> dict[str, Any]:
    """Run ``script`` in a fresh process (clean memory figures) and return the JSON object it
    prints as its last stdout line; its stderr passes through so progress stays visible."""
    cmd = [python or sys.executable, str(script), *args]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, timeout=timeout, env={**os.environ, **(env or {})},
                          cwd=ROOT)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{script.name} {' '.join(args)} failed (exit {proc.returncode}); its output:\n{proc.stdout[-3000:]}")
    return json.loads(lines[-1])


def temp_home(prefix: str = "airbot-bench-") -> Path:
    """A throw-away AIRBOT_HOME that reuses the converted model cache (nothing is reconverted)."""
    from airbot.config import airbot_home

    models = airbot_home() / "models"
    home = Path(tempfile.mkdtemp(prefix=prefix))
    models.mkdir(parents=True, exist_ok=True)
    (home / "models").symlink_to(models, target_is_directory=True)
    os.environ["AIRBOT_HOME"] = str(home)
    return home


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def read_jsonl(path: Path, limit: int | None = None) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return rows[:limit] if limit else rows


def as_dict(obj: Any) -> dict[str, Any]:
    return asdict(obj)
