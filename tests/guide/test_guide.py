"""The decision guide: verdicts follow the guide's tables, reasons cite real rows, evidence takes part by
the stated rule (never contradicted silently), every bot meets every other, votes are cited.

    .venv/bin/python -m pytest tests/guide/test_guide.py -q
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
    ("few changes a year", replace(BASE, knowledge_change="few-times-a-year"), "rag"),
    ("airline, a few changes a year", replace(AIRLINE, knowledge_change="few-times-a-year"), "fine-tune"),
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
    choices = {"knowledge_change": ["never", "yearly", "few-times-a-year", "monthly", "weekly", "daily"],
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
    assert ("When should you fine-tune? — Repetitive tasks with known patterns → Fine-tuning"
            in {r.seed_row for r in recommend(replace(BASE, repetitive="high")).reasons})
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
    assert "knowledge_change: 'hourly'" in message and "never, yearly, few-times-a-year, monthly, weekly, daily" in message
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


def test_evidence_that_disagrees_moves_the_headline_with_a_banner() -> None:
    ev = Evidence({"finetuned": _bot(0.40, n=30), "rag": _bot(0.80, n=30)})
    rec = recommend(AIRLINE, ev)
    assert rec.verdict == "rag" and rec.questionnaire_verdict == "fine-tune"
    assert rec.agreement == "disagree" and rec.evidence_verdict == "rag"
    assert "the numbers disagree, so the headline follows your data: RAG" in rec.evidence_lines[0]
    assert rec.banner and "40 points apart on 30 and 30 questions" in rec.banner
    assert rec.questionnaire_summary.startswith("Fine-tuning fits best")
    assert all("Challenges in Fine-Tuning" not in c.seed_row for c in rec.caveats)  # caveats of the headline


@pytest.mark.parametrize(("ft", "rag", "why"), [
    (_bot(0.55, (0.40, 0.70)), _bot(0.70, (0.55, 0.82)), "95% intervals overlap"),
    (_bot(0.30, n=8), _bot(0.70, n=8), "only 8 questions"),
    (_bot(0.60, n=50), _bot(0.70, n=50), "under 15 points"),
])
def test_inconclusive_evidence(ft: BotEvidence, rag: BotEvidence, why: str) -> None:
    rec = recommend(replace(BASE, knowledge_change="weekly"), Evidence({"finetuned": ft, "rag": rag}))
    assert rec.agreement == "mixed" and rec.evidence_verdict is None
    assert rec.verdict == rec.questionnaire_verdict and rec.banner is None  # nothing clear: the answers decide
    assert why in rec.evidence_lines[0] and "too small to tell" in rec.evidence_lines[0]


def test_a_15_point_gap_on_enough_questions_counts() -> None:
    rec = recommend(AIRLINE, Evidence({"finetuned": _bot(0.85, n=20), "rag": _bot(0.70, n=20)}))
    assert rec.agreement == "agree" and rec.evidence_verdict == "fine-tune"


def test_hybrid_level_with_rag_is_not_called_agreement() -> None:
    """The issue's monthly case: RAG alone equals hybrid, so 'the numbers agree with hybrid' would mislead."""
    answers = replace(BASE, knowledge_change="monthly", style_control="strict", fact_intensive="high")
    ev = Evidence({"finetuned": _bot(0.07, (0.01, 0.30)), "rag": _bot(0.8, (0.55, 0.93)),
                   "hybrid": _bot(0.8, (0.55, 0.93))})
    rec = recommend(answers, ev)
    assert rec.questionnaire_verdict == "hybrid" and rec.verdict == "hybrid" and rec.banner is None
    assert rec.agreement == "mixed" and rec.evidence_verdict is None  # RAG and hybrid cannot be told apart
    assert "agree" not in rec.evidence_lines[0]
    assert "cannot tell the hybrid bot and RAG apart" in rec.evidence_lines[0]
    assert "RAG alone did as well" in rec.evidence_lines[0]
    pairs = {frozenset((c.leader, c.other)): c for c in rec.comparisons}
    assert len(pairs) == 3 and not pairs[frozenset(("rag", "hybrid"))].clear
    assert pairs[frozenset(("rag", "finetuned"))].clear and pairs[frozenset(("hybrid", "finetuned"))].clear


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


