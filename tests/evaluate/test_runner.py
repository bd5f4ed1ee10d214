"""The evaluation's plumbing with scripted bots (so every number is known in advance): reading
held-out files in any format, aggregates with intervals, forgetting, stop, saving where the
guide and the run look, and the guide turning a saved eval.json into evidence lines.
The real models are exercised by test_eval_cli.py and test_policy_change.py."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from airbot.config import load_config
from airbot.errors import AirbotError, DataError
from airbot.evaluate import questions as eval_sets
from airbot.evaluate import report as eval_report
from airbot.evaluate import runner as ev
from airbot.evaluate import scoring as eval_scoring
from airbot.guide import PRESETS, Evidence, recommend
from tests._eval_fixtures import HELDOUT, write_jsonl

RIGHT = {q["question"]: q["answer"] for q in HELDOUT}


class ScriptedBot:
    """Answers from a script; the RAG flavour cites the clause and declines what it does not know."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def answer(self, question: str) -> Any:
        timings = SimpleNamespace(total_s=0.5 if self.kind == "rag" else 0.2, ttft_s=0.1, retrieval_s=0.05,
                                  tokens_per_s=20.0)
        if self.kind == "rag":
            row = next((q for q in HELDOUT if q["question"] == question), None)
            if row is None:
                return SimpleNamespace(text="The documents do not cover that.", sources=[], timings=timings, refused=True)
            return SimpleNamespace(text=row["answer"], sources=[{"clause": row["clause"], "text": "..."}],
                                   timings=timings, refused=False)
        if self.kind == "base":
            return SimpleNamespace(text="Paris is the capital of France. Tokyo.", sources=[], timings=timings)
        return SimpleNamespace(text="Each bag may weigh 250 kg.", sources=[], timings=timings)  # confidently wrong


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch, fresh_home: Path) -> Path:
    monkeypatch.setattr(ev, "build_bot", lambda kind, config, run_dir, kb: ScriptedBot(kind))
    monkeypatch.setattr("airbot.knowledge.index.open_index", lambda index, config: SimpleNamespace(root=Path("/idx")))
    monkeypatch.setattr(ev, "_embedder", lambda config: lambda texts: np.ones((len(texts), 3)))
    return fresh_home


def test_scores_aggregates_and_saving(scripted: Path, tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "heldout.jsonl", HELDOUT)
    run = tmp_path / "my-run"
    run.mkdir()
    report = ev.evaluate(["finetuned", "rag"], data, load_config(), run_dir=run, index="idx", name="t1")
    rag, ft = report.bots["rag"], report.bots["finetuned"]
    assert (rag["fact_accuracy"], rag["n"], rag["clause_accuracy"], rag["refusal_accuracy"]) == (1.0, 3, 1.0, 1.0)
    assert rag["fact_accuracy_ci"][0] < 0.5 and rag["fact_accuracy_ci"][1] == 1.0  # 3/3 proves little
    assert (ft["fact_accuracy"], ft["refusal_accuracy"], ft["clause_accuracy"]) == (0.0, 0.0, None)
    assert rag["mean_latency_s"] == 0.5 and rag["false_refusal_rate"] == 0.0
    assert rag["similarity"] == pytest.approx(1.0)
    assert report.forgetting["base"] > report.forgetting["finetuned"]  # base knows Paris; the tuned bot forgot
    saved = scripted / "evals" / "t1"
    obj = json.loads((saved / "eval.json").read_text())
    assert obj["bots"]["rag"]["fact_accuracy"] == 1.0 and "Small sets" in obj["note"]
    assert (run / "evals" / "t1" / "eval.json").is_file()
    rows = [json.loads(x) for x in (saved / "questions.jsonl").read_text().splitlines()]
    probe = [r for r in rows if r["kind"] == "probe"]
    assert {r["bot"] for r in probe} == {"base", "finetuned"}  # base answers the probe only, as the yardstick
    assert "base" not in obj["bots"]


