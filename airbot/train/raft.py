"""RAFT-style training rows for the hybrid bot: retrieved clauses + question -> answer.

Plain fine-tuning teaches the adapter to recite the policy it saw; when the policy changes it
keeps reciting. RAFT (Zhang et al., 2024, "RAFT: Adapting Language Model to Domain Specific
RAG", arXiv:2403.10131) instead trains on the prompt the hybrid bot will really see: the
question beside retrieved clauses, among them distractors. In a share ``oracle_prob`` of the
rows the right ("oracle") clause is present; in the rest only distractors are, so the adapter
learns to take the figure from the clause when it is there rather than from memory.

The prompt is built by ``airbot.generate.hf_generate.rag_messages``, the same function the RAG and hybrid
bots call, so training and chat see the same layout. Enable it with ``train.mode: raft``::

    python -m airbot train --config configs/airline-raft.yaml
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from airbot.errors import ConfigError
from airbot.prompts import rag_messages
from airbot.text import canonical_tokens

if TYPE_CHECKING:
    from airbot.config import AirbotConfig
    from airbot.knowledge.chunking import Chunk
    from airbot.knowledge.index import KnowledgeBase
    from airbot.knowledge.manifest import Hit

Message = dict[str, str]


def oracle_chunk(answer: str, chunks: Sequence[Chunk], hits: Sequence[Hit] = (), clause: str | None = None) -> Chunk | None:
    """The chunk that supports ``answer``: the row's own ``clause`` id when it has one, else the
    chunk sharing most of the answer's numbers, then (among equals) one the question retrieved,
    then the most shared words. Lexical on purpose: the figures are what must be in the clause,
    and it costs no embedder call per row. None when there are no chunks."""
    if clause:
        exact = [c for c in chunks if c.clause == str(clause)]
        if exact:
            return exact[0]
    if not chunks:
        return None
    wanted = set(canonical_tokens(answer))
    numbers = {t for t in wanted if t[0].isdigit()}
    retrieved = {h.chunk.id for h in hits}

    def key(chunk: Chunk) -> tuple[int, int, float]:
        have = set(canonical_tokens(chunk.text))
        return len(numbers & have), chunk.id in retrieved, len(wanted & have) / (len(wanted | have) or 1)

    return max(chunks, key=key)


def distractor_chunks(oracle: Chunk | None, chunks: Sequence[Chunk], hits: Sequence[Hit], *, count: int,
                      rng: random.Random) -> list[Chunk]:
    """``count`` chunks that are not the oracle: the question's other retrieved hits first (hard
    negatives, the near misses retrieval really returns), then random chunks."""
    oracle_id = getattr(oracle, "id", None)
    picked = [h.chunk for h in hits if h.chunk.id != oracle_id][:count]
    if len(picked) < count:
        taken = {c.id for c in picked} | {oracle_id}
        rest = [c for c in chunks if c.id not in taken]
        picked += rng.sample(rest, min(count - len(picked), len(rest)))
    return picked


def raft_row(messages: Sequence[Message], kb: KnowledgeBase, *, k: int, distractors: int, oracle_prob: float,
             rng: random.Random, system_prompt: str = "", clause: str | None = None) -> list[Message]:
    """One conversation rewritten as clauses + its last question -> its last answer."""
    question = next(m["content"] for m in reversed(messages) if m["role"] == "user")
    answer = next(m["content"] for m in reversed(messages) if m["role"] == "assistant")
    system = next((m["content"] for m in messages if m["role"] == "system"), system_prompt)
    chunks = kb.chunks()
    hits = kb.search(question, k + 1)  # the one embedder call per row
    oracle = oracle_chunk(answer, chunks, hits, clause)
    with_oracle = oracle is not None and rng.random() < oracle_prob
    passages = distractor_chunks(oracle, chunks, hits, count=distractors + (0 if with_oracle else 1), rng=rng)
    if oracle is not None and with_oracle:
        passages.append(oracle)
    rng.shuffle(passages)  # the oracle's position must carry no signal
    return [*rag_messages(question, passages, system), {"role": "assistant", "content": answer}]


def raft_rows(rows: Sequence[Sequence[Message]], kb: KnowledgeBase, *, k: int, distractors: int, oracle_prob: float = 0.8,
              seed: int = 42, system_prompt: str = "", clauses: Sequence[str | None] | None = None) -> list[list[Message]]:
    """Every row as a RAFT example; deterministic for a given seed and index."""
    if not 0.0 <= oracle_prob <= 1.0:
        raise ConfigError(f"train.raft_oracle_prob is {oracle_prob}; use a share from 0 to 1, e.g. 0.8.")
    if distractors < 0:
        raise ConfigError(f"train.raft_distractors is {distractors}; use 0 or more.")
    rng = random.Random(seed)
    clauses = list(clauses) if clauses is not None else [None] * len(rows)
    return [raft_row(r, kb, k=k, distractors=distractors, oracle_prob=oracle_prob, rng=rng,
                     system_prompt=system_prompt, clause=c) for r, c in zip(rows, clauses, strict=True)]


def raft_rows_for_config(rows: Sequence[Sequence[Message]], config: AirbotConfig,
                         extras: Sequence[dict[str, Any]] | None = None) -> list[list[Message]]:
    """``raft_rows`` with everything taken from the config (the hook ``sft_data.prepare_data`` calls)."""
    from airbot.knowledge.index import KnowledgeBase
    from airbot.knowledge.manifest import index_dir

    t = config.train
    if not t.raft_index:
        raise ConfigError("train.mode is 'raft' but train.raft_index is empty; set it to the index the hybrid bot "
                          "will use, e.g. --set train.raft_index=default (build one with `python -m airbot index`).")
    # a recipe's setting (YAML or --set), never a request's: a folder is allowed as well as a name
    kb = KnowledgeBase.open(index_dir(t.raft_index, allow_paths=True), rag=config.rag, embedder=config.model.embedder)
    clauses = [(e or {}).get("clause") for e in extras] if extras else None
    return raft_rows(rows, kb, k=config.rag.top_k, distractors=t.raft_distractors, oracle_prob=t.raft_oracle_prob,
                     seed=t.seed, system_prompt=config.chat.system_prompt, clauses=clauses)


def last_answer_only(tokenize: Callable[..., tuple[list[dict[str, list[int]]], int]]) -> Callable[..., Any]:
    """Wrap a row tokenizer so only each row's final answer is learned.

    The bots' prompt may carry a worked example (a user/assistant pair) before the real
    question; a plain SFT tokenizer would train that example's answer in every RAFT row. Here
    every labelled span but the last is masked, so the loss is the real answer alone.
    """
    def wrapped(*args: Any, **kwargs: Any) -> tuple[list[dict[str, list[int]]], int]:
        examples, truncated = tokenize(*args, **kwargs)
        return [mask_all_but_last_span(e) for e in examples], truncated
    return wrapped


def mask_all_but_last_span(example: dict[str, list[int]]) -> dict[str, list[int]]:
    """Labels of earlier trained spans set to -100; the last contiguous span kept."""
    labels = list(example["labels"])
    end = max((i for i, t in enumerate(labels) if t != -100), default=-1)
    start = end
    while start > 0 and labels[start - 1] != -100:
        start -= 1
    return {**example, "labels": [t if start <= i <= end else -100 for i, t in enumerate(labels)]}
