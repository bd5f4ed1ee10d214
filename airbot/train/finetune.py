"""Fine-tune the base model on a Q&A set: full, LoRA, QLoRA, prompt tuning or prefix tuning.

``run_finetune`` is the one entry point the CLI, the UI's background job and the tests call.
It writes everything into a run folder (see ``airbot.train.runs``)::

    python -m airbot train --data airbot/samples/airline_train.jsonl --out /tmp/run --epochs 1
    python -m airbot train --config configs/airline-lora.yaml --set train.max_steps=20

Why the defaults are fast on a laptop CPU (each measured; bench/train.py compares with plain
TRL): eager attention instead of PyTorch's CPU flash-attention kernel (whose backward is slow
on short rows), QLoRA's NF4 base quantized once and kept dequantized in bf16 instead of
bitsandbytes dequantizing every weight at every step (same weights bit for bit; the 4-bit memory
saving is given up on CPU, CUDA keeps bitsandbytes 4-bit), no gradient checkpointing, bf16
autocast where the CPU has bf16 units, frozen weights stored in the compute dtype, dropout 0,
batches grouped by length (little padding), tokenization once before the trainer, and an LM
head that scores only the answer tokens that carry loss (``airbot.train.step``) instead of
the whole 49k-word vocabulary at every position.

Where the pieces live: small pure builders turn the config into library objects
(``airbot.train.builders``: ``build_quantization``, ``build_peft_config``, ``build_sft_config``,
``build_trainer``); loading the base and saving the adapter is ``airbot.train.model``; progress,
cancel and the trainer callback are ``airbot.train.progress``; this module is the run itself.
"""

from __future__ import annotations

import logging
import resource
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airbot.config import AirbotConfig, save_config
from airbot.errors import AirbotError, JobError
from airbot.train.builders import build_trainer, compute_dtype
from airbot.train.checkpoints import checkpoint_step, drop_checkpoints, latest_checkpoint
from airbot.train.int8_base import remove as remove_int8
from airbot.train.model import count_parameters, load_model, save_adapter
from airbot.train.sft_data import PreparedData, prepare_data

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase
    from trl import SFTTrainer

    from airbot.train.progress import Reporter, RunCallback

log = logging.getLogger("airbot.train.finetune")
# A learning rate that suits each method when train.learning_rate is 0 (the default). Adapters
# and soft prompts start from zero/neutral and need large steps to move in ~100 updates; full
# fine-tuning moves every weight and needs ~10x smaller ones. LoRA/QLoRA at 2e-3 memorized the
# training answers better than 1e-3 in the same passes (coworking, 6 passes: 35/37 vs 34/37, final
# loss 0.03 vs 0.12; bench/README.md "Fine-tuning quality").
METHOD_LR = {"qlora": 2e-3, "lora": 2e-3, "full": 5e-5, "prompt": 3e-2, "prefix": 1e-2}


@dataclass
class RunResult:
    """What a finished (or cancelled) run produced; the same figures are in status.json."""

    run_dir: Path
    phase: str
    partial: bool
    steps: int
    first_loss: float | None
    train_loss: float | None
    """Mean of the last five logged step losses (one batch's loss alone is noisy)."""
    eval_loss_before: float | None
    eval_loss: float | None
    wall_s: float
    train_s: float
    train_tokens: int
    tokens_per_s: float
    trainable_params: int
    total_params: int
    peak_rss_mb: float
    train_rows: int
    heldout_rows: int
    learned_right: int | None = None
    """Training questions answered right after training (learned.json); None when not checked."""
    learned_total: int | None = None
    startup_s: float | None = None
    """Seconds before the first step (model load, tokenizing, probe, first eval): preflight calibrates on it."""
    learned_s: float | None = None
    """Seconds the "did it learn?" check took."""

    @property
    def adapter(self) -> Path:
        """Where the adapter (or full model) was saved."""
        return self.run_dir / "adapter"

    @classmethod
    def nothing(cls, run_dir: Path, phase: str, wall_s: float) -> RunResult:
        """A run that ended before its first training step."""
        return cls(run_dir=run_dir, phase=phase, partial=False, steps=0, first_loss=None, train_loss=None,
                   eval_loss_before=None, eval_loss=None, wall_s=wall_s, train_s=0.0, train_tokens=0,
                   tokens_per_s=0.0, trainable_params=0, total_params=0, peak_rss_mb=_peak_rss_mb(),
                   train_rows=0, heldout_rows=0)

    def summary(self) -> dict[str, Any]:
        """JSON-friendly figures for status.json and the CLI."""
        out = asdict(self)
        out.pop("run_dir")
        return out


