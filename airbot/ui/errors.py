"""Turn airbot's user errors into Gradio messages instead of tracebacks (in the page and in the
server log: a mistake a visitor can fix is not a server fault)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import gradio as gr

from airbot.errors import AirbotError


def toast_seconds(message: str) -> float:
    """How long an error pop-up stays: long enough to read (8 s, plus 1 s per 4 words beyond 32), at
    most 30 s, then it closes by itself so it never sits over the buttons (the tabs' status boxes
    keep the message)."""
    return float(min(30, max(8, len(message.split()) / 4)))


def _as_gr_error(err: AirbotError) -> gr.Error:
    # print_exception=False: a user's mistake is answered, not logged as a server traceback
    text = str(err)
    return gr.Error(text.replace("\n", "<br>"), duration=toast_seconds(text), title="Please check",
                    print_exception=False)


def user_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a handler (plain or generator) so an ``AirbotError`` shows as ``gr.Error``."""
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def gen_wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                yield from fn(*args, **kwargs)
            except AirbotError as err:
                raise _as_gr_error(err) from None
        return gen_wrapper

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except AirbotError as err:
            raise _as_gr_error(err) from None
    return wrapper
