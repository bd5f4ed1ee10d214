"""``python -m airbot runs list|show|compare|cancel|delete``: the run store from the shell."""

from __future__ import annotations

import argparse
from typing import Any

from airbot.commands.output import print_json
from airbot.train.learned import read_learned


def add_runs(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("runs", help="List, inspect, compare, cancel or delete fine-tuning runs.")
    rs = p.add_subparsers(dest="runs_command", required=True)
    rs.add_parser("list", help="Every run, newest first.").add_argument("--json", action="store_true")
    rs.add_parser("show", help="One run's status, figures and last metrics.").add_argument("name")
    rs.add_parser("compare", help="Runs side by side.").add_argument("names", nargs="+")
    rs.add_parser("cancel", help="Stop a running run at its next step.").add_argument("name")
    rs.add_parser("delete", help="Remove a finished run.").add_argument("name")
    p.set_defaults(run=_run_runs)


def _run_runs(args: argparse.Namespace) -> int:
    from airbot.train import jobs, runs
    from airbot.train import status as train_status

    command = args.runs_command
    if command == "list":
        rows = [r.as_row() for r in runs.list_runs()]
        if args.json:
            print_json(rows)
        else:
            _print_table(rows, ["name", "phase", "method", "wall_s", "final_loss", "eval_loss", "tokens_per_s"])
    elif command == "show":
        run_dir = runs.run_path(args.name, allow_paths=True)
        learned = read_learned(run_dir)
        _say_learned(learned)
        print_json({"status": runs.read_status(run_dir), "metrics_tail": train_status.read_metrics(run_dir)[-5:],
                    "learned": _learned_json(learned)})
    elif command == "compare":
        rows = runs.compare_runs(args.names, allow_paths=True)
        _print_table(rows, list(rows[0]) if rows else [])
    elif command == "cancel":
        print_json(jobs.cancel(runs.run_path(args.name, allow_paths=True)))
    elif command == "delete":
        runs.delete_run(args.name, allow_paths=True)
        print(f"deleted {args.name}")
    return 0


def _learned_json(report: dict[str, Any] | None) -> dict[str, Any] | None:
    """What ``runs show`` says about "did it learn?": the line, whether it is enough, advice and every miss."""
    from airbot.train.learned import advice, learned_enough, learned_line

    if report is None:
        return None
    return {"line": learned_line(report), "enough": learned_enough(report), "advice": advice(report),
            "trained": report.get("trained"), "heldout": report.get("heldout")}


def _say_learned(report: dict[str, Any] | None) -> None:
    """The same on stderr for a person (stdout stays one JSON object)."""
    import sys

    from airbot.train.learned import advice, learned_line

    line = learned_line(report)
    if report is None or line is None:
        return
    print(line, file=sys.stderr)
    for miss in report["trained"]["misses"]:
        print(f"  missed {miss['where']}: {miss['question']} -> {miss['answer']!r} ({'; '.join(miss['flags'])})",
              file=sys.stderr)
    if tip := advice(report):
        print(f"WARNING: {tip}", file=sys.stderr)


def _print_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    def cell(value: Any) -> str:
        return f"{value:.4g}" if isinstance(value, float) else ("" if value is None else str(value))

    widths = {c: max([len(c)] + [len(cell(r.get(c))) for r in rows]) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    for r in rows:
        print("  ".join(cell(r.get(c)).ljust(widths[c]) for c in columns))