# --- issue 15: the guide never contradicts the user's numbers silently -------------------------------

# The bank: fine-tuned 7% vs RAG 80% on 15 held-out questions (Wilson intervals).
BANK_FT, BANK_RAG = _bot(1 / 15, (0.012, 0.298), n=15), _bot(12 / 15, (0.548, 0.93), n=15)


def test_bank_case_the_headline_follows_the_data_with_a_banner() -> None:
    """Answers that point to fine-tuning (knowledge changes yearly, repeated questions) meet numbers that
    clearly favour RAG: the headline is RAG, a banner says why, the answers' verdict stays on the record."""
    answers = replace(BASE, knowledge_change="yearly", repetitive="high")
    assert recommend(answers).verdict == "fine-tune"
    rec = recommend(answers, Evidence({"finetuned": BANK_FT, "rag": BANK_RAG}))
    assert rec.verdict == "rag" and rec.questionnaire_verdict == "fine-tune"
    assert rec.banner == ("The headline follows your numbers, not your answers: on your questions RAG answered 80% "
                          "vs 7% for the fine-tuned bot (fact accuracy; the 95% intervals do not overlap). Your "
                          "answers alone point to fine-tuning; their reasons are below.")
    assert rec.questionnaire_summary.startswith("Fine-tuning fits best") and rec.summary.startswith("RAG fits your data")
    assert rec.agreement == "disagree" and rec.evidence_verdict == "rag"
    assert rec.scores == recommend(answers).scores  # the answers' scores are untouched, only the headline moved
    assert rec.evidence_rule.startswith("How your numbers count: when one approach is clearly more accurate")
    assert "evidence_rule" in to_dict(rec) and "banner" in to_dict(rec) and "questionnaire_verdict" in to_dict(rec)


def test_no_clear_difference_leaves_the_answers_in_charge() -> None:
    answers = replace(BASE, knowledge_change="yearly", repetitive="high")
    rec = recommend(answers, Evidence({"finetuned": _bot(0.6, (0.4, 0.78)), "rag": _bot(0.75, (0.55, 0.88))}))
    assert rec.verdict == rec.questionnaire_verdict == "fine-tune" and rec.banner is None


def test_the_data_never_overrides_a_hard_constraint_silently() -> None:
    rec = recommend(replace(LEGAL, has_documents=False), Evidence({"finetuned": BANK_FT, "rag": BANK_RAG}))
    assert rec.verdict == "fine-tune"
    assert rec.banner and "your setup rules out RAG" in rec.banner and "no source documents" in rec.banner


def test_a_clearly_beaten_bot_never_heads_without_a_banner() -> None:
    """Over a sweep of answers and evidence: whenever another evaluated approach clearly beats the
    headline's bot, a banner is there; when nothing beats it, the headline is the answers' own."""
    bot = {"fine-tune": "finetuned", "rag": "rag", "hybrid": "hybrid"}
    evidences = [Evidence({"finetuned": BANK_FT, "rag": BANK_RAG}),
                 Evidence({"finetuned": BANK_RAG, "rag": BANK_FT}),
                 Evidence({"finetuned": BANK_FT, "rag": BANK_RAG, "hybrid": BANK_RAG}),
                 Evidence({"finetuned": BANK_FT, "rag": BANK_FT, "hybrid": BANK_RAG}),
                 Evidence({"base": BANK_RAG, "finetuned": BANK_FT, "rag": BANK_FT})]
    moved = 0
    for answers in _sample(300):
        for ev in evidences:
            rec = recommend(answers, ev)
            beaten = any(c.clear and c.other == bot[rec.verdict] for c in rec.comparisons)
            assert rec.banner or not beaten, (answers, ev)
            moved += rec.verdict != rec.questionnaire_verdict
            if rec.verdict != rec.questionnaire_verdict:
                assert rec.banner and rec.agreement == "disagree"
    assert moved > 100  # the sweep reached the override, so the checks above mean something


