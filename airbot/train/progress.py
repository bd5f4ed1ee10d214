"""How a training process reports to its run folder, and how it hears a cancel.

``Reporter`` owns status.json (only rank 0 writes under torchrun/accelerate); ``RunCallback``
is the TrainerCallback that turns the trainer's logs into metrics.jsonl lines with tokens/s and
an ETA, and stops training at the next step once a cancel is requested. Under DDP the stop
decision is all-reduced so every rank stops at the same step instead of one waiting forever.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from transformers import TrainerCallback

from airbot.train.status import append_metric, cancel_requested, write_status

if TYPE_CHECKING:
    from airbot.config import AirbotConfig

log = logging.getLogger("airbot.train")


class Cancelled(Exception):
    """Raised between phases (before training started) when a cancel was requested."""


def dist_info() -> tuple[int, int, int]:
    """(rank, world size, local rank) from the launcher's environment (torchrun/accelerate set them)."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))


class Reporter:
    """Status writes and cancel checks for one run; a no-op writer on ranks other than 0."""

    def __init__(self, run_dir: Path, progress: Callable[[dict[str, Any]], None] | None = None,
                 should_stop: Callable[[], bool] | None = None) -> None:
        self.run_dir = run_dir
        self.progress = progress
        self.should_stop = should_stop
        self.is_main = dist_info()[0] == 0
        self.status: dict[str, Any] = {}

    def update(self, **fields: Any) -> dict[str, Any]:
        """Merge fields into the status (written on rank 0) and tell the progress callback."""
        if "phase" in fields and fields["phase"] != self.status.get("phase"):
            log.info("%s: %s", fields["phase"], fields.get("message", ""))
        if self.is_main:
            self.status = write_status(self.run_dir, **fields)
        else:
            self.status.update(fields)
        if self.progress is not None:
            self.progress(dict(self.status))
        return self.status

    def start(self, config: AirbotConfig, device: str) -> None:
        """The first status of this process: who runs it, what, where."""
        self.update(phase="queued", message="starting", progress=0.0, step=0, total=None, pid=os.getpid(),
                    started=time.time(), finished=None, partial=False, method=config.train.method,
                    base=config.model.base, device=device, summary=None)

    def stop_requested(self) -> bool:
        """True once a cancel was asked for, agreed on by every rank."""
        local = bool(self.should_stop and self.should_stop()) or cancel_requested(self.run_dir)
        return _any_rank(local)

    def checkpoint(self) -> None:
        """Between phases: stop here (nothing saved) if a cancel arrived before training began.

        Under DDP before the process group exists the ranks cannot agree, so the cancel waits for
        the first training step instead of leaving one rank waiting for the other.
        """
        import torch.distributed as dist

        if dist_info()[1] > 1 and not (dist.is_available() and dist.is_initialized()):
            return
        if self.stop_requested():
            raise Cancelled

    def fail(self, message: str) -> None:
        """Final status for a run that could not finish."""
        self.update(phase="failed", message=message, finished=time.time())

    def finish(self, phase: str, partial: bool, summary: dict[str, Any], message: str | None = None) -> None:
        """Final status for a run that saved what it had (done, or cancelled with a partial adapter)."""
        default = "done" if phase == "done" else "cancelled; the adapter saved so far is usable (partial)"
        extra = {"progress": 1.0} if phase == "done" else {}
        self.update(phase=phase, partial=partial, summary=summary, message=message or default,
                    finished=time.time(), eta_s=0, **extra)


def _any_rank(flag: bool) -> bool:
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return flag
    import torch

    t = torch.tensor([1 if flag else 0], dtype=torch.int32)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


class CheckpointEvery(TrainerCallback):
    """Ask the trainer for a checkpoint after the step that ends each ``seconds`` of training.

    By time rather than steps: a step takes 0.2 s on a GPU and 5 s on a busy CPU, and what a
    user loses to a crash or a Space restart is minutes, not steps. The trainer writes its own
    format (``checkpoint-N/``: weights, optimizer, scheduler, RNG, data position) and keeps the
    latest only (``save_total_limit=1``); ``airbot.train.checkpoints.latest_checkpoint`` finds it.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.last = time.monotonic()

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.last = time.monotonic()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if time.monotonic() - self.last >= self.seconds and state.global_step < state.max_steps:
            control.should_save = True

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.last = time.monotonic()
        log.info("checkpoint saved at step %d (resumable: python -m airbot train --resume --out %s)",
                 state.global_step, args.output_dir)


class RunCallback(TrainerCallback):
    """Trainer logs → metrics.jsonl + status.json; the cancel flag → stop at the next step."""

    def __init__(self, reporter: Reporter) -> None:
        self.reporter = reporter
        self.train_start: float | None = None
        self.first_loss: float | None = None
        self.losses: list[float] = []
        self.last_eval_loss: float | None = None
        self.last_eval_step: int | None = None
        self.tokens = 0
        self.stopped = False

    def recent_loss(self, window: int = 5) -> float | None:
        """Mean of the last ``window`` step losses: the figure history tables show as final loss."""
        tail = self.losses[-window:]
        return round(sum(tail) / len(tail), 5) if tail else None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.train_start = time.time()
        self.reporter.update(total=state.max_steps, step=0)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.reporter.stop_requested():
            self.stopped = True
            control.should_training_stop = True
            self.reporter.update(message="cancel requested: stopping after this step")
            log.info("cancel requested: stopping after step %d", state.global_step)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, float] | None = None,
               **kwargs: Any) -> None:
        logs = logs or {}
        if "loss" not in logs and "eval_loss" not in logs:
            return  # the trainer's end-of-training summary; our own summary goes to status.json
        elapsed = time.time() - self.train_start if self.train_start else 0.0
        record = {"step": state.global_step, "epoch": round(state.epoch or 0.0, 4), "elapsed_s": round(elapsed, 2)}
        if "loss" in logs:
            self._train_record(record, logs, elapsed, state)
        if "eval_loss" in logs:
            self.last_eval_loss, self.last_eval_step = float(logs["eval_loss"]), state.global_step
            record["eval_loss"] = round(self.last_eval_loss, 5)
            log.info("step %d: held-out loss %.4f", state.global_step, self.last_eval_loss)
        if self.reporter.is_main:
            append_metric(self.reporter.run_dir, record)

    def _train_record(self, record: dict[str, Any], logs: dict[str, float], elapsed: float, state: Any) -> None:
        loss = float(logs["loss"])
        self.first_loss = loss if self.first_loss is None else self.first_loss
        self.losses.append(loss)
        self.tokens = int(logs.get("num_tokens", self.tokens))
        total = max(state.max_steps, 1)
        eta = elapsed / max(state.global_step, 1) * (total - state.global_step)
        record.update(loss=round(loss, 5), learning_rate=logs.get("learning_rate"),
                      tokens_per_s=round(self.tokens / max(elapsed, 1e-9), 1), eta_s=round(eta, 1))
        log.info("step %d/%d: loss %.4f, lr %.2e, %.0f tokens/s, ETA %.0f s", state.global_step, state.max_steps,
                 loss, logs.get("learning_rate") or 0.0, record["tokens_per_s"], eta)
        if "mean_token_accuracy" in logs:
            record["token_accuracy"] = round(float(logs["mean_token_accuracy"]), 4)
        self.reporter.update(step=state.global_step, total=state.max_steps, progress=round(state.global_step / total, 4),
                             eta_s=round(eta, 1), loss=record["loss"], epoch=record["epoch"],
                             message=f"step {state.global_step}/{state.max_steps}, loss {loss:.3f}")
