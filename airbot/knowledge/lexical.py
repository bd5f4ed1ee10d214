"""Lexical side of retrieval and how it is fused with the dense side.

BM25 over a light tokenizer (a scipy sparse matrix, so a query touches only the chunks that
contain its words), the candidate pool a query fuses, and the fusion rules ``KnowledgeBase.search``
applies: ``weighted`` (cosine + bm25_weight x BM25 scaled to 0..1, over the dense top k plus
BM25's best match), ``rrf`` (reciprocal rank fusion), ``dense`` and ``bm25`` alone. Pure
functions on numpy arrays, so the rules are tested without a model::

    python -c "from airbot.text import tokenize; print(tokenize('What are the bag charges?'))"
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from airbot.knowledge.chunking import Chunk
from airbot.text import tokenize


class Vocabulary:
    """Term -> column id for one index. It only grows (a removed document's terms keep their
    ids, with no postings), so the ids stored for the other documents never change."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.ids)

    def encode(self, terms: list[str]) -> np.ndarray:
        """Ids of ``terms``, new terms added."""
        ids = self.ids
        return np.fromiter((ids.setdefault(t, len(ids)) for t in terms), dtype=np.int32, count=len(terms))

    def lookup(self, terms: list[str]) -> list[int]:
        """Ids of the known terms only (a query word no chunk has scores nothing)."""
        return [self.ids[t] for t in terms if t in self.ids]


@dataclass(frozen=True)
class DocTerms:
    """One document's chunks as term ids: all ids end to end, and each chunk's count of them.
    Kept per document so a commit tokenizes only the document that changed."""

    ids: np.ndarray
    lengths: np.ndarray

    @classmethod
    def of(cls, chunks: list[Chunk], vocab: Vocabulary) -> DocTerms:
        tokens = [tokenize(c.search_text()) or ["_"] for c in chunks]  # "_": an empty chunk still has a length
        return cls(vocab.encode([t for toks in tokens for t in toks]), np.fromiter(map(len, tokens), np.int32, len(tokens)))


class Bm25:
    """Okapi BM25 (Lucene idf, k1 1.5, b 0.75: the scores bm25s gives) as a sparse matrix.

    Every (term, chunk) weight is computed at build time and stored by term (CSC), so a query
    sums the postings of its few terms with one ``bincount``: cost follows how many chunks
    contain the query's words, with no Python loop over chunks (0.2 ms at 100k chunks). A build
    is vectorized over the stored term ids, so a commit does not re-tokenize the corpus."""

    def __init__(self, parts: list[DocTerms], vocab_size: int, k1: float = 1.5, b: float = 0.75) -> None:
        from scipy.sparse import csc_matrix

        lengths = np.concatenate([p.lengths for p in parts]) if parts else np.zeros(0, np.int32)
        ids = np.concatenate([p.ids for p in parts]) if parts else np.zeros(0, np.int32)
        self.n = n = len(lengths)
        rows = np.repeat(np.arange(n, dtype=np.int32), lengths)
        tf = csc_matrix((np.ones(len(ids), np.float32), (rows, ids)), shape=(n, max(vocab_size, 1)))
        tf.sum_duplicates()
        df = np.diff(tf.indptr)
        idf = np.log1p((n - df + 0.5) / (df + 0.5))
        norm = k1 * (1 - b + b * lengths / max(float(lengths.mean()) if n else 1.0, 1e-9))
        term = np.repeat(np.arange(len(df)), df)
        self.weights = (idf[term] * tf.data / (norm[tf.indices] + tf.data)).astype(np.float32)
        self.rows, self.starts = tf.indices, tf.indptr

    def scores(self, term_ids: list[int]) -> np.ndarray:
        """BM25 of every chunk for the query's term ids (a repeated word counts again, as in bm25s)."""
        if not term_ids or not self.n:
            return np.zeros(self.n, dtype=np.float32)
        spans = [(self.starts[t], self.starts[t + 1]) for t in term_ids]
        rows = np.concatenate([self.rows[a:b] for a, b in spans])
        weights = np.concatenate([self.weights[a:b] for a, b in spans])
        return np.bincount(rows, weights=weights, minlength=self.n).astype(np.float32)


