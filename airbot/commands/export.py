"""``python -m airbot export``: take a fine-tuned run elsewhere (a portable adapter, a merged model, a GGUF).

    python -m airbot export --run RUN --format adapter|merged|gguf [--quant q8_0|q4_1|f16] [--out DIR]
    python -m airbot export --run RUN --format merged --push OWNER/NAME [--public]   # HF_TOKEN
"""

from __future__ import annotations

import argparse
import sys

from airbot.commands.output import print_json, progress_bar


def add_export(sub: argparse._SubParsersAction) -> None:
    from airbot.train.export import FORMATS
    from airbot.train.gguf import QUANTS

    p = sub.add_parser("export", help="Export a run: adapter (PEFT, hub base id + card), merged model, or GGUF.")
    p.add_argument("--run", dest="run_name", required=True, help="The run (name or folder).")
    p.add_argument("--format", choices=FORMATS, default="adapter", help="What to write (default adapter).")
    p.add_argument("--quant", choices=QUANTS, default="q8_0", help="GGUF weights (default q8_0; q4_1 is 4-bit).")
    p.add_argument("--out", default=None, help="Folder to write (default RUN/exports/...).")
    p.add_argument("--push", default=None, metavar="OWNER/NAME", help="Also upload it to this Hub repo (HF_TOKEN).")
    p.add_argument("--public", action="store_true", help="Make the pushed repo public (private by default).")
    p.add_argument("--json", action="store_true", help="Print {path, url} as JSON.")
    p.set_defaults(run=_run_export)


def _run_export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from airbot.errors import AirbotError
    from airbot.train.export import export_run, push_to_hub
    from airbot.train.runs import run_path

    run_dir = run_path(args.run_name)
    if not run_dir.is_dir():
        raise AirbotError(f"There is no run '{args.run_name}'; see `python -m airbot runs list`.")
    show = progress_bar(sys.stderr.isatty() and not args.json)
    path = export_run(run_dir, args.format, Path(args.out) if args.out else None, quant=args.quant, progress=show)
    url = push_to_hub(path, args.push, private=not args.public) if args.push else None
    if args.json:
        print_json({"path": str(path), "url": url})
    else:
        print(f"{args.format} export: {path}" + (f"\npushed to {url}" if url else ""))
    return 0
