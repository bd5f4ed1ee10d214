"""The Train tab over HTTP (gradio_client) and its pure helpers."""

from __future__ import annotations

import json
import os
import shlex
import zipfile
from collections.abc import Iterator
from pathlib import Path

import gradio as gr
import pytest

from airbot.config import load_config
from airbot.errors import ConfigError
from airbot.train import jobs, runs
from airbot.train import status as train_status
from airbot.ui import train_tab
from airbot.ui.state import AppState
from tests._serving import free_port

API_NAMES = ["train_start", "train_status", "train_cancel", "train_resume", "runs_list", "run_download",
             "run_export_merged", "run_export", "run_push"]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[object, Path]]:
    """The tab alone in a Blocks app on a free port, with an empty AIRBOT_HOME holding two fake runs."""
    from gradio_client import Client

    home = tmp_path_factory.mktemp("ui-train") / "home"
    home.mkdir()
    (home / "models").symlink_to(Path(os.environ["AIRBOT_HOME"]) / "models", target_is_directory=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AIRBOT_HOME", str(home))
        for name, peft_type in (("lora-run", "LORA"), ("prompt-run", "PROMPT_TUNING")):
            run_dir = runs.create_run(name)
            train_status.write_status(run_dir, phase="done", started=1.0, summary={"train_loss": 1.2, "tokens_per_s": 500.0},
                                      data=str(home / "datasets" / "mine" / "data.jsonl"), pid=4242)
            (run_dir / "adapter").mkdir()
            (run_dir / "adapter" / "adapter_config.json").write_text(json.dumps({"peft_type": peft_type}))
        with gr.Blocks() as demo, gr.Tab("Train"):
            train_tab.build(AppState(config=load_config()))
        port = free_port()
        demo.queue().launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
        try:
            yield Client(f"http://127.0.0.1:{port}/", verbose=False), home
        finally:
            demo.close()


def test_api_names_are_stable(served: tuple) -> None:
    client, _ = served
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert {f"/{name}" for name in API_NAMES} <= set(endpoints)


def test_status_list_cancel_and_download_over_http(served: tuple) -> None:
    client, home = served
    status = client.predict("lora-run", api_name="/train_status")
    assert status["phase"] == "done" and status["data"] == "$AIRBOT_HOME/datasets/mine/data.jsonl"
    assert str(home) not in json.dumps(status) and "pid" not in status  # nothing about the server's disk
    names = [r["name"] for r in client.predict(api_name="/runs_list")]
    assert set(names) == {"lora-run", "prompt-run"}
    assert client.predict("lora-run", api_name="/train_cancel")["phase"] == "done"  # nothing to stop
    archive = client.predict("lora-run", api_name="/run_download")
    assert "adapter_config.json" in zipfile.ZipFile(archive).namelist()
    with pytest.raises(Exception, match="no weights to merge"):
        client.predict("prompt-run", api_name="/run_export_merged")


def test_export_row_gives_the_portable_adapter_and_checks_what_is_asked(served: tuple) -> None:
    client, _ = served
    archive = zipfile.ZipFile(client.predict("lora-run", "adapter", "q8_0", api_name="/run_export"))
    assert "README.md" in archive.namelist()  # the model card travels with it
    assert json.loads(archive.read("adapter_config.json"))["base_model_name_or_path"] == \
        "HuggingFaceTB/SmolLM2-135M-Instruct"  # the hub id, not this machine's model folder
    with pytest.raises(Exception, match="q2"):
        client.predict("lora-run", "gguf", "q2", api_name="/run_export")
    with pytest.raises(Exception, match="Pick a run"):
        client.predict("", "merged", "q8_0", api_name="/run_export")
    with pytest.raises(Exception, match="OWNER/NAME"):
        client.predict("lora-run", "adapter", "q8_0", " ", False, api_name="/run_push")


def test_settings_become_a_config_and_a_cli_command(tmp_path: Path) -> None:
    config = train_tab.make_config(load_config(), "lora", 1, 20, 0, 8, 16, 128, 2)
    t = config.train
    assert (t.method, t.epochs, t.max_steps, t.lora_r, t.max_length, t.batch_size) == ("lora", 1.0, 20, 8, 128, 2)
    command = jobs.shown_command(config, tmp_path / "d.jsonl")
    assert command.startswith("python -m airbot train --data ") and "train.method=\"lora\"" in shlex.split(command)
    assert "train.max_steps=20" in command and "train.lora_r=8" in command
    # the command shown is the command a background run executes, and it rebuilds the same config
    assert shlex.split(command)[1:] == ["-m", "airbot", *jobs.train_args(config, tmp_path / "d.jsonl")]
    args = shlex.split(command)[6:]
    assert load_config(None, [args[i + 1] for i in range(0, len(args), 2)]) == config
    with pytest.raises(ConfigError) as info:
        train_tab.make_config(load_config(), "magic", -1, -1, -1, 0, 16, 256, 0)
    assert len(info.value.problems) == 5
    # epochs 0 is the tab's (and /train_start's) way to say 'auto'; the config itself still rejects 0
    auto = train_tab.make_config(load_config(), "qlora", train_tab.AUTO_EPOCHS, -1, 0, 16, 32, 256, 4)
    assert auto.train.epochs == "auto" and "train.epochs" not in jobs.shown_command(auto, tmp_path / "d.jsonl")


def test_the_held_out_rows_are_named(fresh_home: Path) -> None:
    from airbot.data.dataset import read_dataset, split_rows

    page = train_tab.heldout_html(load_config(), "airline-sample")  # named: stored on request; 14 of 139 held out
    loaded = read_dataset(train_tab.dataset_path("airline-sample"))
    _, held = split_rows(len(loaded.rows), 0.1, 42)
    assert "14 of 139 rows" in page and len(held) == 14
    for i in held:
        assert loaded.where(i) in page
    assert "every row trains" in train_tab.heldout_html(load_config(None, ["data.heldout_fraction=0"]), "airline-sample")


def test_nothing_of_the_sample_is_stored_or_picked_unasked(fresh_home: Path, tmp_path: Path) -> None:
    """A new user's Train tab offers their own data only: no sample stored by listing, no silent fallback."""
    from airbot.data.store import list_datasets, save_dataset
    from airbot.errors import AirbotError

    assert train_tab.dataset_choices() == [] and list_datasets() == []
    with pytest.raises(AirbotError, match="Data tab"):
        train_tab.dataset_path(None)
    tab = train_tab.TrainTab(load_config())
    settings = ("", "qlora", 0, -1, 0, 16, 32, 256, 4)
    warnings = [part for part in (*tab.preflight(*settings), tab.heldout("")) if "No dataset is picked" in part]
    assert len(warnings) == 1  # said once on the page, by the cost line (it was shown twice)
    mine = tmp_path / "mine.jsonl"
    mine.write_text("".join(json.dumps({"question": f"How many days for form {i}?", "answer": f"{i + 3} days."}) + "\n"
                            for i in range(6)))
    stored = save_dataset(mine)
    assert train_tab.dataset_choices() == [stored.name]  # the user's own set, and only it
    assert train_tab.dataset_path(stored.name) == stored.data_path


def test_progress_plot_and_log_come_from_the_run_files(fresh_home: Path) -> None:
    run_dir = runs.create_run("r")
    train_status.write_status(run_dir, phase="training", pid=os.getpid(), step=3, total=10, progress=0.3, loss=1.5,
                      eta_s=42, message="step 3/10")
    for record in ({"step": 0, "eval_loss": 3.0}, {"step": 1, "loss": 2.5}, {"step": 3, "loss": 1.5}):
        train_status.append_metric(run_dir, record)
    (run_dir / "train.log").write_text("loading\rloaded\nstep 3\n")
    html = train_tab.progress_html(runs.read_status(run_dir))
    assert "step 3/10" in html and "ETA 42 s" in html and "value='0.300'" in html
    frame = train_tab.loss_frame(run_dir)
    drawn = frame.dropna()
    assert list(drawn["series"]) == ["held-out", "train", "train"] and list(drawn["step"]) == [0, 1, 3]
    empty = train_tab.loss_frame(None)  # both series exist from the start, or Gradio never draws them
    assert set(empty["series"]) == {"train", "held-out"} and empty["loss"].isna().all()
    assert train_tab.log_tail(run_dir) == "loaded\nstep 3"
    outputs = train_tab.poll("", "")  # no run shown: re-attaches to the active one on disk
    assert outputs[0] == "r" and outputs[1] == "training"
