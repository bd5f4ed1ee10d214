"""airbot.train.export: a finished run's adapter downloads as a zip (built once, rebuilt only when
the adapter changes), a full fine-tune exports as it is, and prompt tuning, which has no weights to
merge, is refused with an error that says to download the adapter instead."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import pytest

from airbot.errors import JobError
from airbot.train import runs
from airbot.train import status as train_status
from airbot.train.export import adapter_zip, export_merged
from tests._fake_runs import fake_run


def test_adapter_zip_holds_the_adapter_files(fresh_home: Path) -> None:
    run_dir = fake_run("lora-run", 1.0, phase="done", method="lora")
    (run_dir / "adapter" / "adapter_model.safetensors").write_bytes(b"\x00weights\x01")
    target = adapter_zip("lora-run")
    assert target == fresh_home / "runs" / "lora-run" / "exports" / "lora-run-adapter.zip"
    with zipfile.ZipFile(target) as zf:
        names = {n.removeprefix("./") for n in zf.namelist()}
        assert {"adapter_config.json", "adapter_model.safetensors"} <= names
        member = next(n for n in zf.namelist() if n.endswith("adapter_model.safetensors"))
        assert zf.read(member) == b"\x00weights\x01"
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no partial archive left behind

    os.utime(target, (1e9 + 10, 1e9 + 10))
    for p in (run_dir / "adapter").iterdir():
        os.utime(p, (1e9, 1e9))
    assert adapter_zip(run_dir).stat().st_mtime == 1e9 + 10  # unchanged adapter: the zip is reused


def test_adapter_zip_of_a_run_without_adapter_is_a_clear_error(fresh_home: Path) -> None:
    fake_run("broken", 1.0, adapter=False, phase="failed", message="out of memory")
    with pytest.raises(JobError, match=r"has no adapter \(status: failed: out of memory\)"):
        adapter_zip("broken")


def test_export_merged_refuses_prompt_tuning(fresh_home: Path) -> None:
    run_dir = runs.create_run("prompt-run")
    train_status.write_status(run_dir, phase="done", started=1.0, method="prompt")
    (run_dir / "adapter").mkdir()
    (run_dir / "adapter" / "adapter_config.json").write_text(json.dumps({"peft_type": "PROMPT_TUNING"}))
    with pytest.raises(JobError, match=r"prompt tuning.*no weights to merge.*Export the adapter instead"):
        export_merged("prompt-run")
    assert not (run_dir / "exports" / "prompt-run-merged.zip").exists()


def test_export_merged_of_a_full_fine_tune_zips_the_model_as_is(fresh_home: Path) -> None:
    run_dir = fake_run("full-run", 1.0, adapter=False, phase="done", method="full")
    (run_dir / "adapter").mkdir()
    (run_dir / "adapter" / "config.json").write_text(json.dumps({"model_type": "llama"}))
    target = export_merged(run_dir)
    assert target.name == "full-run-merged.zip"
    with zipfile.ZipFile(target) as zf:
        assert "config.json" in {n.removeprefix("./") for n in zf.namelist()}