def resolve_train_config(config: AirbotConfig) -> AirbotConfig:
    """Fill the 'auto' values (learning rate 0 means the method's usual one) so the saved config replays."""
    train = config.train
    if train.learning_rate <= 0:
        train = replace(train, learning_rate=METHOD_LR[train.method])
    return replace(config, train=train)


# --- the run ----------------------------------------------------------------------------------
def run_finetune(config: AirbotConfig, data: Path | str | None, run_dir: Path, *,
                 progress: Callable[[dict[str, Any]], None] | None = None,
                 should_stop: Callable[[], bool] | None = None, resume: bool = False) -> RunResult:
    """Train, evaluate, probe and save one run into ``run_dir``; the single path every caller uses.

    ``progress`` receives the status dict at each change; ``should_stop`` (and the run's
    ``cancel`` flag file) stop training at the next step and save a partial adapter. Failures end
    as status ``failed`` with a message that says what to change, then raise ``AirbotError``.
    """
    from airbot.train.progress import Cancelled, Reporter

    started = time.time()
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    config = resolve_train_config(config)
    reporter = Reporter(run_dir, progress, should_stop)
    handler = _attach_log(run_dir) if reporter.is_main else None
    try:
        return _run(config, data, run_dir, reporter, resume)
    except Cancelled:
        return _cancelled_before_training(run_dir, reporter, started)
    except AirbotError as err:
        reporter.fail(str(err))
        raise
    except Exception as err:  # anything else: record it for the person, keep the traceback in train.log
        log.exception("training failed")
        message = _explain_failure(err, config)
        reporter.fail(message)
        raise JobError(message) from None
    finally:
        if handler is not None:
            logging.getLogger("airbot").removeHandler(handler)
            handler.close()


def _run(config: AirbotConfig, data: Path | str | None, run_dir: Path, reporter: Reporter,
         resume: bool = False) -> RunResult:
    from airbot.models import pick_device
    from airbot.train.progress import Cancelled, RunCallback
    from airbot.train.step import pick_threads

    started = time.time()
    device = pick_device(config.model.device)
    dtype = compute_dtype(config, device)
    reporter.start(config, device)
    if device == "cpu":
        log.info("CPU threads: %d", pick_threads(config.train.threads))
    if reporter.is_main:
        save_config(config, run_dir / "config.yaml")
    tokenizer, prepared = _tokenized_data(config, data, run_dir, reporter)
    config = _resolve_budget(config, prepared, reporter)
    if reporter.is_main:  # the file actually used and the epochs chosen, so config.yaml replays this exact run
        save_config(replace(config, data=replace(config.data, path=str(prepared.path))), run_dir / "config.yaml")
    reporter.checkpoint()
    reporter.update(phase="loading model", message=f"loading {config.model.base} for {config.train.method} on {device}")
    model = load_model(config, device, dtype)
    probe_rows, before = _probe_before(config, model, tokenizer, reporter)
    prepared = _with_replay(config, model, tokenizer, prepared, reporter)
    reporter.checkpoint()
    callback = RunCallback(reporter)
    resume_from = _resume_point(run_dir, reporter) if resume else None
    trainer = build_trainer(config, model, tokenizer, prepared, run_dir, device=device,
                            callbacks=[callback, *_checkpointing(config)])
    assert trainer.model is not None  # SFTTrainer always holds the (PEFT-wrapped) model it was given
    trainable, total = count_parameters(trainer.model)
    log.info("trainable parameters: %d of %d (%.2f%%)", trainable, total, 100 * trainable / max(total, 1))
    eval_before = _evaluate(trainer, prepared)
    train_start = time.time()
    reporter.update(phase="training", message="training", train_started=train_start)
    trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    train_s = time.time() - train_start
    remove_int8(trainer.model)  # the plain product again: the adapter is merged into these weights next
    eval_after = _final_eval(trainer, prepared, callback)
    partial = callback.stopped
    if partial and trainer.state.global_step == 0:
        raise Cancelled
    reporter.update(phase="saving", message="saving the adapter" + (" (partial)" if partial else ""))
    learned = None
    if reporter.is_main:
        save_adapter(trainer, tokenizer, run_dir, config)
        if not partial:
            drop_checkpoints(run_dir)  # the adapter is final: nothing is left to resume
        tuned = _answering_model(trainer)
        _probe_after(tuned, tokenizer, config, probe_rows, before, run_dir)
        learned = _learned_after(tuned, tokenizer, config, prepared, run_dir, reporter)
    result = RunResult(run_dir=run_dir, phase="cancelled" if partial else "done", partial=partial,
                       steps=trainer.state.global_step, first_loss=callback.first_loss,
                       train_loss=callback.recent_loss(), eval_loss_before=eval_before, eval_loss=eval_after,
                       wall_s=round(time.time() - started, 2), train_s=round(train_s, 2),
                       train_tokens=callback.tokens, tokens_per_s=round(callback.tokens / max(train_s, 1e-9), 1),
                       trainable_params=trainable, total_params=total, peak_rss_mb=_peak_rss_mb(),
                       train_rows=prepared.train_rows, heldout_rows=prepared.heldout_rows,
                       learned_right=learned["trained"]["right"] if learned else None,
                       learned_total=learned["trained"]["total"] if learned else None,
                       startup_s=round(train_start - started, 2), learned_s=learned["seconds"] if learned else None)
    reporter.finish(result.phase, partial, result.summary(), message=_finish_message(result, learned))
    return result


