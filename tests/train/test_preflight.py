"""airbot.train.preflight: exact parameter counts per method on the embedded SmolLM2-135M (full
trains everything, LoRA and QLoRA the same small share), memory that grows with the batch, and a
preflight of the shipped sample that states parameters, memory and time in one line."""

from __future__ import annotations

from pathlib import Path

from airbot.config import load_config
from airbot.train.preflight import memory_mb, parameter_counts, preflight

BASE = "smollm2-135m"
SAMPLE = Path(__file__).resolve().parents[2] / "airbot" / "samples" / "airline_train.jsonl"


def test_parameter_counts_per_method() -> None:
    full_trainable, total, counts = parameter_counts(BASE, "full", 16, "all-linear", 20)
    lora_trainable, lora_total, _ = parameter_counts(BASE, "lora", 16, "all-linear", 20)
    qlora_trainable, _, _ = parameter_counts(BASE, "qlora", 16, "all-linear", 20)
    assert 100e6 < total < 200e6 and full_trainable == total
    assert counts["linear"] + counts["other"] == total and counts["linear"] > counts["other"] > 0
    assert lora_total == total  # the total is the base model's, whatever the method
    assert 0 < lora_trainable < total / 20
    assert qlora_trainable == lora_trainable
    assert parameter_counts(BASE, "lora", 4, "all-linear", 20)[0] == lora_trainable // 4  # rank scales it linearly


def test_memory_grows_with_batch_size() -> None:
    trainable, _, counts = parameter_counts(BASE, "lora", 16, "all-linear", 20)
    small, large = (memory_mb(load_config(None, ["train.method=lora", f"train.batch_size={b}"]), counts, trainable)
                    for b in (1, 8))
    assert 900 < small < large


def test_preflight_of_the_sample_names_time_and_memory(fresh_home: Path) -> None:
    config = load_config(None, ["train.method=lora", "train.epochs=1"])
    result = preflight(config, SAMPLE)
    trainable, total, _ = parameter_counts(BASE, "lora", 16, "all-linear", 20)
    assert (result.trainable_params, result.total_params) == (trainable, total)
    assert result.train_tokens > 1000 and result.tokens_per_s > 0 and result.seconds > result.train_tokens / result.tokens_per_s
    line = result.line()
    assert "memory ≈" in line and "time ≈" in line and f"{trainable:,}" in line and "tokens/s" in line
    two_epochs = preflight(load_config(None, ["train.method=lora", "train.epochs=2"]), SAMPLE)
    assert two_epochs.train_tokens == 2 * result.train_tokens
