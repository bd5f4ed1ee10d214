"""Small real inputs for the evaluation tests: a three-clause policy and its update, a real
index of it, and a run folder holding a real (tiny, untrained) LoRA adapter on the embedded model.

Import the fixtures into a test module to use them; they are session-scoped, so the index is
embedded and the adapter written once per test session.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

POLICY = """# Skyway Conditions

## 1. Baggage

1.1 On international flights, each checked bag may weigh up to 23 kg.

1.2 A small cat or dog may travel in the cabin for a fee of USD 70 per pet.

## 2. Check-in

2.1 Online check-in opens 30 hours before departure and closes 90 minutes before departure.
"""
HELDOUT = [
    {"question": "How heavy can each checked bag be on an international flight?",
     "answer": "Each checked bag may weigh up to 23 kg.", "facts": ["23 kg"], "clause": "1.1"},
    {"question": "What is the fee for a cat in the cabin?", "answer": "The fee is USD 70 per pet.",
     "facts": ["USD 70"], "clause": "1.2"},
    {"question": "When does online check-in open?", "answer": "Online check-in opens 30 hours before departure.",
     "facts": ["30 hours"], "clause": "2.1"},
]
CHANGES = [
    {"clause": "1.1", "old": "23 kg", "new": "25 kg",
     "question": "How heavy can each checked bag be on an international flight?"},
    {"clause": "1.2", "old": "USD 70", "new": "USD 90", "question": "How much does it cost to bring my cat in the cabin?"},
]
FAST = ["chat.max_new_tokens=24"]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="session")
def tiny_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny-policy")
    (root / "skyway.md").write_text(POLICY)
    (root / "skyway_v2.md").write_text(POLICY.replace("23 kg", "25 kg").replace("USD 70", "USD 90"))
    return {"policy": root / "skyway.md", "policy_v2": root / "skyway_v2.md",
            "heldout": write_jsonl(root / "heldout.jsonl", HELDOUT),
            "changes": write_jsonl(root / "changes.jsonl", CHANGES),
            "oos": write_jsonl(root / "oos.jsonl", [{"question": "What will the weather be like in Paris tomorrow?"}])}


@pytest.fixture(scope="session")
def tiny_index(tiny_files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real FAISS index of the three-clause policy, embedded with the real embedder."""
    from airbot.knowledge.index import build_index

    root = tmp_path_factory.mktemp("tiny-index") / "skyway"
    build_index([tiny_files["policy"]], root)
    return root


@pytest.fixture(scope="session")
def tiny_run(tiny_files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run folder as run_finetune leaves it: config, status with measured speed,
    metrics, and a real LoRA adapter for the embedded model (rank 2, not trained: training is
    tested by the fine-tuning tests; here only the plumbing around a run matters)."""
    from peft import LoraConfig, get_peft_model

    from airbot.config import load_config, save_config
    from airbot.models import load_causal_lm, shared_tokenizer

    run = tmp_path_factory.mktemp("runs") / "tiny-run"
    run.mkdir()
    train = write_jsonl(run / "train.jsonl", [{"question": r["question"], "answer": r["answer"]} for r in HELDOUT])
    save_config(load_config(None, [f"data.path={train}", "train.epochs=2"]), run / "config.yaml")
    summary = {"tokens_per_s": 50.0, "train_s": 10.0, "wall_s": 14.0, "train_tokens": 500, "steps": 2}
    (run / "status.json").write_text(json.dumps({"name": run.name, "phase": "done", "summary": summary}))
    (run / "metrics.jsonl").write_text(json.dumps({"step": 2, "epoch": 2.0, "tokens_per_s": 50.0}) + "\n")
    model = get_peft_model(load_causal_lm("smollm2-135m", device="cpu"),
                           LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj"], task_type="CAUSAL_LM"))
    model.save_pretrained(run / "adapter")
    shared_tokenizer("smollm2-135m").save_pretrained(run / "adapter")
    return run
