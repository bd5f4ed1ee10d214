"""Score bots on held-out questions, out-of-scope questions and the forgetting probe, and save
the evidence the decision guide reads.

    python -m airbot eval --run RUN_DIR --index INDEX_DIR --data airbot/samples/airline_heldout.jsonl --json
    python -c "from airbot.evaluate.runner import evaluate; ..."   # the same function the Evaluate tab calls

Results go to ``AIRBOT_HOME/evals/<name>/`` (``eval.json`` with per-bot aggregates, and
``questions.jsonl`` with every scored answer) and, when a run is evaluated, into
``RUN_DIR/evals/<name>/`` as well, so the run carries its own evidence. The held-out sets are
small (tens of questions), so every share comes with a 95% Wilson interval and every mean with
a Student-t interval; the output says so in ``note``.

This module plans and runs an evaluation (which bot answers what, in what order) and holds the
helpers the CLI and the Evaluate tab share; scoring and per-bot aggregates are
``airbot.evaluate.scoring``, the saved report (eval.json, the table, merging a policy change) is
``airbot.evaluate.report``, and reading the question sets is ``airbot.evaluate.questions``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from airbot.config import ADAPTER_BOTS, BOT_KINDS, RETRIEVAL_BOTS, AirbotConfig, config_to_dict
from airbot.errors import AirbotError, DataError
from airbot.evaluate.questions import (
    EvalItem,
    heldout_rows_of_training_file,
    parse_facts,
    read_heldout,
    read_questions,
)
from airbot.evaluate.report import EvalReport, save_report
from airbot.evaluate.scoring import QuestionResult, ask, forgetting, score, summarize

if TYPE_CHECKING:
    from airbot.bots.kinds import Bot
    from airbot.knowledge.index import KnowledgeBase

OutOfScope = Literal["general", "sample", "none"]
"""general: domain-free questions no policy answers (the default); sample: the airline example's own."""
Progress = Callable[[float, str], None]


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
        raise DataError(f"{data.name} has no questions{why or ' to evaluate'}.")
    named = {"general": "general_out_of_scope", "sample": "out_of_scope"}
    oos_path = sample_path(named[out_of_scope]) if out_of_scope in named else out_of_scope
    oos = read_questions(Path(oos_path), "out_of_scope", limit) if oos_path != "none" else []
    probe_items = []
    if probe and "finetuned" in bots:
        from airbot.train.probe import PROBE_FILE, load_probe

        probe_items = [EvalItem("probe", r["question"], str(r.get("answer", "")), parse_facts(r["facts"]))
                       for r in load_probe(PROBE_FILE, limit or 8)]
    return Plan(heldout, oos, probe_items, split)


def check_bots(bots: Sequence[str], run_dir: Path | None, index: KnowledgeBase | str | Path | None) -> list[str]:
    """Known bot names, with the run/index each one needs; every problem in one error."""
    names = [b.strip().lower() for b in bots if b.strip()]
    problems = [f"unknown bot '{b}' (choose from {', '.join(BOT_KINDS)})" for b in names if b not in BOT_KINDS]
    if any(b in ADAPTER_BOTS for b in names) and run_dir is None:
        problems.append("the finetuned and hybrid bots need a fine-tuning run (--run RUN_DIR)")
    if any(b in RETRIEVAL_BOTS for b in names) and index is None:
        problems.append("the rag and hybrid bots need a document index (--index INDEX_DIR)")
    if not names:
        problems.append("no bots chosen; pick at least one of " + ", ".join(BOT_KINDS))
    if problems:  # one line, so the CLI's error stays one line
        raise AirbotError("Cannot evaluate: " + "; ".join(problems) + ".", problems)
    return list(dict.fromkeys(names))


def evaluate(bots: list[str], data: Path, config: AirbotConfig, run_dir: Path | None = None,
             index: KnowledgeBase | str | Path | None = None, out_dir: Path | None = None, progress: Progress | None = None,
             should_stop: Callable[[], bool] | None = None, *, out_of_scope: Path | OutOfScope = "general",
             limit: int | None = None, probe: bool = True, name: str | None = None,
             policy: dict[str, Any] | None = None) -> EvalReport:
    """Ask every bot every question, score the answers, aggregate per bot and save the results.

    ``out_of_scope`` is a question file, ``"general"`` (domain-free questions, the default), ``"sample"``
    (the airline example's) or ``"none"``. ``should_stop``
    ends the run between questions; what was answered is still scored and saved (``partial``).
    ``policy`` is a finished policy-change result to store beside the scores in eval.json.
    """
    started = time.time()
    say = progress or (lambda _f, _m: None)
    names = check_bots(bots, run_dir, index)
    data = Path(data)
    plan = make_plan(names, data, config, run_dir, out_of_scope=out_of_scope, probe=probe, limit=limit)
    from airbot.knowledge.index import open_index

    # check_bots made sure a retrieval bot has its index
    kb = open_index(index, config) if index is not None and any(b in RETRIEVAL_BOTS for b in names) else None
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


