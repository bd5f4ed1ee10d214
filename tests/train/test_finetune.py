"""Fine-tuning on the real embedded SmolLM2-135M: every technique learns, the run folder is complete,
and the saved adapter changes what the bot says. Tiny data, short sequences, a few steps."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from airbot.config import METHODS, AirbotConfig, load_config
from airbot.models import load_tokenizer
from airbot.prompts import with_system
from airbot.train.builders import build_peft_config, build_quantization, build_sft_config, build_trainer, compute_dtype
from airbot.train.finetune import resolve_train_config, run_finetune
from airbot.train.model import load_model, match_training_base
from airbot.train.probe import greedy_answers
from airbot.train.sft_data import prepare_data, tokenize_rows

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "airbot" / "samples" / "airline_train.jsonl"



def _rows(path: Path, n: int) -> Path:
    lines = SAMPLE.read_text().splitlines()[:n]
    path.write_text("\n".join(lines) + "\n")
    return path


def _config(method: str, *extra: str) -> AirbotConfig:
    return load_config(None, [f"train.method={method}", "train.max_length=128", "train.warmup_ratio=0",
                              "train.probe=false", "model.device=cpu", *extra])


# --- builders (no model) ----------------------------------------------------------------------
def test_builders_follow_the_method() -> None:
    from peft import LoraConfig, PrefixTuningConfig, PromptTuningConfig

    assert build_quantization(_config("lora")) is None
    q = build_quantization(_config("qlora"))
    assert q.load_in_4bit and q.bnb_4bit_quant_type == "nf4"
    lora = build_peft_config(_config("qlora"))
    assert isinstance(lora, LoraConfig) and lora.target_modules == "all-linear" and lora.r == 16
    assert isinstance(build_peft_config(_config("prompt")), PromptTuningConfig)
    assert isinstance(build_peft_config(_config("prefix")), PrefixTuningConfig)
    assert build_peft_config(_config("full")) is None
    assert build_peft_config(_config("lora", "train.target_modules=q_proj, v_proj")).target_modules == {"q_proj",
                                                                                                      "v_proj"}


def test_sft_config_has_the_fast_defaults(tmp_path: Path) -> None:
    args = build_sft_config(resolve_train_config(_config("qlora", "train.epochs=3")), tmp_path)
    assert not args.gradient_checkpointing and args.train_sampling_strategy == "group_by_length"
    assert args.max_length == 128 and args.learning_rate == 2e-3 and args.save_strategy == "no"
    assert args.dataset_kwargs == {"skip_prepare_dataset": True}
    assert resolve_train_config(_config("full")).train.learning_rate == 5e-5


def test_only_the_answer_and_its_end_of_turn_are_learned() -> None:
    tok = load_tokenizer()
    messages = with_system([{"role": "user", "content": "Can I bring a cat?"},
                            {"role": "assistant", "content": "Yes, small pets fly in the cabin."}], "Be brief.")
    (example,), truncated = tokenize_rows([messages], tok, max_length=256)
    learned = tok.decode([t for t, lab in zip(example["input_ids"], example["labels"], strict=True) if lab != -100])
    assert learned.startswith("Yes, small pets fly in the cabin.<|im_end|>")
    assert "cat" not in learned and "Be brief" not in learned and truncated == 0
    prompt_len = example["labels"].index(next(lab for lab in example["labels"] if lab != -100))
    (cut,), truncated = tokenize_rows([messages], tok, max_length=prompt_len + 3)
    assert len(cut["input_ids"]) == prompt_len + 3 and truncated == 1
    assert tokenize_rows([messages], tok, max_length=prompt_len) == ([], 1)  # no answer left: dropped


# --- real training ----------------------------------------------------------------------------
@pytest.mark.parametrize("method", [*METHODS, "qlora:train.qlora_cpu_base=bitsandbytes", "qlora:train.qlora_cpu_base=nf4-int8",
                                    "qlora:train.loraplus_ratio=16"])
def test_each_method_lowers_the_loss_and_changes_trainable_weights(method: str, tmp_path: Path) -> None:
    method, *extra = method.split(":")
    config = resolve_train_config(_config(method, "train.max_steps=4", "train.batch_size=4", *extra,
                                          f"data.path={_rows(tmp_path / 'four.jsonl', 4)}"))
    tok = load_tokenizer()
    prepared = prepare_data(config, None, tok)
    model = load_model(config, "cpu", compute_dtype(config, "cpu"))  # as a run trains: fp32 where bf16 is slow
    trainer = build_trainer(config, model, tok, prepared, tmp_path / "out", device="cpu")
    before = {n: p.detach().float().clone() for n, p in trainer.model.named_parameters() if p.requires_grad}
    assert before, "nothing is trainable"
    trainer.train()
    after = dict(trainer.model.named_parameters())
    changed = sum(not torch.equal(before[n], after[n].detach().float()) for n in before)
    assert changed / len(before) > 0.9, f"only {changed} of {len(before)} trainable tensors moved"
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert len(losses) == 4 and losses[-1] < losses[0], losses  # one batch seen 4 times: it must be learned
    if config.train.loraplus_ratio:  # LoRA+: the B matrices' group runs at 16x the A matrices' rate
        rates = sorted({g["initial_lr"] for g in trainer.optimizer.param_groups if g["params"]})
        assert rates == [config.train.learning_rate, 16 * config.train.learning_rate], rates


def test_cpu_qlora_trains_on_bitsandbytes_nf4_weights_kept_dequantized(tmp_path: Path) -> None:
    """The CPU fast path computes with exactly the weights bitsandbytes' 4-bit QLoRA computes with."""
    import bitsandbytes.functional as bnbf

    from airbot.models import load_causal_lm

    config = resolve_train_config(_config("qlora", "train.max_steps=1", f"data.path={_rows(tmp_path / 'two.jsonl', 2)}"))
    fast = load_model(config, "cpu", torch.bfloat16)
    four_bit = load_model(replace(config, train=replace(config.train, qlora_cpu_base="bitsandbytes")), "cpu", torch.bfloat16)
    assert getattr(four_bit, "is_loaded_in_4bit", False) and not getattr(fast, "is_loaded_in_4bit", False)
    for name in ("model.layers.0.self_attn.q_proj", "model.layers.29.mlp.down_proj"):
        packed = four_bit.get_submodule(name).weight
        assert torch.equal(fast.get_submodule(name).weight.data, bnbf.dequantize_4bit(packed.data, packed.quant_state))
    assert fast.config._attn_implementation == "eager" and not any(p.requires_grad for p in fast.parameters())

    tok = load_tokenizer()
    row = prepare_data(config, None, tok).train[0]
    ids, labels = torch.tensor([row["input_ids"]]), torch.tensor([row["labels"]])

    def loss(model: torch.nn.Module) -> float:
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            return model(input_ids=ids, labels=labels).loss.item()

    unrounded = load_causal_lm(dtype=torch.bfloat16, device="cpu")
    unrounded.set_attn_implementation("eager")
    assert abs(loss(fast) - loss(four_bit)) < 1e-3
    assert abs(loss(fast) - loss(unrounded)) > 1e-2  # the rounding is real: the check above can fail

    trainer = build_trainer(config, fast, tok, prepare_data(config, None, tok), tmp_path / "out", device="cpu")
    adapters = [p for p in trainer.model.parameters() if p.requires_grad]
    # as TRL keeps bitsandbytes QLoRA's: in the compute dtype (bf16 where the CPU has AVX512-BF16/AMX, else fp32)
    assert adapters and all(p.dtype == compute_dtype(config, "cpu") for p in adapters)


