"""The default training budget (``airbot.train.budget``): 'auto' epochs chosen from the number of pairs, for
every size the issue names (20-1,000 pairs); explicit epochs win; 0 and negative epochs stay errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from airbot.config import load_config
from airbot.errors import ConfigError
from airbot.train.budget import MAX_EPOCHS, MIN_STEPS, apply_budget, choose_budget, epochs_for, steps_per_epoch

SAMPLE = Path(__file__).resolve().parents[2] / "airbot" / "samples" / "airline_train.jsonl"


def test_fewer_passes_for_more_pairs_within_bounds() -> None:
    sizes = [20, 31, 37, 60, 100, 129, 139, 300, 600, 1000, 5000]
    passes = [epochs_for(n) for n in sizes]
    assert passes == sorted(passes, reverse=True), passes
    assert all(0 < e <= MAX_EPOCHS for e in passes)


@pytest.mark.parametrize("pairs", [20, 25, 31, 37, 60, 129, 139, 500, 1000])
def test_every_size_gets_enough_steps(pairs: int) -> None:
    budget = choose_budget(pairs, epoch_tokens=50 * pairs)
    assert budget.steps >= min(MIN_STEPS, steps_per_epoch(pairs, 4) * MAX_EPOCHS)
    assert budget.steps == pytest.approx(steps_per_epoch(pairs, 4) * budget.epochs, abs=1)
    assert budget.tokens == int(50 * pairs * budget.epochs)
    assert budget.reason == f"{pairs} pairs → {budget.epochs:g} epochs ({budget.steps} steps)"


def test_replay_rows_add_steps_but_do_not_choose_the_passes() -> None:
    plain, with_replay = choose_budget(125, 8000), choose_budget(125, 8000, replay=25)
    assert with_replay.epochs == plain.epochs and with_replay.steps > plain.steps
    assert with_replay.reason == f"125 pairs → 8 epochs ({with_replay.steps} steps, 25 replay rows alongside)"


def test_batch_size_and_accumulation_count_optimizer_steps() -> None:
    assert steps_per_epoch(139, 4) == 35 and steps_per_epoch(139, 4, grad_accum=2) == 18
    assert steps_per_epoch(139, 4, world=2) == 18 and steps_per_epoch(3, 8) == 1
    small = choose_budget(20, 1000, batch_size=8)  # 3 steps a pass: the step floor asks for more passes
    assert small.epochs == MAX_EPOCHS or small.steps >= MIN_STEPS


def test_auto_is_the_default_and_explicit_epochs_win() -> None:
    config = load_config()
    assert config.train.epochs == "auto"
    resolved, budget = apply_budget(config, 139, 9000)
    assert budget is not None and resolved.train.epochs == budget.epochs == epochs_for(139)
    fixed = load_config(None, ["train.epochs=3"])
    assert apply_budget(fixed, 139, 9000) == (fixed, None)
    assert load_config(None, ["train.epochs=auto"]).train.epochs == "auto"


@pytest.mark.parametrize("bad", ["0", "-1", "many"])
def test_zero_negative_and_words_stay_rejected(bad: str) -> None:
    with pytest.raises(ConfigError, match=r"train\.epochs"):
        load_config(None, [f"train.epochs={bad}"])


def test_the_cli_takes_a_number_or_auto() -> None:
    from airbot.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["train", "--epochs", "auto"]).epochs == "auto"
    assert parser.parse_args(["train", "--epochs", "2.5"]).epochs == 2.5


def test_the_trainer_config_needs_a_resolved_number(tmp_path: Path) -> None:
    from airbot.train.builders import build_sft_config

    with pytest.raises(ConfigError, match="auto"):
        build_sft_config(load_config(), tmp_path)
    assert build_sft_config(apply_budget(load_config(), 139, 9000)[0], tmp_path).num_train_epochs == epochs_for(139)


def test_preflight_names_the_budget_and_its_reason(fresh_home: Path) -> None:
    from airbot.train.preflight import REPLAY_ROW_TOKENS, preflight

    result = preflight(load_config(None, ["train.method=lora"]), SAMPLE)
    assert result.budget is not None and result.budget.pairs == 125  # 139 rows, 10% held out
    assert result.budget.replay == 25  # train.replay 0.2: general rows trained alongside, in the time too
    assert result.train_tokens == result.budget.tokens + 25 * REPLAY_ROW_TOKENS * result.budget.epochs
    line = result.line()
    assert f"125 pairs → {result.budget.epochs:g} epochs" in line and "auto" in line
    assert preflight(load_config(None, ["train.method=lora", "train.epochs=1"]), SAMPLE).budget is None
