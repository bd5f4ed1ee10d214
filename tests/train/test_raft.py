"""RAFT rows: the right clause is found, present in about oracle_prob of the rows, never also
used as its own distractor, laid out exactly as the RAG/hybrid bots lay out their prompt, and
wired into fine-tuning's data preparation by ``train.mode: raft``."""

from __future__ import annotations

import random
import re
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from airbot.bots.kinds import RagBot
from airbot.config import load_config
from airbot.errors import ConfigError
from airbot.knowledge.chunking import Chunk
from airbot.prompts import passage_text
from airbot.train.raft import mask_all_but_last_span, oracle_chunk, raft_row, raft_rows, raft_rows_for_config
from tests import _eval_fixtures as fx
from tests._eval_fixtures import HELDOUT, write_jsonl

tiny_files, tiny_index = fx.tiny_files, fx.tiny_index  # shared session fixtures

ROOT = Path(__file__).resolve().parents[2]
CHUNKS = [Chunk(f"c{i}", "policy.md", text, None, "Rules", clause) for i, (clause, text) in enumerate([
    ("1.1", "1.1 Each checked bag may weigh up to 23 kg."),
    ("1.5", "1.5 An overweight bag costs USD 75."),
    ("3.3", "3.3 Standard fares are refundable less a fee of USD 100."),
    ("6.1", "6.1 Pets travel in the cabin for USD 70."),
])]


class FakeKB:
    """Search ranks by shared words; enough to give each question near misses."""

    def chunks(self) -> list[Chunk]:
        return list(CHUNKS)

    def search(self, query: str, k: int = 3) -> list[SimpleNamespace]:
        words = set(re.findall(r"\w+", query.lower()))
        ranked = sorted(CHUNKS, key=lambda c: -len(words & set(re.findall(r"\w+", c.text.lower()))))
        return [SimpleNamespace(chunk=c, score=0.5) for c in ranked[:k]]


def _shown(row: list[dict[str, str]]) -> list[Chunk]:
    """The chunks in a RAFT row's final user turn, in the order the bot would pass them (best
    first: the bot places its best passage last, nearest the answer)."""
    user = row[-2]["content"]
    present = [c for c in CHUNKS if passage_text(c) in user]
    return sorted(present, key=lambda c: -user.index(passage_text(c)))


def _row(q: str, a: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": "Be helpful."}, {"role": "user", "content": q},
            {"role": "assistant", "content": a}]


def test_oracle_is_the_clause_with_the_answers_figures() -> None:
    assert oracle_chunk("The fee is USD 75 per bag.", CHUNKS).clause == "1.5"
    assert oracle_chunk("USD 100 is kept.", CHUNKS).clause == "3.3"
    assert oracle_chunk("anything", CHUNKS, clause="6.1").clause == "6.1"  # a labelled clause wins
    assert oracle_chunk("anything", []) is None


def test_oracle_share_and_distractors() -> None:
    rows = [_row("How much is an overweight bag?", "It costs USD 75.")] * 200
    out = raft_rows(rows, FakeKB(), k=3, distractors=1, oracle_prob=0.8, seed=1)
    with_oracle = sum(CHUNKS[1] in _shown(r) for r in out)
    assert 140 <= with_oracle <= 180  # ~80%
    for r in out:
        assert len(_shown(r)) == 2  # always 1 + distractors passages
        assert r[-1] == {"role": "assistant", "content": "It costs USD 75."}
        assert r[0] == {"role": "system", "content": "Be helpful."}
        assert "How much is an overweight bag?" in r[-2]["content"]
    assert out == raft_rows(rows, FakeKB(), k=3, distractors=1, oracle_prob=0.8, seed=1)  # deterministic
    assert raft_rows(rows[:20], FakeKB(), k=3, distractors=1, oracle_prob=0.8, seed=2) != out[:20]
    never = raft_rows(rows[:20], FakeKB(), k=3, distractors=2, oracle_prob=0.0, seed=1)
    assert not any(CHUNKS[1] in _shown(r) for r in never)
    with pytest.raises(ConfigError, match="raft_oracle_prob"):
        raft_rows(rows, FakeKB(), k=3, distractors=1, oracle_prob=1.5)


def test_prompt_is_the_hybrid_bots_own() -> None:
    """The prompt RAFT trains on is message for message what the hybrid bot sends."""
    config = load_config(None, ["rag.context_chunks=2"])
    row = raft_row(_row("How much is an overweight bag?", "It costs USD 75."), FakeKB(), k=3, distractors=1,
                   oracle_prob=1.0, rng=random.Random(0))
    bot = RagBot("hybrid", None, None, replace(config.chat, system_prompt="Be helpful."), FakeKB(), config.rag)
    sent = bot.messages("How much is an overweight bag?", None, _shown(row))
    assert sent == row[:-1]


def test_prepare_data_in_raft_mode(tiny_files: dict[str, Path], tiny_index: Path, tmp_path: Path) -> None:
    from airbot.models import shared_tokenizer
    from airbot.train.sft_data import prepare_data

    data = write_jsonl(tmp_path / "train.jsonl", [{"question": r["question"], "answer": r["answer"]} for r in HELDOUT])
    config = load_config(None, ["train.mode=raft", f"train.raft_index={tiny_index}", "data.heldout_fraction=0",
                                "train.max_length=512"])
    tok = shared_tokenizer(config.model.base)
    prepared = prepare_data(config, data, tok)
    assert prepared.train_rows == 3 and prepared.truncated == 0
    text = tok.decode(prepared.train[0]["input_ids"])
    assert "each checked bag may weigh up to 23 kg" in text  # the clause is in the prompt
    learned = tok.decode([t for t in prepared.train[0]["labels"] if t != -100])
    assert learned.startswith(HELDOUT[0]["answer"])  # the real answer, and nothing of the prompt's example
    assert learned.count("<|im_end|>") <= 1
    with pytest.raises(ConfigError, match="raft_index is empty"):
        raft_rows_for_config([], load_config(None, ["train.mode=raft"]))


def test_raft_recipe_loads_and_every_key_is_commented() -> None:
    recipe = ROOT / "configs" / "airline-raft.yaml"
    config = load_config(recipe)
    assert config.train.mode == "raft" and config.train.raft_index and config.rag.context_chunks == 2
    assert config.rag.context_chunks == 1 + config.train.raft_distractors  # chat shows what training showed
    keys = [ln for ln in recipe.read_text().splitlines() if re.match(r"^\s+\w+:", ln)]
    assert keys and all("#" in ln for ln in keys)


def test_only_the_last_answer_is_learned() -> None:
    example = {"input_ids": list(range(9)), "labels": [-100, 1, 2, -100, -100, 5, 6, 7, -100]}
    assert mask_all_but_last_span(example)["labels"] == [-100, -100, -100, -100, -100, 5, 6, 7, -100]
