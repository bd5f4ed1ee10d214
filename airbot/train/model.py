"""The model side of a fine-tuning run: load the base each method wants, count what trains,
save the adapter atomically. ``airbot.train.finetune.run_finetune`` is the caller.

QLoRA on CPU keeps bitsandbytes' NF4 numbers but not its 4-bit storage (``load_nf4_rounded``);
``match_training_base`` rebuilds the same base for inference.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from airbot.config import AirbotConfig
from airbot.storage import read_json

TRAINING_META = "airbot_training.json"
"""Sidecar written next to every adapter: method, base, and the base quantization it was trained on."""

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase
    from trl import SFTTrainer

    from airbot.models import Device


def load_model(config: AirbotConfig, device: Device, dtype: torch.dtype) -> PreTrainedModel:
    """The base model as each method wants it.

    QLoRA: NF4-quantized weights, compute in ``dtype``; on CUDA (or with
    ``train.qlora_cpu_base: bitsandbytes``) stored 4-bit by bitsandbytes, on CPU by default
    dequantized once (``load_nf4_rounded``). LoRA, prompt and prefix tuning freeze the
    base, so it is stored in the compute dtype (no per-step casts). Full fine-tuning keeps fp32
    master weights (autocast does the bf16 math) because bf16 weights would swallow small updates.
    """
    import torch

    from airbot.models import load_causal_lm
    from airbot.train.progress import dist_info

    method = config.train.method
    if method == "qlora" and device != "cuda" and config.train.qlora_cpu_base in ("nf4-int8", "nf4-bf16"):
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


def load_nf4_rounded(config: AirbotConfig, device: Device, dtype: torch.dtype) -> PreTrainedModel:
    """QLoRA's frozen base without 4-bit storage: NF4-quantize once, keep the dequantized weights.

    bitsandbytes stores each linear weight as NF4 and dequantizes it to the compute dtype at
    every forward and backward. Quantizing once and storing the dequantized weights gives the
    adapters the very same frozen numbers (``match_training_base`` rebuilds them
    bit for bit for inference, and the tests compare with bitsandbytes; losses agree to the
    third decimal step by step) at plain-matmul speed: ~7% less CPU per step on the 2-core
    EPYC (bitsandbytes 0.50's CPU dequantization is already quick). The price is the 4-bit
    memory saving: weights take 2 bytes each instead of ~0.5 (270 MB instead of ~90 MB for
    SmolLM2-135M), which does not matter at this size.
    """
    import torch

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
            # torch types Module.__setattr__'s value as Tensor | Module, yet modules keep plain attributes too
            module.support_avx512bf16_for_cpu = False  # type: ignore[assignment]


def count_parameters(model: torch.nn.Module) -> tuple[int, int]:
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

    from airbot.storage import write_json

    tmp, final = run_dir / "adapter.tmp", run_dir / "adapter"
    shutil.rmtree(tmp, ignore_errors=True)
    model = trainer.accelerator.unwrap_model(trainer.model)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    if config is not None:  # how to rebuild the base it was trained on (match_training_base)
        write_json(tmp / TRAINING_META, {"method": config.train.method, "base": config.model.base,
                                          "base_quantization": "nf4" if config.train.method == "qlora" else None})
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    return final


def match_training_base(model: PreTrainedModel, adapter: Path) -> PreTrainedModel:
    """Give a full-precision base the exact weights a QLoRA adapter was trained against.

    QLoRA trains on NF4-rounded weights; on a 135M model that rounding moves a weight by ~11% on
    average, and the adapter learns to correct *those* weights. Applied to the original fp32
    base, a QLoRA adapter answered 0 of 10 training questions with their key facts, against 3 of
    10 on the 4-bit base it was trained with (SmolLM2-135M, airline sample, 5 epochs). So every
    ``nn.Linear`` that bitsandbytes quantizes (all but the output embedding) is round-tripped
    through the same NF4 quantization (bf16 input, block 64, double quantization), which
    reproduces the training-time weights bit for bit, with no bitsandbytes at inference time.
    Adapters not trained on a quantized base are returned untouched.
    """
    meta = read_json(Path(adapter) / TRAINING_META) or {}
    if meta.get("base_quantization") != "nf4":
        return model
    round_trip_nf4(model)
    return model


def round_trip_nf4(model: Any) -> None:
    """NF4-quantize and dequantize every linear but the LM head in place: training (CPU QLoRA) and
    inference (``match_training_base``) both need these exact weights."""
    import bitsandbytes.functional as bnbf
    import torch

    head = model.get_output_embeddings()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.Linear) and module is not head:
                w = module.weight.data
                packed, state = bnbf.quantize_4bit(w.to(torch.bfloat16), blocksize=64, quant_type="nf4",
                                                   compress_statistics=True)
                w.copy_(bnbf.dequantize_4bit(packed, state).to(w.dtype))