def test_strict_accuracy_is_used_when_every_bot_has_it() -> None:
    bots = {"finetuned": {"fact_accuracy": 0.6, "n": 40, "strict_accuracy": 0.1, "strict_accuracy_ci": [0.04, 0.23]},
            "rag": {"fact_accuracy": 0.65, "n": 40, "strict_accuracy": 0.8, "strict_accuracy_ci": [0.65, 0.9]}}
    answers = replace(BASE, repetitive="high")
    strict = recommend(answers, Evidence.from_eval_json({"bots": bots}))
    assert strict.measure == "strict" and strict.verdict == "rag" and "strict accuracy" in (strict.banner or "")
    assert any(line.startswith("Accuracy here is strict accuracy") for line in strict.evidence_lines)
    del bots["rag"]["strict_accuracy"]  # one bot without it: every comparison falls back to fact accuracy
    fact = recommend(answers, Evidence.from_eval_json({"bots": bots}))
    assert fact.measure == "fact" and fact.verdict == "fine-tune" and fact.banner is None
    assert any(line.startswith("Accuracy here is fact accuracy") for line in fact.evidence_lines)


def test_every_bot_is_compared_with_every_other() -> None:
    ev = Evidence({"base": _bot(0.1, n=30), "finetuned": _bot(0.3, n=30), "rag": _bot(0.8, n=30),
                   "hybrid": _bot(0.8, n=30)})
    rec = recommend(replace(BASE, knowledge_change="monthly"), ev)
    pairs = {(c.leader, c.other): c.clear for c in rec.comparisons}
    assert len(pairs) == 6
    assert pairs[("rag", "hybrid")] is False and pairs[("hybrid", "finetuned")] is True
    assert pairs[("finetuned", "base")] is True and pairs[("rag", "base")] is True
    lines = [c.line() for c in rec.comparisons]
    assert "RAG 80% vs the hybrid bot 80%: not clear (the gap is under 15 points: 0 points apart on 30 and 30 " \
           "questions)." in lines


def test_a_headline_below_the_base_model_gets_a_banner() -> None:
    ev = Evidence({"base": _bot(0.6, n=30), "finetuned": _bot(0.2, n=30), "rag": _bot(0.25, n=30)})
    rec = recommend(AIRLINE, ev)
    assert rec.verdict == "fine-tune" and rec.banner and rec.banner == (
        "The base model, with no training and no documents, answered 60% vs 20% for the fine-tuned bot: check its "
        "training run before relying on it.")


def test_a_few_times_a_year_sits_between_yearly_and_monthly() -> None:
    import typing

    from airbot.cli import build_parser
    from airbot.guide import Change

    assert typing.get_args(Change)[1:4] == ("yearly", "few-times-a-year", "monthly")
    lean = {}
    for change in ("yearly", "few-times-a-year", "monthly"):
        scores = recommend(replace(BASE, knowledge_change=change)).scores
        lean[change] = scores["rag"] - scores["fine-tune"]
    assert lean["yearly"] < lean["few-times-a-year"] < lean["monthly"]
    rec = recommend(replace(BASE, knowledge_change="few-times-a-year"))
    assert any(r.text.startswith("Your knowledge changes a few times a year") for r in rec.reasons)
    assert "few-times-a-year" in {a.knowledge_change for a in PRESETS.values()}
    args = build_parser().parse_args(["guide", "--knowledge-change", "few-times-a-year"])
    assert args.knowledge_change == "few-times-a-year"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["guide", "--knowledge-change", "hourly"])