def _checkpointing(config: AirbotConfig) -> list[Any]:
    """The time-based checkpoint callback, where it is safe: with several processes (torchrun,
    accelerate) each would decide by its own clock and the ranks could disagree about saving."""
    from airbot.train.progress import CheckpointEvery, dist_info

    if config.train.checkpoint_every_s <= 0:
        return []
    if dist_info()[1] > 1:
        log.info("checkpoints: off under %d processes (each rank's clock would decide alone)", dist_info()[1])
        return []
    return [CheckpointEvery(config.train.checkpoint_every_s)]


def _resume_point(run_dir: Path, reporter: Reporter) -> Path:
    """The checkpoint a resumed run continues from; its metrics after that step are dropped (trained again)."""
    from airbot.train.status import keep_metrics_until

    checkpoint = latest_checkpoint(run_dir)
    if checkpoint is None:
        raise JobError(f"Run '{run_dir.name}' has no checkpoint to resume from; start it again as a new run.")
    step = checkpoint_step(checkpoint)
    if reporter.is_main:
        keep_metrics_until(run_dir, step)
    log.info("resuming from the checkpoint after step %d (%s)", step, checkpoint.name)
    reporter.update(message=f"resuming from step {step}")
    return checkpoint


def _finish_message(result: RunResult, learned: dict[str, Any] | None) -> str | None:
    """'done' with what it learned; a run that learned too little says so, with what to do."""
    from airbot.train.learned import advice, learned_line

    if result.partial:
        return None
    line = learned_line(learned)
    if line is None:
        return None
    return f"done: it {line}. {advice(learned)}" if advice(learned) else f"done: it {line}"


def _tokenized_data(config: AirbotConfig, data: Path | str | None, run_dir: Path,
                    reporter: Reporter) -> tuple[PreTrainedTokenizerBase, PreparedData]:
    """Read and tokenize the training set, then record the file actually used in config.yaml."""
    from airbot.models import load_tokenizer

    reporter.update(phase="tokenizing", message="reading and tokenizing the training set")
    tokenizer = load_tokenizer(config.model.base)
    prepared = prepare_data(config, data, tokenizer)
    log.info("data %s: %d train rows, %d held-out, %d truncated to %d tokens", prepared.path, prepared.train_rows,
             prepared.heldout_rows, prepared.truncated, config.train.max_length)
    return tokenizer, prepared


def _resolve_budget(config: AirbotConfig, prepared: PreparedData, reporter: Reporter) -> AirbotConfig:
    """'auto' epochs -> the number the budget rule picks for this many rows (``airbot.train.budget``)."""
    from airbot.train.budget import apply_budget
    from airbot.train.progress import dist_info
    from airbot.train.replay import replay_count

    pairs = len(prepared.train_conversations)
    config, budget = apply_budget(config, prepared.train_rows, prepared.train_tokens, dist_info()[1], pairs=pairs,
                                  replay=replay_count(pairs, config.train.replay))
    if budget is not None:
        log.info("budget (epochs auto): %s", budget.reason)
        reporter.update(budget=budget.reason)
    return config


def _with_replay(config: AirbotConfig, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase,
                 prepared: PreparedData, reporter: Reporter) -> PreparedData:
    """The training rows plus the base model's own answers to general questions (``airbot.train.replay``)."""
    from datasets import Dataset, concatenate_datasets

    from airbot.train.replay import replay_count, replay_rows
    from airbot.train.sft_data import tokenize_rows

    count = replay_count(len(prepared.train_conversations), config.train.replay)
    if not count:
        return prepared
    reporter.update(message=f"replay: the base model answers {count} general questions to train alongside yours")
    rows = replay_rows(model, tokenizer, config.chat.system_prompt, count)
    examples, _ = tokenize_rows(rows, tokenizer, config.train.max_length)
    log.info("replay: %d general questions answered by the base model, trained alongside", len(examples))
    if not examples:
        return prepared
    train = concatenate_datasets([prepared.train, Dataset.from_list(examples)])
    return replace(prepared, train=train, train_rows=prepared.train_rows + len(examples))