def _run_all(names: list[str], plan: Plan, config: AirbotConfig, run_dir: Path | None, kb: KnowledgeBase | None,
             say: Progress, should_stop: Callable[[], bool] | None) -> tuple[list[QuestionResult], bool]:
    """Each bot in turn over its questions; progress counts questions, not bots."""
    jobs = plan.jobs(names)
    total = sum(len(items) for _, items in jobs)
    done = 0
    results: list[QuestionResult] = []
    for bot_name, items in jobs:
        say(done / total * 0.95, f"loading the {bot_name} bot")
        bot = build_bot(bot_name, config, run_dir, kb)
        for item in items:
            if _yield_to_chat(should_stop):
                say(done / total * 0.95, f"{bot_name}: {done}/{total} answers (paused while people chat)")
            if should_stop and should_stop():
                return results, True
            results.append(ask(bot, bot_name, item))
            done += 1
            say(done / total * 0.95, f"{bot_name}: {done}/{total} answers")
    return results, False


CHAT_YIELD_S = 20.0
"""Longest an evaluation waits before one question while people's answers are being written."""


def _yield_to_chat(should_stop: Callable[[], bool] | None) -> bool:
    """Let answers people are waiting for go first (``arena.CHATTING``): on a shared 2-core app an evaluation
    beside chat made every chat answer slower. Waits at most ``CHAT_YIELD_S`` (an evaluation is never starved),
    in short slices so a stop is heard; whether it waited."""
    from airbot.bots.arena import CHATTING

    if not CHATTING.busy:
        return False
    deadline = time.monotonic() + CHAT_YIELD_S
    while CHATTING.busy and time.monotonic() < deadline and not (should_stop and should_stop()):
        CHATTING.wait_quiet(min(0.5, deadline - time.monotonic()))
    return True


def build_bot(kind: str, config: AirbotConfig, run_dir: Path | None, kb: KnowledgeBase | None) -> Bot:
    """The same bots the Chat tab uses, so the scores describe what a user talks to."""
    from airbot.bots.kinds import make_bot

    return make_bot(kind, config, run_dir=run_dir if kind in ADAPTER_BOTS else None,
                    index=kb if kind in RETRIEVAL_BOTS else None)


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


# --- helpers shared by the CLI and the Evaluate tab ---------------------------------------------
def eval_config(run_dir: Path | None, config_path: str | None = None, overrides: list[str] | None = None) -> AirbotConfig:
    """The settings bots answer with: an explicit recipe, else the run's own config.yaml (so the
    fine-tuned bot is scored as it was trained), else the defaults; then ``--set`` overrides."""
    from airbot.config import load_config

    if config_path is None and run_dir is not None and (Path(run_dir) / "config.yaml").is_file():
        config_path = str(Path(run_dir) / "config.yaml")
    return load_config(config_path, overrides)


def default_questions(data: str | Path | None, run_dir: Path | None) -> Path:
    """The held-out questions an evaluation asks: the file given, else the run's own training file,
    of which only the rows the run held out are asked (``make_plan`` keeps them). There is no
    silent fallback to the shipped example: ``"sample"`` asks for it by name."""
    from airbot.evaluate.questions import run_training_file
    from airbot.samples import sample_path

    if data == "sample":
        return sample_path("heldout")
    if data:
        return Path(data)
    trained = run_training_file(run_dir)
    if trained is not None and trained.is_file():
        return trained
    raise DataError("Which questions should the bots answer? Pass --data FILE (a 'question' column plus 'answer' "
                    "and/or 'facts'), or --run RUN to ask the rows that run held out of its training file"
                    + (" (this run's training file is gone)" if run_dir is not None else "") + ".")


def default_bots(run_dir: Path | None, index: KnowledgeBase | str | Path | None) -> list[str]:
    """Every bot the given inputs allow: fine-tuned with a run, RAG with an index, hybrid with both."""
    bots = (["finetuned"] if run_dir else []) + (["rag"] if index else []) + (["hybrid"] if run_dir and index else [])
    return bots or ["base"]
