"""The code stays ruff-clean and mypy-clean (rules in pyproject.toml); a slip fails here, not in review.

``make lint`` runs the same two tools; these tests make ``make test`` (and so CI) fail with them.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tool(name: str) -> str:
    path = shutil.which(name) or str(Path(sys.executable).with_name(name))
    if not Path(path).exists():
        pytest.fail(f"{name} is not installed; `make test` installs it from requirements-dev.txt")
    return path


def test_ruff_is_clean() -> None:
    result = subprocess.run([_tool("ruff"), "check", "airbot", "tests", "bench", "app.py"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_mypy_is_clean() -> None:
    """Types are checked, not decorative: zero errors over airbot/ (files and options in pyproject.toml)."""
    result = subprocess.run([_tool("mypy"), "--no-incremental"], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-4000:]
