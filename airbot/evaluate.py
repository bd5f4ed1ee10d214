"""Score bots on held-out questions, out-of-scope questions and the forgetting probe, and save
the evidence the decision guide reads.

    python -m airbot eval --run RUN_DIR --index INDEX_DIR --data airbot/samples/airline_heldout.jsonl --json
    python -c "from airbot.evaluate import evaluate; ..."   # the same function the Evaluate tab calls

Results go to ``AIRBOT_HOME/evals/<name>/`` (``eval.json`` with per-bot aggregates, and
``questions.jsonl`` with every scored answer) and, when a run is evaluated, into
``RUN_DIR/evals/<name>/`` as well, so the run carries its own evidence. The held-out sets are
small (tens of questions), so every share comes with a 95% Wilson interval and every mean with
a Student-t interval; the output says so in ``note``.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from airbot import metrics
from airbot.config import AirbotConfig, airbot_home, config_to_dict
from airbot.errors import AirbotError, DataError
from airbot.eval_sets import (
    EvalItem,
    Kind,
    heldout_rows_of_training_file,
    parse_facts,
    read_heldout,
    read_questions,
)

OutOfScope = Literal["sample", "none"]
Progress = Callable[[float, str], None]
BOT_KINDS = ("base", "finetuned", "rag", "hybrid")
RETRIEVAL_BOTS = ("rag", "hybrid")
SMALL_SET_NOTE = ("Small sets: each figure comes from {n} held-out question(s) per bot, so read the 95% intervals "
                  "(Wilson for shares, Student-t for means), not the point values; overlapping intervals mean the "
                  "difference is not established.")


@dataclass
class QuestionResult:
    """One bot's answer to one question, with every score that applies (None where none does)."""

    bot: str
    kind: Kind
    question: str
    answer: str
    reference: str
    facts: list[str]
    facts_ok: bool | None
    fact_share: float | None
    similarity: float | None
    rouge_l: float | None
    refused: bool
    clause: str | None
    clause_ok: bool | None
    sources: list[str]
    latency: float
    ttft_s: float | None
    retrieval_s: float | None
    tokens_per_s: float | None
    where: str = ""


@dataclass
class EvalReport:
    """Everything an evaluation measured; ``to_dict`` is the eval.json contract."""

    name: str
    bots: dict[str, dict[str, Any]]
    questions: list[QuestionResult]
    settings: dict[str, Any]
    wall_s: float
    partial: bool = False
    forgetting: dict[str, Any] | None = None
    policy: dict[str, Any] | None = None
    out_dir: Path | None = None

    def to_dict(self, questions: bool = False) -> dict[str, Any]:
        """eval.json: what ``airbot.guide.Evidence.from_eval_json`` reads, plus the details."""
        n = max((b.get("n", 0) for b in self.bots.values()), default=0)
        out: dict[str, Any] = {"name": self.name, "created": self.settings.get("created"),
                               "note": SMALL_SET_NOTE.format(n=n), "bots": self.bots,
                               "forgetting": self.forgetting, "settings": self.settings,
                               "wall_s": self.wall_s, "partial": self.partial}
        if self.policy:
            out.update(self.policy)
        if questions:
            out["questions"] = [asdict(q) for q in self.questions]
        return out


# --- running the bots ----------------------------------------------------------------------------
def ask(bot: Any, name: str, item: EvalItem) -> QuestionResult:
    """Ask one question and record the answer with its timings; scores are filled in later."""
    started = time.perf_counter()
    answer = bot.answer(item.question)
    wall = time.perf_counter() - started
    timings = _get(answer, "timings")
    sources = list(_get(answer, "sources") or [])
    refused = metrics.is_refusal(str(_get(answer, "text") or ""), bool(_get(answer, "refused")))
    clause_ok = metrics.clause_correct(item.clause, sources)
    if clause_ok is None and item.clause and name in RETRIEVAL_BOTS:
        clause_ok = False  # a retrieval bot that came back with nothing missed the clause
    return QuestionResult(
        bot=name, kind=item.kind, question=item.question, answer=str(_get(answer, "text") or ""),
        reference=item.reference, facts=item.facts, facts_ok=None, fact_share=None, similarity=None, rouge_l=None,
        refused=refused, clause=item.clause, clause_ok=clause_ok,
        sources=[c for c in (metrics.source_clause(s) for s in sources) if c], where=item.where,
        latency=round(_num(_get(timings, "total_s")) or wall, 3), ttft_s=_num(_get(timings, "ttft_s")),
        retrieval_s=_num(_get(timings, "retrieval_s")), tokens_per_s=_num(_get(timings, "tokens_per_s")))


