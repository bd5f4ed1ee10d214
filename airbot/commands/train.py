"""``python -m airbot train``: fine-tune through ``airbot.train.finetune.run_finetune`` with a progress bar.

    python -m airbot train --data airbot/samples/airline_train.jsonl --epochs 1
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airbot.config import METHODS
from airbot.errors import AirbotError

if TYPE_CHECKING:
    from airbot.train.finetune import RunResult


def add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="Fine-tune the base model on a Q&A file (QLoRA by default).",
                       description="Precedence: defaults < --config YAML < --set < --method/--epochs/--max-steps. "
                                   "Also runs under `torchrun --nproc_per_node 2 -m airbot train ...` and "
                                   "`accelerate launch --config_file configs/accelerate/ddp-cpu.yaml -m airbot train ...`.")
    p.add_argument("--data", default=None,
                   help="Training file (CSV/TSV/JSON/JSONL/Parquet); default: the recipe's data.path (one is needed).")
    p.add_argument("--out", default=None, help="Run folder to write (default: a new run under AIRBOT_HOME/runs).")
    p.add_argument("--name", default=None, help="Name of the new run when --out is not given.")
    p.add_argument("--method", choices=METHODS, default=None,
                   help="Fine-tuning technique (default qlora).")
    p.add_argument("--epochs", type=_epochs, default=None,
                   help="Passes over the training set; default 'auto': chosen from the number of pairs so the set "
                        "is learned (the run's config.yaml and log say how many).")
    p.add_argument("--max-steps", type=int, default=None, help="Stop after this many optimizer steps.")
    p.add_argument("--config", default=None, help="YAML recipe, e.g. configs/airline-qlora.yaml or RUN/config.yaml.")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="Override one key, e.g. --set train.lora_r=8 (repeatable).")
    p.add_argument("--resume", nargs="?", const=True, default=None, metavar="RUN",
                   help="Continue a stopped, failed or killed run from its last checkpoint (the run's name or "
                        "folder, or the --out folder); its config.yaml and training file are used unless "
                        "--config/--data are given.")
    p.add_argument("--no-progress", action="store_true",
                   help="No progress bar (also off when stderr is not a terminal, e.g. a background job's train.log).")
    p.set_defaults(run=_run_train)


def _run_train(args: argparse.Namespace) -> int:
    import contextlib
    import signal

    from airbot.config import load_config
    from airbot.train.jobs import check_fits, training_lock
    from airbot.train.runs import check_training_target, create_run, train_into
    from airbot.train.status import request_cancel

    flags = {"train.method": args.method, "train.epochs": args.epochs, "train.max_steps": args.max_steps}
    out = _resumed_run(args) if args.resume else (Path(args.out).expanduser() if args.out else None)
    if out is not None:
        # a file, a finished run, someone's folder (or, resuming, a run without a checkpoint): said before heavy imports
        check_training_target(out, resume=bool(args.resume))
    recipe = args.config or (str(out / "config.yaml") if args.resume and out is not None else None)
    config = load_config(recipe, [*args.set, *(f"{k}={v}" for k, v in flags.items() if v is not None)])
    from airbot.train.sft_data import resolve_data_path

    resolve_data_path(config, args.data)  # no file named: said before a run folder is made
    from airbot.train.progress import dist_info  # imports transformers: after the settings are checked

    rank, world, _ = dist_info()
    if args.out is None and world > 1:
        raise AirbotError("Under torchrun/accelerate every process must write the same run: pass --out RUN_DIR.")
    check_fits(config)  # a run that cannot fit in memory is refused before anything is written
    run_dir = out or create_run(args.name, config.train.method)
    if rank != 0:
        run_dir.mkdir(parents=True, exist_ok=True)
    from airbot.train.finetune import run_finetune  # heavy (torch, trl): only once the settings are known to be usable

    _quiet_libraries()
    # `kill PID` (SIGTERM) stops like Cancel does: at the next step, with a partial adapter saved.
    signal.signal(signal.SIGTERM, lambda *_: request_cancel(run_dir))
    bar = _TrainBar() if rank == 0 and not args.no_progress and sys.stderr.isatty() else None
    # train_into first: it refuses a finished run or one another process trains, before the global lock is touched
    with train_into(run_dir, resume=bool(args.resume)) if rank == 0 else contextlib.nullcontext(), \
            training_lock(run_dir) if rank == 0 else contextlib.nullcontext():
        try:
            result = run_finetune(config, args.data, run_dir, progress=bar, resume=bool(args.resume))
        finally:
            if bar is not None:
                bar.close()
    if rank == 0:
        _print_result(result)
    return 0


def _resumed_run(args: argparse.Namespace) -> Path:
    """The run folder ``--resume`` names: its value (a run name or a folder), else ``--out``."""
    from airbot.train.runs import run_path

    if args.resume is True:
        if not args.out:
            raise AirbotError("--resume needs the run: `--resume RUN` (its name or folder) or `--out RUN --resume`.")
        return Path(args.out).expanduser()
    if args.out and Path(args.out).expanduser().resolve() != run_path(args.resume, allow_paths=True).resolve():
        raise AirbotError("--resume RUN and --out name different runs; a resumed run trains into its own folder.")
    return run_path(args.resume, allow_paths=True)


def _epochs(text: str) -> float | str:
    """``--epochs 5`` or ``--epochs auto``; the range (0.1..100) is the config's to check."""
    return "auto" if text.strip().lower() == "auto" else float(text)


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


def _print_result(result: RunResult) -> None:
    s = result.summary()
    word = "cancelled (partial adapter)" if result.partial else result.phase
    print(f"{word}: {s['steps']} steps in {s['train_s']:.1f} s (wall {s['wall_s']:.1f} s), "
          f"{s['tokens_per_s']:.0f} train tokens/s, peak RSS {s['peak_rss_mb']:.0f} MB")
    print(f"loss {s['first_loss']} -> {s['train_loss']}; held-out loss {s['eval_loss_before']} -> {s['eval_loss']}")
    print(f"trainable parameters {s['trainable_params']:,} of {s['total_params']:,}; adapter: {result.adapter}")
    _print_learned(result.run_dir)


def _print_learned(run_dir: Path) -> None:
    """Did it learn? The run's learned.json in one line (and a warning with advice below 80%)."""
    from airbot.train.learned import advice, learned_line, read_learned

    report = read_learned(run_dir)
    if line := learned_line(report):
        print(line)
    if tip := advice(report):
        print(f"WARNING: {tip}  (misses: python -m airbot runs show {run_dir})")
