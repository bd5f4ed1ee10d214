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
    from airbot.quality import check_file, describe_fields, summary

    ds, report = check_file(args.file, args.model, max_tokens=args.max_tokens, max_length=TrainConfig.max_length)
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


# --- eval ------------------------------------------------------------------------------------
def _add_eval(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="Score bots on held-out, out-of-scope and general questions; save eval.json.")
    _eval_inputs(p)
    p.add_argument("--data", default=None, help="Held-out Q&A file (any training format; optional facts, clause "
                                                "fields). Default: the shipped airline held-out set.")
    p.add_argument("--out-of-scope", default="sample", metavar="FILE",
                   help="Questions the documents do not cover (default: the shipped ones; 'none' to skip).")
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
    p.add_argument("--old", default=None, help="Policy change: indexed document that changed (default: the sample policy).")
    p.add_argument("--new", default=None, help="Policy change: its new version (default: the sample's version 2).")
    p.add_argument("--changes", default=None, help="Policy change: JSONL of {question, old, new} (default: the sample).")
    p.add_argument("--apply", action="store_true", help="Policy change: update the index itself, not a copy.")
    p.add_argument("--json", action="store_true", help="Print one JSON object instead of a table.")


def _eval_setup(args: argparse.Namespace) -> tuple[Any, Any, Any, list[str]]:
    from pathlib import Path

    from airbot.evaluate import default_bots, eval_config
    from airbot.runs import run_path

    run_dir = run_path(args.run_name) if args.run_name else None
    if run_dir is not None and not run_dir.is_dir():
        raise AirbotError(f"There is no run '{args.run_name}' (looked at {run_dir}); see `python -m airbot runs list`.")
    config = eval_config(run_dir, args.config, args.overrides)
    index = args.index
    if index and (Path(index).expanduser().is_dir() or "/" in index):
        index = Path(index).expanduser()
    bots = args.bots.split(",") if args.bots else default_bots(run_dir, index)
    return run_dir, config, index, bots


def _progress_bar(enabled: bool) -> Callable[[float, str], None] | None:
    """A one-line progress bar on stderr (stdout stays clean for the table or JSON)."""
    if not enabled:
        return None

    def show(fraction: float, message: str) -> None:
        filled = int(max(0.0, min(1.0, fraction)) * 30)
        print(f"\r[{'#' * filled}{'.' * (30 - filled)}] {fraction * 100:3.0f}% {message[:60]:<60}",
              end="\n" if fraction >= 1 else "", file=sys.stderr, flush=True)
    return show


def _run_eval(args: argparse.Namespace) -> int:
    from pathlib import Path

    from airbot.evaluate import evaluate, format_table
    from airbot.samples import sample_path

    run_dir, config, index, bots = _eval_setup(args)
    show = _progress_bar(sys.stderr.isatty() or not args.json)
    policy = _policy(args, bots, config, run_dir, index, show) if args.policy_change else None
    oos = args.out_of_scope if args.out_of_scope in ("sample", "none") else Path(args.out_of_scope)
    report = evaluate(bots, Path(args.data) if args.data else sample_path("heldout"), config, run_dir=run_dir,
                      index=index, out_dir=Path(args.out) if args.out else None, progress=show,
                      out_of_scope=oos, limit=args.limit, probe=not args.no_probe, name=args.name, policy=policy)
    result = report.to_dict(questions=True)
    if args.json:
        _print_json(result)
        return 0
    print(format_table(result))
    if policy:
        _print_policy(policy)
    extra = (policy or {}).get("policy_change_settings", {}).get("wall_s", 0.0)
    print(f"saved to {report.out_dir} (evaluation {report.wall_s:.0f} s" + (f", policy change {extra:.0f} s)" if policy else ")"))
    return 0


def _policy(args: argparse.Namespace, bots: list[str], config: Any, run_dir: Any, index: Any,
            show: Callable[[float, str], None] | None) -> dict[str, Any]:
    from pathlib import Path

    from airbot.policy_change import policy_change

    return policy_change(bots, config, run_dir=run_dir, index=index, old=args.old,
                         new=Path(args.new) if args.new else None, changes=Path(args.changes) if args.changes else None,
                         apply=args.apply, limit=args.limit, progress=show)


