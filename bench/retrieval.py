"""Retrieval speed through the real ``KnowledgeBase``: query latency p50/p95 (query embedding
included) at 1k/10k/100k chunks, the IVF index's recall, commit cost, and indexing throughput.

    .venv/bin/python bench/retrieval.py                      # 1k, 10k, 100k chunks
    .venv/bin/python bench/retrieval.py --sizes 1000,10000 --repeats 5 --json
    .venv/bin/python bench/retrieval.py --sizes 100000 --ann-min-chunks 1000000   # 100k kept flat (exact)

Chunks are the shipped policy's clauses varied (sentences recombined, numbers changed), so they
read like policy text of ~110 tokens; nothing is downloaded. ``--embedded`` of them are really
embedded; the rest of each size's vectors are those vectors perturbed and re-normalized
(search cost depends only on count x dimension). Each size's index is built by the knowledge
base's own commit (``_commit``: vector index, BM25 matrix, files, manifest) from 20 documents,
skipping only the embedding, then a 21st document is added the same way (the incremental cost).
Rows per size:

* ``KnowledgeBase.search``: the hybrid search the bots call (bf16 query embedding, dense top k
  from the flat or IVF index, sparse BM25, weighted fusion of the pool); p95 in the note.
* ``bf16 encoder alone``: the query embedding part of that, measured interleaved with it.
* ``dense recall@10``: the index's top 10 against exact search over the same vectors.
* ``commit``: building the whole index from stored vectors; ``commit one more document``.

Indexing rows: chunks/s of ``KnowledgeBase.embed`` (the bf16 encoder, what ``add`` uses) and of
SentenceTransformer ``encode`` fp32 (the reference its vectors are checked against).
"""

from __future__ import annotations

import itertools
import random
import re
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Figure, parser, percentile, read_jsonl, report, temp_home

QUERIES = 40


def policy_chunks() -> list[Any]:
    """The shipped policy (both versions) cut the way the app cuts it."""
    from airbot.knowledge.chunking import read_chunks
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


def cpu_ms(fn: Any) -> tuple[float, float]:
    """Wall and CPU milliseconds of ``fn``: on a shared machine the CPU time per unit of work is
    what idle wall time tends to (for work spread over free cores, divided by their number)."""
    before = resource.getrusage(resource.RUSAGE_SELF)
    wall, _ = time_ms(fn)
    after = resource.getrusage(resource.RUSAGE_SELF)
    return wall, 1000 * (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)


# --- indexing ---------------------------------------------------------------------------------
def indexing(texts: list[str], repeats: int) -> list[Figure]:
    """chunks/s of the knowledge base's document embedding against sentence-transformers fp32."""
    from airbot.knowledge.index import KnowledgeBase
    from airbot.models import shared_embedder

    st, kb = shared_embedder(), KnowledgeBase(Path(tempfile.mkdtemp()), {"documents": []})
    runs = {"index KnowledgeBase.embed (bf16)": lambda: kb.embed(texts),
            "index encode fp32 batch 32": lambda: st.encode(texts, batch_size=32, normalize_embeddings=True,
                                                           show_progress_bar=False)}
    figs = {name: Figure(name, "chunks/s") for name in runs}
    per_cpu_s: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            wall, cpu = cpu_ms(run)
            figs[name].samples.append(len(texts) / (wall / 1000))
            per_cpu_s[name].append(len(texts) / (cpu / 1000))
    tokens = np.mean([len(st.tokenizer(t)["input_ids"]) for t in texts[:200]])
    for name, fig in figs.items():
        fig.note = f"{len(texts)} chunks of ~{tokens:.0f} tokens; {np.median(per_cpu_s[name]):.0f} chunks per CPU-second"
    return list(figs.values())


def encoder_agreement(queries: list[str]) -> Figure:
    from airbot.knowledge.embedding import fast_encoder
    from airbot.models import shared_embedder

    ref = shared_embedder().encode(queries, normalize_embeddings=True, show_progress_bar=False)
    fast = fast_encoder().encode(queries)
    worst = float(np.min(np.sum(ref * fast, axis=1)))
    return Figure("bf16 encoder cosine vs encode (min)", "cos", [worst], note=f"{worst:.5f} over {len(queries)} queries")


