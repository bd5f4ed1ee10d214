"""Lexical side of retrieval and how it is fused with the dense side.

BM25 (bm25s) over a light tokenizer, and the fusion rules ``KnowledgeBase.search`` applies:
``weighted`` (cosine + bm25_weight x BM25 scaled to 0..1, over the dense top k plus BM25's best
match), ``rrf`` (reciprocal rank fusion), ``dense`` and ``bm25`` alone. Pure functions on
numpy arrays, so the rules are tested without a model::

    python -c "from airbot.ranking import tokenize; print(tokenize('What are the bag charges?'))"
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from airbot.documents import Chunk

# Words that carry no topic in a question; BM25 would otherwise reward clauses full of them.
_STOPWORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their then there these they "
    "this to was will with what whats which who whom how when where why can could do does did i im me my mine we "
    "our you your yours am have has had may might must shall should would get got any some much many".split())


def tokenize(text: str) -> list[str]:
    """BM25 terms: lower-cased words and numbers, stop words dropped, plural/verb endings cut."""
    return [_stem(w) for w in re.findall(r"\w+", text.lower()) if w not in _STOPWORDS]


def _stem(word: str) -> str:
    """A tiny suffix stripper (bags→bag, charged→charg, charges→charg); enough for BM25 recall."""
    if word.isdigit() or len(word) <= 3:
        return word
    for suffix in ("ies", "ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


def build_bm25(chunks: list[Chunk]) -> Any:
    """In-memory BM25 over the chunks' embedded text; rebuilt on open, cheap at policy scale."""
    import bm25s

    if not chunks:
        return None
    bm25 = bm25s.BM25()
    bm25.index([tokenize(c.search_text()) or ["_"] for c in chunks], show_progress=False)
    return bm25


def fuse(dense: np.ndarray, lexical: np.ndarray, method: str, rrf_k: int = 60, weight: float = 0.1) -> np.ndarray:
    """Combine the two rankings. ``weighted`` adds BM25 (scaled to 0..1 per query) times
    ``weight`` to the cosine, so exact terms break near-ties between similar clauses; RRF uses
    ranks only; chunks without a single query term get no BM25 vote."""
    if method == "dense" or not lexical.any():
        return dense.copy()
    if method == "bm25":
        return lexical + 1e-3 * dense  # cosine breaks BM25 ties
    if method == "weighted":
        return dense + weight * lexical / lexical.max()
    fused = 1.0 / (rrf_k + _ranks(dense))
    has_term = lexical > 0
    fused[has_term] += 1.0 / (rrf_k + _ranks(lexical)[has_term])
    return fused


def candidates(dense: np.ndarray, lexical: np.ndarray, k: int) -> np.ndarray:
    """The shortlist weighted fusion orders: the dense top ``k`` plus BM25's best chunk.

    The embedder decides which clauses are about the question (it survives paraphrase, which
    BM25 does not); BM25 then breaks near-ties among them on exact terms, and its single best
    match may still enter (a clause number or a rare word the embedder blurred).
    """
    pool = list(np.argsort(-dense, kind="stable")[:k])
    if lexical.any() and int(lexical.argmax()) not in pool:
        pool.append(int(lexical.argmax()))
    return np.asarray(pool, dtype=np.int64)


def _ranks(scores: np.ndarray) -> np.ndarray:
    """1-based rank of each entry, best first."""
    ranks = np.empty(len(scores), dtype=np.float32)
    ranks[np.argsort(-scores, kind="stable")] = np.arange(1, len(scores) + 1)
    return ranks