def score(results: list[QuestionResult], embed: Callable[[list[str]], Any] | None) -> None:
    """Fill in facts, ROUGE-L and (one batched embedder call) similarity for the answered questions."""
    scored = [r for r in results if r.reference or r.facts]
    for r in scored:
        share = metrics.fact_share(r.facts, r.answer)
        r.fact_share = None if share is None else round(share, 4)
        r.facts_ok = None if share is None else share == 1.0
        r.rouge_l = round(metrics.rouge_l(r.answer, r.reference), 4) if r.reference else None
    with_ref = [r for r in scored if r.reference]
    if embed is not None and with_ref:
        sims = metrics.cosine_similarities([r.answer for r in with_ref], [r.reference for r in with_ref], embed)
        for r, s in zip(with_ref, sims, strict=True):
            r.similarity = s


def _get(obj: Any, key: str) -> Any:
    if obj is None:
        return None
    return obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)


def _num(value: Any) -> float | None:
    return round(float(value), 4) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


# --- aggregates ----------------------------------------------------------------------------------
def summarize(bot: str, results: list[QuestionResult]) -> dict[str, Any]:
    """One bot's figures: shares with Wilson intervals, means with t intervals, counts beside them."""
    held = [r for r in results if r.kind == "heldout"]
    oos = [r for r in results if r.kind == "out_of_scope"]
    probe = [r for r in results if r.kind == "probe"]
    facts = metrics.proportion([r.facts_ok for r in held])
    refusal = metrics.proportion([r.refused for r in oos])
    false_refusal = metrics.proportion([r.refused for r in held])
    clause = metrics.proportion([r.clause_ok for r in held])
    latencies = [r.latency for r in held]  # the same questions for every bot; instant refusals would flatter RAG
    return {
        "n": len(held), "fact_accuracy": facts.value, "fact_accuracy_ci": facts.ci, "fact_n": facts.n,
        "facts_correct": facts.k,
        "similarity": metrics.mean_or_none([r.similarity for r in held]),
        "similarity_ci": metrics.mean_interval([r.similarity for r in held if r.similarity is not None]),
        "rouge_l": metrics.mean_or_none([r.rouge_l for r in held]),
        "rouge_l_ci": metrics.mean_interval([r.rouge_l for r in held if r.rouge_l is not None]),
        "refusal_accuracy": refusal.value, "refusal_accuracy_ci": refusal.ci, "refusal_n": refusal.n,
        "false_refusal_rate": false_refusal.value,
        "clause_accuracy": clause.value, "clause_accuracy_ci": clause.ci, "clause_n": clause.n,
        "mean_latency_s": metrics.mean_or_none(latencies), "latency_ci": metrics.mean_interval(latencies),
        "p90_latency_s": _percentile(latencies, 90),
        "mean_ttft_s": metrics.mean_or_none([r.ttft_s for r in held]),
        "mean_retrieval_s": metrics.mean_or_none([r.retrieval_s for r in held]),
        "tokens_per_s": metrics.mean_or_none([r.tokens_per_s for r in held]),
        "probe_fact_rate": metrics.mean_or_none([r.fact_share for r in probe]), "probe_n": len(probe),
        "bot": bot,
    }


def _percentile(values: list[float], q: float) -> float | None:
    import numpy as np

    return round(float(np.percentile(values, q)), 3) if values else None


