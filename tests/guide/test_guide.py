"""The decision guide: verdicts follow the seed's tables, reasons cite real rows, evidence is weighed fairly.

    .venv/bin/python -m pytest tests/test_guide.py -q
"""

from __future__ import annotations

import itertools
import json
import random
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from airbot.errors import AirbotError
from airbot.guide import (
    PRESETS,
    SEED_TABLES,
    STRONG,
    Answers,
    BotEvidence,
    Evidence,
    answers_from_mapping,
    question_help,
    recommend,
    seed_citations,
    to_dict,
)

BASE = Answers()  # the undecided middle: single-factor flips start here
LEGAL = PRESETS["Legal assistant (latest laws)"]
AIRLINE = PRESETS["Airline FAQs"]
_SEED_PREFER = {"Fine-tuning": "fine-tune", "RAG": "rag"}

VERDICT_CASES = [
    # every preset: the seed's "Best Use Cases" verdict
    ("Airline FAQs", AIRLINE, "fine-tune"),
    ("E-commerce chatbot", PRESETS["E-commerce chatbot"], "fine-tune"),
    ("Legal assistant", LEGAL, "rag"),
    ("Customer support, evolving KB", PRESETS["Customer support with evolving KB"], "rag"),
    ("Medical triage", PRESETS["Medical triage assistant"], "fine-tune"),
    ("Research Q&A", PRESETS["Research-based Q&A"], "rag"),
    # single-factor flips from the undecided middle, one per seed row
    ("strict style", replace(BASE, style_control="strict"), "fine-tune"),
    ("offline", replace(BASE, offline=True), "fine-tune"),
    ("repetitive", replace(BASE, repetitive="high"), "fine-tune"),
    ("tight latency", replace(BASE, latency_budget="tight"), "fine-tune"),
    ("no retriever", replace(BASE, can_run_retriever=False), "fine-tune"),
    ("static knowledge", replace(BASE, knowledge_change="never"), "fine-tune"),
    ("weekly changes", replace(BASE, knowledge_change="weekly"), "rag"),
    ("daily changes", replace(BASE, knowledge_change="daily"), "rag"),
    ("fact-intensive", replace(BASE, fact_intensive="high"), "rag"),
    ("5 examples", replace(BASE, examples=5), "rag"),
    # hard constraints
    ("legal, offline, no retriever", replace(LEGAL, offline=True, can_run_retriever=False), "fine-tune"),
    ("research, no documents", replace(PRESETS["Research-based Q&A"], has_documents=False), "fine-tune"),
    ("blend wanted, no documents", replace(BASE, style_control="strict", fact_intensive="high", has_documents=False),
     "fine-tune"),
    # offline alone only leans: RAG can run on a local index
    ("legal, offline only", replace(LEGAL, offline=True), "rag"),
    # hybrid: the seed's blend tip, or two strong, close cases
    ("strict style + high facts", replace(BASE, style_control="strict", fact_intensive="high"), "hybrid"),
    ("legal with a strict format", replace(LEGAL, style_control="strict"), "hybrid"),
    ("airline, policies change daily", replace(AIRLINE, knowledge_change="daily"), "hybrid"),
    # the tip alone does not force hybrid when one side dominates
    ("medical, high facts", replace(PRESETS["Medical triage assistant"], fact_intensive="high"), "fine-tune"),
]


@pytest.mark.parametrize(("answers", "expected"), [c[1:] for c in VERDICT_CASES], ids=[c[0] for c in VERDICT_CASES])
def test_verdicts(answers: Answers, expected: str) -> None:
    assert recommend(answers).verdict == expected


def test_every_preset_gets_the_seeds_verdict() -> None:
    """Checked against the seed table itself, so a preset cannot drift from the brief."""
    seed = {row[0].lower(): _SEED_PREFER[row[1]] for row in SEED_TABLES["best_use_cases"].rows}
    assert {name.lower() for name in PRESETS} == set(seed)
    for name, answers in PRESETS.items():
        assert recommend(answers).verdict == seed[name.lower()], name


def _sample(k: int = 1500) -> list[Answers]:
    """A fixed random sample of the whole answer space (all combinations would be ~150k)."""
    rng = random.Random(7)
    choices = {"knowledge_change": ["never", "yearly", "monthly", "weekly", "daily"],
               "examples": [0, 10, 29, 30, 500, 5000, 50_000], "style_control": ["none", "some", "strict"],
               "offline": [True, False], "fact_intensive": ["low", "medium", "high"],
               "repetitive": ["low", "medium", "high"], "latency_budget": ["tight", "normal", "relaxed"],
               "cost_budget": ["low", "medium", "high"], "can_run_retriever": [True, False],
               "has_documents": [True, False], "needs_generalization": ["low", "medium", "high"]}
    return [Answers(**{k: rng.choice(v) for k, v in choices.items()}) for _ in range(k)]


