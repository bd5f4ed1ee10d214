"""Fine-tune the base model on a Q&A set: full, LoRA, QLoRA, prompt tuning or prefix tuning.

Small pure builders turn the config into library objects (``build_quantization``,
``build_peft_config``, ``build_sft_config``); ``run_finetune`` is the one entry point the CLI,
the UI's background job and the tests call. It writes everything into a run folder (see
``airbot.runs``)::

    python -m airbot train --data airbot/samples/airline_train.jsonl --out /tmp/run --epochs 1
    python -m airbot train --config configs/airline-lora.yaml --set train.max_steps=20

Why the defaults are fast on a laptop CPU (each measured; bench/train.py compares with plain
TRL): eager attention instead of PyTorch's CPU flash-attention kernel (whose backward is slow
on short rows), QLoRA's NF4 base quantized once and kept dequantized in bf16 instead of
bitsandbytes dequantizing every weight at every step (same weights bit for bit; the 4-bit memory
saving is given up on CPU, CUDA keeps bitsandbytes 4-bit), no gradient checkpointing, bf16
autocast where the CPU has bf16 units, frozen weights stored in the compute dtype, dropout 0,
batches grouped by length (little padding), tokenization once before the trainer, and an LM
head that scores only the answer tokens that carry loss (``airbot.trainer_speed``) instead of
the whole 49k-word vocabulary at every position.
"""

from __future__ import annotations

import logging
import os
import resource
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airbot.config import AirbotConfig, save_config
from airbot.errors import AirbotError, ConfigError, JobError
from airbot.sft_data import PreparedData, prepare_data, resolve_data_path, tokenize_rows, with_system

__all__ = ["RunResult", "build_peft_config", "build_quantization", "build_sft_config", "build_trainer", "load_model",
           "prepare_data", "resolve_data_path", "resolve_train_config", "run_finetune", "tokenize_rows",
           "with_system"]

if TYPE_CHECKING:
    import torch
    from peft import PeftConfig
    from transformers import PreTrainedModel, PreTrainedTokenizerBase
    from trl import SFTConfig, SFTTrainer

    from airbot.train_progress import Reporter, RunCallback

log = logging.getLogger("airbot.finetune")
# A learning rate that suits each method when train.learning_rate is 0 (the default). Adapters
# and soft prompts start from zero/neutral and need large steps to move in ~100 updates; full
# fine-tuning moves every weight and needs ~10x smaller ones.
METHOD_LR = {"qlora": 1e-3, "lora": 1e-3, "full": 5e-5, "prompt": 3e-2, "prefix": 1e-2}
PROMPT_INIT_TEXT = "You are a helpful customer support assistant. Answer the customer's question accurately."


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


# --- builders ---------------------------------------------------------------------------------
def resolve_train_config(config: AirbotConfig) -> AirbotConfig:
    """Fill the 'auto' values (learning rate 0 means the method's usual one) so the saved config replays."""
    train = config.train
    if train.learning_rate <= 0:
        train = replace(train, learning_rate=METHOD_LR[train.method])
    return replace(config, train=train)


def compute_dtype(config: AirbotConfig, device: str) -> torch.dtype:
    """bf16 where the hardware has it (or where asked), else fp32; fp16 only on CUDA."""
    import torch

    from airbot.models import bf16_supported

    precision = config.train.precision
    if precision == "fp16" and device != "cuda":
        raise ConfigError("train.precision 'fp16' needs a CUDA GPU; use 'auto', 'bf16' or 'fp32' on CPU.")
    if precision == "auto":
        return torch.bfloat16 if bf16_supported(device) else torch.float32
    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def build_quantization(config: AirbotConfig, dtype: torch.dtype | None = None) -> Any:
    """bitsandbytes NF4 (double-quantized) for QLoRA; None for every other method."""
    if config.train.method != "qlora":
        return None
    from airbot.models import pick_device, quantization_config

    return quantization_config(dtype or compute_dtype(config, pick_device(config.model.device)))


def _target_modules(spec: str) -> str | list[str]:
    spec = spec.strip()
    return spec if spec == "all-linear" else [m.strip() for m in spec.split(",") if m.strip()]


def build_peft_config(config: AirbotConfig, base_path: str | None = None) -> PeftConfig | None:
    """LoRA for lora/qlora, soft prompts for prompt/prefix, None for full fine-tuning."""
    from peft import LoraConfig, PrefixTuningConfig, PromptTuningConfig, PromptTuningInit, TaskType

    t = config.train
    if t.method in ("lora", "qlora"):
        return LoraConfig(task_type=TaskType.CAUSAL_LM, r=t.lora_r, lora_alpha=t.lora_alpha,
                          lora_dropout=t.lora_dropout, target_modules=_target_modules(t.target_modules))
    if t.method == "prompt":
        # Starting from real words converges far faster than random vectors (Lester et al., 2021).
        init = {"prompt_tuning_init": PromptTuningInit.TEXT, "prompt_tuning_init_text": PROMPT_INIT_TEXT,
                "tokenizer_name_or_path": base_path} if base_path else {}
        return PromptTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=t.num_virtual_tokens, **init)
    if t.method == "prefix":
        # Zero prefixes start as a near no-op; PEFT's default random ones wreck the model's first answers
        # (initial loss ~8 instead of ~3 on the airline sample) and take many steps to recover.
        return PrefixTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=t.num_virtual_tokens,
                                  init_weights="zero")
    return None