def forgetting(results: list[QuestionResult]) -> dict[str, Any] | None:
    """Did fine-tuning damage general knowledge? Base vs fine-tuned fact rate on the probe."""
    def rate(bot: str) -> float | None:
        return metrics.mean_or_none([r.fact_share for r in results if r.bot == bot and r.kind == "probe"])

    base, tuned = rate("base"), rate("finetuned")
    if base is None or tuned is None:
        return None
    drop = round(base - tuned, 4)
    verdict = ("no sign of forgetting" if drop <= 0 else
               f"the fine-tuned bot lost {round(drop * 100)} points of general knowledge")
    n = sum(1 for r in results if r.bot == "finetuned" and r.kind == "probe")
    return {"base": base, "finetuned": tuned, "drop": drop, "n": n,
            "summary": f"General-knowledge probe: base {round(base * 100)}%, fine-tuned {round(tuned * 100)}%: "
                       f"{verdict}."}


# --- the evaluation ------------------------------------------------------------------------------
@dataclass
class Plan:
    """What each bot is asked: held-out for all, out-of-scope for all, the probe for base/fine-tuned."""

    heldout: list[EvalItem]
    out_of_scope: list[EvalItem]
    probe: list[EvalItem]
    split: str

    def items_for(self, bot: str) -> list[EvalItem]:
        probe = self.probe if bot in ("base", "finetuned") else []
        return [*self.heldout, *self.out_of_scope, *probe]

    def jobs(self, bots: list[str]) -> list[tuple[str, list[EvalItem]]]:
        """(bot, questions) in order; the base model answers the probe even when it is not
        compared, because forgetting is measured against it."""
        jobs = [(b, self.items_for(b)) for b in bots]
        if self.probe and "base" not in bots:
            jobs.append(("base", self.probe))
        return jobs


def make_plan(bots: list[str], data: Path, config: AirbotConfig, run_dir: Path | None, *,
              out_of_scope: Path | OutOfScope, probe: bool, limit: int | None) -> Plan:
    """Read every question set once, before any model loads, so a bad file fails in a second."""
    from airbot.samples import sample_path

    heldout, split = heldout_rows_of_training_file(data, run_dir, read_heldout(data), config)
    heldout = heldout[:limit] if limit else heldout
    if not heldout:
        why = (" held out by the run's split: it is the file the run trained on, and scoring trained rows measures "
               "memory. Pass a separate held-out file with --data") if split != "whole file" else ""
        raise DataError(f"{data} has no question/answer rows{why or ' to evaluate'}.")
    oos_path = sample_path("out_of_scope") if out_of_scope == "sample" else out_of_scope
    oos = read_questions(Path(oos_path), "out_of_scope", limit) if oos_path != "none" else []
    probe_items = []
    if probe and "finetuned" in bots:
        from airbot.probe import PROBE_FILE, load_probe

        probe_items = [EvalItem("probe", r["question"], str(r.get("answer", "")), parse_facts(r["facts"]))
                       for r in load_probe(PROBE_FILE, limit or 8)]
    return Plan(heldout, oos, probe_items, split)


def check_bots(bots: Sequence[str], run_dir: Path | None, index: Any) -> list[str]:
    """Known bot names, with the run/index each one needs; every problem in one error."""
    names = [b.strip().lower() for b in bots if b.strip()]
    problems = [f"unknown bot '{b}' (choose from {', '.join(BOT_KINDS)})" for b in names if b not in BOT_KINDS]
    if any(b in ("finetuned", "hybrid") for b in names) and run_dir is None:
        problems.append("the finetuned and hybrid bots need a fine-tuning run (--run RUN_DIR)")
    if any(b in RETRIEVAL_BOTS for b in names) and index is None:
        problems.append("the rag and hybrid bots need a document index (--index INDEX_DIR)")
    if not names:
        problems.append("no bots chosen; pick at least one of " + ", ".join(BOT_KINDS))
    if problems:  # one line, so the CLI's error stays one line
        raise AirbotError("Cannot evaluate: " + "; ".join(problems) + ".", problems)
    return list(dict.fromkeys(names))


