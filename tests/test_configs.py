"""Every shipped recipe loads with ``load_config`` and documents every key it sets."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from airbot.config import load_config
from airbot.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
RECIPES = sorted((ROOT / "configs").glob("*.yaml"))
ACCELERATE = sorted((ROOT / "configs" / "accelerate").glob("*.yaml"))
KEY_LINE = re.compile(r"^\s*[A-Za-z_][\w.-]*\s*:\s*\S")  # a key with a value (section headers are exempt)


def _uncommented_keys(path: Path) -> list[str]:
    """Key lines (with a value) with no comment on the line itself or on the line just above."""
    lines = path.read_text().splitlines()
    bad = []
    for i, line in enumerate(lines):
        if KEY_LINE.match(line) and "#" not in line and not lines[i - 1].strip().startswith("#"):
            bad.append(f"{path.name}:{i + 1}: {line.strip()}")
    return bad


def test_the_expected_recipes_ship() -> None:
    names = {p.name for p in RECIPES}
    assert {"airline-qlora.yaml", "airline-lora.yaml", "airline-full.yaml", "airline-prompt.yaml",
            "airline-prefix.yaml", "gpu-mistral-7b-qlora.yaml"} <= names
    assert {p.name for p in ACCELERATE} >= {"ddp-cpu.yaml", "deepspeed-zero2.yaml"}


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.name)
def test_recipe_loads_and_every_key_is_commented(recipe: Path) -> None:
    config = load_config(recipe)
    assert config.train.method in ("qlora", "lora", "full", "prompt", "prefix")
    assert _uncommented_keys(recipe) == []


def test_default_recipe_is_the_fast_qlora_one() -> None:
    config = load_config(ROOT / "configs" / "airline-qlora.yaml")
    t = config.train
    assert t.method == "qlora" and not t.gradient_checkpointing and t.lora_dropout == 0 and t.group_by_length
    assert load_config(ROOT / "configs" / "airline-full.yaml").train.learning_rate < t.learning_rate


def test_mistral_recipe_is_the_seed_example() -> None:
    config = load_config(ROOT / "configs" / "gpu-mistral-7b-qlora.yaml")
    assert config.model.base == "mistralai/Mistral-7B-Instruct-v0.3" and config.model.device == "cuda"
    assert config.train.precision == "bf16" and config.train.gradient_checkpointing


@pytest.mark.parametrize("recipe", ACCELERATE, ids=lambda p: p.name)
def test_accelerate_configs_parse_and_are_commented(recipe: Path) -> None:
    data = yaml.safe_load(recipe.read_text())
    assert data["num_processes"] >= 2 and data["distributed_type"] in ("MULTI_GPU", "DEEPSPEED")
    assert _uncommented_keys(recipe) == []


def test_overrides_apply_on_top_of_a_recipe_and_unknown_keys_fail() -> None:
    recipe = ROOT / "configs" / "airline-lora.yaml"
    assert load_config(recipe, ["train.epochs=1"]).train.epochs == 1.0
    with pytest.raises(ConfigError, match=r"train\.epoch"):
        load_config(recipe, ["train.epoch=1"])