def test_reasons_and_caveats_cite_real_seed_rows() -> None:
    rows = seed_citations()
    cited = set()
    for answers in _sample() + list(PRESETS.values()):
        rec = recommend(answers)
        cited |= {r.seed_row for r in rec.reasons} | {c.seed_row for c in rec.caveats}
    assert cited <= rows
    assert len(cited) >= 15  # the sweep reached most rules, so the check above means something


def test_citation_format_matches_the_brief() -> None:
    assert ("When should you fine-tune? — Limited or no internet access → Fine-tuning"
            in {r.seed_row for r in recommend(replace(BASE, offline=True)).reasons})
    assert "Tips — Blend both: fine-tune on structure, RAG for facts" in seed_citations()


def test_scores_are_the_sum_of_their_reasons() -> None:
    for answers in _sample(500):
        rec = recommend(answers)
        by_side = {side: sum(r.weight for r in rec.reasons if r.points_to == side) for side in ("fine-tune", "rag")}
        assert rec.scores["fine-tune"] == pytest.approx(by_side["fine-tune"])
        assert rec.scores["rag"] == pytest.approx(by_side["rag"])
        blend = [r.weight for r in rec.reasons if r.points_to == "hybrid"]
        both_strong = min(by_side.values()) >= STRONG
        assert len(blend) == int(both_strong)
        expected = (by_side["fine-tune"] + by_side["rag"]) / 2 + sum(blend) if both_strong else 0.0
        assert rec.scores["hybrid"] == pytest.approx(expected)
        assert all(r.weight > 0 for r in rec.reasons)


def test_hard_constraints_hold_everywhere() -> None:
    for answers in _sample():
        rec = recommend(answers)
        if not answers.has_documents:
            assert rec.verdict == "fine-tune"
            assert any("no source documents" in w for w in rec.warnings)
        if answers.offline and not answers.can_run_retriever:
            assert rec.verdict == "fine-tune"
        if answers.examples < 30:
            assert any("at least 30" in w for w in rec.warnings)


def test_the_verdict_is_the_best_allowed_score() -> None:
    for answers in _sample(500):
        rec = recommend(answers)
        if answers.has_documents and not (answers.offline and not answers.can_run_retriever):
            assert rec.scores[rec.verdict] == max(rec.scores.values())


def test_constraint_override_is_explained() -> None:
    rec = recommend(replace(PRESETS["Research-based Q&A"], has_documents=False))
    assert any("would point to RAG" in w for w in rec.warnings)
    assert "only option" in rec.summary


def test_many_examples_warn_about_the_lora_range() -> None:
    rec = recommend(replace(AIRLINE, examples=50_000))
    assert any("20K" in w and "full fine-tuning" in w for w in rec.warnings)


def test_caveats_follow_the_verdict() -> None:
    rag = recommend(PRESETS["Research-based Q&A"])
    assert rag.caveats and all("Challenges in Fine-Tuning" not in c.seed_row for c in rag.caveats)
    ft = recommend(replace(AIRLINE, needs_generalization="high", cost_budget="low"))
    rows = {c.seed_row for c in ft.caveats}
    assert "Challenges in Fine-Tuning — Catastrophic forgetting if not careful" in rows
    assert "Challenges in Fine-Tuning — High cost for larger models" in rows


def test_summary_names_the_verdict_and_its_main_reason() -> None:
    rec = recommend(PRESETS["Research-based Q&A"])
    assert rec.summary.startswith("RAG fits best")
    assert "changes daily" in rec.summary
    assert "close call" in recommend(BASE).summary


# --- validation ------------------------------------------------------------------------------


def test_answers_from_mapping_defaults_and_normalises() -> None:
    answers = answers_from_mapping({"knowledge_change": " Weekly ", "examples": 250.0, "offline": "yes"})
    assert answers == replace(BASE, knowledge_change="weekly", examples=250, offline=True)
    assert answers_from_mapping({}) == BASE
    assert answers_from_mapping({"examples": " 120 ", "has_documents": False}).examples == 120
    with pytest.raises(AirbotError, match="mapping"):
        answers_from_mapping(["weekly"])  # type: ignore[arg-type]
    assert answers_from_mapping(asdict(LEGAL)) == LEGAL


def test_answers_from_mapping_collects_every_problem() -> None:
    with pytest.raises(AirbotError) as err:
        answers_from_mapping({"knowledge_change": "hourly", "examples": -3, "offline": "maybe", "fact_intensiv": "high",
                              "style_control": "loose"})
    message = str(err.value)
    assert "5 problem" in message
    assert "knowledge_change: 'hourly'" in message and "never, yearly, monthly, weekly, daily" in message
    assert "examples: -3" in message
    assert "offline: 'maybe'" in message and "true or false" in message
    assert "unknown field 'fact_intensiv' (did you mean 'fact_intensive'?)" in message
    assert "style_control: 'loose'" in message and "none, some, strict" in message
    assert len(err.value.problems) == 5


