"""The fine-tuned bot answers from its weights alone (issue: "the fine-tuned bot must not retrieve or look up
training answers at answer time"): it holds no index and no training rows, its answer does not change when the
training file disappears, and it does change with the adapter's weights. The adapters are real PEFT LoRA
adapters on the embedded SmolLM2-135M with random (non-zero) weights, so no training is needed."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from airbot.bots.kinds import ChatBot, RagBot, make_bot
from airbot.config import load_config, save_config
from airbot.train import runs
from airbot.train import status as train_status

QUESTION = "How much does a locker cost per night?"
SECRET = "A locker costs 987654 zorkmids per night."


def _lora_run(name: str, data: Path, seed: int) -> Path:
    """A finished run whose adapter holds random LoRA weights (init_lora_weights=False: B is not zero)."""
    from peft import LoraConfig, get_peft_model

    from airbot.models import load_causal_lm

    run_dir = runs.create_run(name)
    torch.manual_seed(seed)
    lora = LoraConfig(task_type="CAUSAL_LM", r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                      init_lora_weights=False)
    get_peft_model(load_causal_lm(device="cpu"), lora).save_pretrained(run_dir / "adapter")
    save_config(load_config(None, [f"data.path={data}", "model.device=cpu"]), run_dir / "config.yaml")
    train_status.write_status(run_dir, phase="done", started=1.0, method="lora")
    return run_dir


def test_the_finetuned_bot_answers_from_its_weights_not_its_training_rows(fresh_home: Path, tmp_path: Path) -> None:
    data = tmp_path / "train.jsonl"
    data.write_text(json.dumps({"question": QUESTION, "answer": SECRET}) + "\n")
    config = load_config(None, ["model.device=cpu", "chat.max_new_tokens=24"])
    bot = make_bot("finetuned", config, run_dir=_lora_run("weights-a", data, seed=0))

    assert type(bot) is ChatBot and not isinstance(bot, RagBot)
    assert set(vars(bot)) <= {"name", "model", "tokenizer", "chat", "history_turns"}  # no index, no rows, no file
    found = bot.lookup(QUESTION)
    assert found.sources == [] and found.refusal is None and found.seconds == 0.0

    answer = bot.answer(QUESTION)
    assert answer.sources == [] and "987654" not in answer.text  # the training answer was never looked up
    data.unlink()  # the training file is gone: the same weights say the same thing
    assert bot.answer(QUESTION).text == answer.text

    other = make_bot("finetuned", config, run_dir=_lora_run("weights-b", data, seed=1))
    base = make_bot("base", config)
    assert other.answer(QUESTION).text != answer.text != base.answer(QUESTION).text  # the weights are what answers


def test_the_finetuned_bot_reads_a_follow_up_as_a_new_question(fresh_home: Path, tmp_path: Path) -> None:
    """It was trained on single turns: earlier turns are not sent (they made it repeat its last answer)."""
    data = tmp_path / "train.jsonl"
    data.write_text(json.dumps({"question": QUESTION, "answer": SECRET}) + "\n")
    config = load_config(None, ["model.device=cpu"])
    bot = make_bot("finetuned", config, run_dir=_lora_run("single-turn", data, seed=0))
    history = [{"role": "user", "content": "Is there wifi?"}, {"role": "assistant", "content": "Yes, free wifi."}]
    sent = bot.messages("Can I bring a dog?", history, [])
    assert [m["role"] for m in sent] == ["system", "user"] and sent[-1]["content"] == "Can I bring a dog?"
    base = make_bot("base", config)
    assert [m["role"] for m in base.messages("Can I bring a dog?", history, [])] == [
        "system", "user", "assistant", "user"]  # the base bot keeps the conversation