def build_sft_config(config: AirbotConfig, out_dir: Path, *, device: str = "cpu",
                     has_eval: bool = True) -> SFTConfig:
    """TRL's SFTConfig with airbot's fast defaults (see the module docstring for why each)."""
    import torch
    from trl import SFTConfig

    from airbot.train_progress import dist_info

    t = config.train
    dtype = compute_dtype(config, device)
    world = dist_info()[1]
    eval_strategy = "no" if not has_eval else ("steps" if t.eval_steps > 0 else "epoch")
    return SFTConfig(
        output_dir=str(out_dir), num_train_epochs=t.epochs, max_steps=t.max_steps,
        per_device_train_batch_size=t.batch_size, per_device_eval_batch_size=max(t.batch_size, 8),
        gradient_accumulation_steps=t.grad_accum, learning_rate=t.learning_rate, warmup_steps=t.warmup_ratio,
        lr_scheduler_type="cosine", weight_decay=0.0, seed=t.seed, data_seed=t.seed,
        activation_checkpointing=t.gradient_checkpointing, bf16=dtype == torch.bfloat16, fp16=dtype == torch.float16,
        use_cpu=device == "cpu", max_length=t.max_length,
        train_sampling_strategy="group_by_length" if t.group_by_length else "random",
        eval_strategy=eval_strategy, eval_steps=t.eval_steps or None,
        logging_strategy="steps", logging_steps=1, save_strategy="no", report_to=[], disable_tqdm=True,
        dataloader_num_workers=0, dataloader_pin_memory=device == "cuda",
        dataset_kwargs={"skip_prepare_dataset": True},  # tokenized once, by tokenize_rows
        ddp_backend=("gloo" if device == "cpu" else "nccl") if world > 1 else None,
        ddp_find_unused_parameters=False if world > 1 else None,
        log_level="warning",
    )


# --- model ------------------------------------------------------------------------------------
def load_model(config: AirbotConfig, device: str, dtype: torch.dtype) -> PreTrainedModel:
    """The base model as each method wants it.

    QLoRA: NF4-quantized weights, compute in ``dtype``; on CUDA (or with
    ``train.qlora_cpu_base: bitsandbytes``) stored 4-bit by bitsandbytes, on CPU by default
    dequantized once (``load_nf4_rounded``). LoRA, prompt and prefix tuning freeze the
    base, so it is stored in the compute dtype (no per-step casts). Full fine-tuning keeps fp32
    master weights (autocast does the bf16 math) because bf16 weights would swallow small updates.
    """
    import torch

    from airbot.models import load_causal_lm
    from airbot.train_progress import dist_info

    method = config.train.method
    if method == "qlora" and device != "cuda" and config.train.qlora_cpu_base == "nf4-bf16":
        model = load_nf4_rounded(config, device, dtype)
    elif method == "qlora":
        local_rank = dist_info()[2]
        if device == "cuda" and local_rank > 0:
            torch.cuda.set_device(local_rank)
        model = load_causal_lm(config.model.base, load_in_4bit=True, dtype=dtype, device=device)
        keep_4bit_trainable(model)
    else:
        weights = torch.float32 if method == "full" or dtype == torch.float16 else dtype
        model = load_causal_lm(config.model.base, dtype=weights, device=device)
    if device == "cpu":
        # PyTorch's CPU flash-attention kernel (what "sdpa" picks) has a slow backward for short
        # rows (17 ms per layer per step in the profile): eager attention cut a step's CPU time
        # ~20% and its wall time ~1.8-2x on the shared 2-core box.
        model.set_attn_implementation("eager")
    return model