def _print_policy(result: dict[str, Any]) -> None:
    from airbot.policy_change import outcome_table

    bots = list(result["policy_change"])
    print("Policy change, per bot: figure given on the old documents -> on the updated ones (new / old / neither):")
    for row in outcome_table(result):
        print(f"  {row['question'][:60]:<60} {row['old']} -> {row['new']}: "
              + ", ".join(f"{b} {row.get(b + '_before') or '?'}->{row.get(b, '-')}" for b in bots))
    for bot, counts in result["policy_change"].items():
        print(f"  {bot}: new {counts['new']}, old {counts['old']}, neither {counts['neither']}")
    retrain = result.get("retrain_s")
    print(f"  updating RAG took {result['rag_update_s']:.2f} s; a retrain would take "
          + (f"~{retrain:.0f} s (estimate from the run's measured speed)" if retrain else "an unknown time (no run)"))


# --- policy-change ---------------------------------------------------------------------------
def _add_policy_change(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("policy-change", help="Update the documents, re-ask the changed questions: who follows?")
    _eval_inputs(p)
    p.add_argument("--into", default=None, metavar="EVAL",
                   help="Also store the result in this evaluation's eval.json (its folder or file).")
    p.set_defaults(run=_run_policy_change)


def _run_policy_change(args: argparse.Namespace) -> int:
    from pathlib import Path

    from airbot.evaluate import merge_policy

    run_dir, config, index, bots = _eval_setup(args)
    result = _policy(args, bots, config, run_dir, index, _progress_bar(not args.json))
    if args.into:
        merge_policy(Path(args.into), result)
    if args.json:
        _print_json(result)
        return 0
    _print_policy(result)
    return 0


# --- index -----------------------------------------------------------------------------------
def _add_index(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("index", help="Build or update a document index (PDF, DOCX, Markdown, HTML, text).")
    p.add_argument("docs", nargs="*", metavar="DOC", help="Documents to add; one already indexed gets a new version.")
    p.add_argument("--out", required=True, metavar="INDEX_DIR",
                   help="Index folder, or a bare name for AIRBOT_HOME/indexes/NAME.")
    p.add_argument("--remove", action="append", default=[], metavar="DOC", help="Drop this document (by file name).")
    p.add_argument("--config", default=None, help="YAML recipe (rag.chunk_tokens, model.embedder).")
    p.add_argument("--json", action="store_true", help="Print the index status as JSON.")
    p.set_defaults(run=_run_index)


def _run_index(args: argparse.Namespace) -> int:
    from airbot.config import load_config
    from airbot.knowledge import build_index, index_dir

    if not args.docs and not args.remove:
        raise AirbotError("Nothing to do: name documents to add (DOC...) or --remove DOC.")
    config = load_config(args.config)
    kb = build_index(args.docs, index_dir(args.out), progress=_progress_bar(not args.json), rag=config.rag,
                     remove=args.remove, embedder=config.model.embedder)
    status = kb.status()
    if args.json:
        _print_json(status.to_dict())
        return 0
    for doc in status.documents:
        print(f"{doc.name}: version {doc.version}, {len(doc.chunk_ids)} chunks")
    print(f"index {status.path}: version {status.version}, {status.chunks} chunks")
    return 0


# --- ask -------------------------------------------------------------------------------------
def _add_ask(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ask", help="Ask a bot (base, finetuned, rag, hybrid) one question or a file of them.")
    p.add_argument("question", nargs="?", default=None, help="The question (or use --questions).")
    p.add_argument("--bot", default="base", choices=["base", "finetuned", "rag", "hybrid"], help="Which bot answers.")
    p.add_argument("--run", dest="run_dir", default=None, metavar="RUN_DIR",
                   help="Fine-tuning run folder or name (finetuned and hybrid bots).")
    p.add_argument("--index", default=None, metavar="INDEX_DIR", help="Document index (rag and hybrid bots).")
    p.add_argument("--questions", default=None, metavar="FILE.jsonl", help='One {"question": ...} per line.')
    p.add_argument("--config", default=None, help="YAML recipe whose model, rag and chat settings apply.")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="Override a setting.")
    p.add_argument("--json", action="store_true", help="One JSON object per answer (bot, answer, sources, timings).")
    p.set_defaults(run=_run_ask)


def _run_ask(args: argparse.Namespace) -> int:
    from airbot.bots import make_bot
    from airbot.config import load_config

    questions = _ask_questions(args)
    bot = make_bot(args.bot, load_config(args.config, args.set), run_dir=args.run_dir, index=args.index)
    for question in questions:
        if args.json:
            _print_json(bot.answer(question).to_dict())
            continue
        if len(questions) > 1:
            print(f"Q: {question}")
        reply = bot.reply(question)
        for delta in reply:
            print(delta, end="", flush=True)
        print()
        for n, source in enumerate(reply.answer.sources if reply.answer else [], 1):
            where = ", ".join(x for x in (f"clause {source.clause}" if source.clause else "",
                                         f"page {source.page}" if source.page else "") if x)
            print(f"  [{n}] {source.doc}{' (' + where + ')' if where else ''} score {source.score:.2f}")
    return 0


def _ask_questions(args: argparse.Namespace) -> list[str]:
    """The question, or every question of a JSONL file (a line may also be a bare JSON string)."""
    from pathlib import Path

    if bool(args.question) == bool(args.questions):
        raise AirbotError("Ask exactly one thing: a QUESTION argument or --questions FILE.jsonl.")
    if args.question:
        return [args.question]
    path = Path(args.questions)
    if not path.is_file():
        raise AirbotError(f"Questions file {path} does not exist.")
    questions, problems = [], []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            problems.append(f"line {n}: not JSON")
            continue
        text = row.get("question") if isinstance(row, dict) else row
        if isinstance(text, str) and text.strip():
            questions.append(text)
        else:
            problems.append(f"line {n}: no \"question\" text")
    if problems or not questions:
        raise AirbotError.collected(f"{path} cannot be used as a questions file:", problems or ["no questions"],
                                    'Write one {"question": "..."} per line.')
    return questions


# --- train -----------------------------------------------------------------------------------
def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="Fine-tune the base model on a Q&A file (QLoRA by default).",
                       description="Precedence: defaults < --config YAML < --set < --method/--epochs/--max-steps. "
                                   "Also runs under `torchrun --nproc_per_node 2 -m airbot train ...` and "
                                   "`accelerate launch --config_file configs/accelerate/ddp-cpu.yaml -m airbot train ...`.")
    p.add_argument("--data", default=None,
                   help="Training file (CSV/TSV/JSON/JSONL/Parquet); default: data.path, else the airline sample.")
    p.add_argument("--out", default=None, help="Run folder to write (default: a new run under AIRBOT_HOME/runs).")
    p.add_argument("--name", default=None, help="Name of the new run when --out is not given.")
    p.add_argument("--method", choices=["qlora", "lora", "full", "prompt", "prefix"], default=None,
                   help="Fine-tuning technique (default qlora).")
    p.add_argument("--epochs", type=float, default=None, help="Passes over the training set.")
    p.add_argument("--max-steps", type=int, default=None, help="Stop after this many optimizer steps.")
    p.add_argument("--config", default=None, help="YAML recipe, e.g. configs/airline-qlora.yaml or RUN/config.yaml.")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="Override one key, e.g. --set train.lora_r=8 (repeatable).")
    p.add_argument("--no-progress", action="store_true", help="No progress bar (background jobs log to train.log).")
    p.set_defaults(run=_run_train)


