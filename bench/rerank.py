"""Re-ranking by the reader model: how often the right clause comes first, per band and weight.

    .venv/bin/python bench/rerank.py                       # corpus tune half + the telecom and SaaS sets
    .venv/bin/python bench/rerank.py --split never_tuned   # report only: never choose settings on it

For every held-out question the first stage (``KnowledgeBase.search``) gives its best
``airbot.bots.rerank.POOL`` chunks; the reader model scores the question after each of them once
(``rerank.question_scores``), and every (band, weight) pair is then replayed on those scores:
the chunks within ``band`` cosine of the best compete on cosine + weight x log-probability. Printed
per setting: right clause first (``top1``), per document, and passages the model had to read
(the cost). ``band 0`` is the first stage alone. No answers are generated.
"""

from __future__ import annotations

import itertools
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, Figure, machine, parser, read_jsonl

BANDS = (0.0, 0.05, 0.08, 0.1, 0.12, 0.15, 1.0)
WEIGHTS = (0.1, 0.15, 0.2, 0.3, 0.5)
DEV_SETS = {"telecom": ROOT / "tests/fixtures/telecom/policy.md", "saas": ROOT / "tests/fixtures/saas/terms.txt"}


def scored_questions(split: str, limit: int | None) -> list[dict[str, Any]]:
    """Per question: its document, whether each pool chunk is the right clause, cosines, log-probabilities."""
    from rag_quality import corpus_documents

    from airbot.bots import rerank
    from airbot.bots.kinds import base_model
    from airbot.config import load_config
    from airbot.evaluate.metrics import source_matches
    from airbot.knowledge.index import build_index
    from airbot.models import compute_scope

    model, tokenizer = base_model(load_config(None))
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="airbot-rerank-") as tmp:
        docs = [(e["name"], e["doc"], e["held"]) for e in corpus_documents(ROOT / "bench/corpus/docs", Path(tmp), split, None)]
        if split == "tune":
            docs += [(name, path, path.parent / "heldout.jsonl") for name, path in DEV_SETS.items()]
        for name, path, held in docs:
            kb = build_index([path], Path(tmp) / f"index-{name}")
            for row in read_jsonl(held, limit):
                if not row.get("clause"):
                    continue
                hits = kb.search(row["question"], rerank.POOL)
                with compute_scope(1):  # as the bots run it: one thread per answer
                    took = time.perf_counter()
                    rerank.rerank(model, tokenizer, row["question"], hits, 3)  # the shipped path, timed
                    took = time.perf_counter() - took
                likely = rerank.question_scores(model, tokenizer, row["question"],
                                                [rerank.passage_prompt(h) for h in hits])
                rows.append({"doc": name, "right": [source_matches(h, row["clause"]) for h in hits],
                             "cosine": [h.score for h in hits], "likely": likely, "seconds": took,
                             "reranked": bool(rerank.contenders([h.score for h in hits]))})
    return rows


def replay(rows: list[dict[str, Any]], band: float, weight: float) -> tuple[dict[str, list[int]], int]:
    """Right clause first per document ([right, questions]) and passages read, for one setting."""
    per: dict[str, list[int]] = {}
    read = 0
    for r in rows:
        cos = r["cosine"]
        close = [i for i, s in enumerate(cos) if s >= max(cos) - band] if band > 0 else []
        if len(close) > 1:
            read += len(close)
            first = max(close, key=lambda i: cos[i] + weight * r["likely"][i])
        else:
            first = 0
        cell = per.setdefault(r["doc"], [0, 0])
        cell[0] += bool(r["right"][first])
        cell[1] += 1
    return per, read


def main() -> None:
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--split", choices=["tune", "never_tuned"], default="tune")
    p.add_argument("--limit", type=int, default=None, help="Questions per document.")
    args = p.parse_args()
    started = time.perf_counter()
    rows = scored_questions(args.split, args.limit)
    results = []
    for band, weight in itertools.product(BANDS, WEIGHTS):
        if band == 0 and weight != WEIGHTS[0]:
            continue
        per, read = replay(rows, band, weight)
        right = sum(v[0] for v in per.values())
        results.append({"band": band, "weight": weight if band else None, "top1": right, "questions": len(rows),
                        "passages_read": read, "per_document": {d: f"{a}/{b}" for d, (a, b) in per.items()}})
        label = f"band {band:<4} weight {weight:<4}" if band else "first stage alone    "
        print(f"{label} top1 {right}/{len(rows)}  read {read:4d}  " + " ".join(f"{d[:8]}:{a}/{b}" for d, (a, b) in per.items()))
    reranked = [r["seconds"] * 1000 for r in rows[1:] if r["reranked"]]  # the first question warms the model up
    seconds = Figure("re-ranking time of a question that has a close call (shipped settings, 1 thread)", "ms", reranked,
                     f"{len(reranked)}/{len(rows) - 1} questions had one; the others cost nothing")
    print(seconds.line())
    info = machine()
    took = time.perf_counter() - started
    print(f"split {args.split}, {len(rows)} questions, {took:.0f} s, load {info['load_1min']} on {info['cpus']} cpus")
    if args.json:
        import json

        print(json.dumps({"split": args.split, "machine": info, "seconds": seconds.summary(), "results": results}))


if __name__ == "__main__":
    main()
