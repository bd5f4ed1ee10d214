"""Assemble the tabs into one Blocks app and launch it.

    python -m airbot app [--host H] [--port P] [--share]

Tabs are independent modules; each gets the shared ``AppState`` and registers its own
events with stable ``api_name``s so ``gradio_client`` can drive every action.
"""

from __future__ import annotations

import os

import gradio as gr

from airbot.config import AirbotConfig, load_config
from airbot.hosting import auth_from_settings, on_spaces
from airbot.ui.state import AppState

TITLE = "airbot: fine-tune or RAG? See it on your own data"


def build_app(config: AirbotConfig | None = None) -> gr.Blocks:
    """The whole app; models load on first use so this returns in about a second."""
    from airbot.ui import chat_tab, data_tab, eval_tab, guide_tab, knowledge_panel, train_tab

    state = AppState(config=config or load_config())
    with gr.Blocks(title="airbot") as demo:
        gr.Markdown(f"# {TITLE}")
        with gr.Tab("Data", id="data"):
            data_tab.build(state)
            gr.Markdown("---")
            knowledge_panel.build(state)
        with gr.Tab("Train", id="train"):
            train_tab.build(state)
        with gr.Tab("Chat", id="chat"):
            chat_tab.build(state)
        with gr.Tab("Evaluate", id="evaluate"):
            eval_tab.build(state)
        with gr.Tab("Decision guide", id="guide"):
            guide_tab.build(state)
    return demo


def _resolve_lazy_imports() -> None:
    """Import the model libraries once, in the main thread, before serving.

    transformers resolves its classes lazily and not thread-safely: two event handlers that first
    touch it at the same moment (page load fires several) can get "cannot import name
    'AutoTokenizer'". Resolving the names here costs a few seconds of start-up, once.
    """
    import transformers

    for name in ("AutoTokenizer", "AutoModelForCausalLM", "AutoConfig", "BitsAndBytesConfig",
                 "TextIteratorStreamer", "PreTrainedModel"):
        getattr(transformers, name)
    import sentence_transformers  # noqa: F401 - same lazy-import race, resolved up front


def launch(host: str | None = None, port: int | None = None, share: bool = False,
           config_path: str | None = None) -> None:
    """Serve the app; sharing is only on when asked for."""
    demo = build_app(load_config(config_path))
    _resolve_lazy_imports()
    default_host = "0.0.0.0" if on_spaces() else os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1")
    demo.queue(default_concurrency_limit=4).launch(
        server_name=host or default_host,
        server_port=port or int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        share=share,
        auth=auth_from_settings(),
    )
