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


# --- guide -----------------------------------------------------------------------------------
def _add_guide(sub: argparse._SubParsersAction) -> None:
    import dataclasses

    from airbot.guide import PRESETS, Answers, question_help

    p = sub.add_parser("guide", help="Fine-tune, RAG or both? The decision guide's verdict and reasons.")
    p.add_argument("--preset", choices=sorted(PRESETS), help="Start from one of the seed's use cases.")
    for f in dataclasses.fields(Answers):
        p.add_argument("--" + f.name.replace("_", "-"), dest=f.name, default=None, help=question_help(f.name))
    p.add_argument("--eval", default=None, help="An evaluation's eval.json: show the measured numbers beside the verdict.")
    p.add_argument("--json", action="store_true", help="Print the recommendation as one JSON object.")
    p.set_defaults(run=_run_guide)


def _run_guide(args: argparse.Namespace) -> int:
    import dataclasses
    from pathlib import Path

    from airbot.guide import PRESETS, Answers, Evidence, answers_from_mapping, recommend, to_dict

    base = dataclasses.asdict(PRESETS[args.preset]) if args.preset else {}
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(Answers) if getattr(args, f.name) is not None}
    answers = answers_from_mapping({**base, **given})
    evidence = Evidence.from_eval_json(_read_json_file(Path(args.eval))) if args.eval else None
    rec = recommend(answers, evidence)
    if args.json:
        _print_json(to_dict(rec))
        return 0
    print(f"Recommendation: {rec.verdict}  ({rec.summary})")
    print("Scores: " + ", ".join(f"{k} {v:.1f}" for k, v in rec.scores.items()))
    for r in rec.reasons:
        print(f"  [{r.points_to} +{r.weight:g}] {r.text}  <- {r.seed_row}")
    for line in rec.warnings + [c.text for c in rec.caveats] + rec.evidence_lines:
        print(f"  * {line}")
    return 0


def _read_json_file(path: Any) -> Any:
    """A JSON file the user named, or one clear error saying what is wrong with it."""
    if not path.is_file():
        raise AirbotError(f"{path} does not exist; pass the eval.json an evaluation wrote.")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise AirbotError(f"{path} is not valid JSON ({err}); re-run the evaluation to rewrite it.") from None


# --- data ------------------------------------------------------------------------------------
def _add_data(sub: argparse._SubParsersAction) -> None:
    from airbot.config import DataConfig, ModelConfig

    p = sub.add_parser("data", help="Check training files and list stored datasets.")
    actions = p.add_subparsers(dest="action", required=True)
    check = actions.add_parser("check", help="Validate a training file and print its quality report.")
    check.add_argument("file", help="CSV, TSV, JSON, JSONL or Parquet file of Q&A pairs or conversations.")
    check.add_argument("--json", action="store_true", help="Print one JSON object instead of lines.")
    check.add_argument("--max-tokens", type=int, default=DataConfig.max_tokens,
                       help=f"Reject rows longer than this with the chat template (default {DataConfig.max_tokens}).")
    check.add_argument("--model", default=ModelConfig.base, help="Model whose tokenizer and chat template count tokens.")
    check.add_argument("--save", nargs="?", const="", default=None, metavar="NAME",
                       help="Also store it as a dataset (named after the file unless NAME is given).")
    listing = actions.add_parser("list", help="List stored datasets.")
    listing.add_argument("--json", action="store_true", help="Print one JSON object per dataset.")
    p.set_defaults(run=_run_data)


def _run_data(args: argparse.Namespace) -> int:
    if args.action == "list":
        return _data_list(args)
    from airbot.config import TrainConfig
    from airbot.models import shared_tokenizer
    from airbot.quality import check_file, describe_fields, summary

    ds, report = check_file(args.file, shared_tokenizer(args.model), max_tokens=args.max_tokens,
                            max_length=TrainConfig.max_length)
    result = summary(ds, report)
    if args.save is not None:
        from airbot.datasets_store import save_dataset

        result["saved_as"] = save_dataset(args.file, args.save or None, loaded=ds).name
    if args.json:
        _print_json(result)
        return 0
    print(f"{ds.path.name}: usable, {len(ds)} rows, {ds.format} format ({describe_fields(ds)})")
    for line in report.lines()[1:]:
        print(line)
    if "saved_as" in result:
        print(f"saved as dataset '{result['saved_as']}'")
    return 0


def _data_list(args: argparse.Namespace) -> int:
    from airbot.datasets_store import list_datasets

    stored = list_datasets()
    for d in stored:
        if args.json:
            _print_json({"name": d.name, "path": str(d.data_path), **d.meta})
        else:
            print(f"{d.name}\t{d.rows} rows\t{d.meta.get('format')}\tfrom {d.meta.get('source_name')}"
                  f"\t{d.meta.get('created')}")
    if not stored and not args.json:
        print("no datasets stored yet: run `python -m airbot data check FILE --save`")
    return 0


COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [_add_app, _add_guide, _add_data]


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
