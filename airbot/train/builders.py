"""Small builders that turn an ``AirbotConfig`` into the library objects a run trains with:
the compute dtype, bitsandbytes quantization, the PEFT config, TRL's ``SFTConfig`` and the
``SFTTrainer`` over them. ``airbot.train.finetune.run_finetune`` calls them in order; the tests and
``airbot.train.preflight`` call them one by one.

    from airbot.config import load_config
    from airbot.train.builders import build_peft_config
    build_peft_config(load_config("configs/airline-lora.yaml"))   # LoraConfig(r=..., ...)

Why each fast default is the default: see ``airbot.train.finetune``'s module docstring.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airbot.config import AirbotConfig
from airbot.errors import ConfigError
from airbot.train.sft_data import PreparedData

log = logging.getLogger("airbot.train.builders")

if TYPE_CHECKING:
    import torch
    from peft import PeftConfig
    from transformers import PreTrainedModel, PreTrainedTokenizerBase
    from trl import SFTConfig, SFTTrainer

PROMPT_INIT_TEXT = "You are a helpful customer support assistant. Answer the customer's question accurately."


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
        if base_path:
            return PromptTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=t.num_virtual_tokens,
                                      prompt_tuning_init=PromptTuningInit.TEXT, prompt_tuning_init_text=PROMPT_INIT_TEXT,
                                      tokenizer_name_or_path=base_path)
        return PromptTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=t.num_virtual_tokens)
    if t.method == "prefix":
        # Zero prefixes start as a near no-op; PEFT's default random ones wreck the model's first answers
        # (initial loss ~8 instead of ~3 on the airline sample) and take many steps to recover.
        return PrefixTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=t.num_virtual_tokens,
                                  init_weights="zero")
    return None


def build_sft_config(config: AirbotConfig, out_dir: Path, *, device: str = "cpu",
                     has_eval: bool = True) -> SFTConfig:
    """TRL's SFTConfig with airbot's fast defaults (``airbot.train.finetune``'s module docstring says why each)."""
    import torch
    from trl import SFTConfig

    from airbot.train.progress import dist_info

    t = config.train
    if t.epochs == "auto":  # the budget needs the data: build_trainer (or airbot.train.budget.apply_budget) decides
        raise ConfigError("train.epochs is 'auto': resolve it with airbot.train.budget.apply_budget first.")
    dtype = compute_dtype(config, device)
    world = dist_info()[1]
    eval_strategy = "no" if not has_eval else ("steps" if t.eval_steps > 0 else "epoch")
    return SFTConfig(
        output_dir=str(out_dir), num_train_epochs=t.epochs, max_steps=t.max_steps,
        per_device_train_batch_size=t.batch_size, per_device_eval_batch_size=max(t.batch_size, 8),
        gradient_accumulation_steps=t.grad_accum, learning_rate=t.learning_rate, warmup_steps=t.warmup_ratio,
        lr_scheduler_type="cosine", weight_decay=t.weight_decay, seed=t.seed, data_seed=t.seed,
        neftune_noise_alpha=t.neftune_alpha or None,
        activation_checkpointing=t.gradient_checkpointing, bf16=dtype == torch.bfloat16, fp16=dtype == torch.float16,
        use_cpu=device == "cpu", max_length=t.max_length,
        train_sampling_strategy="group_by_length" if t.group_by_length else "random",
        eval_strategy=eval_strategy, eval_steps=t.eval_steps or None,
        # checkpoints by time, not steps (airbot.train.progress.CheckpointEvery sets should_save); one kept
        logging_strategy="steps", logging_steps=1, save_strategy="no", save_total_limit=1, report_to=[],
        disable_tqdm=True,
        dataloader_num_workers=0, dataloader_pin_memory=device == "cuda",
        dataset_kwargs={"skip_prepare_dataset": True},  # tokenized once, by tokenize_rows
        ddp_backend=("gloo" if device == "cpu" else "nccl") if world > 1 else None,
        ddp_find_unused_parameters=False if world > 1 else None,
        log_level="warning",
    )


def build_trainer(config: AirbotConfig, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase,
                  prepared: PreparedData, out_dir: Path, *, device: str,
                  callbacks: list[Any] | None = None) -> SFTTrainer:
    """An SFTTrainer over the pre-tokenized data; PEFT wrapping (and seeding before it) is TRL's."""
    import torch
    from transformers.trainer_callback import PrinterCallback
    from trl import SFTTrainer

    from airbot.models import resolve_base_model
    from airbot.train.budget import apply_budget
    from airbot.train.int8_base import install as install_int8
    from airbot.train.int8_base import int8_pays
    from airbot.train.progress import dist_info
    from airbot.train.step import install_compact_lm_head

    config = apply_budget(config, prepared.train_rows, prepared.train_tokens, dist_info()[1])[0]  # if still 'auto'
    peft_config = build_peft_config(config, str(resolve_base_model(config.model.base)))
    args = build_sft_config(config, out_dir, device=device, has_eval=prepared.heldout is not None)
    trainer = SFTTrainer(model=model, args=args, train_dataset=prepared.train, eval_dataset=prepared.heldout,
                         processing_class=tokenizer, peft_config=peft_config, callbacks=callbacks or [])
    trainer.remove_callback(PrinterCallback)  # it prints a dict per step; RunCallback logs one line instead
    if config.train.method == "qlora" and args.bf16 and not getattr(model, "is_loaded_in_4bit", False):
        # TRL keeps QLoRA adapters in bf16 (the QLoRA paper's recipe) only when bitsandbytes loaded the base;
        # do the same for the NF4-rounded base, so both QLoRA paths train identical parameters (and it saves
        # the per-matmul fp32 -> bf16 casts of the adapters). The optimizer is built later, in train().
        assert trainer.model is not None  # SFTTrainer always holds the (PEFT-wrapped) model it was given
        for param in trainer.model.parameters():
            if param.requires_grad:
                param.data = param.data.to(torch.bfloat16)
    install_compact_lm_head(trainer)
    if config.train.loraplus_ratio > 1 and config.train.method in ("lora", "qlora"):
        trainer.optimizer = loraplus_optimizer(trainer.model, args, config.train.loraplus_ratio)
    if config.train.method == "qlora" and device != "cuda" and config.train.qlora_cpu_base == "nf4-int8" \
            and int8_pays(compute_dtype(config, device)):
        log.info("frozen base multiplied in int8: %d layers (train.qlora_cpu_base nf4-int8)", install_int8(trainer.model))
    return trainer


def loraplus_optimizer(model: Any, args: SFTConfig, ratio: float) -> Any:
    """The trainer's own AdamW (same betas, epsilon, decay, fused) with LoRA+'s groups: B at ``ratio`` x the rate.

    Set as ``trainer.optimizer`` before ``train()``, the Trainer keeps it and builds its schedule on it (every
    group's rate follows the same warm-up and cosine), and checkpoints save and resume its state as usual.
    """
    import torch
    from peft.optimizers import create_loraplus_optimizer

    return create_loraplus_optimizer(model, torch.optim.AdamW, lr=args.learning_rate, loraplus_lr_ratio=ratio,
                                     weight_decay=args.weight_decay, betas=(args.adam_beta1, args.adam_beta2),
                                     eps=args.adam_epsilon, fused=True)