def evaluate(bots: list[str], data: Path, config: AirbotConfig, run_dir: Path | None = None,
             index: Any = None, out_dir: Path | None = None, progress: Progress | None = None,
             should_stop: Callable[[], bool] | None = None, *, out_of_scope: Path | OutOfScope = "sample",
             limit: int | None = None, probe: bool = True, name: str | None = None,
             policy: dict[str, Any] | None = None) -> EvalReport:
    """Ask every bot every question, score the answers, aggregate per bot and save the results.

    ``out_of_scope`` is a question file, ``"sample"`` (the shipped one) or ``"none"``. ``should_stop``
    ends the run between questions; what was answered is still scored and saved (``partial``).
    ``policy`` is a finished policy-change result to store beside the scores in eval.json.
    """
    started = time.time()
    say = progress or (lambda _f, _m: None)
    names = check_bots(bots, run_dir, index)
    data = Path(data)
    plan = make_plan(names, data, config, run_dir, out_of_scope=out_of_scope, probe=probe, limit=limit)
    kb = open_index(index, config) if any(b in RETRIEVAL_BOTS for b in names) else None
    results, partial = _run_all(names, plan, config, run_dir, kb, say, should_stop)
    say(0.97, "scoring answers")
    score(results, _embedder(config))
    summaries = {b: summarize(b, [r for r in results if r.bot == b]) for b in names}
    settings = {"created": time.strftime("%Y-%m-%dT%H:%M:%S"), "data": str(data), "split": plan.split,
                "out_of_scope": str(out_of_scope), "run": str(run_dir) if run_dir else None,
                "index": str(kb.root) if kb else None, "limit": limit, "config": _eval_settings(config)}
    report = EvalReport(name or _default_name(run_dir), summaries, results, settings, round(time.time() - started, 2),
                        partial, forgetting(results), policy)
    report.out_dir = save_report(report, out_dir, run_dir)
    say(1.0, f"saved to {report.out_dir}")
    return report


def _run_all(names: list[str], plan: Plan, config: AirbotConfig, run_dir: Path | None, kb: Any, say: Progress,
             should_stop: Callable[[], bool] | None) -> tuple[list[QuestionResult], bool]:
    """Each bot in turn over its questions; progress counts questions, not bots."""
    jobs = plan.jobs(names)
    total = sum(len(items) for _, items in jobs)
    done, results = 0, []
    for bot_name, items in jobs:
        say(done / total * 0.95, f"loading the {bot_name} bot")
        bot = build_bot(bot_name, config, run_dir, kb)
        for item in items:
            if should_stop and should_stop():
                return results, True
            results.append(ask(bot, bot_name, item))
            done += 1
            say(done / total * 0.95, f"{bot_name}: {done}/{total} answers")
    return results, False


def build_bot(kind: str, config: AirbotConfig, run_dir: Path | None, kb: Any) -> Any:
    """The same bots the Chat tab uses, so the scores describe what a user talks to."""
    from airbot.bots import make_bot

    return make_bot(kind, config, run_dir=run_dir if kind in ("finetuned", "hybrid") else None,
                    index=kb if kind in RETRIEVAL_BOTS else None)


def open_index(index: Any, config: AirbotConfig) -> Any:
    """An open KnowledgeBase from a name, a folder or an already open one."""
    from airbot.knowledge import KnowledgeBase

    if isinstance(index, KnowledgeBase):
        return index
    return KnowledgeBase.open(index, rag=config.rag, embedder=config.model.embedder)


