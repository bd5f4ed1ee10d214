"""The lexical side and the fusion rules: BM25 scores, candidate pools, fusion, tokens."""

from __future__ import annotations

import numpy as np

from airbot.knowledge.chunking import Chunk, read_chunks
from airbot.knowledge.lexical import Bm25, DocTerms, Vocabulary, candidates, dense_pool, fuse, pool_ranks
from airbot.samples import sample_path
from airbot.text import tokenize


def _chunks(texts: list[str], doc: str = "d.md") -> list[Chunk]:
    return [Chunk(f"{doc}#{i}", doc, t, None, "", None) for i, t in enumerate(texts)]


def test_bm25_matches_bm25s_on_the_shipped_policy() -> None:
    """Same scores as the bm25s library (Lucene idf, k1 1.5, b 0.75) the search used before,
    so fusion and recall are unchanged; the policy split in two documents on purpose."""
    import bm25s

    chunks = read_chunks(sample_path("policy"), 160, lambda t: len(t.split()))
    vocab = Vocabulary()
    half = len(chunks) // 2
    bm25 = Bm25([DocTerms.of(chunks[:half], vocab), DocTerms.of(chunks[half:], vocab)], len(vocab))
    ref = bm25s.BM25()
    ref.index([tokenize(c.search_text()) or ["_"] for c in chunks], show_progress=False)
    for query in ["How heavy can my checked bag be?", "refund for a cancelled flight", "pets pets in the cabin"]:
        terms = tokenize(query)
        mine = bm25.scores(vocab.lookup(terms))
        assert mine.shape == (len(chunks),) and mine.max() > 0
        np.testing.assert_allclose(mine, ref.get_scores(terms), rtol=1e-5, atol=1e-6)
    assert not bm25.scores(vocab.lookup(tokenize("zzz qqq"))).any()  # unknown words score nothing
    assert not bm25.scores([]).any()


def test_bm25_by_hand_and_removed_terms() -> None:
    """One term in one of three equal-length chunks: idf log(1 + 2.5/1.5), tf part 1/(1 + 1.5)."""
    vocab = Vocabulary()
    parts = [DocTerms.of(_chunks(["cat dog", "dog bird", "bird fish"]), vocab)]
    scores = Bm25(parts, len(vocab)).scores(vocab.lookup(["cat"]))
    np.testing.assert_allclose(scores, [np.log1p(2.5 / 1.5) / 2.5, 0, 0], rtol=1e-6)
    later = Bm25([DocTerms.of(_chunks(["fish only"], "e.md"), vocab)], len(vocab))  # 'cat' known, no postings
    assert later.n == 1 and not later.scores(vocab.lookup(["cat"])).any()


def test_fusion_and_tokens() -> None:
    dense = np.array([0.9, 0.5, 0.1], dtype=np.float32)
    lexical = np.array([0.0, 3.0, 0.0], dtype=np.float32)
    assert fuse(dense, lexical, "dense").argmax() == 0
    assert fuse(dense, lexical, "bm25").argmax() == 1
    rrf = fuse(dense, lexical, "rrf", rrf_k=1)
    assert rrf[1] > rrf[0] > rrf[2]  # a chunk ranked by both beats one ranked first by one
    close = np.array([0.60, 0.58, 0.1, 0.05], dtype=np.float32)
    terms = np.array([0.0, 2.0, 0.0, 4.0], dtype=np.float32)
    weighted = fuse(close, terms, "weighted", weight=0.1)
    assert weighted[1] > weighted[0]  # exact terms break a near-tie between similar clauses
    assert tokenize("What are the bags' charges?") == ["bag", "charg"]


def test_candidate_pools() -> None:
    dense_rows = np.array([0, 1, 2, 3])
    terms = np.array([0.0, 2.0, 0.0, 4.0, 3.0], dtype=np.float32)
    assert list(candidates(dense_rows, terms, 2)) == [0, 1, 3]  # dense top 2, plus BM25's best match
    assert list(candidates(dense_rows, np.zeros(5, np.float32), 2)) == [0, 1]
    assert list(candidates(dense_rows, terms, 2, "dense")) == [0, 1]
    assert list(candidates(dense_rows, terms, 1, "bm25")) == [0, 3, 4, 1]  # BM25's ranked chunks with a term
    assert dense_pool("rrf", 3, 60) == 126 and dense_pool("weighted", 3) == 3


def test_pool_fusion_matches_the_full_scan_it_replaces() -> None:
    """Fusing only the pool gives what the earlier search computed from every chunk's scores:
    weighted fusion ordered the dense top k plus BM25's best (scaled by the global BM25 maximum,
    which is in the pool) and dense ranked every chunk: both exact. RRF ranks every chunk; the
    pool gives exact BM25 ranks and exact dense ranks for the dense top M, so only a chunk BM25
    alone proposed (dense rank known to be past M, counted as M + 1) can enter differently."""
    rng = np.random.default_rng(0)
    for _ in range(50):
        dense = rng.uniform(-0.2, 0.9, 2000).astype(np.float32)
        lexical = np.where(rng.random(2000) < 0.1, rng.gamma(2, 2, 2000), 0).astype(np.float32)
        rows = np.argsort(-dense, kind="stable")
        for method, k in (("weighted", 3), ("weighted", 10), ("rrf", 5), ("dense", 3)):
            full = fuse(dense, lexical, method, 60, 0.1)
            before = np.asarray([*rows[:k], *([] if lexical.argmax() in rows[:k] else [lexical.argmax()])]) \
                if method == "weighted" else np.arange(len(dense))
            expected = before[np.argsort(-full[before], kind="stable")][:k]
            pool = candidates(rows, lexical, k, method, 60)
            ranks = pool_ranks(pool, dense_pool(method, k, 60), lexical) if method == "rrf" else None
            fused = fuse(dense[pool], lexical[pool], method, 60, 0.1, ranks)
            got = list(pool[np.argsort(-fused, kind="stable")[:k]])
            if method == "rrf":  # only a chunk BM25 alone proposed may differ: its dense rank is bounded, not known
                assert set(got) - set(expected) <= set(pool[dense_pool(method, k, 60):].tolist())
            else:
                assert got == list(expected), method
