"""airbot drops bitsandbytes' missing-``kernels`` hint, and nothing else it logs.

    .venv/bin/python -m pytest tests/test_log_noise.py -q
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

import airbot  # noqa: F401  (importing the package is what installs the filter)
from airbot.log_noise import BNB_CPU_LOGGER, KERNELS_HINT

ROOT = Path(__file__).resolve().parents[1]
HINT_FORMAT = KERNELS_HINT + ": %s. Please make sure you already `pip install kernels` and the kernels >= 0.11.1"


def _stderr(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stderr


def test_importing_bitsandbytes_through_airbot_is_quiet() -> None:
    """The real library, in a fresh process: the line appears without airbot and not with it."""
    if "gemm_4bit_forward" not in _stderr("import bitsandbytes"):
        pytest.skip("this CPU (no AVX512-BF16) or bitsandbytes version does not log the kernel hint")
    assert "gemm_4bit_forward" not in _stderr("import airbot, bitsandbytes")
    assert "gemm_4bit_forward" not in _stderr("import airbot, peft")  # how bots and training reach it


def test_only_the_missing_kernels_hint_is_dropped(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger(BNB_CPU_LOGGER)
    with caplog.at_level(logging.WARNING, logger=BNB_CPU_LOGGER):
        log.warning(HINT_FORMAT, ModuleNotFoundError("No module named 'kernels'", name="kernels"))
        log.warning(HINT_FORMAT, ModuleNotFoundError("No module named 'huggingface_hub'", name="huggingface_hub"))
        log.warning(HINT_FORMAT, RuntimeError("the Hub is unreachable"))
        log.warning("Failed to load the CPU-only bitsandbytes library")
    shown = [r.getMessage() for r in caplog.records]
    assert not any("No module named 'kernels'" in m for m in shown)
    assert any("huggingface_hub" in m for m in shown)  # kernels is installed but broken: worth seeing
    assert any("the Hub is unreachable" in m for m in shown)
    assert "Failed to load the CPU-only bitsandbytes library" in shown
