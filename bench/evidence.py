"""The whole evidence run on the shipped sample, through the CLI a user would type.

Indexes the policy, trains the default recipe (QLoRA) and the RAFT recipe (for the hybrid
bot), asks the fine-tuned bot 10 training questions and 10 held-out paraphrases, then evaluates
base, fine-tuned, RAG and hybrid on the held-out and out-of-scope sets with the policy-change
test. Prints one line per figure; ``--json`` adds one JSON line. Every step is a
``python -m airbot ...`` subprocess in a throw-away AIRBOT_HOME, so the figures are what the
CLI gives, and each step's peak memory is its own::

    .venv/bin/python bench/evidence.py                    # ~10-20 min on 2 cores
    .venv/bin/python bench/evidence.py --limit 10 --set train.max_steps=10   # a quick look
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ROOT, machine, parser, peak_rss_mb, read_jsonl, temp_home

from airbot.samples import sample_path
from airbot.text import fact_present

FIGURE = re.compile(r"(?:USD|EUR|GBP|[$€£])?\s?\d+(?:[.,]\d+)?\s?(?:kg|cm|%|hours?|days?|minutes?|months?|years?)?",
                    re.IGNORECASE)


def cli(*args: str, timeout: float = 3600) -> tuple[str, float, float]:
    """Run ``python -m airbot ARGS``: (stdout, seconds, the child's peak RSS in MB so far)."""
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "airbot", *args], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                          timeout=timeout)
    if proc.returncode != 0:
        raise SystemExit(f"python -m airbot {' '.join(args)} failed (exit {proc.returncode})")
    return proc.stdout, time.perf_counter() - started, peak_rss_mb(children=True)


def key_figures(answer: str) -> list[str]:
    """A training answer's key facts: its figures (amounts, weights, durations)."""
    return [m.group(0).strip() for m in FIGURE.finditer(answer) if any(c.isdigit() for c in m.group(0))]


def train(run_dir: Path, recipe: str, overrides: list[str]) -> dict[str, Any]:
    """Train one recipe; the figures its status.json holds, plus the wall time of the command."""
    sets = [x for o in overrides for x in ("--set", o)]
    _, wall, _ = cli("train", "--config", recipe, "--out", str(run_dir), "--no-progress", *sets)
    summary = json.loads((run_dir / "status.json").read_text()).get("summary") or {}
    return {"wall_s": round(wall, 1), **{k: summary.get(k) for k in
            ("train_s", "tokens_per_s", "train_tokens", "train_rows", "peak_rss_mb", "train_loss", "eval_loss", "steps")}}


def fact_counts(run: Path, rows: list[dict[str, Any]], home: Path) -> dict[str, Any]:
    """How many answers of the fine-tuned bot hold every key fact."""
    qfile = home / f"questions-{len(rows)}.jsonl"
    qfile.write_text("".join(json.dumps({"question": r["question"]}) + "\n" for r in rows))
    out, _, _ = cli("ask", "--bot", "finetuned", "--run", str(run), "--questions", str(qfile), "--json")
    answers = [json.loads(line)["answer"] for line in out.splitlines() if line.startswith("{")]
    hits = [all(fact_present(f, a) for f in r["facts"]) for r, a in zip(rows, answers, strict=True)]
    return {"correct": sum(hits), "n": len(rows), "examples": [{"q": r["question"], "facts": r["facts"], "answer": a}
                                                                for r, a in zip(rows[:3], answers, strict=False)]}


def evaluate(run: Path, bots: str, limit: int | None) -> dict[str, Any]:
    """One ``eval --policy-change --json``: per-bot aggregates and policy-change counts."""
    extra = ["--limit", str(limit)] if limit else []
    out, wall, _ = cli("eval", "--run", str(run), "--index", "airline", "--bots", bots, "--policy-change", "--json", *extra)
    report = json.loads(next(line for line in out.splitlines() if line.startswith("{")))
    report["wall_s"] = round(wall, 1)
    return report


def bot_line(name: str, agg: dict[str, Any], change: dict[str, int] | None) -> str:
    ci = agg.get("fact_accuracy_ci") or []
    ci_text = f" [{ci[0]:.2f}-{ci[1]:.2f}]" if len(ci) == 2 else ""
    moved = f", policy change new/old/neither {change['new']}/{change['old']}/{change['neither']}" if change else ""
    return (f"{name}: fact accuracy {agg.get('fact_accuracy')}{ci_text}, similarity {agg.get('similarity')}, "
            f"refusal accuracy {agg.get('refusal_accuracy')}, mean latency {agg.get('mean_latency_s')} s{moved}")


def main() -> None:
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--limit", type=int, default=None, help="At most N questions per evaluation set.")
    p.add_argument("--set", dest="overrides", action="append", default=[], help="Override for both trainings.")
    args = p.parse_args()
    home = temp_home("airbot-evidence-")
    started = time.perf_counter()
    _, index_s, _ = cli("index", str(sample_path("policy_pdf")), "--out", "airline")
    runs = home / "runs"
    qlora = train(runs / "qlora", "configs/airline-qlora.yaml", args.overrides)
    train_rows = [{"question": r["question"], "facts": key_figures(r["answer"])}
                  for r in read_jsonl(sample_path("train")) if key_figures(r["answer"])][:10]
    seen = fact_counts(runs / "qlora", train_rows, home)
    unseen = fact_counts(runs / "qlora", read_jsonl(sample_path("heldout"), 10), home)
    raft = train(runs / "raft", "configs/airline-raft.yaml", args.overrides)
    plain = evaluate(runs / "qlora", "base,finetuned,rag", args.limit)
    hybrid = evaluate(runs / "raft", "finetuned,hybrid", args.limit)
    result = {"machine": machine(), "index_s": round(index_s, 1), "train_qlora": qlora, "train_raft": raft,
              "finetuned_training_questions": seen, "finetuned_heldout_questions": unseen,
              "eval_plain": {k: plain.get(k) for k in ("bots", "policy_change", "rag_update_s", "retrain_s", "wall_s")},
              "eval_raft": {k: hybrid.get(k) for k in ("bots", "policy_change", "rag_update_s", "retrain_s", "wall_s")},
              "total_s": round(time.perf_counter() - started, 1)}
    print_result(result)
    if args.json:
        print(json.dumps(result))


def print_result(r: dict[str, Any]) -> None:
    info = r["machine"]
    print(f"# evidence on the shipped sample  [cpus={info['cpus']} load={info['load_1min']}]")
    print(f"index build: {r['index_s']} s")
    for name in ("train_qlora", "train_raft"):
        t = r[name]
        print(f"{name}: wall {t['wall_s']} s, training {t['train_s']} s, {t['tokens_per_s']} tok/s, "
              f"{t['train_tokens']} tokens, peak RSS {t['peak_rss_mb']} MB, train loss {t['train_loss']}, {t['train_rows']} rows")
    for name in ("finetuned_training_questions", "finetuned_heldout_questions"):
        print(f"{name}: {r[name]['correct']}/{r[name]['n']} answers hold every key fact")
    for group, label in (("eval_plain", "qlora run"), ("eval_raft", "raft run")):
        e = r[group]
        for bot, agg in (e["bots"] or {}).items():
            print(bot_line(f"{bot} ({label})", agg, (e.get("policy_change") or {}).get(bot)))
        print(f"{group}: wall {e['wall_s']} s, RAG update {e.get('rag_update_s')} s vs retrain {e.get('retrain_s')} s")
    print(f"total: {r['total_s']} s")


if __name__ == "__main__":
    main()