def test_privacy_favours_neither_side_because_both_run_locally() -> None:
    for answers in _sample(300):
        if answers.can_run_retriever:
            private, public = recommend(replace(answers, offline=True)), recommend(replace(answers, offline=False))
            assert private.scores == public.scores and private.verdict == public.verdict
    rec = recommend(replace(BASE, offline=True))
    assert not any(r.factor == "offline" for r in rec.reasons)
    assert any("both run on your own machine" in n for n in rec.notes)
    assert "own machine" in question_help("offline")
    cut_off = recommend(replace(BASE, offline=True, can_run_retriever=False))  # the one real constraint stays
    assert cut_off.verdict == "fine-tune" and any("RAG runs offline too" in w for w in cut_off.warnings)


def _strings(x: object) -> list[str]:
    """Every string value in a to_dict tree (keys are identifiers, not text the user reads)."""
    if isinstance(x, str):
        return [x]
    if isinstance(x, dict):
        return [s for v in x.values() for s in _strings(v)]
    if isinstance(x, list):
        return [s for v in x for s in _strings(v)]
    return []


def test_no_seed_or_brief_in_any_visible_text(fresh_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import re

    from airbot.cli import main

    internal = re.compile(r"\b(seed|brief)", re.IGNORECASE)
    ev = Evidence({"base": _bot(0.1), "finetuned": BANK_FT, "rag": BANK_RAG, "hybrid": _bot(0.78, (0.6, 0.9))},
                  {"rag": "new", "finetuned": "old"}, 2.0, 90.0)
    votes = [{"vote": "left", "left": {"bot": "rag"}, "right": {"bot": "finetuned"}}]
    variants = [{}, {"examples": 5}, {"examples": 50_000}, {"has_documents": False},
                {"offline": True, "can_run_retriever": False}, {"offline": True}, {"cost_budget": "low"}]
    for name, preset in PRESETS.items():
        for change in variants:
            for evidence in (None, ev):
                texts = _strings(to_dict(recommend(replace(preset, **change), evidence, votes)))
                bad = [t for t in texts if internal.search(t)]
                assert not bad, (name, change, bad)
    assert not [q for q in map(question_help, asdict(BASE)) if internal.search(q)]
    (fresh_home / "eval.json").write_text(json.dumps({"bots": {"finetuned": {"fact_accuracy": 0.07, "n": 15},
                                                               "rag": {"fact_accuracy": 0.8, "n": 15}}}))
    for preset in PRESETS:
        assert main(["guide", "--preset", preset, "--eval", str(fresh_home / "eval.json"), "--examples", "5"]) == 0
    out = capsys.readouterr().out
    assert "Recommendation:" in out and "How your numbers count" in out
    assert not internal.search(out)
    assert "(from the table: " in out  # the rows are still cited, in words meant for the user


# --- side-by-side votes -----------------------------------------------------------------------------


def _vote(winner: str, left: str, right: str, blind: bool = True) -> dict[str, object]:
    return {"vote": winner, "left": {"bot": left, "answer": "a"}, "right": {"bot": right, "answer": "b"},
            "blind": blind}


def test_votes_become_a_win_rate_the_guide_cites() -> None:
    votes = ([_vote("left", "rag", "finetuned")] * 4 + [_vote("right", "finetuned", "rag")] * 3
             + [_vote("left", "finetuned", "rag"), _vote("tie", "rag", "finetuned")])
    rec = recommend(AIRLINE, votes=votes)
    assert rec.vote_lines == ["In your blind side-by-side votes RAG won 7 of 9 comparisons against the fine-tuned "
                              "bot (the fine-tuned bot won 1); 1 was a tie or both bad. Fewer than 10 votes: a hint, "
                              "not a result."]
    assert rec.verdict == "fine-tune"  # votes are cited, not counted in the headline
    seen = recommend(AIRLINE, votes=[*votes, _vote("left", "hybrid", "rag", blind=False), {"vote": "left"}, "junk"])
    assert len(seen.vote_lines) == 2  # the malformed records are skipped
    assert seen.vote_lines[1].startswith("In your side-by-side votes the hybrid bot won 1 of 1 comparison against RAG")
    assert recommend(AIRLINE).vote_lines == [] and recommend(AIRLINE, votes=[]).vote_lines == []