def _embedder(config: AirbotConfig) -> Callable[[list[str]], Any]:
    def embed(texts: list[str]) -> Any:
        from airbot.models import shared_embedder

        return shared_embedder(config.model.embedder, config.model.device).encode(
            texts, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
    return embed


def _eval_settings(config: AirbotConfig) -> dict[str, Any]:
    """The settings that shape answers (decoding, retrieval, models), for a fair replay."""
    full = config_to_dict(config)
    return {k: full[k] for k in ("model", "rag", "chat")}


def _default_name(run_dir: Path | None) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return f"{run_dir.name}-{stamp}" if run_dir else f"eval-{stamp}"


# --- saving --------------------------------------------------------------------------------------
def evals_root() -> Path:
    """Where evaluations live; the guide tab lists ``evals/*/eval.json`` from here."""
    root = airbot_home() / "evals"
    root.mkdir(parents=True, exist_ok=True)
    return root


def save_report(report: EvalReport, out_dir: Path | None = None, run_dir: Path | None = None) -> Path:
    """eval.json + questions.jsonl under ``out_dir`` (default ``AIRBOT_HOME/evals/<name>``), and
    a copy under ``RUN_DIR/evals/<name>`` so a run carries its evidence with it."""
    from airbot.runs import write_json

    target = Path(out_dir) if out_dir else evals_root() / _safe(report.name)
    target.mkdir(parents=True, exist_ok=True)
    write_json(target / "eval.json", report.to_dict())
    lines = "".join(json.dumps(asdict(q), ensure_ascii=False) + "\n" for q in report.questions)
    tmp = target / ".questions.jsonl.tmp"
    tmp.write_text(lines, encoding="utf-8")
    tmp.replace(target / "questions.jsonl")
    if run_dir is not None and Path(run_dir).is_dir() and Path(run_dir).resolve() not in target.resolve().parents:
        copy = Path(run_dir) / "evals" / target.name
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(target, copy)
    return target


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "eval"


def load_report(path: Path | str) -> dict[str, Any]:
    """An eval.json (or its folder) with its questions, as the UI shows it."""
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    obj = json.loads((folder / "eval.json").read_text())
    qfile = folder / "questions.jsonl"
    obj["questions"] = [json.loads(x) for x in qfile.read_text().splitlines() if x.strip()] if qfile.is_file() else []
    return obj


def list_evaluations() -> list[Path]:
    """Saved evaluations, newest first."""
    return sorted(evals_root().glob("*/eval.json"), key=lambda p: p.stat().st_mtime, reverse=True)


# --- helpers shared by the CLI and the Evaluate tab ---------------------------------------------
def eval_config(run_dir: Path | None, config_path: str | None = None, overrides: list[str] | None = None) -> AirbotConfig:
    """The settings bots answer with: an explicit recipe, else the run's own config.yaml (so the
    fine-tuned bot is scored as it was trained), else the defaults; then ``--set`` overrides."""
    from airbot.config import load_config

    if config_path is None and run_dir is not None and (Path(run_dir) / "config.yaml").is_file():
        config_path = str(Path(run_dir) / "config.yaml")
    return load_config(config_path, overrides)


def default_bots(run_dir: Path | None, index: Any) -> list[str]:
    """Every bot the given inputs allow: fine-tuned with a run, RAG with an index, hybrid with both."""
    bots = (["finetuned"] if run_dir else []) + (["rag"] if index else []) + (["hybrid"] if run_dir and index else [])
    return bots or ["base"]


def format_table(report: dict[str, Any]) -> str:
    """A plain-text table of the per-bot figures, with the small-sample note under it."""
    def pct(value: Any, ci: Any = None) -> str:
        if value is None:
            return "-"
        return f"{value * 100:.0f}%" + (f" [{ci[0] * 100:.0f}-{ci[1] * 100:.0f}]" if ci else "")

    head = f"{'bot':<10} {'n':>3} {'facts (95% CI)':>16} {'similar':>8} {'ROUGE-L':>8} {'refusals':>9} " \
           f"{'clause':>7} {'latency':>8}"
    lines = [head, "-" * len(head)]
    for name, b in report["bots"].items():
        sim = "-" if b.get("similarity") is None else f"{b['similarity']:.2f}"
        rouge = "-" if b.get("rouge_l") is None else f"{b['rouge_l']:.2f}"
        lat = "-" if b.get("mean_latency_s") is None else f"{b['mean_latency_s']:.2f}s"
        lines.append(f"{name:<10} {b['n']:>3} {pct(b['fact_accuracy'], b.get('fact_accuracy_ci')):>16} {sim:>8} "
                     f"{rouge:>8} {pct(b.get('refusal_accuracy')):>9} {pct(b.get('clause_accuracy')):>7} {lat:>8}")
    if report.get("forgetting"):
        lines.append(report["forgetting"]["summary"])
    lines.append(report.get("note", ""))
    return "\n".join(lines)


def merge_policy(target: Path, policy: dict[str, Any]) -> Path:
    """Store a policy-change result in an existing eval.json, so the guide sees both together."""
    from airbot.runs import read_json, write_json

    path = target / "eval.json" if target.is_dir() else target
    obj = read_json(path)
    if obj is None:
        raise AirbotError(f"{path} is not an evaluation's eval.json; run `python -m airbot eval` first.")
    write_json(path, {**obj, **policy})
    return path