def _run_train(args: argparse.Namespace) -> int:
    import contextlib
    import signal
    from pathlib import Path

    from airbot.config import load_config
    from airbot.finetune import run_finetune
    from airbot.jobs import training_lock
    from airbot.runs import create_run, request_cancel
    from airbot.train_progress import dist_info

    flags = {"train.method": args.method, "train.epochs": args.epochs, "train.max_steps": args.max_steps}
    config = load_config(args.config, [*args.set, *(f"{k}={v}" for k, v in flags.items() if v is not None)])
    rank, world, _ = dist_info()
    if args.out is None and world > 1:
        raise AirbotError("Under torchrun/accelerate every process must write the same run: pass --out RUN_DIR.")
    run_dir = Path(args.out) if args.out else create_run(args.name, config.train.method)
    run_dir.mkdir(parents=True, exist_ok=True)
    _quiet_libraries()
    # `kill PID` (SIGTERM) stops like Cancel does: at the next step, with a partial adapter saved.
    signal.signal(signal.SIGTERM, lambda *_: request_cancel(run_dir))
    bar = _TrainBar() if rank == 0 and not args.no_progress else None
    with training_lock(run_dir) if rank == 0 else contextlib.nullcontext():
        try:
            result = run_finetune(config, args.data, run_dir, progress=bar)
        finally:
            if bar is not None:
                bar.close()
    if rank == 0:
        _print_result(result)
    return 0


