"""``python -m airbot app``: launch the web app (the only command that imports gradio, and only when run)."""

from __future__ import annotations

import argparse


def add_app(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("app", help="Launch the web app.")
    p.add_argument("--host", default=None, help="Interface to bind (default 127.0.0.1; 0.0.0.0 on Spaces).")
    p.add_argument("--port", type=int, default=None, help="Port (default 7860 or GRADIO_SERVER_PORT).")
    p.add_argument("--share", action="store_true",
                   help="Also open a public gradio.live link (off by default; refused without logins, see AIRBOT_AUTH).")
    p.add_argument("--share-without-login", action="store_true",
                   help="Allow --share with no login: anyone with the link may use the app (each browser then gets "
                        "its own workspace, kept AIRBOT_SESSION_TTL_H hours).")
    p.add_argument("--config", default=None, help="YAML recipe whose settings the app starts from.")
    p.set_defaults(run=_run_app)


def _run_app(args: argparse.Namespace) -> int:
    from airbot.ui.app import launch

    launch(host=args.host, port=args.port, share=args.share, config_path=args.config,
           share_without_login=args.share_without_login)
    return 0
