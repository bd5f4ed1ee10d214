"""What every tab is given: the running app's state. Tabs import this, never ``ui/app.py``, so the
app module assembles tabs and the tabs do not depend on the assembly."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import gradio as gr

from airbot.config import AirbotConfig

TRACK = gr.Progress()
"""The default of a handler's ``progress`` parameter: Gradio injects a live tracker where one defaults to a Progress."""


@dataclass
class AppState:
    """What every tab needs to know about the running app."""

    config: AirbotConfig
    made: dict[str, list[tuple[Any, Any]]] = field(default_factory=lambda: {"dataset": [], "run": [], "index": []})
    """Events after which the user has a new dataset, run or index, with the component that then holds
    its name, registered by the tab that makes it; the tabs that pick one chain a refresh onto them,
    so what the user just made or opened is preselected there at once."""

    def after_made(self, what: Literal["dataset", "run", "index"], event: Any, name: Any = None) -> None:
        """Register ``event`` (a Gradio event's return value) as one that makes a ``what``, named by
        component ``name`` once it has run (None: the picker takes the newest)."""
        self.made[what].append((event, name))

    def on_made(self, what: Literal["dataset", "run", "index"], fn: Any, outputs: Any) -> None:
        """Run ``fn(name)`` into ``outputs`` after every registered event that makes a ``what`` (name:
        the maker's value, or None); tabs built later chain onto events registered earlier, and the
        build order puts makers first."""
        for event, name in self.made[what]:
            if name is None:
                event.success(lambda: fn(None), None, outputs, api_visibility="private", show_progress="hidden")
            else:
                event.success(fn, name, outputs, api_visibility="private", show_progress="hidden")


def root_block() -> gr.Blocks:
    """The ``gr.Blocks`` a tab is being built in: page-load events attach to it."""
    root = gr.context.Context.root_block
    if root is None:
        raise RuntimeError("a tab's build() must run inside a gr.Blocks context")
    return root
