"""``python -m airbot index`` and ``ask``: the JSON contract and the one-line exit-2 errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from airbot.cli import main

ROOT = Path(__file__).resolve().parents[2]
POLICY = "# Air\n\n## 1. Bags\n\n1.1 Each passenger may check 2 bags of up to 23 kg.\n\n" \
         "## 2. Pets\n\n2.1 Cats travel in the cabin for USD 70.\n"


def _airbot(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "airbot", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=600)


def test_index_then_ask_json_lines(tmp_path: Path) -> None:
    (tmp_path / "policy.md").write_text(POLICY)
    built = _airbot("index", str(tmp_path / "policy.md"), "--out", str(tmp_path / "idx"))
    assert built.returncode == 0, built.stderr
    assert "policy.md: version 1, 2 chunks" in built.stdout and "100%" in built.stderr
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"question": "How heavy may my bag be?"}\n{"question": "Who won the football match?"}\n')
    asked = _airbot("ask", "--bot", "rag", "--index", str(tmp_path / "idx"), "--questions", str(questions), "--json",
                    "--set", "chat.max_new_tokens=10")
    assert asked.returncode == 0, asked.stderr
    rows = [json.loads(line) for line in asked.stdout.splitlines()]
    assert [r["question"] for r in rows] == ["How heavy may my bag be?", "Who won the football match?"]
    first, second = rows
    assert first["bot"] == "rag" and first["answer"] and first["sources"][0]["doc"] == "policy.md"
    assert set(first["sources"][0]) >= {"doc", "page", "section", "text", "score"}
    assert set(first["timings"]) >= {"retrieval_s", "ttft_s", "total_s", "tokens_per_s"}
    assert second["refused"] and second["sources"] == []


def test_ask_streams_plain_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "policy.md").write_text(POLICY)
    assert main(["index", str(tmp_path / "policy.md"), "--out", str(tmp_path / "idx"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["chunks"] == 2
    assert main(["ask", "--bot", "rag", "--index", str(tmp_path / "idx"), "--set", "chat.max_new_tokens=6",
                 "What does a cat cost?"]) == 0
    out = capsys.readouterr().out
    assert "[1] policy.md (clause 2.1)" in out
    assert main(["index", "--out", str(tmp_path / "idx"), "--chunks"]) == 0  # how the document was read
    listed = capsys.readouterr().out.splitlines()
    assert [line.split(" | ")[1] for line in listed if line.startswith("policy.md | ")] == ["clause 1.1", "clause 2.1"]


@pytest.mark.parametrize(("argv", "message"), [
    (["ask", "--bot", "rag", "Hi?"], "needs a document index"),
    (["ask", "--bot", "rag", "--index", "{tmp}/nowhere", "Hi?"], "No index at"),
    (["ask", "--bot", "finetuned", "--run", "{tmp}/run", "Hi?"], "has no adapter (status: failed"),
    (["ask", "--bot", "base"], "exactly one thing"),
    (["ask", "--bot", "base", "--questions", "{tmp}/missing.jsonl"], "does not exist"),
    (["index", "--out", "{tmp}/idx"], "Nothing to do"),
    (["index", "{tmp}/scan.xlsx", "--out", "{tmp}/idx"], "not supported"),
])
def test_bad_arguments_exit_2_with_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  argv: list[str], message: str) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "status.json").write_text(json.dumps({"phase": "failed", "message": "crashed"}))
    (tmp_path / "scan.xlsx").write_bytes(b"PK")
    assert main([a.format(tmp=tmp_path) for a in argv]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and message in errors[0] and "Traceback" not in err
