"""How well the RAG bot finds the right clause and answers from it, judged strictly.

Builds a throw-away index of a policy, asks its held-out and out-of-scope questions, and judges
every answer with airbot's strict yardstick (``airbot.text.judge``: every fact stated, numbers
matched whole and never inside a clause label; no figure the question's clause, the facts or the
question do not state; no loop, label run or list of labels). Per document it reports:

* ``top_source``  the first source is the question's clause (a sub-clause counts for its parent;
  for a document without numbers, the clause is its heading);
* ``final``       the answer the user reads is right (strict);
* ``model``       the model's own words are right (strict), whatever the user was shown;
* ``extract``     how often the user was shown the document extract instead of the model's words;
* ``oos_refused`` out-of-scope questions refused; ``wrong_refusals`` in-scope questions refused;
* ``garbage``     answers the user reads that degenerate (loop, label run) or repeat prompt text;
* ``v2_new``      after the document is replaced by its version 2 in the index, changed figures
  answered with the new value (strictly: the new figure, nothing the new text lacks).

    .venv/bin/python bench/rag_quality.py --corpus bench/corpus/docs            # every corpus document
    .venv/bin/python bench/rag_quality.py --corpus bench/corpus/docs --split tune --limit 5
    .venv/bin/python bench/rag_quality.py --corpus bench/corpus/docs --docs gym_membership --verbose
    .venv/bin/python bench/rag_quality.py                                     # shipped airline policy
    .venv/bin/python bench/rag_quality.py --sample telecom                    # tests/fixtures/telecom
    .venv/bin/python bench/rag_quality.py --sample saas                       # tests/fixtures/saas
    .venv/bin/python bench/rag_quality.py --doc my_policy.pdf --heldout my_qs.jsonl --oos my_oos.jsonl
    .venv/bin/python bench/rag_quality.py --retrieval-only --json

The corpus split (``docs/SPLIT.json``) is reported in separate tables: ``tune`` documents may be
used to choose settings, ``never_tuned``, ``fresh`` and ``fresh2`` ones (written in sessions 10 and
11, after those sessions' first chunking changes) only to report. Held-out files have
``{"question", "facts": [...], "clause"}`` per line, out-of-scope files ``{"question"}``, change
files ``{"question", "old", "new"}``. Every figure is computed by the code the app runs
(``build_index``, ``make_bot``, ``judge``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from airbot.bots.kinds import Answer, make_bot  # noqa: E402
from airbot.config import AirbotConfig, load_config  # noqa: E402
from airbot.evaluate.metrics import cited_texts, evidence_texts, source_matches  # noqa: E402
from airbot.knowledge.index import KnowledgeBase, build_index  # noqa: E402
from airbot.prompts import leaked_prompt  # noqa: E402
from airbot.samples import sample_path  # noqa: E402
from airbot.text import judge  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures"
SAMPLES = {"telecom": (FIXTURES / "telecom" / "policy.md", FIXTURES / "telecom"),
           "saas": (FIXTURES / "saas" / "terms.txt", FIXTURES / "saas")}
HALVES = ("tune", "never_tuned", "fresh", "fresh2", "fresh3", "fresh4", "fresh5")
"""The corpus split's parts (docs/SPLIT.json), reported apart; only ``tune`` may choose settings."""
COLUMNS = ("top_source", "final", "model", "extract", "oos_refused", "wrong_refusals", "garbage", "v2_new")


def read_jsonl(path: Path, limit: int | None = None) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return rows[:limit] if limit else rows


# --- one answer -------------------------------------------------------------------------------
def grade(ans: Answer, row: dict[str, Any]) -> dict[str, Any]:
    """One in-scope answer, judged: right clause on top, final answer and model's words right."""
    facts = [str(f) for f in row.get("facts", [])]
    evidence = evidence_texts(ans.text, ans.sources, row.get("clause"))  # the right clause, as a strict reader checks
    final = judge(ans.text, facts, evidence=evidence, question=row["question"])
    model = judge(ans.model_text, facts, evidence=evidence, question=row["question"])
    top = bool(ans.sources) and source_matches(ans.sources[0], row.get("clause"))
    return {"question": row["question"], "facts": facts, "clause": row.get("clause"),
            "top_source": top, "final": final.correct and not ans.refused,
            "model": model.correct and not ans.refused, "extract": ans.mode == "extract",
            "refused": ans.refused, "garbage": shows_garbage(ans), "mode": ans.mode,
            "flags": final.flags, "model_flags": model.flags, "check_flags": list(ans.flags), "answer": ans.text,
            "model_text": ans.model_text, "best_score": ans.best_score, "threshold": ans.threshold,
            "evidence_score": ans.evidence_score, "source_rows": [asdict(s) for s in ans.sources],
            "sources": [s.clause or s.section for s in ans.sources], "latency_s": ans.timings.total_s}


