"""``python -m airbot data check|list``: validate a training file, print its quality report, store it.

    python -m airbot data check airbot/samples/airline_train.jsonl --save
"""

from __future__ import annotations

import argparse

from airbot.commands.output import print_json


def add_data(sub: argparse._SubParsersAction) -> None:
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
    from airbot.data.quality import check_file, describe_fields, summary
    from airbot.data.store import check_new_name

    if args.save:
        check_new_name(args.save)  # a name that cannot be used is said before the file is checked
    ds, report = check_file(args.file, args.model, max_tokens=args.max_tokens, max_length=TrainConfig.max_length)
    result = summary(ds, report)
    if args.save is not None:
        from airbot.data.store import save_dataset

        result["saved_as"] = save_dataset(args.file, args.save or None, loaded=ds).name
    if args.json:
        print_json(result)
        return 0
    print(f"{ds.path.name}: usable, {len(ds)} rows, {ds.format} format ({describe_fields(ds)})")
    for line in report.lines()[1:]:
        print(line)
    if "saved_as" in result:
        print(f"saved as dataset '{result['saved_as']}'")
    return 0


def _data_list(args: argparse.Namespace) -> int:
    from airbot.data.store import list_datasets

    stored = list_datasets()
    for d in stored:
        if args.json:
            print_json({"name": d.name, "path": str(d.data_path), **d.meta})
        else:
            print(f"{d.name}\t{d.rows} rows\t{d.meta.get('format')}\tfrom {d.meta.get('source_name')}"
                  f"\t{d.meta.get('created')}")
    if not stored and not args.json:
        print("no datasets stored yet: run `python -m airbot data check FILE --save`")
    return 0
