"""Training data for SFT: read and validate the file, split off held-out rows, tokenize once.

Only the assistant answers and their end-of-turn token are learned (labels are -100 elsewhere),
using the base model's own chat template and the bots' system prompt, so the model is trained
on exactly what chat will show it::

    python -c "from airbot.train.sft_data import prepare_data, SAMPLE_DATA; from airbot.config import load_config; \\
               from airbot.models import load_tokenizer; print(prepare_data(load_config(), SAMPLE_DATA, load_tokenizer()))"
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from airbot.config import AirbotConfig
from airbot.errors import DataError
from airbot.prompts import Message, with_system
from airbot.samples import sample_path

if TYPE_CHECKING:
    from datasets import Dataset
    from transformers import PreTrainedTokenizerBase

SAMPLE_DATA = sample_path("airline_train.jsonl")


def resolve_data_path(config: AirbotConfig, data: Path | str | None) -> Path:
    """The explicit file, else data.path from the config. Never the shipped sample unasked: a user
    who forgot --data would otherwise train on an airline's answers and believe it was their own."""
    if not (data or config.data.path):
        raise DataError(f"No training data: pass --data FILE (CSV, TSV, JSON, JSONL or Parquet) or set data.path in "
                        f"the recipe. To try the airline example: --data {SAMPLE_DATA}")
    path = Path(data or config.data.path).expanduser()
    if not path.is_file():
        raise DataError(f"Training file {path} does not exist. Pass --data FILE (CSV, TSV, JSON, JSONL or Parquet) "
                        f"or pick a dataset in the Train tab.")
    return path


def tokenize_rows(rows: list[list[dict[str, str]]], tokenizer: PreTrainedTokenizerBase,
                  max_length: int) -> tuple[list[dict[str, list[int]]], int]:
    """Token ids and labels per conversation; only assistant answers (and their end-of-turn) are learned.

    The trained spans come from ``airbot.data.dataset.render_row`` (templating with and without each
    answer), so this works with any chat template, needs no ``{% generation %}`` markers, and
    matches what the Data tab highlights. The end-of-turn token (``<|im_end|>`` for SmolLM2) is
    inside the span, which is what teaches the bot to stop. Returns (examples, truncated count).
    """
    from airbot.data.dataset import render_row

    examples, truncated = [], 0
    for messages in rows:
        pieces = render_row(messages, tokenizer)
        text = "".join(p for p, _ in pieces)
        spans, cursor = [], 0
        for piece, trained in pieces:
            if trained:
                spans.append((cursor, cursor + len(piece)))
            cursor += len(piece)
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        ids = enc["input_ids"]
        labels = [tok if any(s <= start < e for s, e in spans) else -100
                  for tok, (start, _end) in zip(ids, enc["offset_mapping"], strict=True)]
        if len(ids) > max_length:
            truncated += 1
            ids, labels = ids[:max_length], labels[:max_length]
        if any(label != -100 for label in labels):
            examples.append({"input_ids": ids, "labels": labels})
    return examples, truncated


@dataclass
class PreparedData:
    """Tokenized train and held-out sets, ready for the trainer."""

    path: Path
    train: Dataset
    heldout: Dataset | None
    train_rows: int
    heldout_rows: int
    truncated: int
    train_conversations: list[list[Message]] = field(default_factory=list)
    """The trained rows as the model saw them (system prompt included): what "did it learn?" asks again."""
    heldout_conversations: list[list[Message]] = field(default_factory=list)
    train_where: list[str] = field(default_factory=list)
    """Where each trained row is in the user's file ("line 7"), for naming misses."""
    heldout_where: list[str] = field(default_factory=list)

    @property
    def train_tokens(self) -> int:
        """Tokens in one pass over the training rows (padding excluded)."""
        return sum(len(ids) for ids in self.train["input_ids"])


def prepare_data(config: AirbotConfig, data: Path | str | None,
                 tokenizer: PreTrainedTokenizerBase) -> PreparedData:
    """Read and validate the file, split off the held-out rows, tokenize both once."""
    from datasets import Dataset

    from airbot.data.dataset import read_dataset, split_rows

    path = resolve_data_path(config, data)
    loaded = read_dataset(path, tokenizer=tokenizer, max_tokens=config.data.max_tokens)
    if not loaded.rows:
        raise DataError(f"{path} has no question/answer rows to train on.")
    train_idx, held_idx = split_rows(len(loaded.rows), config.data.heldout_fraction, config.data.seed)
    rows = [with_system(r, config.chat.system_prompt) for r in loaded.rows]
    tokenize = tokenize_rows
    if config.train.mode == "raft":  # retrieved clauses + question -> answer, see airbot.train.raft
        from airbot.train.raft import last_answer_only, raft_rows_for_config

        rows = raft_rows_for_config(rows, config, loaded.extras)
        tokenize = last_answer_only(tokenize_rows)  # the prompt's worked example is not learned
    trained_rows = [rows[i] for i in train_idx]
    if config.train.augment:  # extra wordings of the training questions only; held-out rows stay unseen
        from airbot.train.augment import augmented

        trained_rows = augmented(trained_rows, config.train.augment)
    train, cut = tokenize(trained_rows, tokenizer, config.train.max_length)
    held, cut_held = tokenize([rows[i] for i in held_idx], tokenizer, config.train.max_length)
    if not train:
        raise DataError(f"{path}: no training row has an answer inside train.max_length="
                        f"{config.train.max_length} tokens; raise train.max_length.")
    return PreparedData(path, Dataset.from_list(train), Dataset.from_list(held) if held else None,
                        len(train), len(held), cut + cut_held,
                        train_conversations=[rows[i] for i in train_idx], heldout_conversations=[rows[i] for i in held_idx],
                        train_where=[loaded.where(i) for i in train_idx], heldout_where=[loaded.where(i) for i in held_idx])