def shows_garbage(ans: Answer) -> bool:
    """Does the text the user reads loop, run labels together or repeat the prompt's own text?"""
    cited = " ".join(s.text for s in ans.sources)
    return judge(ans.text, [], evidence=[cited]).degenerate is not None or leaked_prompt(ans.text, cited)


# --- one document -----------------------------------------------------------------------------
def retrieval(kb: KnowledgeBase, held: list[dict[str, Any]], oos: list[dict[str, Any]]) -> dict[str, Any]:
    """recall@1/@3 on held-out questions, and the relevance scores the refusal threshold separates."""
    r1 = r3 = 0
    misses, in_top = [], []
    for row in held:
        hits = kb.search(row["question"], 3)
        r1 += bool(hits) and source_matches(hits[0], row["clause"])
        r3 += any(source_matches(h, row["clause"]) for h in hits)
        in_top.append(kb.relevance(row["question"], hits))
        if not hits or not source_matches(hits[0], row["clause"]):
            misses.append({"clause": row["clause"], "got": [h.clause or h.section for h in hits],
                           "question": row["question"]})
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
    """Every in-scope answer graded, every out-of-scope one checked for a refusal."""
    bot = make_bot("rag", config, index=kb)
    graded = []
    for row in held:
        graded.append(grade(bot.answer(row["question"]), row))
        if verbose:
            g = graded[-1]
            print(f"  {'ok ' if g['final'] else 'BAD'} {g['mode']:8s} {row['question'][:60]!r} -> {g['answer'][:110]!r}"
                  + (f"  model: {g['model_text'][:80]!r} {g['model_flags']} check: {g['check_flags']}"
                     if g["mode"] == "extract" else f"  {g['flags']}" if g["flags"] else ""))
    oos_answers = [bot.answer(row["question"]) for row in oos]
    latencies = [g["latency_s"] for g in graded] + [a.timings.total_s for a in oos_answers]
    if verbose:
        for a in oos_answers:
            print(f"  oos {'refused ' if a.refused else 'ANSWERED'} {a.question[:60]!r} -> {a.text[:90]!r}")
    return {"graded": graded, "oos_refused": sum(a.refused for a in oos_answers), "oos_n": len(oos),
            "oos": [{"question": a.question, "refused": a.refused, "mode": a.mode, "answer": a.text,
                     "best_score": a.best_score, "threshold": a.threshold, "flags": list(a.flags),
                     "model_text": a.model_text, "evidence_score": a.evidence_score,
                     "source_rows": [asdict(s) for s in a.sources]} for a in oos_answers],
            "oos_garbage": sum(shows_garbage(a) for a in oos_answers if not a.refused),
            "mean_latency_s": statistics.fmean(latencies) if latencies else 0.0}


def policy_update(config: AirbotConfig, kb: KnowledgeBase, v2: Path, name: str,
                  changes: list[dict[str, Any]], verbose: bool = False) -> dict[str, Any]:
    """Replace the document by its version 2 in the index (timed), then ask the changed questions:
    right only when the answer states the new figure and nothing the new text lacks."""
    started = time.perf_counter()
    kb.replace(v2, name=name)
    update_s = time.perf_counter() - started
    bot = make_bot("rag", config, index=kb)
    new = old = 0
    for row in changes:
        ans = bot.answer(row["question"])
        verdict = judge(ans.text, [str(row["new"])], evidence=cited_texts(ans.text, ans.sources),
                        question=row["question"])
        new += verdict.correct and not ans.refused
        old += not verdict.correct and judge(ans.text, [str(row["old"])]).missing == ()
        if verbose:
            print(f"  v2 {'new' if verdict.correct else 'BAD'} want {row['new']} (was {row['old']}) -> {ans.text[:100]!r}")
    return {"update_s": round(update_s, 3), "v2_new": new, "v2_old": old, "v2_n": len(changes)}


