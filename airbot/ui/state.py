"""What every tab is given: the running app's state. Tabs import this, never ``ui/app.py``, so the
app module assembles tabs and the tabs do not depend on the assembly."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from airbot.config import AirbotConfig


@dataclass
class AppState:
    """What every tab needs to know about the running app."""

    config: AirbotConfig


def root_block() -> gr.Blocks:
    """The ``gr.Blocks`` a tab is being built in: page-load events attach to it."""
    root = gr.context.Context.root_block
    if root is None:
        raise RuntimeError("a tab's build() must run inside a gr.Blocks context")
    return root