def fuse(dense: np.ndarray, lexical: np.ndarray, method: str, rrf_k: int = 60, weight: float = 0.1,
         ranks: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Combine the two rankings. ``weighted`` adds BM25 (scaled to 0..1 per query) times
    ``weight`` to the cosine, so exact terms break near-ties between similar clauses; RRF uses
    ranks only; chunks without a single query term get no BM25 vote."""
    if method == "dense" or not lexical.any():
        return dense.copy()
    if method == "bm25":
        return lexical + 1e-3 * dense  # cosine breaks BM25 ties
    if method == "weighted":
        return dense + weight * lexical / lexical.max()
    dense_ranks, lexical_ranks = ranks if ranks is not None else (_ranks(dense), _ranks(lexical))
    fused = 1.0 / (rrf_k + dense_ranks)
    has_term = lexical > 0
    fused[has_term] += 1.0 / (rrf_k + lexical_ranks[has_term])
    return fused


def dense_pool(method: str, k: int, rrf_k: int = 60) -> int:
    """How many dense neighbours a query needs. RRF takes ``2 (rrf_k + k)``: a chunk outside both
    lists' top M scores below 2/(rrf_k + M), under what each dense top-k chunk already has, so
    the fused top k is found among them; the others need the dense top k only."""
    return max(k, 2 * (rrf_k + k)) if method == "rrf" else k


def candidates(dense_rows: np.ndarray, lexical: np.ndarray, k: int, method: str = "weighted",
               rrf_k: int = 60) -> np.ndarray:
    """The rows fusion orders, dense neighbours first (best first), then lexical additions.

    ``weighted`` (and ``dense``): the dense top ``k`` plus BM25's best chunk. The embedder
    decides which clauses are about the question (it survives paraphrase, which BM25 does
    not); BM25 then breaks near-ties among them on exact terms, and its single best match may
    still enter (a clause number or a rare word the embedder blurred). Because that best chunk
    is in the pool, its BM25 score is the maximum ``fuse`` scales by, as over all chunks.
    ``rrf`` and ``bm25`` add BM25's top ``dense_pool`` chunks instead.
    """
    pool = [int(r) for r in dense_rows[:dense_pool(method, k, rrf_k)]]
    if not lexical.any() or method == "dense":
        return np.asarray(pool, dtype=np.int64)
    if method == "weighted":
        extra = [int(lexical.argmax())]
    else:
        m = min(len(lexical), max(k, dense_pool("rrf", k, rrf_k)))
        top = np.argpartition(-lexical, m - 1)[:m] if m < len(lexical) else np.arange(len(lexical))
        top = top[lexical[top] > 0]
        extra = [int(r) for r in top[np.argsort(-lexical[top], kind="stable")]]
    seen = set(pool)
    pool += [r for r in extra if r not in seen]
    return np.asarray(pool, dtype=np.int64)


def pool_ranks(pool: np.ndarray, dense_found: int, lexical: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ranks among all chunks of a pool's members, for RRF: the first ``dense_found`` pool rows are
    the dense ranking's top (in order); BM25 ranks are exact. A row BM25 alone proposed is counted
    just past the dense top (its true dense rank is lower still, unknown without scoring every
    chunk), so it can get up to 1/(rrf_k + M + 1) more than exact RRF: approximate, unlike weighted."""
    dense_ranks = np.minimum(np.arange(1, len(pool) + 1), dense_found + 1).astype(np.float32)
    positive = np.sort(lexical[lexical > 0])
    lexical_ranks = (len(positive) - np.searchsorted(positive, lexical[pool], side="right") + 1).astype(np.float32)
    return dense_ranks, lexical_ranks


def _ranks(scores: np.ndarray) -> np.ndarray:
    """1-based rank of each entry, best first."""
    ranks = np.empty(len(scores), dtype=np.float32)
    ranks[np.argsort(-scores, kind="stable")] = np.arange(1, len(scores) + 1)
    return ranks
