"""The dense side of the knowledge base: a FAISS index over every chunk's unit vector.

Below ``ANN_MIN_CHUNKS`` chunks the index is flat (exact inner product: a 10k-chunk scan costs
about a millisecond). Past it, scanning every vector is what dominates a query (17 ms at 100k
chunks on one core), so the index becomes an IVF (inverted file): the vectors are split into
``nlist`` k-means cells and a query scans only the ``nprobe`` nearest cells. bench/retrieval.py
reports its recall@10 against exact search on every run.

An update must not cost a full rebuild: the k-means centroids are trained once and reused by
later commits while the chunk count stays within a factor of two of what they were trained on,
and each vector's cell is remembered, so a commit only assigns the new document's vectors.

FAISS is kept to one thread: for a single query the OpenMP hand-off costs more than it saves,
and on a shared two-core machine a second thread waits for a busy core (70 ms instead of 17 ms
for a 100k flat scan, measured under load 7).

    from airbot.knowledge.dense import build, search
    index = build(vectors)                    # flat, or IVF past ANN_MIN_CHUNKS
    scores, rows = search(index, query_vector, 10)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

ANN_MIN_CHUNKS = 50_000
_TRAIN_PER_LIST = 40  # k-means sample per cell: FAISS warns below 39
_faiss_threads_set = False


def _faiss() -> Any:
    """FAISS, pinned to one OpenMP thread (see the module docstring for why)."""
    global _faiss_threads_set
    import faiss

    if not _faiss_threads_set:
        faiss.omp_set_num_threads(1)
        _faiss_threads_set = True
    return faiss


def nlist_for(n: int) -> int:
    """Cells for ``n`` vectors: about 2 sqrt(n) (632 at 100k), at least 2, each cell ~8+ vectors."""
    return max(2, min(int(2 * math.sqrt(n)), n // 8))


def nprobe_for(nlist: int) -> int:
    """Cells scanned per query: 1/8 of them, at least 8 (79 of 632 at 100k: ~12% of the vectors,
    about 1 ms; 1/16 left recall@10 at 0.91 on spread-out test vectors)."""
    return min(nlist, max(8, nlist // 8))


@dataclass
class VectorIndex:
    """A FAISS index plus, for IVF, the cell of every row (so commits reuse the assignment)."""

    faiss: Any
    cells: np.ndarray | None = None

    @property
    def kind(self) -> str:
        return "ivf" if self.cells is not None else "flat"

    @property
    def ntotal(self) -> int:
        return int(self.faiss.ntotal)


def build(vectors: np.ndarray, dim: int, ann_min_chunks: int = ANN_MIN_CHUNKS,
          previous: VectorIndex | None = None, kept: list[tuple[int, int, int]] | None = None) -> VectorIndex:
    """The index for ``vectors`` (rows in chunk order).

    ``previous`` is the index being replaced and ``kept`` the (old start, new start, length) row
    spans carried over unchanged; with an IVF whose centroids still fit, those rows keep their
    cells and only the others are assigned, so a commit costs the new document, not the corpus."""
    faiss = _faiss()
    vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, dim)
    n = len(vectors)
    if n < max(ann_min_chunks, 2):
        index = faiss.IndexFlatIP(dim)
        if n:
            index.add(vectors)
        return VectorIndex(index)
    nlist = nlist_for(n)
    reuse = previous is not None and previous.cells is not None and nlist / 2 <= previous.faiss.nlist <= nlist * 2
    if reuse:
        assert previous is not None and previous.cells is not None
        quantizer = faiss.clone_index(faiss.downcast_index(previous.faiss.quantizer))
        cells = np.full(n, -1, dtype=np.int64)
        for old, new, length in kept or []:
            cells[new:new + length] = previous.cells[old:old + length]
    else:
        quantizer = _train(faiss, vectors, dim, nlist)
        cells = np.full(n, -1, dtype=np.int64)
    todo = np.flatnonzero(cells < 0)
    if len(todo):
        cells[todo] = quantizer.search(vectors[todo], 1)[1][:, 0]
    index = faiss.IndexIVFFlat(quantizer, dim, quantizer.ntotal, faiss.METRIC_INNER_PRODUCT)  # keeps quantizer alive
    from faiss.contrib.ivf_tools import add_preassigned

    add_preassigned(index, vectors, cells)
    index.nprobe = nprobe_for(index.nlist)
    return VectorIndex(index, cells)


def _train(faiss: Any, vectors: np.ndarray, dim: int, nlist: int) -> Any:
    """k-means centroids on a fixed-seed sample (reproducible), as a flat quantizer."""
    sample = vectors
    if len(vectors) > nlist * _TRAIN_PER_LIST:
        sample = vectors[np.random.default_rng(0).choice(len(vectors), nlist * _TRAIN_PER_LIST, replace=False)]
    kmeans = faiss.Kmeans(dim, nlist, niter=10, spherical=True, seed=1, verbose=False,
                          min_points_per_centroid=1)  # small test indexes: nlist_for already bounds cell size
    kmeans.train(np.ascontiguousarray(sample))
    quantizer = faiss.IndexFlatIP(dim)
    quantizer.add(kmeans.centroids)
    return quantizer


def search(index: VectorIndex, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Best ``k`` rows by inner product (approximate for IVF), best first, without -1 fillers."""
    if not index.ntotal or k <= 0:
        return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
    scores, rows = index.faiss.search(np.asarray(query, dtype=np.float32).reshape(1, -1), min(k, index.ntotal))
    keep = rows[0] >= 0
    return scores[0][keep], rows[0][keep]


def write(index: VectorIndex, path: str) -> None:
    _faiss().write_index(index.faiss, path)


def read(path: str) -> VectorIndex:
    """An index written by :func:`write` (or by airbot's format-1 code: always flat)."""
    faiss = _faiss()
    raw = faiss.read_index(path)
    if not isinstance(raw, faiss.IndexIVF):
        return VectorIndex(raw)
    ivf = raw  # read_index returns the concrete IndexIVFFlat (a view from extract_index_ivf would dangle)
    ivf.nprobe = nprobe_for(ivf.nlist)
    cells = np.full(ivf.ntotal, -1, dtype=np.int64)
    lists = faiss.downcast_InvertedLists(ivf.invlists)
    for cell in range(ivf.nlist):
        size = lists.list_size(cell)
        if size:
            ids = lists.get_ids(cell)
            cells[faiss.rev_swig_ptr(ids, size).copy()] = cell
            lists.release_ids(cell, ids)
    return VectorIndex(ivf, cells)
