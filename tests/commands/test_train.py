"""``python -m airbot train`` and ``python -m airbot runs``: the same core as the UI, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airbot.cli import main
from airbot.train import runs
from airbot.train import status as train_status

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "airbot" / "samples" / "airline_train.jsonl"


def test_train_then_list_show_compare_delete(fresh_home: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text("\n".join(SAMPLE.read_text().splitlines()[:6]) + "\n")
    out = tmp_path / "run"
    code = main(["train", "--data", str(data), "--out", str(out), "--method", "lora", "--max-steps", "2",
                 "--set", "train.probe=false", "--set", "train.max_length=96", "--set", "model.device=cpu"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "done: 2 steps" in captured.out and "tokens/s" in captured.out and "adapter:" in captured.out
    assert "Traceback" not in captured.err  # no bar either: stderr is not a terminal here (a job's train.log)
    assert runs.read_status(out)["phase"] == "done" and (out / "adapter" / "adapter_config.json").is_file()
    assert "method: lora" in (out / "config.yaml").read_text()

    a, b = runs.create_run("a"), runs.create_run("b")
    for run_dir, loss in ((a, 1.0), (b, 2.0)):
        train_status.write_status(run_dir, phase="done", started=1.0, summary={"train_loss": loss})
    assert main(["runs", "list"]) == 0 and "a" in capsys.readouterr().out
    assert main(["runs", "show", "a"]) == 0 and json.loads(capsys.readouterr().out)["status"]["phase"] == "done"
    assert main(["runs", "compare", "a", "b"]) == 0 and "final_loss" in capsys.readouterr().out
    assert main(["runs", "delete", "a"]) == 0 and not a.exists()


def test_user_mistakes_are_one_line_and_exit_2(fresh_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--set", "train.epoch=1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "train.epoch" in err and "Traceback" not in err
    assert main(["train", "--data", "/nonexistent.csv", "--out", str(fresh_home / "x")]) == 2
    assert "does not exist" in capsys.readouterr().err
    # no --data and no data.path: an error that names the fix, never the airline sample in silence
    assert main(["train", "--out", str(fresh_home / "y"), "--max-steps", "1"]) == 2
    err = capsys.readouterr().err
    assert "No training data: pass --data FILE" in err and "airline_train.jsonl" in err
    assert not (fresh_home / "y").exists()  # refused before a run folder is made
    assert main(["runs", "delete", "nope"]) == 2
    assert "no run" in capsys.readouterr().err
