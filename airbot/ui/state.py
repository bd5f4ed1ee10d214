"""What every tab is given: the running app's state. Tabs import this, never ``ui/app.py``, so the
app module assembles tabs and the tabs do not depend on the assembly."""

from __future__ import annotations

from dataclasses import dataclass

from airbot.config import AirbotConfig


@dataclass
class AppState:
    """What every tab needs to know about the running app."""

    config: AirbotConfig
