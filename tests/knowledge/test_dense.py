"""The dense index: flat below the threshold, IVF past it, recall, and cell reuse across commits."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from airbot.knowledge.dense import build, nlist_for, nprobe_for, read, search, write


def _clustered(n: int, dim: int = 64, seed: int = 0) -> np.ndarray:
    """Unit vectors around 50 topics, like chunks of a few policies."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(50, dim))
    out = centers[rng.integers(0, 50, n)] + rng.normal(0, 0.6, (n, dim))
    return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)


def test_flat_below_threshold_ivf_past_it_with_high_recall() -> None:
    vectors = _clustered(6000)
    flat, ivf = build(vectors, 64, ann_min_chunks=10_000), build(vectors, 64, ann_min_chunks=1000)
    assert flat.kind == "flat" and ivf.kind == "ivf" and ivf.ntotal == 6000
    assert ivf.faiss.nlist == nlist_for(6000) and ivf.faiss.nprobe == nprobe_for(ivf.faiss.nlist) < ivf.faiss.nlist
    queries = _clustered(100, seed=1)
    recall = np.mean([len(set(search(flat, q, 10)[1]) & set(search(ivf, q, 10)[1])) / 10 for q in queries])
    assert recall >= 0.95
    scores, rows = search(ivf, vectors[123], 5)
    assert rows[0] == 123 and abs(scores[0] - 1) < 1e-5 and list(scores) == sorted(scores, reverse=True)


def test_commit_keeps_centroids_and_cells_and_round_trips(tmp_path: Path) -> None:
    """Removing the first block and appending a new one: kept rows keep their cells (shifted),
    only new rows are assigned, the centroids are the old ones; written and read back equal."""
    vectors = _clustered(3000)
    old = build(vectors, 64, ann_min_chunks=1000)
    extra = _clustered(500, seed=2)
    new_vectors = np.concatenate([vectors[1000:], extra])
    new = build(new_vectors, 64, 1000, previous=old, kept=[(1000, 0, 2000)])
    assert old.cells is not None and new.cells is not None
    assert np.array_equal(new.cells[:2000], old.cells[1000:])
    nlist = old.faiss.nlist
    assert np.array_equal(new.faiss.quantizer.reconstruct_n(0, nlist), old.faiss.quantizer.reconstruct_n(0, nlist))
    assert search(new, extra[7], 1)[1][0] == 2007 and search(new, vectors[1500], 1)[1][0] == 500
    write(new, str(tmp_path / "i.index"))
    back = read(str(tmp_path / "i.index"))
    assert back.kind == "ivf" and np.array_equal(back.cells, new.cells) and back.faiss.nprobe == new.faiss.nprobe
    assert search(back, extra[7], 1)[1][0] == 2007
    grown = build(_clustered(12_000, seed=3), 64, 1000, previous=new, kept=[])
    assert grown.faiss.nlist == nlist_for(12_000) != nlist  # the count moved too far: retrained
