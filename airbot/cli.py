"""``python -m airbot <command>``: the same core functions the UI and the tests call.

    python -m airbot data check airbot/samples/airline_train.jsonl
    python -m airbot app --port 7860

Every user mistake surfaces as one clear line on stderr and exit code 2, never a traceback.
Each command keeps its parser (``_add_<name>``) and its body (``_run_<name>``) side by side.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from airbot.errors import AirbotError

Runner = Callable[[argparse.Namespace], int]


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, ensure_ascii=False, default=str))


# --- app -------------------------------------------------------------------------------------
def _add_app(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("app", help="Launch the web app.")
    p.add_argument("--host", default=None, help="Interface to bind (default 127.0.0.1; 0.0.0.0 on Spaces).")
    p.add_argument("--port", type=int, default=None, help="Port (default 7860 or GRADIO_SERVER_PORT).")
    p.add_argument("--share", action="store_true", help="Also open a public gradio.live link (off by default).")
    p.add_argument("--config", default=None, help="YAML recipe whose settings the app starts from.")
    p.set_defaults(run=_run_app)


def _run_app(args: argparse.Namespace) -> int:
    from airbot.ui.app import launch

    launch(host=args.host, port=args.port, share=args.share, config_path=args.config)
    return 0


COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [_add_app]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m airbot", description="Fine-tune vs RAG, on your own data.")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; user errors become one line on stderr and exit 2."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except AirbotError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