def test_run_writes_a_complete_run_and_the_adapter_changes_the_answer(fresh_home: Path, tmp_path: Path) -> None:
    from peft import PeftModel

    from airbot.models import load_causal_lm
    from airbot.train import runs
    from airbot.train import status as train_status

    data = _rows(tmp_path / "twelve.jsonl", 12)
    config = _config("qlora", "train.max_steps=8", "train.probe=true", "data.heldout_fraction=0.2")
    seen: list[str] = []
    run_dir = runs.create_run("e2e")
    result = run_finetune(config, data, run_dir, progress=lambda s: seen.append(s["phase"]))

    assert result.phase == "done" and not result.partial and result.steps == 8
    assert result.eval_loss < result.eval_loss_before and result.tokens_per_s > 0
    assert {"loading model", "tokenizing", "training", "saving", "done"} <= set(seen)
    status = runs.read_status(run_dir)
    assert status["phase"] == "done" and status["progress"] == 1.0 and status["summary"]["steps"] == 8
    metrics = train_status.read_metrics(run_dir)
    assert metrics[0]["step"] == 0 and "eval_loss" in metrics[0]
    assert {"loss", "learning_rate", "tokens_per_s", "elapsed_s", "eta_s"} <= set(metrics[1])
    assert load_config(run_dir / "config.yaml").data.path == str(data)  # replayable
    learned = json.loads((run_dir / "learned.json").read_text())  # did it learn? every training question asked again
    assert learned["trained"]["total"] == result.learned_total == 10 and learned["heldout"]["total"] == 2
    assert result.learned_right == learned["trained"]["right"] and status["summary"]["learned_total"] == 10
    assert status["message"].startswith("done") and "answers its training questions right" in status["message"]
    assert (run_dir / "adapter" / "adapter_config.json").is_file() and not (run_dir / "adapter.tmp").exists()
    probe = json.loads((run_dir / "probe.json").read_text())
    assert probe["items"] and probe["score_before"] is not None and probe["score_after"] is not None
    assert "trainable parameters" in (run_dir / "train.log").read_text()
    # replay (train.replay 0.2, at least 8 rows): the base model's own general answers trained alongside
    assert 10 < result.train_rows <= 18 and "replay: " in (run_dir / "train.log").read_text()

    meta = json.loads((run_dir / "adapter" / "airbot_training.json").read_text())
    assert meta["base_quantization"] == "nf4"

    tok = load_tokenizer()
    question = json.loads(data.read_text().splitlines()[0])["question"]
    base = load_causal_lm(device="cpu")
    before = greedy_answers(base, tok, [question], config.chat.system_prompt, max_new_tokens=30)[0]
    tuned = PeftModel.from_pretrained(match_training_base(base, runs.adapter_dir(run_dir)), runs.adapter_dir(run_dir))
    after = greedy_answers(tuned, tok, [question], config.chat.system_prompt, max_new_tokens=30)[0]
    assert after != before, after


def test_qlora_base_is_rebuilt_bit_for_bit_without_bitsandbytes(tmp_path: Path) -> None:
    import bitsandbytes.functional as bnbf

    from airbot.models import load_causal_lm

    (tmp_path / "airbot_training.json").write_text(json.dumps({"base_quantization": "nf4"}))
    rebuilt = match_training_base(load_causal_lm(device="cpu"), tmp_path)
    four_bit = load_causal_lm(load_in_4bit=True, dtype=torch.bfloat16, device="cpu")
    for name in ("model.layers.0.self_attn.q_proj", "model.layers.29.mlp.down_proj"):
        packed = four_bit.get_submodule(name).weight
        trained_on = bnbf.dequantize_4bit(packed.data, packed.quant_state).float()
        assert torch.equal(rebuilt.get_submodule(name).weight.data, trained_on)
    assert rebuilt.lm_head.weight.dtype == torch.float32