def _quiet_libraries() -> None:
    """Our own bar and train.log say what happens; library bars and deprecation notes only add noise."""
    import warnings

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=FutureWarning)


class _TrainBar:
    """A tqdm bar over optimizer steps, with phase lines before it starts."""

    def __init__(self) -> None:
        self.bar: Any = None
        self.phase = ""

    def __call__(self, status: dict[str, Any]) -> None:
        from tqdm import tqdm

        phase, total = status.get("phase", ""), status.get("total")
        if phase != self.phase and phase != "training":
            tqdm.write(f"[{phase}] {status.get('message', '')}", file=sys.stderr)
        self.phase = phase
        if phase == "training" and total and self.bar is None:
            self.bar = tqdm(total=total, desc="training", unit="step", file=sys.stderr, dynamic_ncols=True)
        if self.bar is not None and status.get("step") is not None:
            self.bar.n = int(status["step"])
            self.bar.set_postfix(loss=status.get("loss"), eta=f"{status.get('eta_s', 0):.0f}s", refresh=False)
            self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _print_result(result: Any) -> None:
    s = result.summary()
    word = "cancelled (partial adapter)" if result.partial else result.phase
    print(f"{word}: {s['steps']} steps in {s['train_s']:.1f} s (wall {s['wall_s']:.1f} s), "
          f"{s['tokens_per_s']:.0f} train tokens/s, peak RSS {s['peak_rss_mb']:.0f} MB")
    print(f"loss {s['first_loss']} -> {s['train_loss']}; held-out loss {s['eval_loss_before']} -> {s['eval_loss']}")
    print(f"trainable parameters {s['trainable_params']:,} of {s['total_params']:,}; adapter: {result.adapter}")


# --- runs ------------------------------------------------------------------------------------
def _add_runs(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("runs", help="List, inspect, compare, cancel or delete fine-tuning runs.")
    rs = p.add_subparsers(dest="runs_command", required=True)
    rs.add_parser("list", help="Every run, newest first.").add_argument("--json", action="store_true")
    rs.add_parser("show", help="One run's status, figures and last metrics.").add_argument("name")
    rs.add_parser("compare", help="Runs side by side.").add_argument("names", nargs="+")
    rs.add_parser("cancel", help="Stop a running run at its next step.").add_argument("name")
    rs.add_parser("delete", help="Remove a finished run.").add_argument("name")
    p.set_defaults(run=_run_runs)


def _run_runs(args: argparse.Namespace) -> int:
    from airbot import jobs, runs

    command = args.runs_command
    if command == "list":
        rows = [r.as_row() for r in runs.list_runs()]
        if args.json:
            _print_json(rows)
        else:
            _print_table(rows, ["name", "phase", "method", "wall_s", "final_loss", "eval_loss", "tokens_per_s"])
    elif command == "show":
        run_dir = runs.run_path(args.name)
        _print_json({"status": runs.read_status(run_dir), "metrics_tail": runs.read_metrics(run_dir)[-5:]})
    elif command == "compare":
        rows = runs.compare_runs(args.names)
        _print_table(rows, list(rows[0]) if rows else [])
    elif command == "cancel":
        _print_json(jobs.cancel(runs.run_path(args.name)))
    elif command == "delete":
        runs.delete_run(args.name)
        print(f"deleted {args.name}")
    return 0


def _print_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    def cell(value: Any) -> str:
        return f"{value:.4g}" if isinstance(value, float) else ("" if value is None else str(value))

    widths = {c: max([len(c)] + [len(cell(r.get(c))) for r in rows]) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    for r in rows:
        print("  ".join(cell(r.get(c)).ljust(widths[c]) for c in columns))


COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [_add_app, _add_guide, _add_data, _add_eval,
                                                                _add_policy_change, _add_index, _add_ask, _add_train,
                                                                _add_runs]


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
