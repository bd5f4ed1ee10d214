from pathlib import Path

import pytest

from airbot.config import AirbotConfig, field_help, load_config, save_config
from airbot.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_defaults_are_the_embedded_qlora_recipe() -> None:
    config = load_config()
    assert config.model.base == "smollm2-135m"
    assert config.train.method == "qlora"


def test_overrides_take_precedence_and_are_typed(tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text("train:\n  epochs: 2\n  method: lora\n")
    config = load_config(recipe, ["train.epochs=1", "rag.top_k=5"])
    assert config.train.epochs == 1.0 and config.train.method == "lora" and config.rag.top_k == 5


def test_all_problems_are_collected_in_one_error(tmp_path: Path) -> None:
    recipe = tmp_path / "bad.yaml"
    recipe.write_text("train:\n  epochs: many\n  methd: lora\nnope: {}\n")
    with pytest.raises(ConfigError) as info:
        load_config(recipe, ["train.method=magic", "broken"])
    text = str(info.value)
    for needle in ("train.epochs", "train.methd", "nope", "train.method", "broken", str(recipe)):
        assert needle in text
    assert len(info.value.problems) == 5


def test_saved_config_replays_identically(tmp_path: Path) -> None:
    config = load_config(None, ["train.lora_r=8", "chat.temperature=0.5"])
    save_config(config, tmp_path / "config.yaml")
    assert load_config(tmp_path / "config.yaml") == config


def test_every_field_has_help() -> None:
    config = AirbotConfig()
    for section in ("model", "data", "train", "rag", "chat"):
        for key in vars(getattr(config, section)):
            assert field_help(section, key), f"{section}.{key} has no help"


def test_missing_and_invalid_yaml_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