def load_nf4_rounded(config: AirbotConfig, device: str, dtype: torch.dtype) -> PreTrainedModel:
    """QLoRA's frozen base without 4-bit storage: NF4-quantize once, keep the dequantized weights.

    bitsandbytes stores each linear weight as NF4 and dequantizes it to the compute dtype at
    every forward and backward. Quantizing once and storing the dequantized weights gives the
    adapters the very same frozen numbers (``airbot.export.match_training_base`` rebuilds them
    bit for bit for inference, and the tests compare with bitsandbytes; losses agree to the
    third decimal step by step) at plain-matmul speed: ~7% less CPU per step on the 2-core
    EPYC (bitsandbytes 0.50's CPU dequantization is already quick). The price is the 4-bit
    memory saving: weights take 2 bytes each instead of ~0.5 (270 MB instead of ~90 MB for
    SmolLM2-135M), which does not matter at this size.
    """
    import torch

    from airbot.export import round_trip_nf4
    from airbot.models import load_causal_lm

    weights = dtype if dtype in (torch.bfloat16, torch.float32) else torch.float32
    model = load_causal_lm(config.model.base, dtype=weights, device=device)
    round_trip_nf4(model)
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def keep_4bit_trainable(model: PreTrainedModel) -> None:
    """Stop bitsandbytes repacking 4-bit weights for CPU inference, which silently breaks training.

    On CPUs with AVX512-BF16, the first no-grad eval-mode forward of a ``Linear4bit`` (our
    forgetting probe, the held-out eval) repacks its weight for a fast inference kernel
    (``gemv_4bit``) that has no backward. Later training steps then get wrong gradients and the
    loss climbs instead of falling (bitsandbytes 0.50: "an autograd kernel was not registered").
    """
    for module in model.modules():
        if hasattr(module, "support_avx512bf16_for_cpu"):
            module.support_avx512bf16_for_cpu = False


def build_trainer(config: AirbotConfig, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase,
                  prepared: PreparedData, out_dir: Path, *, device: str,
                  callbacks: list[Any] | None = None) -> SFTTrainer:
    """An SFTTrainer over the pre-tokenized data; PEFT wrapping (and seeding before it) is TRL's."""
    import torch
    from transformers.trainer_callback import PrinterCallback
    from trl import SFTTrainer

    from airbot.models import resolve_base_model
    from airbot.trainer_speed import install_compact_lm_head

    peft_config = build_peft_config(config, str(resolve_base_model(config.model.base)))
    args = build_sft_config(config, out_dir, device=device, has_eval=prepared.heldout is not None)
    trainer = SFTTrainer(model=model, args=args, train_dataset=prepared.train, eval_dataset=prepared.heldout,
                         processing_class=tokenizer, peft_config=peft_config, callbacks=callbacks or [])
    trainer.remove_callback(PrinterCallback)  # it prints a dict per step; RunCallback logs one line instead
    if config.train.method == "qlora" and args.bf16 and not getattr(model, "is_loaded_in_4bit", False):
        # TRL keeps QLoRA adapters in bf16 (the QLoRA paper's recipe) only when bitsandbytes loaded the base;
        # do the same for the NF4-rounded base, so both QLoRA paths train identical parameters (and it saves
        # the per-matmul fp32 -> bf16 casts of the adapters). The optimizer is built later, in train().
        for param in trainer.model.parameters():
            if param.requires_grad:
                param.data = param.data.to(torch.bfloat16)
    install_compact_lm_head(trainer)
    return trainer


def count_parameters(model: PreTrainedModel) -> tuple[int, int]:
    """(trainable, total) parameters; 4-bit weights count as their unpacked size."""
    trainable = total = 0
    for p in model.parameters():
        n = p.numel() * (2 if p.dtype.itemsize == 1 and not p.is_floating_point() else 1)
        total += n
        trainable += n if p.requires_grad else 0
    return trainable, total


def save_adapter(trainer: SFTTrainer, tokenizer: PreTrainedTokenizerBase, run_dir: Path,
                 config: AirbotConfig | None = None) -> Path:
    """Save into ``adapter.tmp/`` then rename, so ``adapter/`` is always complete or absent.

    PEFT methods write ``adapter_config.json`` + ``adapter_model.safetensors``; full fine-tuning
    writes the whole model (``config.json`` + safetensors). The tokenizer (with its chat
    template) goes along so the folder is self-contained, and ``airbot_training.json`` says
    which base weights the adapter expects (QLoRA: NF4-rounded; see ``match_training_base``).
    """
    import shutil

    from airbot.export import TRAINING_META
    from airbot.runs import write_json

    tmp, final = run_dir / "adapter.tmp", run_dir / "adapter"
    shutil.rmtree(tmp, ignore_errors=True)
    model = trainer.accelerator.unwrap_model(trainer.model)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    if config is not None:  # how to rebuild the base it was trained on (airbot.export.match_training_base)
        write_json(tmp / TRAINING_META, {"method": config.train.method, "base": config.model.base,
                                          "base_quantization": "nf4" if config.train.method == "qlora" else None})
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    return final


