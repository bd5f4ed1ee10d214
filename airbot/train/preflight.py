"""Before pressing Start: trainable parameters, memory and time for this run on this machine.

Parameters are exact: the model is built on PyTorch's ``meta`` device (no weights, no memory)
and wrapped with the same PEFT config training will use. Memory is an estimate from parameter
counts and the batch's activations, calibrated against measured peak RSS. Time comes from the
train tokens/s of earlier runs of the same method here (read from their status.json), else from
constants measured on a 2-core laptop CPU (see bench/train_speed.py)::

    python -c "from airbot.train.preflight import preflight; from airbot.config import load_config; \\
               print(preflight(load_config(), None))"
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from airbot.config import AirbotConfig

# Train tokens/s (non-padding) measured for SmolLM2-135M on a 2-core AVX512-BF16 CPU, batch 4.
CPU_TOKENS_PER_S = {"qlora": 500.0, "lora": 550.0, "full": 300.0, "prompt": 500.0, "prefix": 500.0}
GPU_SPEEDUP = 20.0
FIXED_OVERHEAD_S = {"cpu": 12.0, "cuda": 20.0}  # model load, probe, evaluations
RUNTIME_BASE_MB = 900.0  # torch + transformers + tokenizer resident before any weights


@dataclass
class Preflight:
    """What a run will cost, in the words the Train tab shows."""

    trainable_params: int
    total_params: int
    memory_mb: float
    train_tokens: int
    tokens_per_s: float
    tokens_per_s_source: str
    seconds: float

    def line(self) -> str:
        """One line for the UI."""
        share = 100 * self.trainable_params / max(self.total_params, 1)
        return (f"**{self.trainable_params:,}** trainable parameters ({share:.2f}% of {self.total_params:,}) · "
                f"memory ≈ **{self.memory_mb / 1024:.1f} GB** · time ≈ **{_duration(self.seconds)}** "
                f"({self.train_tokens:,} train tokens at {self.tokens_per_s:.0f} tokens/s, "
                f"{self.tokens_per_s_source})")


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def preflight(config: AirbotConfig, data: Path | str | None) -> Preflight:
    """Parameters, memory and time for ``config`` on ``data`` (the file training would read)."""
    from airbot.models import pick_device
    from airbot.train.finetune import resolve_train_config
    from airbot.train.sft_data import resolve_data_path

    config = resolve_train_config(config)
    device = pick_device(config.model.device)
    t = config.train
    trainable, total, counts = parameter_counts(config.model.base, t.method, t.lora_r, t.target_modules,
                                                t.num_virtual_tokens)
    path = resolve_data_path(config, data)
    lengths = _train_lengths(str(path), path.stat().st_mtime, config.model.base, config.data.heldout_fraction,
                             config.data.seed, config.train.max_length, config.chat.system_prompt)
    tokens = _tokens_to_train(config, lengths)
    speed, source = _tokens_per_s(config, device)
    seconds = tokens / speed + FIXED_OVERHEAD_S.get(device, 12.0)
    return Preflight(trainable, total, memory_mb(config, counts, trainable), tokens, speed, source, seconds)


@lru_cache(maxsize=32)
def parameter_counts(base: str, method: str, lora_r: int, target_modules: str,
                     num_virtual_tokens: int) -> tuple[int, int, dict[str, int]]:
    """(trainable, total, {'linear': n, 'other': n}) from a weightless copy of the model."""
    import dataclasses

    import torch
    from peft import get_peft_model
    from transformers import AutoConfig, AutoModelForCausalLM

    from airbot.models import resolve_base_model
    from airbot.train.builders import build_peft_config

    config = AirbotConfig()
    config.train = dataclasses.replace(config.train, method=method, lora_r=lora_r, target_modules=target_modules,
                                       num_virtual_tokens=num_virtual_tokens)
    base_path = resolve_base_model(base)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(base_path))
    linear = sum(m.weight.numel() for name, m in model.named_modules()
                 if isinstance(m, torch.nn.Linear) and not name.endswith("lm_head"))
    total = sum(p.numel() for p in model.parameters())
    peft_config = build_peft_config(config)  # no tokenizer path: init text is irrelevant to counting
    if peft_config is not None:
        model = get_peft_model(model, peft_config)
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    else:
        trainable = total
    return trainable, total, {"linear": linear, "other": total - linear}


def memory_mb(config: AirbotConfig, counts: dict[str, int], trainable: int) -> float:
    """Resident memory: weights as stored + fp32 grads and Adam state of what trains + activations."""
    import json

    from airbot.models import resolve_base_model

    method = config.train.method
    if method == "qlora":
        weights = counts["linear"] * 0.53 + counts["other"] * 2  # NF4 + its scales; embeddings in bf16
    elif method == "full":
        weights = (counts["linear"] + counts["other"]) * 4
    else:
        weights = (counts["linear"] + counts["other"]) * 2
    optimizer = trainable * 16  # fp32 weight copy, gradient, two Adam moments
    model_config = json.loads((resolve_base_model(config.model.base) / "config.json").read_text())
    hidden, layers = model_config.get("hidden_size", 1024), model_config.get("num_hidden_layers", 24)
    tokens = config.train.batch_size * config.train.max_length
    activations = tokens * hidden * layers * 34 + tokens * model_config.get("vocab_size", 32000) * 4
    return round(RUNTIME_BASE_MB + (weights + optimizer + activations) / 2**20, 0)


@lru_cache(maxsize=16)
def _train_lengths(path: str, mtime: float, base: str, heldout_fraction: float, seed: int, max_length: int,
                   system_prompt: str) -> tuple[int, ...]:
    """Token length of every training row as the trainer will see it (cached per file version)."""
    from airbot.data.dataset import read_dataset, split_rows, templated, token_lengths
    from airbot.models import shared_tokenizer
    from airbot.prompts import with_system

    tokenizer = shared_tokenizer(base)
    rows = read_dataset(path).rows
    train_idx, _ = split_rows(len(rows), heldout_fraction, seed)
    texts = [templated(with_system(rows[i], system_prompt), tokenizer) for i in train_idx]
    return tuple(min(n, max_length) for n in token_lengths(texts, tokenizer))


def _tokens_to_train(config: AirbotConfig, lengths: tuple[int, ...]) -> int:
    """Tokens the run will push through the model: all epochs, or max_steps batches if that is fewer."""
    per_epoch = sum(lengths)
    by_epochs = per_epoch * config.train.epochs
    if config.train.max_steps > 0 and lengths:
        rows = config.train.max_steps * config.train.batch_size * config.train.grad_accum
        return int(min(by_epochs, rows * per_epoch / len(lengths)))
    return int(by_epochs)


def _tokens_per_s(config: AirbotConfig, device: str) -> tuple[float, str]:
    """Median speed of earlier finished runs of this method, base and device; else the calibrated constant."""
    measured = _measured_speeds(config.train.method, config.model.base, device)
    if measured:
        return statistics.median(measured), f"measured on {len(measured)} earlier run(s) here"
    base = CPU_TOKENS_PER_S[config.train.method]
    if device == "cuda":
        return base * GPU_SPEEDUP, "rough GPU estimate"
    return base, "calibrated on a 2-core laptop CPU"


def _measured_speeds(method: str, base: str, device: str) -> list[float]:
    from airbot.train.runs import list_runs, read_status

    speeds = []
    for info in list_runs():
        if info.phase != "done" or not info.tokens_per_s:
            continue
        status: dict[str, Any] = read_status(info.path)
        if status.get("method") == method and status.get("base") == base and status.get("device") == device:
            speeds.append(float(info.tokens_per_s))
    return speeds[:5]
