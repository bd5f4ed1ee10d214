"""The eval command's contract, end to end in a subprocess on the real models: one JSON object
with per-bot aggregates and per-question rows, files saved where the guide looks, and user
mistakes as one line with exit code 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from airbot.guide import PRESETS, Evidence, recommend
from tests import _eval_fixtures as fx
from tests._eval_fixtures import FAST

tiny_files, tiny_index, tiny_run = fx.tiny_files, fx.tiny_index, fx.tiny_run  # shared session fixtures

ROOT = Path(__file__).resolve().parents[2]
BOT_KEYS = {"fact_accuracy", "fact_accuracy_ci", "similarity", "rouge_l", "refusal_accuracy", "clause_accuracy",
            "mean_latency_s", "n"}
QUESTION_KEYS = {"bot", "question", "answer", "facts_ok", "similarity", "rouge_l", "refused", "clause_ok", "latency"}


def _airbot(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "airbot", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})


def test_eval_json_contract(tiny_files: dict[str, Path], tiny_index: Path, tiny_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    proc = _airbot("eval", "--run", str(tiny_run), "--index", str(tiny_index), "--data", str(tiny_files["heldout"]),
                   "--bots", "finetuned,rag", "--out-of-scope", str(tiny_files["oos"]), "--limit", "2",
                   "--no-probe", "--json", "--out", str(out), *[x for s in FAST for x in ("--set", s)])
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [x for x in proc.stdout.splitlines() if x.strip()]
    assert len(lines) == 1, "--json prints exactly one object"
    result = json.loads(lines[0])
    assert set(result["bots"]) == {"finetuned", "rag"}
    for name, agg in result["bots"].items():
        assert BOT_KEYS <= set(agg), name
        assert agg["n"] == 2 and 0 <= agg["fact_accuracy"] <= 1
        lo, hi = agg["fact_accuracy_ci"]
        assert lo <= agg["fact_accuracy"] <= hi
        assert agg["mean_latency_s"] > 0
    assert result["bots"]["rag"]["refusal_accuracy"] == 1.0  # the weather is not in the policy
    assert result["bots"]["finetuned"]["clause_accuracy"] is None  # no sources, nothing to check
    assert "Small sets" in result["note"]
    assert len(result["questions"]) == 2 * (2 + 1)
    assert all(QUESTION_KEYS <= set(q) for q in result["questions"])
    saved = json.loads((out / "eval.json").read_text())
    assert saved["bots"] == result["bots"]
    assert len((out / "questions.jsonl").read_text().splitlines()) == 6
    assert (tiny_run / "evals" / "eval" / "eval.json").is_file()  # the run carries its evidence
    rec = recommend(PRESETS["Airline FAQs"], Evidence.from_eval_json(saved))  # the guide reads it as evidence
    assert any("fine-tuned bot" in line and "RAG" in line for line in rec.evidence_lines)


def test_eval_errors_are_one_line(tmp_path: Path) -> None:
    index = str(tmp_path / "idx")  # never opened: both mistakes are caught before any index or model loads
    proc = _airbot("eval", "--index", index, "--bots", "rag,oracle,hybrid", "--json")
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: Cannot evaluate:") and proc.stderr.count("\n") == 1
    assert "unknown bot 'oracle'" in proc.stderr and "need a fine-tuning run" in proc.stderr
    assert "Traceback" not in proc.stderr
    missing = _airbot("eval", "--index", index, "--data", "/nonexistent/heldout.jsonl", "--bots", "rag")
    assert missing.returncode == 2 and "Traceback" not in missing.stderr


def test_policy_change_without_an_index_is_one_line() -> None:
    proc = _airbot("policy-change", "--bots", "rag", "--json")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "needs the document index" in proc.stderr


def test_policy_change_json_finds_the_changes_itself_and_counts_per_bot(tiny_files: dict[str, Path],
                                                                        tiny_index: Path) -> None:
    """No changes file: the changed figures come from the two versions; the JSON has `changes` and
    `bots.<bot>.{new,old,neither}` (as `policy_change`), and the user's index is left as it was."""
    proc = _airbot("policy-change", "--index", str(tiny_index), "--new", str(tiny_files["policy_v2"]),
                   "--bots", "rag", "--json", *[a for kv in FAST for a in ("--set", kv)])
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert {(c["old"], c["new"]) for c in result["changes"]} == {("23 kg", "25 kg"), ("USD 70", "USD 90")}
    assert result["bots"] == result["policy_change"] and set(result["bots"]["rag"]) == {"new", "old", "neither"}
    assert sum(result["bots"]["rag"].values()) == 2
