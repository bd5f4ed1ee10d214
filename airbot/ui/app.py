"""Assemble the tabs into one Blocks app and launch it.

    python -m airbot app [--host H] [--port P] [--share | --share-without-login]
    AIRBOT_AUTH="alice:pw-a,bob:pw-b" python -m airbot app    # logins, each with a private workspace

Tabs are independent modules; each gets the shared ``AppState`` and registers its own
events with stable ``api_name``s so ``gradio_client`` can drive every action. Once they are
built, every event is bound here, in one place, to its caller's workspace (``ui/identity.py``),
to a concurrency group (heavy jobs one or two at a time, chat beside them) and, on ZeroGPU, to
the GPU.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from typing import Any

import gradio as gr

from airbot import workspace
from airbot.config import AirbotConfig, load_config
from airbot.hosting import LoginThrottle, check_share, logins, on_spaces, private_workspaces
from airbot.ui.identity import bind_workspaces, visitor_head, whoami
from airbot.ui.state import AppState

TITLE = "airbot: fine-tune or RAG? See it on your own data"
UPLOAD_CACHE_S = 3600
"""Gradio's upload cache is emptied of files older than this, checked as often (a public link's
uploads would otherwise pile up on disk forever)."""
CHAT_EVENTS = {"chat_ask", "chat_ask_submit", "chat_regenerate", "ask", "blind_ask"}
HEAVY_EVENTS = {"eval_run", "policy_change_run", "kb_add", "kb_use_sample", "kb_replace", "run_export_merged",
                "run_download", "run_export", "run_push"}
DATA_EVENTS = {"data_check", "data_use_sample"}
GPU_EVENTS = {"chat_ask": 120, "chat_ask_submit": 120, "chat_regenerate": 120, "ask": 120, "blind_ask": 120,
              "eval_run": 600, "policy_change_run": 600}
"""Events that generate text, with the seconds of GPU each may borrow on ZeroGPU (training: airbot.train.jobs)."""
SWEEP_EVERY_S = 600


def max_upload_mb() -> float:
    """Largest upload accepted (``AIRBOT_MAX_UPLOAD_MB``, default 50): Gradio refuses bigger files
    before storing them, so a 300 MB anonymous upload never reaches the disk."""
    return _env_number("AIRBOT_MAX_UPLOAD_MB", 50.0, lowest=0.1)


def _env_number(name: str, default: float, lowest: float = 1) -> float:
    try:
        return max(float(os.environ.get(name, default)), lowest)
    except ValueError:
        return default


def concurrency() -> dict[str, int]:
    """How many events of each group run at once: ``heavy`` (evaluation, indexing, export, policy
    change: AIRBOT_HEAVY_CONCURRENCY, 1 on up to 4 cores else 2), ``data`` (checking an upload, 2),
    ``chat`` (AIRBOT_CHAT_CONCURRENCY: 8 with continuous batching, whose steps grow cheaper per answer
    the more answers share them; 4 without) and everything else (4)."""
    from airbot.generate.stream import settings_from_env

    heavy = 1 if (os.cpu_count() or 1) <= 4 else 2
    chat = 8 if settings_from_env().batching else 4
    return {"heavy": int(_env_number("AIRBOT_HEAVY_CONCURRENCY", heavy)), "data": 2,
            "chat": int(_env_number("AIRBOT_CHAT_CONCURRENCY", chat)), "default": 4}


def queue_max() -> int:
    """Events that may wait in the queue at once (``AIRBOT_QUEUE_MAX``, 64); past that a caller is told
    the app is busy instead of waiting without end."""
    return int(_env_number("AIRBOT_QUEUE_MAX", 64))


def serve_options() -> dict[str, Any]:
    """What ``launch`` gives Gradio besides host and port (tests serve the app with the same)."""
    table = logins()
    return {"max_file_size": f"{max_upload_mb():g}mb", "head": visitor_head(),
            "auth": LoginThrottle(table).check if table else None,
            "auth_message": "Sign in: each login has its own private workspace." if table else None}


def build_app(config: AirbotConfig | None = None, private: bool | None = None,
              hf_login: bool | None = None) -> gr.Blocks:
    """The whole app; models load on first use so this returns in about a second.

    ``private`` (default: ``hosting.private_workspaces()``) gives each caller their own workspace;
    ``hf_login`` (default: on Spaces) shows "Sign in with Hugging Face".
    """
    from airbot.ui import chat_tab, data_tab, eval_tab, guide_tab, knowledge_panel, train_tab

    private = private_workspaces() if private is None else private
    hf_login = on_spaces() if hf_login is None else hf_login
    state = AppState(config=config or load_config())
    # Built in an empty workspace when private: what a tab lists while building is in everyone's page.
    with workspace.using(workspace.NOBODY) if private else contextlib.nullcontext(), \
            gr.Blocks(title="airbot", delete_cache=(UPLOAD_CACHE_S, UPLOAD_CACHE_S)) as demo:
        _header(demo, private, hf_login)
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
    _on_gpu(demo)
    bind_workspaces(demo, private)  # outermost: the workspace is set before anything else runs
    _share_fairly(demo)
    return demo


def _header(demo: gr.Blocks, private: bool, hf_login: bool) -> None:
    """The title, and with private workspaces whose workspace this is (and the HF sign-in on Spaces)."""
    gr.Markdown(f"# {TITLE}")
    gr.api(whoami, api_name="whoami")
    if not private:
        return
    with gr.Row():
        where = gr.Markdown(elem_id="workspace-label")
        if hf_login:
            gr.LoginButton(scale=0)
    demo.load(lambda: _workspace_line(hf_login), None, where, api_visibility="private")


def _workspace_line(hf_login: bool) -> str:
    """Whose workspace the page works in, said at the top of it."""
    ws = workspace.current()
    if ws.kind != "session":
        return f"🔒 You work in {ws.label}: no one else sees its data, runs, indexes, evaluations or votes."
    sign_in = " Sign in with Hugging Face to keep your work for good." if hf_login else ""
    return (f"🔒 Your data, runs, indexes, evaluations and votes are private to this browser and kept "
            f"{workspace.session_ttl_h():g} hours after your last visit (up to {workspace.session_quota_mb():g} MB)."
            f"{sign_in}")


def _on_gpu(demo: gr.Blocks) -> None:
    """On ZeroGPU, run the generating events inside ``spaces.GPU`` calls (no-op elsewhere)."""
    for block_fn in demo.fns.values():
        seconds = GPU_EVENTS.get(block_fn.api_name or "")
        if seconds and block_fn.fn is not None:
            block_fn.fn = workspace.on_gpu(block_fn.fn, seconds, block_fn.api_name or "")


def _share_fairly(demo: gr.Blocks) -> None:
    """Concurrency groups: heavy jobs queue behind each other instead of starving the chat."""
    limits = concurrency()
    for block_fn in demo.fns.values():
        name = block_fn.api_name or ""
        group = "chat" if name in CHAT_EVENTS else "heavy" if name in HEAVY_EVENTS else \
            "data" if name in DATA_EVENTS else None
        if group is not None:
            block_fn.concurrency_id, block_fn.concurrency_limit = f"airbot-{group}", limits[group]


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


def _sweep_sessions_forever() -> None:
    """Remove anonymous visitors' workspaces once their TTL has passed (at start, then every 10 min)."""
    while True:
        with contextlib.suppress(OSError):
            workspace.sweep_sessions()
        time.sleep(SWEEP_EVERY_S)


def launch(host: str | None = None, port: int | None = None, share: bool = False,
           config_path: str | None = None, share_without_login: bool = False) -> None:
    """Serve the app; sharing is only on when asked for, and never without a login unless said so."""
    check_share(share, share_without_login)
    private = private_workspaces(share)
    demo = build_app(load_config(config_path), private=private)
    _resolve_lazy_imports()
    if private:
        workspace.strict()  # from here on, touching the store outside a visitor's workspace is an error
        threading.Thread(target=_sweep_sessions_forever, daemon=True, name="airbot-session-sweeper").start()
    default_host = os.environ.get("GRADIO_SERVER_NAME") or ("0.0.0.0" if on_spaces() else "127.0.0.1")
    demo.queue(default_concurrency_limit=concurrency()["default"], max_size=queue_max()).launch(
        server_name=host or default_host,
        server_port=port or int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        share=share,
        **serve_options(),
    )
