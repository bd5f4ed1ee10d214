"""Who is asking, so whose workspace an event works in (``airbot.workspace``).

``ui/app.py`` passes every registered event through ``bind_workspaces`` once, after the tabs are
built, so no handler can forget it. For each event it reads the request Gradio is serving and
picks, in order:

1. a Hugging Face login (the OAuth session ``gr.LoginButton`` creates on Spaces; the same one
   ``gr.OAuthProfile`` reads)                                       -> ``hf:<username>``
2. the app's own login (``AIRBOT_AUTH``: Gradio's ``request.username``) -> ``user:<name>``
3. else this browser: the ``airbot_visitor`` cookie the page sets (``VISITOR_HEAD``) or, for a
   client that runs no script (gradio_client), its session          -> ``session:<hash>``

and runs the handler in it. A session workspace's use is recorded (its TTL counts from there) and
events that store something are refused while it is over its quota.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.context import LocalContext  # the request of the event being served (Gradio sets it per event)

from airbot import workspace
from airbot.ui.errors import user_errors
from airbot.workspace import NOBODY, Workspace

VISITOR_COOKIE = "airbot_visitor"
STORES = {"data_check", "data_use_sample", "kb_add", "kb_use_sample", "kb_replace", "train_start", "eval_run",
          "policy_change_run", "chat_export", "run_download", "run_export_merged", "run_export", "run_push"}
"""Events that write into the workspace: refused while a session workspace is over its quota."""
DOWNLOADS = {"run_download", "run_export_merged", "run_export", "chat_export"}
"""Events that return a file of the workspace: Gradio serves only files under the temp or working
folder, so the file is handed over as a private copy there (AIRBOT_HOME may be /data/airbot)."""
DOWNLOAD_KEEP_S = 3600


def visitor_head() -> str:
    """A script for the page's ``<head>``: gives this browser a random visitor id (a cookie kept for
    the session TTL), so an anonymous visitor finds their workspace again after a reload."""
    max_age = int(workspace.session_ttl_h() * 3600)
    return ("<script>(function(){if(document.cookie.split('; ').some(function(c){return c.indexOf('"
            f"{VISITOR_COOKIE}=')===0;}}))return;var a=new Uint8Array(16);crypto.getRandomValues(a);"
            "var id=Array.from(a,function(b){return ('0'+b.toString(16)).slice(-2);}).join('');"
            "var secure=location.protocol==='https:';"
            f"document.cookie='{VISITOR_COOKIE}='+id+'; path=/; max-age={max_age}'+"
            "(secure?'; SameSite=None; Secure':'; SameSite=Lax');})();</script>")


# --- identity -> workspace -----------------------------------------------------------------------
def workspace_for(request: gr.Request | None) -> Workspace:
    """The workspace of whoever sent ``request`` (see the module docstring for the order)."""
    if request is None:
        return NOBODY  # nothing to go by: an empty workspace, never someone else's
    hf_name = hf_username(request)
    if hf_name:
        return Workspace.of("hf", hf_name)
    if request.username:
        return Workspace.of("user", str(request.username))
    token = _cookies(request).get(VISITOR_COOKIE) or request.session_hash
    return Workspace.of("session", str(token)) if token else NOBODY


def hf_username(request: gr.Request) -> str | None:
    """The Hugging Face user name of a valid (unexpired) OAuth login in the request's session."""
    info = _session(request).get("oauth_info")
    if not isinstance(info, Mapping):
        return None
    expires = info.get("expires_at")
    if isinstance(expires, (int, float)) and expires < time.time():
        return None
    user = info.get("userinfo")
    name = user.get("preferred_username") if isinstance(user, Mapping) else None
    return str(name) if name else None


def _session(request: gr.Request) -> Mapping[str, Any]:
    """The signed session cookie's contents (only present where SessionMiddleware runs: OAuth)."""
    scope = getattr(request.request, "scope", None)
    session = scope.get("session") if isinstance(scope, dict) else request.kwargs.get("session")
    return session if isinstance(session, Mapping) else {}


def _cookies(request: gr.Request) -> Mapping[str, str]:
    cookies = request.request.cookies if request.request is not None else request.kwargs.get("cookies")
    return cookies if isinstance(cookies, Mapping) else {}


def _enter(stores: bool) -> Workspace:
    """The current event's workspace; its use recorded, and over quota a storing event is refused."""
    found = workspace_for(LocalContext.request.get(None))
    workspace.touch(found)
    if stores:
        workspace.check_quota(found)
    return found


# --- binding every event --------------------------------------------------------------------------
def in_workspace(fn: Callable[..., Any], stores: bool = False) -> Callable[..., Any]:
    """``fn`` run inside its caller's workspace; generators are re-entered at every step (Gradio may
    run each step in another thread, and a context does not follow)."""
    checked = user_errors(_enter)
    if inspect.isasyncgenfunction(fn):
        raise TypeError(f"{getattr(fn, '__name__', fn)}: airbot's handlers are functions or generators")
    if inspect.iscoroutinefunction(fn):  # runs in one task: one context from start to end
        @functools.wraps(fn)
        async def awaited(*args: Any, **kwargs: Any) -> Any:
            with workspace.using(checked(stores)):
                return await fn(*args, **kwargs)
        return awaited
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def steps(*args: Any, **kwargs: Any) -> Iterator[Any]:
            ws = checked(stores)
            with workspace.using(ws):
                gen = fn(*args, **kwargs)
            try:
                while True:
                    with workspace.using(ws):
                        try:
                            item = next(gen)
                        except StopIteration as stop:
                            return stop.value
                    yield item
            finally:
                with workspace.using(ws):
                    gen.close()
        return steps

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        with workspace.using(checked(stores)):
            return fn(*args, **kwargs)
    return call


def as_download(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` (which returns a file path) returning a private copy of that file in the temp folder."""
    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        result = fn(*args, **kwargs)
        return _hand_over(Path(result)) if isinstance(result, (str, Path)) and result else result
    return call


def _hand_over(path: Path) -> str:
    """A copy (a hard link where possible) of ``path`` in a fresh temp folder; old copies are removed."""
    root = Path(tempfile.gettempdir()) / "airbot-downloads"
    root.mkdir(parents=True, exist_ok=True)
    for old in root.iterdir():
        with contextlib.suppress(OSError):
            if time.time() - old.stat().st_mtime > DOWNLOAD_KEEP_S:
                shutil.rmtree(old, ignore_errors=True)
    target = root / uuid.uuid4().hex / path.name
    target.parent.mkdir()
    try:
        os.link(path, target)
    except OSError:
        shutil.copy2(path, target)
    return str(target)


def bind_workspaces(demo: gr.Blocks, private: bool) -> None:
    """Run every event of ``demo`` in its caller's workspace (``private``; else AIRBOT_HOME, as the
    CLI) and hand downloads over from the temp folder. Called once, after every tab is built."""
    for block_fn in demo.fns.values():
        if block_fn.fn is None:
            continue
        name = block_fn.api_name or ""
        if name in DOWNLOADS:
            block_fn.fn = as_download(block_fn.fn)
        if private:
            block_fn.fn = in_workspace(block_fn.fn, stores=name in STORES)


def whoami() -> dict[str, str]:
    """Whose workspace this caller works in: ``{"kind", "label"}`` (and the name, except a session's)."""
    ws = workspace.current()
    return {"kind": ws.kind, "label": ws.label, **({"name": ws.name} if ws.kind in ("user", "hf") else {})}