def evaluate_document(config: AirbotConfig, doc: Path, held: list[dict[str, Any]], oos: list[dict[str, Any]], *,
                      v2: Path | None = None, changes: list[dict[str, Any]] | None = None,
                      retrieval_only: bool = False, verbose: bool = False) -> dict[str, Any]:
    """Index one document in a temp dir and measure everything this script reports about it."""
    with tempfile.TemporaryDirectory(prefix="airbot-bench-") as tmp:
        started = time.perf_counter()
        kb = build_index([doc], Path(tmp) / "index", rag=config.rag)
        result: dict[str, Any] = {"doc": doc.name, "index_s": round(time.perf_counter() - started, 2),
                                  "chunks": kb.status().chunks, "questions": len(held), "out_of_scope": len(oos)}
        result.update(retrieval(kb, held, oos))
        if not retrieval_only:
            result.update(answers(config, kb, held, oos, verbose))
            if v2 is not None and changes:
                result.update(policy_update(config, kb, v2, doc.name, changes, verbose))
    return result


def counts(result: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """The reported columns as (k, n) for one document's result."""
    graded = result.get("graded", [])
    n = len(graded)
    out = {key: (sum(bool(g[key]) for g in graded), n) for key in ("top_source", "final", "model", "extract")}
    out["wrong_refusals"] = (sum(g["refused"] for g in graded), n)
    out["oos_refused"] = (result.get("oos_refused", 0), result.get("oos_n", 0))
    out["garbage"] = (sum(g["garbage"] for g in graded) + result.get("oos_garbage", 0), n + result.get("oos_n", 0))
    out["v2_new"] = (result.get("v2_new", 0), result.get("v2_n", 0))
    if not graded:  # retrieval only: the top source is the first search hit
        out = {"top_source": (round(result["recall@1"] * result["questions"]), result["questions"])}
    return out


# --- the corpus -------------------------------------------------------------------------------
def corpus_documents(docs_dir: Path, out_dir: Path, split: str, only: list[str] | None) -> list[dict[str, Any]]:
    """Build every corpus document (and its version 2) into ``out_dir``; one entry per document."""
    sys.path.insert(0, str(docs_dir.parent))
    from build import build  # bench/corpus/build.py: renders DOCX/PDF, applies the v2 changes

    built = build(out_dir)
    halves = json.loads((docs_dir / "SPLIT.json").read_text())
    entries = []
    for half in HALVES:
        if split not in ("all", half) or half not in halves:
            continue
        for name in halves[half]:
            if only and name not in only:
                continue
            entries.append({"name": name, "split": half, "doc": built[name], "v2": built[f"{name}_v2"],
                            "held": docs_dir / name / "heldout.jsonl", "oos": docs_dir / name / "out_of_scope.jsonl",
                            "changes": docs_dir / name / "changes.jsonl"})
    return entries


def run_corpus(args: argparse.Namespace, config: AirbotConfig) -> dict[str, Any]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="airbot-corpus-") as tmp:
        for entry in corpus_documents(Path(args.corpus), Path(tmp), args.split, args.docs):
            if args.verbose:
                print(f"# {entry['name']} ({entry['split']})")
            result = evaluate_document(config, entry["doc"], read_jsonl(entry["held"], args.limit),
                                       read_jsonl(entry["oos"], args.limit), v2=entry["v2"],
                                       changes=read_jsonl(entry["changes"], args.limit),
                                       retrieval_only=args.retrieval_only, verbose=args.verbose)
            rows.append({"name": entry["name"], "split": entry["split"], "format": entry["doc"].suffix[1:],
                         **result, "counts": counts(result)})
    return {"rag": vars(config.rag), "documents": rows}


def print_corpus(result: dict[str, Any]) -> None:
    """One table per half of the split: a row per document and a total."""
    for half in HALVES:
        rows = [r for r in result["documents"] if r["split"] == half]
        if not rows:
            continue
        keys = [k for k in COLUMNS if k in rows[0]["counts"]]
        print(f"\n## {half}" + ("" if half == "tune" else "  (never tuned on: reported only)"))
        print(f"{'document':22s} {'fmt':4s} {'chunks':>6s} " + " ".join(f"{k:>14s}" for k in keys))
        totals = {k: [0, 0] for k in keys}
        for r in rows:
            cells = []
            for k in keys:
                got, n = r["counts"][k]
                totals[k][0] += got
                totals[k][1] += n
                cells.append(_cell(got, n))
            print(f"{r['name']:22s} {r['format']:4s} {r['chunks']:6d} " + " ".join(f"{c:>14s}" for c in cells))
        print(f"{'total':22s} {'':4s} {'':6s} " + " ".join(f"{_cell(*totals[k]):>14s}" for k in keys))


