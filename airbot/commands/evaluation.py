"""``python -m airbot eval`` and ``python -m airbot policy-change``: score the bots, and test who follows a
policy update. Both take the same inputs (which run, index, bots and settings).

    python -m airbot eval --run RUN_DIR --index INDEX_DIR --policy-change
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from airbot.commands.output import print_json, progress_bar
from airbot.errors import AirbotError

if TYPE_CHECKING:
    from pathlib import Path

    from airbot.config import AirbotConfig


# --- eval ------------------------------------------------------------------------------------
def add_eval(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="Score bots on held-out, out-of-scope and general questions; save eval.json.")
    _eval_inputs(p)
    p.add_argument("--data", default=None,
                   help="Held-out questions: a 'question' column plus 'answer' and/or 'facts' (optional 'clause'); "
                        "any training format works too. Default: the rows --run held out of its training file; "
                        "'sample' for the shipped airline set.")
    p.add_argument("--out-of-scope", default="general", metavar="FILE",
                   help="Questions the documents do not cover: a file, 'general' (domain-free questions, default), "
                        "'sample' (the airline example's) or 'none'.")
    p.add_argument("--no-probe", action="store_true", help="Skip the general-knowledge (forgetting) probe.")
    p.add_argument("--policy-change", action="store_true",
                   help="Also run the policy-change test (as `python -m airbot policy-change`) into the same eval.json.")
    p.add_argument("--name", default=None, help="Evaluation name (folder under AIRBOT_HOME/evals).")
    p.add_argument("--out", default=None, help="Write eval.json and questions.jsonl here instead.")
    p.set_defaults(run=_run_eval)


def _eval_inputs(p: argparse.ArgumentParser) -> None:
    """Arguments shared by eval and policy-change: which run, index, bots and settings."""
    p.add_argument("--run", dest="run_name", default=None,
                   help="Fine-tuning run (name or folder) for the finetuned and hybrid bots.")
    p.add_argument("--index", default=None, help="Document index (name or folder) for the rag and hybrid bots.")
    p.add_argument("--bots", default=None, help="Comma-separated: base, finetuned, rag, hybrid "
                                                "(default: every bot the run and index allow).")
    p.add_argument("--limit", type=int, default=None, help="Ask at most N questions of each set (a quick look).")
    p.add_argument("--config", default=None, help="YAML recipe for decoding and retrieval (default: the run's).")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="Override one setting, e.g. --set chat.max_new_tokens=64 (repeatable).")
    p.add_argument("--old", default=None, help="Policy change: the indexed document that changed (its name; default: "
                                               "the index's only document), or without --index its old version as a file.")
    p.add_argument("--new", default=None, help="Policy change: the document's new version (a file).")
    p.add_argument("--changes", default=None, help="Policy change: JSONL of {question, old, new}; default: every figure "
                                                   "that differs between the two versions, found by airbot.")
    p.add_argument("--apply", action="store_true", help="Policy change: update the index itself, not a copy.")
    p.add_argument("--retrain", action="store_true", help="Policy change: time a real retrain of the run (same recipe "
                                                          "and data; minutes) instead of estimating it.")
    p.add_argument("--json", action="store_true", help="Print one JSON object instead of a table.")


def _eval_setup(args: argparse.Namespace) -> tuple[Path | None, AirbotConfig, str | Path | None, list[str]]:
    from pathlib import Path

    from airbot.evaluate.runner import default_bots, eval_config
    from airbot.train.runs import run_path

    run_dir = run_path(args.run_name, allow_paths=True) if args.run_name else None
    if run_dir is not None and not run_dir.is_dir():
        raise AirbotError(f"There is no run '{args.run_name}' (looked at {run_dir}); see `python -m airbot runs list`.")
    config = eval_config(run_dir, args.config, args.overrides)
    name: str | None = args.index
    index: str | Path | None = name
    if name and (Path(name).expanduser().is_dir() or "/" in name):
        index = Path(name).expanduser()
    old_file = getattr(args, "old", None) and Path(args.old).is_file() and index is None
    bots = args.bots.split(",") if args.bots else default_bots(run_dir, index or (args.old if old_file else None))
    return run_dir, config, index, bots


def _run_eval(args: argparse.Namespace) -> int:
    from pathlib import Path

    from airbot.evaluate.report import format_table
    from airbot.evaluate.runner import check_bots, default_questions, evaluate

    run_dir, config, index, bots = _eval_setup(args)
    check_bots(bots, run_dir, index)  # a wrong bot list is the first thing to hear about, before any file
    show = progress_bar(sys.stderr.isatty() or not args.json)
    policy = _policy(args, bots, config, run_dir, index, show) if args.policy_change else None
    oos = args.out_of_scope if args.out_of_scope in ("general", "sample", "none") else Path(args.out_of_scope)
    report = evaluate(bots, default_questions(args.data, run_dir), config, run_dir=run_dir,
                      index=index, out_dir=Path(args.out) if args.out else None, progress=show,
                      out_of_scope=oos, limit=args.limit, probe=not args.no_probe, name=args.name, policy=policy)
    result = report.to_dict(questions=True)
    if args.json:
        print_json(result)
        return 0
    print(format_table(result))
    if policy:
        _print_policy(policy)
    extra = (policy or {}).get("policy_change_settings", {}).get("wall_s", 0.0)
    print(f"saved to {report.out_dir} (evaluation {report.wall_s:.0f} s" + (f", policy change {extra:.0f} s)" if policy else ")"))
    return 0


def _policy(args: argparse.Namespace, bots: list[str], config: AirbotConfig, run_dir: Path | None,
            index: str | Path | None,
            show: Callable[[float, str], None] | None) -> dict[str, Any]:
    from pathlib import Path

    from airbot.evaluate.policy_change import policy_change

    return policy_change(bots, config, run_dir=run_dir, index=index, old=args.old,
                         new=Path(args.new) if args.new else None, changes=Path(args.changes) if args.changes else None,
                         apply=args.apply, limit=args.limit, progress=show, retrain=args.retrain)


def _print_policy(result: dict[str, Any]) -> None:
    from airbot.evaluate.policy_change import outcome_table

    bots = list(result["policy_change"])
    print("Policy change, per bot: figure given on the old documents -> on the updated ones (new / old / neither):")
    for row in outcome_table(result):
        print(f"  {row['question'][:60]:<60} {row['old']} -> {row['new']}: "
              + ", ".join(f"{b} {row.get(b + '_before') or '?'}->{row.get(b, '-')}" for b in bots))
    for bot, counts in result["policy_change"].items():
        print(f"  {bot}: new {counts['new']}, old {counts['old']}, neither {counts['neither']}")
    retrain, measured = result.get("retrain_s"), (result.get("retrain_estimate") or {}).get("measured")
    print(f"  updating RAG took {result['rag_update_s']:.2f} s; " + (
        f"retraining took {retrain:.0f} s (timed)" if retrain and measured else
        f"a retrain would take ~{retrain:.0f} s (estimate from the run's measured speed)" if retrain else
        "a retrain would take an unknown time (no run)"))


# --- policy-change ---------------------------------------------------------------------------
def add_policy_change(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("policy-change", help="Update the documents, re-ask the changed questions: who follows?")
    _eval_inputs(p)
    p.add_argument("--into", default=None, metavar="EVAL",
                   help="Also store the result in this evaluation's eval.json (its folder or file).")
    p.set_defaults(run=_run_policy_change)


def _run_policy_change(args: argparse.Namespace) -> int:
    from pathlib import Path

    from airbot.evaluate.report import merge_policy

    run_dir, config, index, bots = _eval_setup(args)
    result = _policy(args, bots, config, run_dir, index, progress_bar(not args.json))
    if args.into:
        merge_policy(Path(args.into), result)
    if args.json:  # bots.<bot>.{new,old,neither} as well: the shape a script reads per bot
        print_json({**result, "bots": result["policy_change"]})
        return 0
    _print_policy(result)
    return 0
