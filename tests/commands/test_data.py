"""``python -m airbot data``: bad files exit 2 with the collected message (never a traceback);
good files print the report, as lines or as one JSON object."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from airbot import cli
from airbot.samples import sample_path
from tests.data.test_dataset import BAD_FILES, make_bad_file

ROOT = Path(__file__).resolve().parents[2]


def airbot(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "airbot", *args], capture_output=True, text=True, cwd=ROOT,
                          env=os.environ.copy(), timeout=300)


def test_every_bad_file_exits_2_with_its_message(tmp_path: Path) -> None:
    cases = {kind: make_bad_file(tmp_path / f"case{i}", kind) for i, kind in enumerate(BAD_FILES)}
    # The structure is checked before any model loads, so each run takes a fraction of a second.
    with ThreadPoolExecutor(4) as pool:
        results = dict(zip(cases, pool.map(lambda c: airbot("data", "check", str(c[0]), "--max-tokens", "64"),
                                           cases.values())))
    for kind, result in results.items():
        assert result.returncode == 2, (kind, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr and result.stderr.startswith("error: "), (kind, result.stderr)
        for fragment in cases[kind][1]:
            assert fragment in result.stderr, (kind, fragment, result.stderr)


def test_check_json_save_then_list(fresh_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # In-process (same main() as the console) so the models loaded by earlier tests are reused.
    assert cli.main(["data", "check", str(sample_path("train")), "--json", "--save"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["format"] == "qa" and data["rows"] >= 30 and data["saved_as"] == "airline_train"
    assert data["report"]["conversation_tokens"]["max"] > 0 and isinstance(data["report"]["warnings"], list)
    assert cli.main(["data", "list"]) == 0
    assert capsys.readouterr().out.startswith("airline_train\t")


def test_check_prints_readable_lines(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["data", "check", str(sample_path("heldout"))]) == 0
    out = capsys.readouterr().out
    assert "airline_heldout.jsonl: usable, " in out and "tokens per conversation" in out and "topics:" in out


def test_tiny_token_limit_is_reported_with_the_flag_to_raise_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["data", "check", str(sample_path("train")), "--max-tokens", "60"]) == 2
    err = capsys.readouterr().err
    assert "over the limit of 60" in err and "--max-tokens" in err


def test_empty_store_says_how_to_add(fresh_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["data", "list"]) == 0
    assert "--save" in capsys.readouterr().out
