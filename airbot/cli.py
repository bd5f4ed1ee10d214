"""``python -m airbot <command>``: the same core functions the UI and the tests call.

    python -m airbot data check airbot/samples/airline_train.jsonl
    python -m airbot app --port 7860
    python -m airbot --user alice runs list      # alice's workspace (AIRBOT_HOME/users/alice), as the app keeps it

Every user mistake surfaces as one clear line on stderr and exit code 2, never a traceback.
This module only assembles the parser and dispatches; each command lives in ``airbot.commands``,
its parser (``add_<name>``) and its body (``_run_<name>``) side by side.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from airbot import workspace
from airbot.commands.app import add_app
from airbot.commands.ask import add_ask
from airbot.commands.data import add_data
from airbot.commands.evaluation import add_eval, add_policy_change
from airbot.commands.export import add_export
from airbot.commands.guide import add_guide
from airbot.commands.index import add_index
from airbot.commands.runs import add_runs
from airbot.commands.serve import add_serve
from airbot.commands.train import add_train
from airbot.errors import AirbotError

COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [add_app, add_guide, add_data, add_eval,
                                                                add_policy_change, add_index, add_ask, add_train,
                                                                add_runs, add_export, add_serve]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m airbot", description="Fine-tune vs RAG, on your own data.")
    parser.add_argument("--user", default=None, metavar="NAME",
                        help="Work in NAME's workspace, the one the app keeps for that login (AIRBOT_HOME/users/NAME; "
                             "hf:NAME for a Hugging Face login) instead of AIRBOT_HOME itself.")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; user errors become one line on stderr and exit 2."""
    args = build_parser().parse_args(argv)
    previous = os.environ.get(workspace.ENV)
    try:
        if args.user is not None:  # through the environment, so the processes it starts work there too
            os.environ[workspace.ENV] = workspace.Workspace.parse(args.user).spec
        return args.run(args)
    except AirbotError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # a path the user gave that cannot be read or written: theirs to fix, no traceback
        where = f" ({err.filename})" if err.filename else ""
        print(f"error: {err.strerror or err}{where}. Check the path and its permissions, then try again.",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:  # main() called in-process (tests, notebooks) leaves the caller's workspace as it was
        if previous is None:
            os.environ.pop(workspace.ENV, None)
        else:
            os.environ[workspace.ENV] = previous