# --- the run ----------------------------------------------------------------------------------
def run_finetune(config: AirbotConfig, data: Path | str | None, run_dir: Path, *,
                 progress: Callable[[dict[str, Any]], None] | None = None,
                 should_stop: Callable[[], bool] | None = None) -> RunResult:
    """Train, evaluate, probe and save one run into ``run_dir``; the single path every caller uses.

    ``progress`` receives the status dict at each change; ``should_stop`` (and the run's
    ``cancel`` flag file) stop training at the next step and save a partial adapter. Failures end
    as status ``failed`` with a message that says what to change, then raise ``AirbotError``.
    """
    from airbot.train_progress import Cancelled, Reporter

    started = time.time()
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    config = resolve_train_config(config)
    reporter = Reporter(run_dir, progress, should_stop)
    handler = _attach_log(run_dir) if reporter.is_main else None
    try:
        return _run(config, data, run_dir, reporter)
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


def _run(config: AirbotConfig, data: Path | str | None, run_dir: Path, reporter: Reporter) -> RunResult:
    from airbot.models import load_tokenizer, pick_device
    from airbot.train_progress import Cancelled, RunCallback
    from airbot.trainer_speed import pick_threads

    started = time.time()
    device = pick_device(config.model.device)
    dtype = compute_dtype(config, device)
    reporter.start(config, device)
    if device == "cpu":
        log.info("CPU threads: %d", pick_threads(config.train.threads))
    if reporter.is_main:
        save_config(config, run_dir / "config.yaml")
    reporter.update(phase="tokenizing", message="reading and tokenizing the training set")
    tokenizer = load_tokenizer(config.model.base)
    prepared = prepare_data(config, data, tokenizer)
    if reporter.is_main:  # record the file actually used, so config.yaml replays this exact run
        save_config(replace(config, data=replace(config.data, path=str(prepared.path))), run_dir / "config.yaml")
    log.info("data %s: %d train rows, %d held-out, %d truncated to %d tokens", prepared.path, prepared.train_rows,
             prepared.heldout_rows, prepared.truncated, config.train.max_length)
    reporter.checkpoint()
    reporter.update(phase="loading model", message=f"loading {config.model.base} for {config.train.method} on {device}")
    model = load_model(config, device, dtype)
    probe_rows, before = _probe_before(config, model, tokenizer, reporter)
    reporter.checkpoint()
    callback = RunCallback(reporter)
    trainer = build_trainer(config, model, tokenizer, prepared, run_dir, device=device, callbacks=[callback])
    trainable, total = count_parameters(trainer.model)
    log.info("trainable parameters: %d of %d (%.2f%%)", trainable, total, 100 * trainable / max(total, 1))
    eval_before = _evaluate(trainer, prepared)
    train_start = time.time()
    reporter.update(phase="training", message="training", train_started=train_start)
    trainer.train()
    train_s = time.time() - train_start
    eval_after = _final_eval(trainer, prepared, callback)
    partial = callback.stopped
    if partial and trainer.state.global_step == 0:
        raise Cancelled
    reporter.update(phase="saving", message="saving the adapter" + (" (partial)" if partial else ""))
    if reporter.is_main:
        save_adapter(trainer, tokenizer, run_dir, config)
        _probe_after(trainer, tokenizer, config, probe_rows, before, run_dir)
    result = RunResult(run_dir=run_dir, phase="cancelled" if partial else "done", partial=partial,
                       steps=trainer.state.global_step, first_loss=callback.first_loss,
                       train_loss=callback.recent_loss(), eval_loss_before=eval_before, eval_loss=eval_after,
                       wall_s=round(time.time() - started, 2), train_s=round(train_s, 2),
                       train_tokens=callback.tokens, tokens_per_s=round(callback.tokens / max(train_s, 1e-9), 1),
                       trainable_params=trainable, total_params=total, peak_rss_mb=_peak_rss_mb(),
                       train_rows=prepared.train_rows, heldout_rows=prepared.heldout_rows)
    reporter.finish(result.phase, partial, result.summary())
    return result


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
    from airbot.probe import load_probe, run_probe

    rows = load_probe() if config.train.probe and reporter.is_main else []
    if not rows:
        return [], []
    reporter.update(message="forgetting probe: answering general questions before training")
    return rows, run_probe(model, tokenizer, rows, config.chat.system_prompt)


def _probe_after(trainer: SFTTrainer, tokenizer: PreTrainedTokenizerBase, config: AirbotConfig,
                 rows: list[dict[str, Any]], before: list[dict[str, Any]], run_dir: Path) -> None:
    from airbot.probe import probe_report, run_probe
    from airbot.runs import write_json

    if not rows:
        return
    model = trainer.accelerator.unwrap_model(trainer.model)
    after = run_probe(model, tokenizer, rows, config.chat.system_prompt)
    write_json(run_dir / "probe.json", probe_report(before, after))


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


def env_summary() -> dict[str, Any]:
    """Threads and launcher facts worth logging next to speed figures."""
    import torch

    from airbot.train_progress import dist_info

    return {"torch_threads": torch.get_num_threads(), "world_size": dist_info()[1], "pid": os.getpid()}
