"""Before pressing Start: trainable parameters, memory and time for this run on this machine.

Parameters are exact: the model is built on PyTorch's ``meta`` device (no weights, no memory)
and wrapped with the same PEFT config training will use. Memory is an estimate from parameter
counts and the batch's activations, calibrated against measured peak RSS. Time comes from the
train tokens/s of earlier runs of the same method here (read from their status.json), else from
constants measured on a 2-core laptop CPU (see bench/train_speed.py)::

    python -c "from airbot.train.preflight import preflight; from airbot.config import load_config; \\
               print(preflight(load_config(), 'airbot/samples/airline_train.jsonl'))"
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from airbot.config import AirbotConfig, Method
from airbot.train.budget import Budget, apply_budget

# Train tokens/s (non-padding) measured for SmolLM2-135M on a 2-core AVX512-BF16 CPU, batch 4.
CPU_TOKENS_PER_S = {"qlora": 500.0, "lora": 550.0, "full": 300.0, "prompt": 500.0, "prefix": 500.0}
GPU_SPEEDUP = 20.0
FP32_CPU_SHARE = 0.15  # a 2-core Xeon without AVX512-BF16 trains in fp32: 60-85 tok/s beside other work
FIXED_OVERHEAD_S = {"cpu": 12.0, "cuda": 20.0}  # start-up before the first step: model load, probe, evaluations
AFTER_S = 6.0  # after the last step: saving the adapter, the probe again
REPLAY_ROW_TOKENS = 50  # a replay row (system prompt, general question, the base model's answer) in tokens
CHECK_SPEEDUP = 1.8  # the did-it-learn forward pass (merged weights, no backward, but every position's logits)
                    # ran 1.9x training's tokens/s on the airline sample (2-core Xeon, fp32)
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
    budget: Budget | None = None
    """The passes 'auto' epochs chose for this data (None: the epochs were given)."""

    def budget_line(self) -> str:
        """'139 pairs → 8 epochs (280 steps), ~2.1 min': what Start will do, and why."""
        if self.budget is None:
            return ""
        return (f"**{self.budget.reason}, ~{_duration(self.seconds)}** — epochs on auto: chosen from the number "
                f"of pairs so the bot learns its training questions (set Epochs to override)")

    def line(self) -> str:
        """One line for the UI."""
        share = 100 * self.trainable_params / max(self.total_params, 1)
        cost = (f"**{self.trainable_params:,}** trainable parameters ({share:.2f}% of {self.total_params:,}) · "
                f"memory ≈ **{self.memory_mb / 1024:.1f} GB** · time ≈ **{_duration(self.seconds)}** "
                f"({self.train_tokens:,} train tokens at {self.tokens_per_s:.0f} tokens/s, "
                f"{self.tokens_per_s_source}; start-up and the did-it-learn check included)")
        return f"{self.budget_line()}\n\n{cost}" if self.budget else cost


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
    config, budget, rows = _planned(config, lengths)
    tokens = _tokens_to_train(config, rows)
    speed, source = _tokens_per_s(config, device)
    seconds = tokens / speed + _overhead_s(config, device, sum(lengths), speed)
    return Preflight(trainable, total, memory_mb(config, counts, trainable), tokens, speed, source, seconds, budget)


def _planned(config: AirbotConfig, lengths: tuple[int, ...]) -> tuple[AirbotConfig, Budget | None, tuple[int, ...]]:
    """The epochs 'auto' picks and every row a pass trains: the user's, their rewordings (train.augment: about
    as long as the originals) and the replay rows (train.replay), as finetune will build them."""
    from airbot.train.replay import replay_count

    pairs = len(lengths)
    replay = replay_count(pairs, config.train.replay)
    rows = lengths * (1 + config.train.augment)
    config, budget = apply_budget(config, len(rows), sum(rows), pairs=pairs, replay=replay)
    return config, budget, rows + (REPLAY_ROW_TOKENS,) * replay


def _overhead_s(config: AirbotConfig, device: str, epoch_tokens: int, speed: float) -> float:
    """Seconds outside the training loop: start-up (load, probe, first eval; measured on earlier runs here when
    there are some) and the did-it-learn check, one forward pass over the training rows (~1/3 of a training pass)."""
    measured = _measured(config.train.method, config.model.base, device, "startup_s")
    startup = statistics.median(measured) if measured else FIXED_OVERHEAD_S.get(device, 12.0)
    check = epoch_tokens / (speed * CHECK_SPEEDUP) if config.train.learned_check else 0.0
    return startup + AFTER_S + check


@lru_cache(maxsize=32)
def parameter_counts(base: str, method: Method, lora_r: int, target_modules: str,
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
    measured = _measured(config.train.method, config.model.base, device, "tokens_per_s")
    if measured:
        return statistics.median(measured), f"measured on {len(measured)} earlier run(s) here"
    from airbot.models import bf16_supported

    base = CPU_TOKENS_PER_S[config.train.method]
    if device == "cuda":
        return base * GPU_SPEEDUP, "rough GPU estimate"
    if not bf16_supported("cpu"):
        return base * FP32_CPU_SHARE, "calibrated on a shared 2-core CPU without bf16 units"
    return base, "calibrated on a 2-core laptop CPU"


def _measured(method: str, base: str, device: str, key: str) -> list[float]:
    """``key`` of the run summary (tokens_per_s, startup_s) of the 5 newest finished runs of this method, base and
    device here."""
    from airbot.train.runs import list_runs, read_status

    found = []
    for info in list_runs():
        if info.phase != "done":
            continue
        status: dict[str, Any] = read_status(info.path)
        value = (status.get("summary") or {}).get(key)
        if value and status.get("method") == method and status.get("base") == base and status.get("device") == device:
            found.append(float(value))
    return found[:5]
