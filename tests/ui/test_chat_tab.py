"""The Chat tab's pure helpers (the streaming panes are covered by the browser flow in tests/e2e)."""

from __future__ import annotations

import json
from pathlib import Path

from airbot.ui import chat_tab
from tests._fake_runs import picker_runs


def test_run_picker_offers_partial_runs_and_hides_failed_ones(fresh_home: Path) -> None:
    """Same runs as the Evaluate tab; the value stays the bare name that /chat_ask takes."""
    picker_runs()
    choices = dict(chat_tab.run_choices())  # label -> name
    assert sorted(choices.values()) == ["finished", "stopped"]
    partial = [label for label, name in choices.items() if "partial" in label]
    assert [choices[label] for label in partial] == ["stopped"]


def test_refresh_preselects_the_newest_finished_run_over_a_newer_partial_one(fresh_home: Path) -> None:
    from airbot.train.runs import default_run

    picker_runs()  # "stopped" (cancelled, partial) is newer than "finished"
    assert default_run() == "finished"  # Chat's and Evaluate's pickers preselect it


def test_rag_sources_show_the_best_match_against_the_threshold(fresh_home: Path, tmp_path: Path) -> None:
    """Under the RAG answer: its best match against the index's threshold, answered or refused."""
    from airbot.config import load_config
    from airbot.knowledge.index import build_index
    from airbot.ui.state import AppState

    index = build_index([Path(__file__).resolve().parents[1] / "fixtures" / "telecom" / "policy.md"],
                        fresh_home / "indexes" / "telecom")  # the UI names indexes of the store, never folders
    state = AppState(config=load_config())
    limit = f"{index.refusal_threshold():.2f}"
    for question, verdict in (("How long am I tied in when I sign up?", "→ answered"),
                              ("How do I bake sourdough bread?", "→ refused: not in your documents")):
        *_, out = chat_tab.ask_side_by_side(question, None, "telecom", [], [], [], [], [], [],
                                            state=state)
        sources, answer = out[8], out[10][-1]["answers"]["rag"]
        assert sources.startswith("**best match ") and f" {limit} {verdict}**" in sources.splitlines()[0]
        assert answer["threshold"] == index.refusal_threshold() and answer["best_score"] is not None


def test_a_follow_up_is_searched_with_the_question_before_it(fresh_home: Path) -> None:
    """'And with Device Care insurance?' alone finds the insurance clause; after a question about a
    dropped phone's screen it finds the screen-repair clause, which holds both prices."""
    from airbot.bots.kinds import make_bot, search_query
    from airbot.config import load_config
    from airbot.knowledge.index import build_index

    build_index([Path(__file__).resolve().parents[1] / "fixtures" / "telecom" / "policy.md"],
                fresh_home / "indexes" / "telecom")
    first, follow_up = "How much is a screen repair when I drop my phone?", "And with Device Care insurance?"
    history = [{"role": "user", "content": first}, {"role": "assistant", "content": "It costs EUR 89."}]
    assert search_query(follow_up, None) == follow_up  # a first question is searched alone
    assert search_query(follow_up, history) == f"{first} {follow_up}"
    own_subject = "What does Device Care insurance cost each month and what is the excess per claim?"
    assert search_query(own_subject, history) == own_subject  # long enough to carry its own subject
    bot = make_bot("rag", load_config(), index="telecom")
    alone, in_context = bot.lookup(search_query(follow_up, None)), bot.lookup(search_query(follow_up, history))
    assert "4.3" in (in_context.sources[0].clause or "") and "4.3" not in (alone.sources[0].clause or "")


def test_ask_takes_a_history_and_checks_it(fresh_home: Path) -> None:
    from airbot.errors import AirbotError

    for bad in ("not a list", [{"role": "system", "content": "x"}], [{"role": "user", "content": "x" * 9000}],
                [{"role": "user", "content": "q"}] * (chat_tab.MAX_HISTORY + 1)):
        try:
            chat_tab.ask_api("How long is the minimum term?", "base", history=bad)  # type: ignore[arg-type]
        except AirbotError as err:
            assert "history" in str(err)
        else:
            raise AssertionError(f"history {str(bad)[:40]} was accepted")


def test_chat_examples_are_the_runs_own_held_out_questions(fresh_home: Path, tmp_path: Path) -> None:
    """Examples come from the picked run's held-out rows (the user's data), none without a run."""
    import yaml

    from airbot.data.dataset import split_rows
    from airbot.train import runs
    from airbot.train import status as train_status

    data = tmp_path / "kennel.jsonl"
    rows = [{"question": f"How many walks a day for a dog of size {i}?", "answer": f"{i + 1} walks."} for i in range(20)]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    run_dir = runs.create_run("kennel")
    (run_dir / "config.yaml").write_text(yaml.safe_dump({"data": {"path": str(data)}}))
    train_status.write_status(run_dir, phase="done", started=1.0)
    _, held = split_rows(20, 0.1, 42)
    assert chat_tab.example_questions("kennel") == [rows[i]["question"] for i in held]
    assert chat_tab.example_questions(None) == [] and chat_tab.example_questions("no-such-run") == []


def test_a_blind_comparison_hides_the_names_until_the_vote_and_the_guide_calls_it_blind(fresh_home: Path) -> None:
    """Two bots drawn at random answer as A and B (no names, no citation markers); the vote is logged
    with "blind": true, then reveals who was who; the guide's vote line says "blind"."""
    import random

    import pytest

    from airbot.bots import arena
    from airbot.config import load_config
    from airbot.errors import AirbotError
    from airbot.guide.votes import vote_lines
    from airbot.knowledge.index import build_index
    from airbot.ui.state import AppState

    assert {tuple(sorted(arena.blind_pair(["base", "rag", "finetuned"], random.Random(seed)))) for seed in range(40)} \
        == {("base", "rag"), ("base", "finetuned"), ("finetuned", "rag")}  # every pair is drawn, in both orders
    with pytest.raises(AirbotError, match="two bots"):
        arena.blind_pair(["base"])
    build_index([Path(__file__).resolve().parents[1] / "fixtures" / "telecom" / "policy.md"],
                fresh_home / "indexes" / "telecom")
    state = AppState(config=load_config())
    with pytest.raises(AirbotError, match="Ask two bots blind first"):
        chat_tab.blind_vote("left", {}, state)
    a, b, duel, said = chat_tab.blind_ask("How long am I tied in when I sign up?", None, "telecom", state)
    assert {duel["a"]["bot"], duel["b"]["bot"]} == {"base", "rag"} and "Vote" in said  # no run: base and RAG
    for shown in (a, b):
        assert "[1]" not in shown and "RAG" not in shown and "base" not in shown.lower().split()
    reveal, tally, cleared = chat_tab.blind_vote("right", duel, state)
    names = {"base": "Base model", "rag": "RAG bot"}
    assert reveal.endswith(f"A was the **{names[duel['a']['bot']]}**, B the **{names[duel['b']['bot']]}**.")
    assert cleared == {} and int(tally.loc[tally["bot"] == duel["b"]["bot"], "wins"].iloc[0]) == 1
    logged = arena.read_votes()[-1]
    assert logged["blind"] is True and logged["vote"] == "right" and logged["right"]["bot"] == duel["b"]["bot"]
    assert any("blind side-by-side votes" in line for line in vote_lines(arena.read_votes()))