def _cancelled_before_training(run_dir: Path, reporter: Reporter, started: float) -> RunResult:
    reporter.finish("cancelled", False, {"wall_s": round(time.time() - started, 2)},
                    message="cancelled before the first training step; nothing was saved")
    return RunResult.nothing(run_dir, "cancelled", round(time.time() - started, 2))


def _evaluate(trainer: SFTTrainer, prepared: PreparedData) -> float | None:
    """Held-out loss before training: the baseline the curve should fall from."""
    if prepared.heldout is None:
        return None
    return trainer.evaluate().get("eval_loss")


def _final_eval(trainer: SFTTrainer, prepared: PreparedData, callback: RunCallback) -> float | None:
    """Held-out loss after training, evaluated again only if the last scheduled eval was earlier."""
    if prepared.heldout is None:
        return None
    if callback.last_eval_step != trainer.state.global_step:
        trainer.evaluate()
    return callback.last_eval_loss


def _probe_before(config: AirbotConfig, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase,
                  reporter: Reporter) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    from airbot.train.probe import load_probe, run_probe

    rows = load_probe() if config.train.probe and reporter.is_main else []
    if not rows:
        return [], []
    reporter.update(message="forgetting probe: answering general questions before training")
    return rows, run_probe(model, tokenizer, rows, config.chat.system_prompt)


def _answering_model(trainer: SFTTrainer) -> PreTrainedModel:
    """The trained model as the fine-tuned bot will run it, for the probe and the did-it-learn check.

    The adapter is saved by now, so a LoRA is merged into the weights in place (the bot merges it the
    same way), which answers ~25-35% faster than the adapter beside the base. 4-bit bases
    (bitsandbytes on CUDA) and soft prompts are used as they are.
    """
    from peft import PeftModel

    model = trainer.accelerator.unwrap_model(trainer.model)
    lora = isinstance(model, PeftModel) and model.peft_config["default"].peft_type == "LORA"
    if lora and not getattr(model.get_base_model(), "is_loaded_in_4bit", False):
        return model.merge_and_unload()
    return model


def _probe_after(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, config: AirbotConfig,
                 rows: list[dict[str, Any]], before: list[dict[str, Any]], run_dir: Path) -> None:
    from airbot.storage import write_json
    from airbot.train.probe import probe_report, run_probe

    if not rows:
        return
    after = run_probe(model, tokenizer, rows, config.chat.system_prompt)
    write_json(run_dir / "probe.json", probe_report(before, after))


def _learned_after(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, config: AirbotConfig,
                   prepared: PreparedData, run_dir: Path, reporter: Reporter) -> dict[str, Any] | None:
    """Ask every training question again and judge it (learned.json; see ``airbot.train.learned``)."""
    from airbot.storage import write_json
    from airbot.train.learned import LEARNED_FILE, learned_report

    if not config.train.learned_check:
        return None
    reporter.update(message=f"did it learn? asking its {len(prepared.train_conversations)} training questions again")
    started = time.time()
    report = learned_report(model, tokenizer, prepared, config.chat.max_new_tokens, config.train.max_length)
    report["seconds"] = round(time.time() - started, 2)
    write_json(run_dir / LEARNED_FILE, report)
    log.info("did it learn: %d/%d training questions right (%.1f s)", report["trained"]["right"],
             report["trained"]["total"], report["seconds"])
    return report


def _explain_failure(err: Exception, config: AirbotConfig) -> str:
    """A message a person can act on; the traceback stays in train.log."""
    import torch

    text = f"{type(err).__name__}: {err}"
    t = config.train
    if isinstance(err, (MemoryError, torch.OutOfMemoryError)) or "out of memory" in str(err).lower():
        return (f"Training ran out of memory ({text[:200]}). Lower train.batch_size (now {t.batch_size}) or "
                f"train.max_length (now {t.max_length}), or use method qlora.")
    return f"Training failed: {text[:300]}. See train.log in the run folder for the full traceback."


def _attach_log(run_dir: Path) -> logging.Handler:
    handler = logging.FileHandler(run_dir / "train.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    root = logging.getLogger("airbot")
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    return handler


def _peak_rss_mb() -> float:
    """Peak resident memory of this process (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
