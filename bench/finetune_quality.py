"""Fine-tuning quality: does the default recipe learn each Q&A set, and how far does it generalize?

Per set of the development corpus (``bench/corpus/qa``), in the tune and never-tuned halves of
``SPLIT.json``: train the default recipe on every pair (``data.heldout_fraction=0``), then

* trained right: the run's own "did it learn?" report (learned.json: every training question asked
  again, judged by ``airbot.text.judge`` against its reference answer),
* held-out right: the set's paraphrased questions (``heldout.jsonl``, never trained on) answered by
  the real fine-tuned bot (``make_bot('finetuned')``: merged adapter, fast decoding, loop guard) and
  judged strictly against their facts (every fact stated, no invented figure, no loop),
* time: training and wall seconds of the run, and the budget the default rule chose,
* forgetting: the run's probe (general questions) before vs after training.

Each set trains in a fresh process, one after the other (the 2-core box is shared)::

    .venv/bin/python bench/finetune_quality.py                          # every set, default recipe
    .venv/bin/python bench/finetune_quality.py --sets tune --set train.neftune_noise_alpha=5
    .venv/bin/python bench/finetune_quality.py --sets pizza,kennel --threads 1 --json
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, machine, parser, read_jsonl, run_worker, temp_home

CORPUS = ROOT / "bench" / "corpus" / "qa"
HALVES = ("tune", "never_tuned")
"""Sets named outside SPLIT.json (the shipped airline sample, a file) are reported as half 'other'."""


def split() -> dict[str, list[str]]:
    """SPLIT.json: which sets tune the recipe and which are only reported."""
    return {half: list(names) for half, names in json.loads((CORPUS / "SPLIT.json").read_text()).items()}


def pick_sets(spec: str) -> list[tuple[str, str]]:
    """(half, set) pairs for 'all', 'tune', 'never_tuned' or a comma list of set names."""
    halves = split()
    every = [(half, name) for half in HALVES for name in halves[half]]
    if spec == "all":
        return every
    if spec in halves:
        return [(spec, name) for name in halves[spec]]
    wanted = [s.strip() for s in spec.split(",") if s.strip()]
    known = {name: half for half, name in every}
    unknown = sorted(w for w in wanted if w not in known and w != "airline" and not Path(w).is_file())
    if unknown:
        raise SystemExit(f"unknown set(s) {', '.join(unknown)}; known: {', '.join(known)}, airline, or a file")
    return [(known.get(name, "other"), name) for name in wanted]


# --- the worker (one set, fresh process) --------------------------------------------------------
def heldout_right(run_dir: Path, config: Any, rows: list[dict[str, Any]]) -> tuple[int, list[dict[str, Any]]]:
    """Paraphrased questions answered by the real fine-tuned bot, judged strictly."""
    from airbot.bots.kinds import make_bot
    from airbot.text import judge

    bot = make_bot("finetuned", config, run_dir=run_dir)
    right, misses = 0, []
    for row in rows:
        answer = bot.answer(row["question"]).text
        verdict = judge(answer, row["facts"], evidence=[row["answer"]], question=row["question"])
        right += verdict.correct
        if not verdict.correct:
            misses.append({"question": row["question"], "answer": answer, "flags": verdict.flags})
    return right, misses


def set_files(name: str) -> tuple[Path, Path | None]:
    """(train file, held-out paraphrases or None) of a corpus set, or of any Q&A file given by path."""
    if (CORPUS / name / "train.jsonl").is_file():
        return CORPUS / name / "train.jsonl", CORPUS / name / "heldout.jsonl"
    if name == "airline":
        from airbot.samples import sample_path

        return sample_path("train"), sample_path("heldout")
    return Path(name), None


def follow_ups(run_dir: Path, config: Any, rows: list[dict[str, Any]], held: list[dict[str, Any]],
               pairs: int) -> dict[str, Any]:
    """A question asked as the second turn of a chat, after a trained question and the bot's own answer to it:
    right (strict) and repeats of the first answer, with the history sent in full vs not at all. The second
    question is another trained one ('trained') or a held-out paraphrase ('heldout')."""
    from airbot.bots.kinds import make_bot

    bot = make_bot("finetuned", config, run_dir=run_dir)
    step = max(1, len(rows) // pairs)
    firsts = [rows[i] for i in range(0, len(rows), step)][:pairs]
    said = [bot.answer(first["question"]).text for first in firsts]  # a first turn has no history
    out: dict[str, Any] = {"pairs": len(firsts)}
    for kind, pool in (("trained", rows), ("heldout", held)):
        # the second question asks about something else: repeating the first answer can never be right
        chosen = [(f, s, other) for k, (f, s) in enumerate(zip(firsts, said, strict=True))
                  if (other := _other_topic(f, pool, k)) is not None]
        for label, turns in (("full_history", None), ("no_history", 0)):
            bot.history_turns = turns
            right = repeats = 0
            for first, earlier, second in chosen:
                history = [{"role": "user", "content": first["question"]}, {"role": "assistant", "content": earlier}]
                text = bot.answer(second["question"], history).text
                right += _judged(text, second).correct
                repeats += text.strip() == earlier.strip()
            out[f"{kind}_{label}"] = {"right": right, "repeated_previous_answer": repeats}
    return out


def _other_topic(first: dict[str, Any], pool: list[dict[str, Any]], k: int) -> dict[str, Any] | None:
    """A row of ``pool`` (searched from a different place for each k) none of whose facts the first answer states."""
    from airbot.text import fact_present, key_figures

    for n in range(len(pool)):
        row = pool[(k * 7 + len(pool) // 2 + n) % len(pool)]
        facts = row.get("facts") or key_figures(row["answer"])
        if row["question"] != first["question"] and facts and not any(fact_present(f, first["answer"]) for f in facts):
            return row
    return None


def _judged(answer: str, row: dict[str, Any]) -> Any:
    """A trained row is judged against its answer's key figures, a held-out one against its facts."""
    from airbot.text import judge, key_figures

    facts = row.get("facts") or key_figures(row["answer"])
    return judge(answer, facts, evidence=[row["answer"]], question=row["question"])


