"""``python -m airbot serve``: the bots behind an OpenAI-compatible API (``/v1/chat/completions``).

    python -m airbot serve --run RUN --index INDEX [--host 127.0.0.1] [--port 8000]
"""

from __future__ import annotations

import argparse


def add_serve(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="Serve the bots with an OpenAI-compatible /v1/chat/completions API.")
    p.add_argument("--run", dest="run_name", default=None,
                   help="Fine-tuning run (name or folder) for the finetuned and hybrid models.")
    p.add_argument("--index", default=None, help="Document index (name or folder) for the rag and hybrid models.")
    p.add_argument("--config", default=None, help="YAML recipe for decoding and retrieval (default: the run's).")
    p.add_argument("--host", default="127.0.0.1", help="Address to listen on (default: this machine only).")
    p.add_argument("--port", type=int, default=8000)
    p.set_defaults(run=_run_serve)


def _run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from airbot.evaluate.runner import eval_config
    from airbot.train.runs import run_path
    from airbot.ui.openai_api import BotServer, router

    run_dir = run_path(args.run_name) if args.run_name else None
    server = BotServer(eval_config(run_dir, args.config), run_dir, args.index)
    print(f"serving {', '.join(server.available())} at http://{args.host}:{args.port}/v1/chat/completions")
    uvicorn.run(router(server), host=args.host, port=args.port, log_level="warning")
    return 0
