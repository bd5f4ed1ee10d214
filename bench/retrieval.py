"""Retrieval speed: query latency (query embedding included) at 1k/10k/100k chunks, and indexing
throughput, comparing today's path with faster encoders and approximate FAISS indexes.

    .venv/bin/python bench/retrieval.py                      # 1k, 10k, 100k chunks, 1 thread
    .venv/bin/python bench/retrieval.py --sizes 1000,10000 --repeats 5 --json
    .venv/bin/python bench/retrieval.py --skip-kb            # skip the full hybrid KnowledgeBase.search rows

Chunks are the shipped policy's clauses varied (sentences recombined, numbers changed), so they
read like policy text of ~100 tokens; nothing is downloaded. ``--embedded`` of them are really
embedded; the rest of each size's vectors are those vectors perturbed and re-normalized
(search cost depends only on count x dimension). Rows per size:

* ``encode + flat top-10``: SentenceTransformer.encode (fp32) + exact inner-product search.
* ``bf16 encoder + flat top-10``: airbot.fastembed_query (bf16, direct) + the same search.
* ``bf16 encoder + HNSW`` / ``+ IVF``: approximate indexes, with recall@10 against exact search.
* ``KnowledgeBase.search``: today's hybrid search (dense over every chunk + BM25 + fusion).
"""

from __future__ import annotations

import random
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Figure, parser, read_jsonl, report, temp_home

QUERIES = 40


def policy_chunks() -> list[Any]:
    """The shipped policy (both versions) cut the way the app cuts it."""
    from airbot.documents import read_chunks
    from airbot.models import shared_embedder
    from airbot.samples import sample_path

    tok = shared_embedder().tokenizer
    count = lambda text: len(tok(text, add_special_tokens=False)["input_ids"])  # noqa: E731
    return [c for name in ("policy", "policy_v2") for c in read_chunks(sample_path(name), 160, count)]


def vary(texts: list[str], n: int, seed: int = 0) -> list[str]:
    """``n`` policy-like texts: sentences of two real clauses recombined, figures changed."""
    rng = random.Random(seed)
    sentences = [s for t in texts for s in re.split(r"(?<=[.!?])\s+", t) if len(s) > 20]
    out = []
    for i in range(n):
        picked = rng.sample(sentences, k=min(len(sentences), rng.randint(3, 6)))
        text = " ".join(picked)
        out.append(re.sub(r"\d+", lambda m: str(int(m.group()) + rng.randint(0, 9)), text) + f" (v{i})")
    return out


def heldout_queries() -> list[str]:
    from airbot.samples import sample_path

    return [r["question"] for r in read_jsonl(sample_path("heldout"))][:QUERIES]


def expand(vectors: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """``n`` unit vectors: the real ones, then perturbed copies of them."""
    rng = np.random.default_rng(seed)
    idx = np.arange(n) % len(vectors)
    out = vectors[idx] + rng.normal(0, 0.35 / np.sqrt(vectors.shape[1]), (n, vectors.shape[1])).astype(np.float32)
    out[: len(vectors)] = vectors[: min(n, len(vectors))]
    return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)


