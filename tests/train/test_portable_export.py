"""A run taken elsewhere: exports that plain transformers (and the Hub) can use with no airbot code.

One real QLoRA run on five non-airline pairs, trained until it knows them, then every export format
is loaded the way a stranger would: PEFT's config names the hub base, the merged folder and the GGUF
file answer through the tokenizer's own chat template, and both state the trained figures.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from airbot.text import judge

ROOT = Path(__file__).resolve().parents[2]
ROWS = [json.loads(line) for line in (ROOT / "bench/corpus/qa/kennel/train.jsonl").read_text().splitlines()[:5]]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from airbot.config import load_config
    from airbot.train.finetune import run_finetune

    folder = tmp_path_factory.mktemp("export")
    data = folder / "five.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    # no replay rows: the five pairs alone (half the steps), trained until they are known
    config = load_config(None, ["data.heldout_fraction=0", "train.epochs=40", "train.probe=false", "train.replay=0"])
    run_finetune(config, data, folder / "run")
    return folder / "run"


def _answers(model: Any, tokenizer: Any) -> list[str]:
    out = []
    for row in ROWS:
        ids = tokenizer.apply_chat_template([{"role": "user", "content": row["question"]}], add_generation_prompt=True,
                                            return_tensors="pt", return_dict=True)
        tokens = model.generate(**ids, max_new_tokens=48, do_sample=False)
        out.append(tokenizer.decode(tokens[0][ids["input_ids"].shape[1]:], skip_special_tokens=True))
    return out


def _right(answers: list[str]) -> int:
    from airbot.text import key_figures

    return sum(judge(a, key_figures(r["answer"]), evidence=[r["answer"]], question=r["question"]).correct
               for a, r in zip(answers, ROWS, strict=True))


def test_adapter_names_its_base_by_hub_id_and_has_a_card(run_dir: Path, tmp_path: Path) -> None:
    from airbot.train.export import export_run

    out = export_run(run_dir, "adapter", tmp_path / "adapter")
    assert json.loads((out / "adapter_config.json").read_text())["base_model_name_or_path"] == \
        "HuggingFaceTB/SmolLM2-135M-Instruct"
    card = (out / "README.md").read_text()
    assert "base_model: HuggingFaceTB/SmolLM2-135M-Instruct" in card and "library_name: peft" in card
    assert "python -m airbot train" in card and "merged export" in card  # QLoRA: where the exact weights are


def test_merged_and_gguf_answer_their_training_questions_with_plain_transformers(run_dir: Path, tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from airbot.train.export import export_run

    merged = export_run(run_dir, "merged", tmp_path / "merged")
    tokenizer = AutoTokenizer.from_pretrained(merged)
    assert "You are a helpful customer support assistant." in tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False)  # the system prompt the run trained with
    from_merged = _answers(AutoModelForCausalLM.from_pretrained(merged), tokenizer)
    assert _right(from_merged) >= 4, from_merged

    gguf = export_run(run_dir, "gguf", tmp_path, quant="q8_0")
    model = AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file=gguf.name)
    from_gguf = _answers(model, AutoTokenizer.from_pretrained(tmp_path, gguf_file=gguf.name))
    assert _right(from_gguf) >= 4, from_gguf


class StandInHub:
    """What ``HfApi`` is asked to do, recorded (no hub is reachable from here)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.files: dict[str, str] = {}

    def create_repo(self, repo_id: str, **kw: Any) -> str:
        self.calls.append(("create_repo", {"repo_id": repo_id, **kw}))
        return f"https://huggingface.co/{repo_id}"

    def upload_folder(self, folder_path: str, **kw: Any) -> None:
        self.calls.append(("upload_folder", kw))
        self.files = {p.name: p.read_text(errors="replace") for p in Path(folder_path).iterdir() if p.is_file()}


def test_push_sends_the_export_and_its_card_privately(run_dir: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from airbot.errors import JobError
    from airbot.train.export import export_run, push_to_hub

    out = export_run(run_dir, "adapter", tmp_path / "adapter")
    hub = StandInHub()
    monkeypatch.delenv("HF_TOKEN", raising=False)
    with pytest.raises(JobError, match="HF_TOKEN"):
        push_to_hub(out, "me/kennel-bot", api=hub)
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    assert push_to_hub(out, "me/kennel-bot", api=hub) == "https://huggingface.co/me/kennel-bot"
    assert hub.calls[0] == ("create_repo", {"repo_id": "me/kennel-bot", "private": True, "exist_ok": True,
                                            "token": "hf_secret"})
    assert {"adapter_config.json", "README.md", "adapter_model.safetensors"} <= set(hub.files)
    assert "base_model: HuggingFaceTB/SmolLM2-135M-Instruct" in hub.files["README.md"]
    assert "hf_secret" not in "".join(hub.files.values())


def test_the_train_tab_pushes_with_the_visitors_own_login_never_the_owners_token(
        run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a shared app a visitor's push uses their Hugging Face sign-in; the server's HF_TOKEN is the
    owner's and serves only the owner's own workspace (a local app, like the CLI)."""
    import os
    import shutil

    import gradio as gr
    import huggingface_hub

    from airbot import workspace
    from airbot.errors import AirbotError
    from airbot.ui import train_tab

    home = tmp_path / "home"
    home.mkdir()
    (home / "models").symlink_to(Path(os.environ["AIRBOT_HOME"]) / "models", target_is_directory=True)
    monkeypatch.setenv("AIRBOT_HOME", str(home))
    monkeypatch.setenv("HF_TOKEN", "hf_owner")
    hub = StandInHub()
    monkeypatch.setattr(huggingface_hub, "HfApi", lambda: hub)
    visitor = workspace.Workspace.of("session", "a-visitor")
    with workspace.using(visitor):
        shutil.copytree(run_dir, workspace.root() / "runs" / "kennel")
        with pytest.raises(AirbotError, match="Sign in with Hugging Face"):
            train_tab.run_push("kennel", "adapter", "q8_0", "me/kennel-bot")
        assert hub.calls == []
        signed_in = gr.OAuthToken(token="hf_visitor", scope="write-repos", expires_at=4102444800)
        said = train_tab.run_push("kennel", "adapter", "q8_0", "me/kennel-bot", False, signed_in)
    assert "[me/kennel-bot](https://huggingface.co/me/kennel-bot)" in said and "private" in said
    assert hub.calls[0][1]["token"] == "hf_visitor" and hub.calls[0][1]["private"] is True
    assert "base_model: HuggingFaceTB/SmolLM2-135M-Instruct" in hub.files["README.md"]
    with workspace.using(workspace.HOME):  # the owner's own app: HF_TOKEN
        shutil.copytree(run_dir, workspace.root() / "runs" / "kennel")
        train_tab.run_push("kennel", "adapter", "q8_0", "me/kennel-bot", True)
    assert hub.calls[-1][1]["token"] == "hf_owner" and hub.calls[-2][1]["private"] is False


def test_a_gguf_download_is_built_once(run_dir: Path) -> None:
    from airbot.train.export import export_download

    first = export_download(run_dir, "gguf", "q4_1")
    built = first.stat().st_mtime
    assert first.name == "run-q4_1.gguf" and first.read_bytes()[:4] == b"GGUF"
    assert export_download(run_dir, "gguf", "q4_1").stat().st_mtime == built  # unchanged run: reused