# --- searching --------------------------------------------------------------------------------
def filled_kb(size: int, texts: list[str], vectors: np.ndarray, ann_min_chunks: int) -> tuple[Any, list[Figure]]:
    """A KnowledgeBase of ``size`` chunks built by its own commit path, and the commit timings."""
    from airbot.knowledge.chunking import Chunk
    from airbot.knowledge.index import KnowledgeBase
    from airbot.knowledge.manifest import DocumentInfo

    kb = KnowledgeBase(Path(tempfile.mkdtemp()), {"documents": [], "version": 0}, ann_min_chunks=ann_min_chunks)
    docs, new = [], {}
    bounds = np.linspace(0, size, 21).astype(int)
    for d, (start, stop) in enumerate(itertools.pairwise(bounds)):
        name = f"doc{d}.md"
        chunks = [Chunk(f"{name}#{i}", name, texts[i], None, "1. Section", None) for i in range(start, stop)]
        docs.append(DocumentInfo(name, f"{d:064d}", 1, [c.id for c in chunks], "", f"k{d:023d}"))
        new[name] = (chunks, vectors[start:stop])
    build = Figure(f"{size // 1000}k chunks: commit (whole index from vectors)", "s")
    build.samples.append(time_ms(lambda: kb._commit(docs, new))[0] / 1000)
    extra = [Chunk(f"extra.md#{i}", "extra.md", t, None, "1. Section", None) for i, t in enumerate(texts[:50])]
    info = DocumentInfo("extra.md", "e" * 64, 1, [c.id for c in extra], "", "e" * 24)
    one = Figure(f"{size // 1000}k chunks: commit one more document (50 chunks)", "s")
    one.samples.append(time_ms(lambda: kb._commit([*docs, info], {"extra.md": (extra, vectors[:50])}))[0] / 1000)
    return kb, [build, one]


def search_rows(size: int, kb: Any, queries: list[str], repeats: int) -> list[Figure]:
    """p50/p95 of the hybrid KnowledgeBase.search, the encoder alone, and the index's recall@10."""
    import faiss

    from airbot.knowledge import dense as vector_index
    from airbot.knowledge.embedding import fast_encoder

    fast = fast_encoder(kb.embedder_name)
    kind = kb._index.kind
    search = Figure(f"{size // 1000}k chunks: KnowledgeBase.search (hybrid, {kind})", "ms")
    embed = Figure(f"{size // 1000}k chunks: bf16 encoder alone", "ms")
    kb.search(queries[0])
    cpu: dict[str, list[float]] = {"search": [], "embed": []}
    for _ in range(repeats):
        for q in queries:
            for key, fig, fn in (("search", search, lambda q=q: kb.search(q)), ("embed", embed, lambda q=q: fast.encode([q]))):
                wall, used = cpu_ms(fn)
                fig.samples.append(wall)
                cpu[key].append(used)
    for key, fig in (("search", search), ("embed", embed)):
        fig.note = f"p95 {percentile(fig.samples, 95):.3g} ms; CPU {np.median(cpu[key]):.3g} ms/query (median)"
    exact = faiss.IndexFlatIP(kb._vectors.shape[1])
    exact.add(kb._vectors)
    hits = []
    for vec in fast.encode(queries):
        truth = set(exact.search(vec.reshape(1, -1), 10)[1][0])
        hits.append(len(truth & set(vector_index.search(kb._index, vec, 10)[1])) / 10)
    recall = Figure(f"{size // 1000}k chunks: dense recall@10 vs exact ({kind})", "recall", [float(np.mean(hits))])
    if kind == "ivf":
        recall.note = f"nlist {kb._index.faiss.nlist}, nprobe {kb._index.faiss.nprobe}"
    return [search, embed, recall]


def main() -> None:
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="1000,10000,100000")
    p.add_argument("--embedded", type=int, default=1000, help="How many varied chunks are really embedded.")
    p.add_argument("--ann-min-chunks", type=int, default=None, help="KnowledgeBase IVF threshold (default: its own).")
    p.set_defaults(repeats=2)
    args = p.parse_args()
    from airbot.knowledge.dense import ANN_MIN_CHUNKS

    temp_home("airbot-bench-retrieval-")
    sizes = [int(x) for x in args.sizes.split(",")]
    chunks = policy_chunks()
    texts = vary([c.embed_text() for c in chunks], max(sizes))
    queries = heldout_queries()
    figures = indexing(texts[: args.embedded], args.repeats)
    figures.append(encoder_agreement(queries))
    from airbot.knowledge.embedding import fast_encoder

    vectors = expand(fast_encoder().encode(texts[: args.embedded]), max(sizes))
    for size in sizes:
        kb, commits = filled_kb(size, texts, vectors, args.ann_min_chunks or ANN_MIN_CHUNKS)
        figures += search_rows(size, kb, queries, args.repeats) + commits
    report(f"retrieval: {len(queries)} queries x {args.repeats} repeats, KnowledgeBase path", figures, as_json=args.json)


if __name__ == "__main__":
    main()
