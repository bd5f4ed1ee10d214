"""Shared fixtures: one AIRBOT_HOME for the session (so the model cache is built once) and
fresh homes for tests that must start empty (sharing only the read-only model cache).

Under pytest-xdist (``make test`` runs two workers on the two cores) each worker gets its own home
below the given one, so workers never see each other's datasets, runs or indexes; all of them share
one model cache (its conversion holds a file lock, so the first worker converts and the other waits)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

BASE_HOME = Path(os.environ.get("AIRBOT_HOME") or Path(tempfile.gettempdir()) / "airbot-test-home")
WORKER = os.environ.get("PYTEST_XDIST_WORKER")
SESSION_HOME = BASE_HOME / "workers" / WORKER if WORKER else BASE_HOME
if WORKER:
    SESSION_HOME.mkdir(parents=True, exist_ok=True)
    (BASE_HOME / "models").mkdir(parents=True, exist_ok=True)
    if not (SESSION_HOME / "models").exists():
        (SESSION_HOME / "models").symlink_to(BASE_HOME / "models", target_is_directory=True)
os.environ["AIRBOT_HOME"] = str(SESSION_HOME)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def fresh_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty AIRBOT_HOME whose model cache points at the session's, so nothing reconverts."""
    home = tmp_path / "home"
    home.mkdir()
    models = SESSION_HOME / "models"
    models.mkdir(parents=True, exist_ok=True)
    (home / "models").symlink_to(models, target_is_directory=True)
    monkeypatch.setenv("AIRBOT_HOME", str(home))
    return home
