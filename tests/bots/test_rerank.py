"""The reader model decides close calls between retrieved clauses (airbot.bots.rerank), with the real model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from airbot.bots import rerank
from airbot.bots.kinds import base_model, make_bot
from airbot.config import load_config
from airbot.knowledge.index import build_index


@dataclass(frozen=True)
class Hit:
    text: str
    score: float
    section: str = ""


@pytest.fixture(scope="module")
def model_and_tokenizer() -> tuple:
    return base_model(load_config(None))


def test_only_passages_close_to_the_best_compete() -> None:
    assert rerank.contenders([0.70, 0.55, 0.52]) == []  # the best stands alone: nothing to decide
    assert rerank.contenders([0.60, 0.65, 0.30, 0.58]) == [0, 1, 3]
    assert rerank.contenders([]) == []


def test_the_passage_that_answers_makes_the_question_more_likely(model_and_tokenizer: tuple) -> None:
    model, tok = model_and_tokenizer
    passages = ["Gates open from 6:00 to 22:00 every day.", "A lost lock costs EUR 30 to replace.",
                "Rent is paid monthly by direct debit."]
    scores = rerank.question_scores(model, tok, "How much do I pay if I lose my lock?", passages)
    assert len(scores) == 3 and max(range(3), key=scores.__getitem__) == 1
    assert all(-15 < s < 0 for s in scores)  # mean log-probabilities per token


def test_a_close_call_is_decided_by_the_model_and_a_clear_lead_is_kept(model_and_tokenizer: tuple) -> None:
    model, tok = model_and_tokenizer
    question = "How much does a week of bike rental cost?"
    hits = [Hit("1. A day rental costs EUR 25.", 0.62, "Fees"), Hit("2. A week rental costs EUR 120.", 0.60, "Fees"),
            Hit("1. A lost lock costs EUR 30.", 0.30, "Damage")]
    ranked = rerank.rerank(model, tok, question, hits, top_k=3)
    assert ranked[0] is hits[1] and ranked[2] is hits[2]  # the lock clause was never in the running
    clear = [Hit(h.text, s, h.section) for h, s in zip(hits, (0.80, 0.60, 0.30), strict=True)]
    assert rerank.rerank(model, tok, question, clear, top_k=2) == clear[:2]


def test_the_rag_bot_reranks_unless_switched_off(tmp_path: Path) -> None:
    doc = tmp_path / "bikes.md"
    doc.write_text("# Bike Rental\n\n## Fees\n1. A day rental costs EUR 25.\n2. A week rental costs EUR 120.\n"
                   "3. A month rental costs EUR 300.\n\n## Damage\n1. A lost lock costs EUR 30.\n")
    kb = build_index([doc], tmp_path / "index")
    question = "How much is it to hire a bike for seven days?"
    first_stage = [h.text for h in kb.search(question, 3)]
    assert first_stage[0] == "1. A day rental costs EUR 25."  # "day" matched word for word: the first stage errs
    off = make_bot("rag", load_config(None, ["rag.rerank=false"]), index=kb).lookup(question)
    on = make_bot("rag", load_config(None), index=kb).lookup(question)
    assert [s.text for s in off.sources] == first_stage
    assert on.sources[0].text == "2. A week rental costs EUR 120."
    assert {s.text for s in on.sources} <= {h.text for h in kb.search(question, rerank.POOL)}