def _cell(got: int, n: int) -> str:
    return f"{got}/{n} {got / n:4.0%}" if n else "-"


# --- one document (shipped sample, fixtures, your own) ---------------------------------------
def run_single(args: argparse.Namespace, config: AirbotConfig) -> dict[str, Any]:
    if args.sample in SAMPLES:
        doc, folder = SAMPLES[args.sample]
        docs, held_path, oos_path = [doc], folder / "heldout.jsonl", folder / "out_of_scope.jsonl"
    else:
        docs = [Path(d) for d in args.doc or [sample_path("policy")]]
        held_path, oos_path = args.heldout or sample_path("heldout"), args.oos or sample_path("out_of_scope")
    shipped = not args.doc and args.sample == "airline"
    v2 = sample_path("policy_v2_pdf" if docs[0].suffix == ".pdf" else "policy_v2") if shipped else None
    changes = read_jsonl(sample_path("changes"), args.limit) if shipped and args.policy_change else None
    result = evaluate_document(config, docs[0], read_jsonl(Path(held_path), args.limit),
                               read_jsonl(Path(oos_path), args.limit), v2=v2, changes=changes,
                               retrieval_only=args.retrieval_only, verbose=args.verbose)
    return {"rag": vars(config.rag), **result, "counts": counts(result)}


def print_single(result: dict[str, Any]) -> None:
    for key, (got, n) in result["counts"].items():
        print(f"{key:26s} {_cell(got, n)}")
    for key in ("recall@1", "recall@3", "mean_latency_s", "update_s", "refusal_threshold", "retrieval_refused_in",
                "retrieval_refused_oos", "heldout_min_relevance", "oos_max_relevance", "index_s", "chunks"):
        if key in result:
            value = result[key]
            print(f"{key:26s} {value:.3f}" if isinstance(value, float) else f"{key:26s} {value}")
    for miss in result.get("misses", []):
        print(f"  retrieval miss: want {miss['clause']} got {miss['got']}  {miss['question'][:70]!r}")
    for g in result.get("graded", []):
        if not g["final"]:
            print(f"  answer wrong: want {g['facts']} ({g['clause']}, sources {g['sources']}) {g['flags']} "
                  f"got {g['answer'][:90]!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", default=None, metavar="DOCS_DIR",
                        help="Every document of a corpus (bench/corpus/docs): one row each, tune and never_tuned apart.")
    parser.add_argument("--split", default="all", choices=("all", *HALVES), help="--corpus: which part.")
    parser.add_argument("--docs", type=lambda s: s.split(","), default=None, help="--corpus: only these (comma list).")
    parser.add_argument("--sample", default="airline", choices=("airline", *SAMPLES),
                        help="A shipped document with its question sets (default: the airline policy).")
    parser.add_argument("--doc", action="append", help="Your own document to index (first one is used).")
    parser.add_argument("--heldout", type=Path, default=None, help="Held-out JSONL for --doc.")
    parser.add_argument("--oos", type=Path, default=None, help="Out-of-scope JSONL for --doc.")
    parser.add_argument("--config", default=None, help="YAML recipe to start from.")
    parser.add_argument("--set", action="append", default=[], help="Override, e.g. rag.top_k=5 (repeatable).")
    parser.add_argument("--limit", type=int, default=None, help="Only the first N questions of each set.")
    parser.add_argument("--retrieval-only", action="store_true", help="Skip generation (seconds instead of minutes).")
    parser.add_argument("--policy-change", action="store_true",
                        help="Airline: then replace the policy with its v2 (timed) and ask the changed questions.")
    parser.add_argument("--verbose", action="store_true", help="Print every answer.")
    parser.add_argument("--json", action="store_true", help="Print one JSON object instead of the tables.")
    args = parser.parse_args(argv)

    config = load_config(args.config, args.set)
    result = run_corpus(args, config) if args.corpus else run_single(args, config)
    if args.json:
        print(json.dumps(result, default=str))
    elif args.corpus:
        print_corpus(result)
    else:
        print_single(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