def worker(name: str, overrides: list[str], keep: bool, trained_only: bool = False,
           pairs: int = 0, reuse: str = "") -> dict[str, Any]:
    from airbot.config import load_config
    from airbot.storage import read_json
    from airbot.train.finetune import RunResult, run_finetune

    config = load_config(overrides=["data.heldout_fraction=0", *overrides])
    started = time.time()
    train_file, heldout_file = set_files(name)
    if reuse:  # score a kept run again (the figures of its summary come from its status.json)
        run_dir = Path(reuse)
        result = RunResult(run_dir=run_dir, **{k: v for k, v in (read_json(run_dir / "status.json") or {})["summary"].items()
                                               if k in RunResult.__dataclass_fields__})
    else:
        run_dir = Path(tempfile.mkdtemp(prefix=f"fq-{name}-")) / "run"
        result = run_finetune(config, train_file, run_dir)
    learned = read_json(run_dir / "learned.json") or {}
    probe = read_json(run_dir / "probe.json") or {}
    trained = load_config(run_dir / "config.yaml").train
    held_rows = read_jsonl(heldout_file) if heldout_file and not trained_only else []
    held, misses = heldout_right(run_dir, config, held_rows) if held_rows else (0, [])
    return {"set": name, "pairs": len(read_jsonl(train_file)), "trained_right": learned.get("trained", {}).get("right"),
            "trained_total": learned.get("trained", {}).get("total"), "heldout_right": held,
            "heldout_total": len(held_rows), "train_s": result.train_s, "wall_s": result.wall_s,
            "bench_s": round(time.time() - started, 1), "steps": result.steps, "epochs": trained.epochs,
            "learning_rate": trained.learning_rate, "tokens_per_s": result.tokens_per_s, "final_loss": result.train_loss,
            "probe_before": probe.get("score_before"), "probe_after": probe.get("score_after"),
            "trained_misses": learned.get("trained", {}).get("misses", [])[:10], "heldout_misses": misses[:10],
            "follow_ups": follow_ups(run_dir, config, read_jsonl(train_file), read_jsonl(heldout_file) if heldout_file
                                     else [], pairs) if pairs else None,
            "run_dir": str(run_dir) if keep else None}


# --- the table -------------------------------------------------------------------------------------
def frac(right: int | None, total: int | None) -> str:
    return "n/a" if right is None or not total else f"{right}/{total} ({100 * right / total:.0f}%)"


def totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Summed right/total per column, and the worst set's trained share (the target is per set)."""
    keys = ("trained_right", "trained_total", "heldout_right", "heldout_total")
    out: dict[str, Any] = {k: sum(r[k] or 0 for r in rows) for k in keys}
    shares = [r["trained_right"] / r["trained_total"] for r in rows if r["trained_total"]]
    out["worst_trained_share"] = round(min(shares), 4) if shares else None
    out["train_s"] = round(sum(r["train_s"] for r in rows), 1)
    probes = [(r["probe_before"], r["probe_after"]) for r in rows if r["probe_before"] is not None]
    out["probe_drop_max"] = round(max(b - a for b, a in probes), 4) if probes else None
    return out


def print_table(results: dict[str, list[dict[str, Any]]], overrides: list[str]) -> None:
    info = machine()
    print(f"# finetune quality  [cpus={info['cpus']} load={info['load_1min']}]  overrides: {' '.join(overrides) or '(none)'}")
    print(f"{'half':<12} {'set':<16} {'pairs':>5} {'budget':>16} {'trained right':>16} {'held-out right':>16} "
          f"{'train s':>8} {'wall s':>7} {'probe base→ft':>14}")
    for half, rows in results.items():
        for r in rows:
            budget = f"{r['epochs']:g} ep, {r['steps']} st"
            probe = f"{r['probe_before']}→{r['probe_after']}"
            print(f"{half:<12} {r['set']:<16} {r['pairs']:>5} {budget:>16} "
                  f"{frac(r['trained_right'], r['trained_total']):>16} {frac(r['heldout_right'], r['heldout_total']):>16} "
                  f"{r['train_s']:>8.1f} {r['wall_s']:>7.1f} {probe:>14}")
        for r in rows:
            if f := r.get("follow_ups"):
                print(f"{'':<12} {r['set']:<16} follow-ups ({f['pairs']}): " + ", ".join(
                    f"{k.replace('_', ' ')} {v['right']}/{f['pairs']} right, {v['repeated_previous_answer']} repeats"
                    for k, v in f.items() if k != "pairs"))
        t = totals(rows)
        print(f"{half:<12} {'(all)':<16} {'':>5} {'':>16} {frac(t['trained_right'], t['trained_total']):>16} "
              f"{frac(t['heldout_right'], t['heldout_total']):>16} {t['train_s']:>8.1f}   worst set trained "
              f"{t['worst_trained_share']}, largest probe drop {t['probe_drop_max']}")


def main() -> None:
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--sets", default="all", help="all | tune | never_tuned | a comma list of set names.")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="Config override for every run, e.g. train.lora_r=32 (repeatable).")
    p.add_argument("--threads", type=int, default=0, help="train.threads for every run (0: what the load leaves).")
    p.add_argument("--keep", action="store_true", help="Keep the run folders (their paths are in --json).")
    p.add_argument("--trained-only", action="store_true",
                   help="Skip the held-out paraphrases (budget sweeps: only the trained questions count).")
    p.add_argument("--follow-ups", type=int, default=0, metavar="N",
                   help="Also ask N trained questions as a chat's second turn, with and without the first turn.")
    p.add_argument("--reuse", default="", metavar="RUN_DIR",
                   help="With one set: score this kept run (--keep) again instead of training.")
    p.add_argument("--worker", default=None, help=_hidden())
    args = p.parse_args()
    temp_home("airbot-bench-fq-")
    overrides = [*args.set, *([f"train.threads={args.threads}"] if args.threads else [])]
    if args.worker:
        print(json.dumps(worker(args.worker, overrides, args.keep, args.trained_only, args.follow_ups, args.reuse)))
        return
    results: dict[str, list[dict[str, Any]]] = {}
    for half, name in pick_sets(args.sets):
        print(f"  training: {name} ({half})", file=sys.stderr)
        cmd = ["--worker", name, *[a for o in args.set for a in ("--set", o)], "--threads", str(args.threads),
               *(["--keep"] if args.keep else []), *(["--trained-only"] if args.trained_only else []),
               "--follow-ups", str(args.follow_ups), *(["--reuse", args.reuse] if args.reuse else [])]
        results.setdefault(half, []).append(run_worker(Path(__file__), cmd, timeout=7200))
    print_table(results, overrides)
    if args.json:
        print(json.dumps({"bench": "finetune_quality", "machine": machine(), "overrides": overrides,
                          "sets": results, "totals": {h: totals(rows) for h, rows in results.items()}}))


def _hidden() -> str:
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    main()