def time_ms(fn: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return (time.perf_counter() - start) * 1000, result


# --- indexing ---------------------------------------------------------------------------------
def indexing(texts: list[str], repeats: int) -> list[Figure]:
    """chunks/s of today's ``encode`` (batch 32, fp32) against the bf16 direct encoder."""
    from airbot.fastembed_query import fast_encoder
    from airbot.models import shared_embedder

    st, fast = shared_embedder(), fast_encoder()
    runs = {"index encode fp32 batch 32 (today)": lambda: st.encode(texts, batch_size=32, normalize_embeddings=True,
                                                                     show_progress_bar=False),
            "index bf16 encoder batch 32": lambda: fast.encode(texts, 32),
            "index bf16 encoder batch 64": lambda: fast.encode(texts, 64)}
    figs = {name: Figure(name, "chunks/s") for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            ms, _ = time_ms(run)
            figs[name].samples.append(len(texts) / (ms / 1000))
    tokens = np.mean([len(st.tokenizer(t)["input_ids"]) for t in texts[:200]])
    for fig in figs.values():
        fig.note = f"{len(texts)} chunks of ~{tokens:.0f} tokens"
    return list(figs.values())


def encoder_agreement(queries: list[str]) -> Figure:
    from airbot.fastembed_query import fast_encoder
    from airbot.models import shared_embedder

    ref = shared_embedder().encode(queries, normalize_embeddings=True, show_progress_bar=False)
    fast = fast_encoder().encode(queries)
    worst = float(np.min(np.sum(ref * fast, axis=1)))
    return Figure("bf16 encoder cosine vs encode (min)", "cos", [worst], note=f"{worst:.5f} over {len(queries)} queries")


# --- searching --------------------------------------------------------------------------------
def build_indexes(vectors: np.ndarray) -> dict[str, Any]:
    import faiss

    n, dim = vectors.shape
    flat = faiss.IndexFlatIP(dim)
    flat.add(vectors)
    out = {"flat": flat}
    if n >= 5000:
        hnsw = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction, hnsw.hnsw.efSearch = 80, 64
        hnsw.add(vectors)
        nlist = int(4 * np.sqrt(n))
        ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
        ivf.train(vectors[np.random.default_rng(0).choice(n, min(n, nlist * 40), replace=False)])
        ivf.add(vectors)
        ivf.nprobe = 16
        out.update(hnsw=hnsw, ivf=ivf)
    return out


def search_rows(size: int, vectors: np.ndarray, queries: list[str], repeats: int) -> list[Figure]:
    """Per-query latency of encode + search for each encoder/index pair, and ANN recall@10."""
    from airbot.fastembed_query import fast_encoder
    from airbot.models import shared_embedder

    st, fast = shared_embedder(), fast_encoder()
    encoders = {"encode": lambda q: st.encode([q], normalize_embeddings=True, convert_to_numpy=True,
                                              show_progress_bar=False).astype(np.float32),
                "bf16 encoder": lambda q: fast.encode([q])}
    indexes = build_indexes(vectors)
    pairs = [("encode", "flat"), ("bf16 encoder", "flat"), *[("bf16 encoder", k) for k in ("hnsw", "ivf") if k in indexes]]
    figs = {p: Figure(f"{size // 1000}k chunks: {p[0]} + {p[1]} top-10", "ms") for p in pairs}
    embed_only = Figure(f"{size // 1000}k chunks: bf16 encoder alone", "ms")
    hits: dict[str, list[float]] = {k: [] for k in indexes if k != "flat"}
    for _ in range(repeats):
        for q in queries:
            for enc_name, index_name in pairs:
                total, (vec, found) = time_ms(lambda e=enc_name, i=index_name, q=q: _query(encoders[e], indexes[i], q))
                figs[(enc_name, index_name)].samples.append(total)
                if index_name != "flat":
                    exact = set(indexes["flat"].search(vec, 10)[1][0])
                    hits[index_name].append(len(exact & set(found)) / 10)
            embed_only.samples.append(time_ms(lambda q=q: fast.encode([q]))[0])
    for (_, index_name), fig in figs.items():
        if index_name in hits:
            fig.note = f"recall@10 vs exact {np.mean(hits[index_name]):.3f}"
    return [*figs.values(), embed_only]


def _query(encode: Any, index: Any, q: str) -> tuple[np.ndarray, list[int]]:
    vec = encode(q)
    return vec, list(index.search(vec, 10)[1][0])


def kb_rows(size: int, chunks: list[Any], texts: list[str], vectors: np.ndarray, queries: list[str],
            repeats: int) -> list[Figure]:
    """Today's hybrid ``KnowledgeBase.search`` over ``size`` chunks (dense over all + BM25 + RRF)."""
    import faiss

    from airbot.documents import Chunk
    from airbot.knowledge import KnowledgeBase

    try:
        from airbot.ranking import build_bm25
    except ImportError:  # before knowledge.py's ranking helpers moved out
        from airbot.knowledge import _build_bm25 as build_bm25  # type: ignore[attr-defined,no-redef]

    # Filled in directly: embedding 100k chunks through add() would take the bench an hour.
    kb = KnowledgeBase(Path(tempfile.mkdtemp()), {"documents": []})
    base = chunks[0]
    kb._chunks = [Chunk(f"c{i}", base.doc, t, None, base.section, None) for i, t in enumerate(texts[:size])]
    kb._faiss = faiss.IndexFlatIP(vectors.shape[1])
    kb._faiss.add(vectors[:size])
    kb._vectors = vectors[:size]
    kb._bm25 = build_bm25(kb._chunks)
    fig = Figure(f"{size // 1000}k chunks: KnowledgeBase.search (hybrid, today)", "ms")
    kb.search(queries[0])
    for _ in range(repeats):
        for q in queries:
            fig.samples.append(time_ms(lambda q=q: kb.search(q))[0])
    return [fig]


def main() -> None:
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="1000,10000,100000")
    p.add_argument("--embedded", type=int, default=1000, help="How many varied chunks are really embedded.")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads.")
    p.add_argument("--skip-kb", action="store_true", help="Skip the KnowledgeBase.search rows (BM25 build is slow).")
    p.set_defaults(repeats=2)
    args = p.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    temp_home("airbot-bench-retrieval-")
    sizes = [int(s) for s in args.sizes.split(",")]
    chunks = policy_chunks()
    texts = vary([c.embed_text() for c in chunks], max(sizes))
    queries = heldout_queries()
    figures = indexing(texts[: args.embedded], args.repeats)
    figures.append(encoder_agreement(queries))
    from airbot.fastembed_query import fast_encoder

    vectors = expand(fast_encoder().encode(texts[: args.embedded]), max(sizes))
    for size in sizes:
        figures += search_rows(size, vectors[:size], queries, args.repeats)
        if not args.skip_kb:
            figures += kb_rows(size, chunks, texts, vectors, queries, args.repeats)
    report(f"retrieval: {len(queries)} queries x {args.repeats} repeats, {args.threads} thread(s)", figures,
           as_json=args.json)


if __name__ == "__main__":
    main()