@pytest.mark.parametrize("bad", [True, 2.5, "lots", None])
def test_examples_must_be_a_whole_number(bad: object) -> None:
    with pytest.raises(AirbotError, match="examples"):
        answers_from_mapping({"examples": bad})


def test_recommend_validates_hand_built_answers() -> None:
    with pytest.raises(AirbotError, match="latency_budget"):
        recommend(replace(BASE, latency_budget="instant"))  # type: ignore[arg-type]


def test_every_question_has_help() -> None:
    assert all(question_help(name) for name in asdict(BASE))


# --- evidence ------------------------------------------------------------------------------


def _bot(acc: float, ci: tuple[float, float] | None = None, n: int = 40, latency: float | None = None) -> BotEvidence:
    return BotEvidence(acc, ci, None, latency, n)


def test_evidence_that_agrees() -> None:
    answers = replace(BASE, knowledge_change="monthly")
    ev = Evidence({"finetuned": _bot(0.31, (0.18, 0.47)), "rag": _bot(0.84, (0.70, 0.93))})
    rec = recommend(answers, ev)
    assert rec.verdict == "rag"
    assert rec.agreement == "agree" and rec.evidence_verdict == "rag"
    assert rec.evidence_lines[0] == ("Your knowledge changes monthly and RAG answered 84% vs 31% for the fine-tuned "
                                     "bot: the numbers agree with RAG.")


def test_evidence_that_disagrees_leaves_the_verdict_alone() -> None:
    ev = Evidence({"finetuned": _bot(0.40, n=30), "rag": _bot(0.80, n=30)})
    rec = recommend(AIRLINE, ev)
    assert rec.verdict == "fine-tune"
    assert rec.agreement == "disagree" and rec.evidence_verdict == "rag"
    assert "the numbers disagree and favour RAG" in rec.evidence_lines[0]


@pytest.mark.parametrize(("ft", "rag", "why"), [
    (_bot(0.55, (0.40, 0.70)), _bot(0.70, (0.55, 0.82)), "confidence intervals overlap"),
    (_bot(0.30, n=8), _bot(0.70, n=8), "only 8 questions"),
    (_bot(0.60, n=50), _bot(0.70, n=50), "under 15 points"),
])
def test_inconclusive_evidence(ft: BotEvidence, rag: BotEvidence, why: str) -> None:
    rec = recommend(replace(BASE, knowledge_change="weekly"), Evidence({"finetuned": ft, "rag": rag}))
    assert rec.agreement == "mixed" and rec.evidence_verdict is None
    assert why in rec.evidence_lines[0] and "too small to tell" in rec.evidence_lines[0]


def test_a_15_point_gap_on_enough_questions_counts() -> None:
    rec = recommend(AIRLINE, Evidence({"finetuned": _bot(0.85, n=20), "rag": _bot(0.70, n=20)}))
    assert rec.agreement == "agree" and rec.evidence_verdict == "fine-tune"


def test_hybrid_level_with_rag_still_agrees() -> None:
    answers = replace(BASE, style_control="strict", fact_intensive="high")
    ev = Evidence({"finetuned": _bot(0.3, (0.2, 0.4)), "rag": _bot(0.82, (0.7, 0.9)), "hybrid": _bot(0.8, (0.68, 0.9))})
    rec = recommend(answers, ev)
    assert rec.verdict == "hybrid" and rec.agreement == "agree"
    assert rec.evidence_verdict is None  # RAG and hybrid cannot be told apart
    assert "the hybrid bot answered 80% vs 30% for the fine-tuned bot" in rec.evidence_lines[0]


def test_unevaluated_verdict_bot_or_single_bot() -> None:
    hybrid = replace(BASE, style_control="strict", fact_intensive="high")
    rec = recommend(hybrid, Evidence({"finetuned": _bot(0.3), "rag": _bot(0.8)}))
    assert rec.agreement == "mixed" and "not evaluated" in rec.evidence_lines[0]
    alone = recommend(BASE, Evidence({"rag": _bot(0.8), "base": _bot(0.2)}))
    assert alone.agreement is None and alone.evidence_verdict is None
    assert any("base model" in line and "20%" in line for line in alone.evidence_lines)


