"""How well the knowledge base finds the right clause and the RAG bot states its facts.

Builds a throw-away index of the policy, asks the held-out questions and the out-of-scope ones,
and prints retrieval recall@1/@3 (right clause id among the top k; a sub-clause of the wanted
one counts, so "Article 1.3" answers a question labelled "Article 1"), fact accuracy (every fact
in the answer, numbers compared as numbers, with the right clause among the sources), the
refusal rate on out-of-scope questions (and wrongly refused held-out ones) and mean latency.
``fact_accuracy_model_text`` counts only the model's own words (before any evidence the bot quoted
because the answer missed it, see airbot/bots/grounding.py) and ``quoted_evidence`` how often it quoted::

    .venv/bin/python bench/rag_quality.py                       # shipped policy + held-out set
    .venv/bin/python bench/rag_quality.py --retrieval-only      # seconds, no generation
    .venv/bin/python bench/rag_quality.py --set rag.top_k=5 --set rag.min_score=0.35 --json
    .venv/bin/python bench/rag_quality.py --doc my_policy.pdf --heldout my_qs.jsonl --oos my_oos.jsonl
    .venv/bin/python bench/rag_quality.py --policy-change      # then swap in policy v2 (timed), re-ask

The held-out file has {"question", "facts": [...], "clause"} per line; the out-of-scope file
{"question"}. Every figure is computed by the same code the app runs (KnowledgeBase, make_bot).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from airbot.bots.grounding import QUOTE_PREFIX  # noqa: E402
from airbot.bots.kinds import make_bot  # noqa: E402
from airbot.config import AirbotConfig, load_config  # noqa: E402
from airbot.knowledge.clauses import within  # noqa: E402
from airbot.knowledge.index import KnowledgeBase, build_index  # noqa: E402
from airbot.samples import sample_path  # noqa: E402
from airbot.text import fact_present  # noqa: E402


def read_jsonl(path: Path, limit: int | None = None) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return rows[:limit] if limit else rows


def retrieval(kb: KnowledgeBase, held: list[dict[str, Any]], oos: list[dict[str, Any]]) -> dict[str, Any]:
    """recall@1/@3 on held-out questions, and the relevance scores that ``min_score`` separates."""
    r1 = r3 = 0
    misses, in_top, out_top = [], [], []
    for row in held:
        hits = kb.search(row["question"], 3)
        clauses = [h.clause for h in hits]
        r1 += bool(clauses) and within(clauses[0], row["clause"])
        r3 += any(within(c, row["clause"]) for c in clauses)
        in_top.append(kb.relevance(row["question"], hits))
        if not clauses or not within(clauses[0], row["clause"]):
            misses.append({"clause": row["clause"], "got": clauses, "question": row["question"]})
    out_top = [kb.relevance(r["question"], kb.search(r["question"], 3)) for r in oos]
    n = max(len(held), 1)
    threshold = kb.refusal_threshold()
    return {"recall@1": r1 / n, "recall@3": r3 / n, "refusal_threshold": threshold,
            "retrieval_refused_in": sum(s < threshold for s in in_top),
            "retrieval_refused_oos": sum(s < threshold for s in out_top),
            "heldout_min_relevance": min(in_top, default=0.0),
            "oos_max_relevance": max(out_top, default=0.0), "misses": misses}


def answers(config: AirbotConfig, kb: KnowledgeBase, held: list[dict[str, Any]],
            oos: list[dict[str, Any]], verbose: bool) -> dict[str, Any]:
    """Fact accuracy (all facts and the right clause cited), refusals and latency of the RAG bot."""
    bot = make_bot("rag", config, index=kb)
    ok = facts_only = wrong_refusals = quoted = model_ok = 0
    latencies, failures = [], []
    for row in held:
        ans = bot.answer(row["question"])
        latencies.append(ans.timings.total_s)
        has_facts = all(fact_present(f, ans.text) for f in row.get("facts", []))
        cited = any(within(s.clause, row.get("clause")) for s in ans.sources)
        facts_only += has_facts
        model_text, _, quote = ans.text.partition(QUOTE_PREFIX)
        quoted += bool(quote)
        model_ok += cited and all(fact_present(f, model_text) for f in row.get("facts", []))
        ok += has_facts and cited
        wrong_refusals += ans.refused
        if not (has_facts and cited):
            failures.append({"question": row["question"], "facts": row.get("facts"), "clause": row.get("clause"),
                             "sources": [s.clause for s in ans.sources], "answer": ans.text})
        if verbose:
            print(f"{'ok ' if has_facts and cited else 'BAD'} {row['question'][:60]!r} -> {ans.text[:100]!r}")
    refused = 0
    for row in oos:
        ans = bot.answer(row["question"])
        latencies.append(ans.timings.total_s)
        refused += ans.refused
    n = max(len(held), 1)
    return {"fact_accuracy": ok / n, "fact_accuracy_any_source": facts_only / n,
            "fact_accuracy_model_text": model_ok / n, "quoted_evidence": quoted / n,
            "refusal_rate_oos": refused / max(len(oos), 1), "false_refusal_rate": wrong_refusals / n,
            "mean_latency_s": statistics.fmean(latencies) if latencies else 0.0, "failures": failures}


def policy_update(config: AirbotConfig, kb: KnowledgeBase, changes: list[dict[str, Any]]) -> dict[str, Any]:
    """Swap the policy for its next version in place, time it, and ask the changed questions."""
    from airbot.evaluate.metrics import figure_outcome

    name = kb.documents()[0].name
    started = time.perf_counter()
    kb.replace(sample_path("policy_v2_pdf" if name.endswith(".pdf") else "policy_v2"), name=name)
    update_s = time.perf_counter() - started
    bot = make_bot("rag", config, index=kb)
    outcomes = [figure_outcome(bot.answer(row["question"]).text, row["old"], row["new"]) for row in changes]
    return {"update_s": round(update_s, 3), "changed_new": outcomes.count("new"),
            "changed_old": outcomes.count("old"), "changed_neither": outcomes.count("neither")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--doc", action="append", help="Document(s) to index (default: the shipped policy).")
    parser.add_argument("--heldout", type=Path, default=None, help="Held-out JSONL (default: the shipped set).")
    parser.add_argument("--oos", type=Path, default=None, help="Out-of-scope JSONL (default: the shipped set).")
    parser.add_argument("--config", default=None, help="YAML recipe to start from.")
    parser.add_argument("--set", action="append", default=[], help="Override, e.g. rag.top_k=5 (repeatable).")
    parser.add_argument("--limit", type=int, default=None, help="Only the first N questions of each set.")
    parser.add_argument("--retrieval-only", action="store_true", help="Skip generation (seconds instead of minutes).")
    parser.add_argument("--policy-change", action="store_true",
                        help="Then replace the policy with its v2 (timed) and ask the changed questions.")
    parser.add_argument("--verbose", action="store_true", help="Print every answer.")
    parser.add_argument("--json", action="store_true", help="Print one JSON object instead of the table.")
    args = parser.parse_args(argv)

    config = load_config(args.config, args.set)
    held = read_jsonl(args.heldout or sample_path("heldout"), args.limit)
    oos = read_jsonl(args.oos or sample_path("out_of_scope"), args.limit)
    docs = args.doc or [str(sample_path("policy"))]
    with tempfile.TemporaryDirectory(prefix="airbot-bench-") as tmp:
        started = time.perf_counter()
        kb = build_index(docs, Path(tmp) / "index", rag=config.rag)
        result: dict[str, Any] = {"index_s": round(time.perf_counter() - started, 2), "chunks": kb.status().chunks,
                                  "rag": vars(config.rag), "questions": len(held), "out_of_scope": len(oos)}
        result.update(retrieval(kb, held, oos))
        if not args.retrieval_only:
            result.update(answers(config, kb, held, oos, args.verbose))
        if args.policy_change:
            result.update(policy_update(config, kb, read_jsonl(sample_path("changes"), args.limit)))
    if args.json:
        print(json.dumps(result, default=str))
    else:
        print_table(result)
    return 0


def print_table(result: dict[str, Any]) -> None:
    keys = ["recall@1", "recall@3", "fact_accuracy", "fact_accuracy_any_source", "fact_accuracy_model_text",
            "quoted_evidence", "refusal_rate_oos",
            "false_refusal_rate", "mean_latency_s",
            "update_s", "changed_new", "changed_old", "changed_neither",
            "refusal_threshold", "retrieval_refused_in", "retrieval_refused_oos",
            "heldout_min_relevance", "oos_max_relevance", "index_s", "chunks"]
    for key in keys:
        if key in result:
            value = result[key]
            print(f"{key:26s} {value:.3f}" if isinstance(value, float) else f"{key:26s} {value}")
    for miss in result.get("misses", []):
        print(f"  retrieval miss: want {miss['clause']} got {miss['got']}  {miss['question'][:70]!r}")
    for fail in result.get("failures", []):
        print(f"  answer miss: want {fail['facts']} ({fail['clause']}, sources {fail['sources']}) "
              f"got {fail['answer'][:90]!r}")


if __name__ == "__main__":
    sys.exit(main())