def test_guide_reads_a_saved_evaluation(scripted: Path, tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "heldout.jsonl", HELDOUT)
    report = ev.evaluate(["finetuned", "rag"], data, load_config(), run_dir=tmp_path, index="idx", name="t2")
    policy = {"policy_change": {"rag": {"new": 2, "old": 0, "neither": 0}, "finetuned": {"new": 0, "old": 2, "neither": 0}},
              "rag_update_s": 0.8, "retrain_s": 1200.0}
    path = eval_report.merge_policy(report.out_dir, policy)
    evidence = Evidence.from_eval_json(json.loads(path.read_text()))
    # a real policy-change result merged in keeps the per-bot accuracy table (it used to replace it)
    from airbot.evaluate.policy_change import policy_summary

    real = policy_summary(["rag"], [], 0.8, None, "policy.md", tmp_path / "v2.md", True)
    merged = json.loads(eval_report.merge_policy(report.out_dir, real).read_text())
    assert merged["bots"]["rag"]["fact_accuracy"] == 1.0 and merged["policy_change"] == real["policy_change"]
    assert evidence.bots["rag"].fact_accuracy == 1.0 and evidence.bots["finetuned"].n == 3
    assert evidence.policy_change == {"rag": "new", "finetuned": "old"}
    rec = recommend(replace(PRESETS["Airline FAQs"], knowledge_change="weekly"), evidence)
    assert rec.evidence_lines
    assert any("Out-of-scope questions correctly declined" in line for line in rec.evidence_lines)
    assert any("updating RAG took 0.8 s vs ~1200 s to retrain" in line for line in rec.evidence_lines)


def test_stop_keeps_what_was_answered(scripted: Path, tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "heldout.jsonl", HELDOUT)
    calls = iter(range(100))
    report = ev.evaluate(["rag"], data, load_config(), index="idx", name="t3", out_of_scope="none",
                         should_stop=lambda: next(calls) >= 2)
    assert report.partial and len(report.questions) == 2 and report.bots["rag"]["n"] == 2


def test_any_format_and_optional_facts(tmp_path: Path) -> None:
    csv = tmp_path / "h.csv"
    csv.write_text('instruction,output,facts,clause\n"Fee?","It is USD 75.","USD 75; 23 kg",1.5\n')
    item = eval_sets.read_heldout(csv)[0]
    assert (item.question, item.reference, item.facts, item.clause) == ("Fee?", "It is USD 75.", ["USD 75", "23 kg"], "1.5")
    msgs = tmp_path / "m.jsonl"
    msgs.write_text(json.dumps({"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "A"},
                                             {"role": "user", "content": "Bag?"},
                                             {"role": "assistant", "content": "23 kg"}]}) + "\n")
    item = eval_sets.read_heldout(msgs)[0]
    # no facts in the file: the reference's figures stand in, and the item says so
    assert (item.question, item.reference, item.facts, item.facts_derived) == ("Bag?", "23 kg", ["23 kg"], True)
    results = [eval_scoring.QuestionResult("rag", "heldout", "Bag?", "23 kg", "23 kg", [], None, None, None, None, False, None,
                                 None, [], 0.1, None, None, None)]
    eval_scoring.score(results, lambda texts: np.ones((len(texts), 2)))
    assert results[0].facts_ok is None and results[0].rouge_l == 1.0 and results[0].similarity == 1.0
    assert eval_scoring.summarize("rag", results)["fact_accuracy"] is None  # no facts: not scored, not zero


def test_facts_only_files_are_evaluation_sets_and_problems_talk_about_evaluation(tmp_path: Path) -> None:
    facts_only = write_jsonl(tmp_path / "bank.jsonl", [{"question": "Overdraft fee?", "facts": ["EUR 8"], "clause": "B2"},
                                                        {"question": "Card limit?", "facts": "EUR 500; 2 days"}])
    items = eval_sets.read_heldout(facts_only)
    assert [(i.question, i.reference, i.facts, i.clause, i.facts_derived) for i in items] == [
        ("Overdraft fee?", "", ["EUR 8"], "B2", False), ("Card limit?", "", ["EUR 500", "2 days"], None, False)]
    broken = write_jsonl(tmp_path / "broken.jsonl", [{"question": "No facts, no answer?"}, {"facts": ["EUR 1"]}])
    with pytest.raises(DataError) as info:
        eval_sets.read_heldout(broken)
    message = str(info.value)
    assert "cannot be used as an evaluation set" in message and "training" not in message
    assert "line 1: no 'answer' or 'facts'" in message and "line 2: no 'question'" in message


def test_training_file_is_cut_to_its_heldout_rows(tmp_path: Path) -> None:
    rows = [{"question": f"Q{i}?", "answer": f"A{i}."} for i in range(20)]
    data = write_jsonl(tmp_path / "train.jsonl", rows)
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(f"data:\n  path: {data}\n")
    items, split = eval_sets.heldout_rows_of_training_file(data, run, eval_sets.read_heldout(data), load_config())
    assert len(items) == 2 and "held out" in split


def test_bad_requests_are_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(AirbotError) as info:
        ev.check_bots(["rag", "hybrid", "gpt"], run_dir=None, index=None)
    text = str(info.value)
    assert "unknown bot 'gpt'" in text and "--run" in text and "--index" in text
    with pytest.raises(AirbotError, match=r"(?s)cannot be used as a question set.*line 1: no 'question'"):
        eval_sets.read_questions(write_jsonl(tmp_path / "empty.jsonl", [{"other": 1}]))