def test_latency_and_policy_change_lines() -> None:
    ev = Evidence.from_eval_json({
        "bots": {"finetuned": {"fact_accuracy": 0.3, "n": 20, "mean_latency_s": 0.6},
                 "rag": {"fact_accuracy": 0.9, "n": 20, "mean_latency_s": 1.8}},
        "policy_change": {"rag": ["new"] * 4, "finetuned": {"old": 3, "new": 1}},
        "rag_update_s": 2.1, "retrain_s": 95,
    })
    rec = recommend(replace(BASE, knowledge_change="weekly", latency_budget="tight"), ev)
    assert ("After the policy update RAG gave the new figure in 4/4 changed questions, the fine-tuned bot the old "
            "one in 3/4; updating RAG took 2.1 s vs ~95 s to retrain.") in rec.evidence_lines
    latency = next(line for line in rec.evidence_lines if line.startswith("Mean answer time"))
    assert "RAG is 3.0× slower than the fine-tuned bot" in latency and "tight latency" in latency


def test_latency_ignores_the_base_model_as_a_rival() -> None:
    ev = Evidence({"base": _bot(0.2, latency=0.3), "finetuned": _bot(0.9, latency=0.6), "rag": _bot(0.5, latency=1.5)})
    line = next(x for x in recommend(AIRLINE, ev).evidence_lines if x.startswith("Mean answer time"))
    assert line.endswith("The fine-tuned bot is the fastest, as your tight budget needs.")


def test_a_forced_verdict_is_explained_by_the_constraint() -> None:
    ev = Evidence({"finetuned": _bot(0.3, n=30), "rag": _bot(0.9, n=30)})
    rec = recommend(replace(LEGAL, has_documents=False), ev)
    assert rec.evidence_lines[0].startswith("Your setup rules out RAG, but RAG answered 90% vs 30%")
    assert rec.agreement == "disagree"


def test_from_eval_json_is_tolerant() -> None:
    ev = Evidence.from_eval_json({
        "bots": {
            "Fine-Tuned": {"fact_accuracy": 72, "fact_accuracy_ci": [60, 82], "n": 25},  # percentages
            "rag": {"fact_accuracy": 0.9, "fact_accuracy_ci": "n/a", "refusal_accuracy": None},
            "hybrid": {"n": 12},  # no accuracy: cannot be compared, so skipped
            "base": "broken",
        },
        "policy_change": {"rag": "NEW", "finetuned": "stale"},
    })
    assert set(ev.bots) == {"finetuned", "rag"}
    assert ev.bots["finetuned"] == BotEvidence(0.72, (0.60, 0.82), None, None, 25)
    assert ev.bots["rag"] == BotEvidence(0.9, None, None, None, 0)
    assert ev.policy_change == {"rag": "new"}
    assert ev.rag_update_s is None and ev.retrain_s is None
    assert Evidence.from_eval_json({}) == Evidence()
    with pytest.raises(AirbotError, match="JSON object"):
        Evidence.from_eval_json([1, 2])  # type: ignore[arg-type]


def test_no_evidence_means_no_evidence_fields() -> None:
    rec = recommend(AIRLINE)
    assert rec.evidence_lines == [] and rec.agreement is None and rec.evidence_verdict is None


# --- JSON ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(PRESETS))
def test_to_dict_round_trips_through_json(name: str) -> None:
    ev = Evidence({"finetuned": _bot(0.3, (0.2, 0.4), latency=0.5), "rag": _bot(0.8, (0.7, 0.9), latency=1.5)},
                  {"rag": "new", "finetuned": "old"}, 2.0, 90.0)
    data = to_dict(recommend(PRESETS[name], ev))
    assert json.loads(json.dumps(data)) == data
    assert data["verdict"] in ("fine-tune", "rag", "hybrid")
    assert {"reasons", "warnings", "caveats", "summary", "evidence_lines", "agreement", "evidence_verdict"} <= set(data)
    assert all(set(r) >= {"text", "points_to", "weight", "seed_row"} for r in data["reasons"])


def test_seed_tables_are_complete() -> None:
    """The UI renders these beside the verdict; they must hold every row of the brief."""
    sizes = {"when_to_fine_tune": 5, "summary": 5, "best_use_cases": 6, "techniques": 4, "challenges": 5, "tips": 3}
    for key, n in sizes.items():
        assert len(SEED_TABLES[key].rows) == n, key
    assert all(len(row) == len(t.columns) for t in SEED_TABLES.values() for row in t.rows)


def test_guide_imports_nothing_heavy() -> None:
    import subprocess
    import sys

    code = "import sys, airbot.guide; print(any(m in sys.modules for m in ('gradio', 'torch')))"
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root)
    assert out.stdout.strip() == "False"


def test_every_boolean_combination_gives_a_verdict() -> None:
    """The eight yes/no combinations all give a verdict and a summary."""
    for offline, retriever, docs in itertools.product([True, False], repeat=3):
        rec = recommend(replace(BASE, offline=offline, can_run_retriever=retriever, has_documents=docs))
        assert rec.verdict in ("fine-tune", "rag", "hybrid") and rec.summary
