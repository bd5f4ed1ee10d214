"""Browser-test fixtures shared by every tab: the real app in its own process and Debian's Chromium.

    .venv/bin/python -m pytest tests/e2e -q

``live_app`` starts ``python -m airbot app`` once per session on a free port with an empty
AIRBOT_HOME (its model cache linked to the session's, so nothing is converted twice).
``page`` is a fresh browser tab at 1280x900 for each test; ``screenshot(page, "name")`` saves
``artifacts/screenshots/name.png`` (gitignored) for a person to look at. Chromium is the one
from Debian (``/usr/bin/chromium``); ``playwright install`` is never needed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests._serving import free_port, wait_for_page

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("AIRBOT_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
START_TIMEOUT_S = 120


@dataclass
class LiveApp:
    """A running app: where to reach it, its AIRBOT_HOME and its log (read it when a test fails)."""

    url: str
    home: Path
    log: Path

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.is_file() else ""


def _fresh_home(root: Path) -> Path:
    """An empty AIRBOT_HOME sharing the session's converted models (read-only use)."""
    home = root / "home"
    home.mkdir(parents=True)
    models = Path(os.environ["AIRBOT_HOME"]) / "models"
    models.mkdir(parents=True, exist_ok=True)
    (home / "models").symlink_to(models, target_is_directory=True)
    return home


@pytest.fixture(scope="session")
def live_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    """The real app (``python -m airbot app``) in a subprocess, so its AIRBOT_HOME is its own."""
    root = tmp_path_factory.mktemp("live-app")
    home, port, log = _fresh_home(root), free_port(), root / "app.log"
    # The browser flows train a few steps to see progress, not to learn: the "did it learn?" check would
    # decode all 125 sample questions after each (~150 s on 2 cores). It is tested with real training in
    # tests/train/test_finetune.py and its display in tests/ui/test_train_tab.py.
    recipe = root / "e2e.yaml"
    recipe.write_text("train:\n  learned_check: false\n")
    env = {**os.environ, "AIRBOT_HOME": str(home), "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    url = f"http://127.0.0.1:{port}/"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "airbot", "app", "--host", "127.0.0.1", "--port", str(port),
                                 "--config", str(recipe)],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_page(url, proc, START_TIMEOUT_S, lambda: log.read_text(errors="replace"))
        yield LiveApp(url, home, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Headless Debian Chromium driven by Playwright; skipped where it is not installed."""
    if not CHROMIUM.is_file():
        if os.environ.get("CI"):  # CI installs it (.ci/run): a missing browser there is a failure
            pytest.fail(f"{CHROMIUM} not found although CI should have installed Debian's chromium")
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: object, live_app: LiveApp) -> Iterator[object]:
    """A fresh tab (own cookies and storage) opened on the app and waited until Gradio has drawn it."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    tab = context.new_page()
    tab.set_default_timeout(180_000)  # the first check loads the embedder; a busy 2-core CI box is slow
    tab.goto(live_app.url)
    tab.wait_for_selector("gradio-app .tab-wrapper, gradio-app [role=tablist]", timeout=60_000)
    yield tab
    context.close()


@pytest.fixture
def screenshot() -> Callable[..., Path]:
    """``screenshot(page, "name", full_page=True)`` -> artifacts/screenshots/name.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page: object, name: str, full_page: bool = True) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=full_page)  # type: ignore[attr-defined]
        return path

    return take
