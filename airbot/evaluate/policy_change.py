"""The policy-change test: the documents change; which bot follows, and what did following cost?

RAG re-indexes the new version (timed, with ``KnowledgeBase.replace``) and answers again; a
fine-tuned bot only knows what it was trained on, so its alternative is a retrain, whose time
is estimated from the run's own measured speed. Each changed question is scored as giving the
``new`` figure, the ``old`` one, or ``neither``::

    python -m airbot policy-change --run RUN_DIR --index INDEX_DIR --json

By default the index is copied first and the copy is updated, so the user's index is never
changed behind their back; ``apply=True`` (``--apply``) updates it in place.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airbot.config import RETRIEVAL_BOTS, AirbotConfig
from airbot.errors import AirbotError, DataError
from airbot.evaluate import metrics
from airbot.evaluate.changes import Change, find_changes
from airbot.evaluate.runner import build_bot, check_bots

if TYPE_CHECKING:
    from airbot.bots.kinds import Bot
    from airbot.knowledge.index import KnowledgeBase

Progress = Callable[[float, str], None]
OUTCOMES = ("new", "old", "neither")
RETRAIN_NOTE = ("retrain_s is an estimate: the run's measured training speed (tokens/s) times the training set's "
                "tokens times its epochs, plus the run's measured start-up time; it is not a timed retrain.")


@dataclass
class ChangeResult:
    """One bot's answers to one changed question, before and after the update."""

    bot: str
    question: str
    clause: str | None
    old: str
    new: str
    answer: str
    outcome: str
    latency: float
    answer_before: str = ""
    before: str = ""


def read_changes(path: Path, limit: int | None = None) -> list[Change]:
    """JSONL rows ``{question, old, new, clause?}``; every bad row reported at once."""
    if not path.is_file():
        raise DataError(f"Changes file {path} does not exist; pass a JSONL file of {{question, old, new}} rows.")
    changes, problems = [], []
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise DataError(f"Changes file {path.name} is not UTF-8 text (byte {err.start}); write one JSON object "
                        f"{{question, old, new}} per line, saved as UTF-8.") from None
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (ValueError, RecursionError) as err:
            problems.append(f"line {n}: not JSON ({err})")
            continue
        missing = [k for k in ("question", "old", "new") if not isinstance(row, dict) or not str(row.get(k, "")).strip()]
        if missing:
            problems.append(f"line {n}: missing {', '.join(missing)}")
            continue
        changes.append(Change(str(row["question"]), str(row["old"]), str(row["new"]),
                              str(row["clause"]) if row.get("clause") else None))
    if problems or not changes:
        raise DataError.collected(f"{path.name} cannot be used as a policy-change set:", problems or ["no rows"],
                                  'Each line needs {"question": ..., "old": "23 kg", "new": "25 kg"}.')
    return changes[:limit] if limit else changes


# --- which documents ----------------------------------------------------------------------------
def pick_documents(kb: KnowledgeBase, old: str | None, new: Path | None) -> tuple[str, Path]:
    """The indexed document to replace and its new version. Defaults: the only document of the
    index; its new version must be given, except for the shipped policy (its shipped version 2).
    An index of several documents never defaults to the shipped one: the user names theirs."""
    from airbot.samples import sample_path

    indexed = [d.name for d in kb.documents()]
    if old:
        name = Path(old).name
    else:
        if len(indexed) != 1:
            raise AirbotError(f"Which document changed? The index holds {', '.join(indexed) or 'nothing'}; "
                              f"pass --old NAME and --new FILE.")
        name = indexed[0]
    if name not in indexed:
        raise AirbotError(f"'{name}' is not in the index '{kb.root.name}' (it holds {', '.join(indexed) or 'nothing'}); "
                          f"pass --old with one of those names.")
    if new is None:
        if name not in {sample_path("policy").name, sample_path("policy_pdf").name}:
            raise AirbotError(f"Upload the new version of {name} (--new FILE): airbot compares the two versions "
                              f"to find what changed.")
        new = sample_path("policy_v2_pdf" if name.lower().endswith(".pdf") else "policy_v2")
    if not Path(new).is_file():
        raise AirbotError(f"The new version {new} does not exist; pass --new FILE.")
    return name, Path(new)


def working_copy(kb: KnowledgeBase, config: AirbotConfig, apply: bool) -> tuple[KnowledgeBase, Path | None]:
    """The index to update: the user's own when ``apply``, else a private copy (and its temp folder)."""
    if apply:
        return kb, None
    tmp = Path(tempfile.mkdtemp(prefix="airbot-policy-"))
    shutil.copytree(kb.root, tmp / "index")
    from airbot.knowledge.index import open_index

    return open_index(tmp / "index", config, shared=False), tmp


# --- the retrain estimate -----------------------------------------------------------------------
def estimate_retrain(run_dir: Path | None, config: AirbotConfig | None = None) -> dict[str, Any] | None:
    """Seconds a retrain would take, from what the run measured: tokens/s, tokens per epoch,
    epochs, and start-up (model load, probe). An estimate, labelled as such."""
    from airbot.storage import read_json
    from airbot.train.status import read_metrics

    if run_dir is None:
        return None
    summary = (read_json(Path(run_dir) / "status.json") or {}).get("summary") or {}
    tps = summary.get("tokens_per_s") or _last(read_metrics(run_dir), "tokens_per_s")
    if not tps:
        return None
    run_config = _run_config(Path(run_dir)) or config
    epochs = float(run_config.train.epochs) if run_config else 1.0
    epoch_tokens = _epoch_tokens(run_config, Path(run_dir), summary)
    overhead = max(0.0, float(summary.get("wall_s") or 0) - float(summary.get("train_s") or 0))
    seconds = epoch_tokens * epochs / float(tps) + overhead
    return {"retrain_s": round(seconds, 1), "tokens_per_s": float(tps), "epoch_tokens": epoch_tokens,
            "epochs": epochs, "startup_s": round(overhead, 1), "note": RETRAIN_NOTE}


def measure_retrain(run_dir: Path, say: Progress | None = None) -> dict[str, Any]:
    """Train the run again, same recipe and training file, into a scratch folder, and time it: what a
    fine-tuned bot really costs to bring up to date (the estimate above is arithmetic on the run's
    speed). Without the forgetting probe and the did-it-learn check, which a retrain need not repeat."""
    from dataclasses import replace

    from airbot.train.finetune import run_finetune

    run_config = _run_config(Path(run_dir))
    data = Path(run_config.data.path) if run_config and run_config.data.path else None
    if run_config is None or data is None or not data.is_file():
        raise AirbotError(f"Run '{Path(run_dir).name}' cannot be retrained here: its config.yaml or training file is "
                          "gone. The retrain time stays an estimate.")
    config = replace(run_config, train=replace(run_config.train, probe=False, learned_check=False))
    scratch = Path(tempfile.mkdtemp(prefix="airbot-retrain-"))
    (say or (lambda _f, _m: None))(0.95, f"retraining {Path(run_dir).name} to time it")
    started = time.perf_counter()
    try:
        result = run_finetune(config, data, scratch / "run")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    seconds = time.perf_counter() - started
    return {"retrain_s": round(seconds, 1), "measured": True, "steps": result.steps,
            "note": f"retrain_s was measured: the run trained again on {data.name} with its own recipe "
                    f"({result.steps} steps), model load included."}


def _last(rows: list[dict[str, Any]], key: str) -> float | None:
    return next((r[key] for r in reversed(rows) if r.get(key)), None)


def _run_config(run_dir: Path) -> AirbotConfig | None:
    from airbot.config import load_config

    try:
        return load_config(run_dir / "config.yaml") if (run_dir / "config.yaml").is_file() else None
    except AirbotError:
        return None


def _epoch_tokens(config: AirbotConfig | None, run_dir: Path, summary: dict[str, Any]) -> int:
    """Tokens in one pass over the training set: counted from the run's file when it is there,
    else the tokens the run processed divided by the epochs it covered."""
    if config is not None and config.data.path and Path(config.data.path).is_file():
        try:
            return _count_training_tokens(config)
        except AirbotError:
            pass
    from airbot.train.status import read_metrics

    epoch = _last(read_metrics(run_dir), "epoch") or 1.0
    return int(float(summary.get("train_tokens") or 0) / max(float(epoch), 1e-9))


def _count_training_tokens(config: AirbotConfig) -> int:
    """Templated tokens of the training split, as the trainer sees them (RAFT prompts included)."""
    from airbot.models import shared_tokenizer
    from airbot.train.sft_data import prepare_data

    prepared = prepare_data(config, None, shared_tokenizer(config.model.base))
    return int(sum(len(ids) for ids in prepared.train["input_ids"]))


def plan_changes(kb: KnowledgeBase, doc_name: str, new_path: Path, changes: Path | list[Change] | None,
                 limit: int | None) -> list[Change]:
    """The changed questions: the user's (a file, or rows edited in the Evaluate tab) when given, else
    every figure that differs between the indexed version of the document and its new version
    (``find_changes``)."""
    if isinstance(changes, list):
        return changes[:limit] if limit else changes
    if changes is not None:
        return read_changes(Path(changes), limit)
    from airbot.knowledge.chunking import read_chunks

    found = find_changes(kb.chunks(doc_name), read_chunks(new_path, doc=doc_name))
    if not found:
        raise AirbotError(f"No figure differs between the indexed {doc_name} and {new_path.name}; nothing to test. "
                          f"Upload the version whose figures changed, or a changes file (question, old, new).")
    return found[:limit] if limit else found


def preview_changes(config: AirbotConfig, index: KnowledgeBase | str | Path, old: str | None,
                    new: Path | None) -> list[Change]:
    """The changed figures and the question generated for each, before anything is asked: the
    Evaluate tab shows them for the user to reword or drop, then runs the test on the edited rows."""
    from airbot.knowledge.index import open_index

    kb = open_index(index, config)
    doc_name, new_path = pick_documents(kb, old, new)
    return plan_changes(kb, doc_name, new_path, None, None)


def edited_changes(rows: list[list[Any]] | list[dict[str, Any]]) -> list[Change]:
    """Rows of the Evaluate tab's changes table (question, old, new, clause) as Changes; a row with a
    blank question, old or new figure is an error naming its row (an emptied row is dropped)."""
    changes, problems = [], []
    for n, row in enumerate(rows, start=1):
        cells = [row.get(k) for k in ("question", "old", "new", "clause")] if isinstance(row, dict) else list(row) + [None] * 4
        question, before, after, clause = (str(c).strip() if c is not None and str(c) != "nan" else "" for c in cells[:4])
        if not (question or before or after):
            continue
        missing = [name for name, value in (("question", question), ("old", before), ("new", after)) if not value]
        if missing:
            problems.append(f"row {n}: {', '.join(missing)} is blank")
            continue
        changes.append(Change(question, before, after, clause or None))
    if problems:
        raise DataError.collected("The changed questions cannot be asked:", problems,
                                  "Fill in each row's question, old and new figure, or empty the whole row to drop it.")
    return changes


# --- the test -----------------------------------------------------------------------------------
def policy_change(bots: list[str], config: AirbotConfig, *, run_dir: Path | None,
                  index: KnowledgeBase | str | Path | None,
                  old: str | None = None, new: Path | None = None, changes: Path | list[Change] | None = None,
                  apply: bool = False, limit: int | None = None, progress: Progress | None = None,
                  should_stop: Callable[[], bool] | None = None, retrain: bool = False) -> dict[str, Any]:
    """Replace the old document with the new one, re-ask the changed questions, score outcomes;
    ``retrain``: time a real retrain of the run (minutes) instead of estimating it.

    Returns the ``policy_change`` / ``rag_update_s`` / ``retrain_s`` keys of eval.json (the
    shape ``airbot.guide.Evidence.from_eval_json`` reads) plus per-question detail.
    """

    say = progress or (lambda _f, _m: None)
    scratch = None
    if index is None:
        if not old or not Path(old).is_file():
            raise AirbotError("The policy-change test needs the document index to update (--index NAME), or the old "
                              "version of the document as a file (--old FILE) to index first.")
        scratch = Path(tempfile.mkdtemp(prefix="airbot-policy-"))
        say(0.01, f"indexing {Path(old).name}")
        from airbot.knowledge.index import build_index

        index = build_index([Path(old)], scratch / "index", rag=config.rag, embedder=config.model.embedder)
        apply = True  # a scratch index: nothing of the user's to protect
    names = check_bots(bots, run_dir, index)
    from airbot.knowledge.index import open_index

    kb = open_index(index, config, shared=scratch is None)
    doc_name, new_path = pick_documents(kb, old, new)
    items = plan_changes(kb, doc_name, new_path, changes, limit)
    work, tmp = working_copy(kb, config, apply)
    tmp = tmp or scratch
    started = time.perf_counter()
    try:
        results, rag_update_s = _ask_all(names, items, config, run_dir, work, new_path, doc_name, say, should_stop)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    estimate = measure_retrain(run_dir, say) if retrain and run_dir is not None else estimate_retrain(run_dir, config)
    say(1.0, "policy-change test done")
    summary = policy_summary(names, results, rag_update_s, estimate, doc_name, new_path, apply)
    summary["changes"] = [asdict(c) for c in items]
    summary["policy_change_settings"]["wall_s"] = round(time.perf_counter() - started, 2)
    return summary


def timed_update(kb: KnowledgeBase, new_path: Path, doc_name: str, say: Progress) -> float:
    """Seconds ``KnowledgeBase.replace`` takes: read, chunk, embed and re-index the new version.
    The embedder is loaded first, outside the clock, as it is in a running app; otherwise a
    cold start would be billed to RAG."""
    say(0.02, "loading the embedder")
    kb.embed(["warm-up"])
    say(0.05, f"re-indexing {doc_name} with {new_path.name}")
    started = time.perf_counter()
    kb.replace(new_path, name=doc_name)
    return round(time.perf_counter() - started, 3)


def _ask_all(names: list[str], items: list[Change], config: AirbotConfig, run_dir: Path | None, kb: KnowledgeBase,
             new_path: Path, doc_name: str, say: Progress,
             should_stop: Callable[[], bool] | None) -> tuple[list[ChangeResult], float]:
    """Retrieval bots answer on the old documents, the index is updated (timed), then every bot
    answers. A bot without retrieval answers once: its weights and greedy decoding do not change
    with the documents, so its "before" is its "after" (and a "new" figure there is a guess that
    was already made before the policy changed)."""
    bots = {b: build_bot(b, config, run_dir, kb) for b in names}
    total = len(items) * (len(names) + sum(b in RETRIEVAL_BOTS for b in names))
    tick = _counter(total, say)
    before: dict[str, list[tuple[str, float]]] = {b: _answers(bots[b], b, items, tick, should_stop)
                                                  for b in names if b in RETRIEVAL_BOTS}
    rag_update_s = timed_update(kb, new_path, doc_name, say)
    after = {b: _answers(bots[b], b, items, tick, should_stop) for b in names}
    results = []
    for b in names:
        for item, (text, latency), (old_text, _) in zip(items, after[b], before.get(b, after[b]), strict=False):
            results.append(ChangeResult(b, item.question, item.clause, item.old, item.new, text,
                                        metrics.figure_outcome(text, item.old, item.new), latency, old_text,
                                        metrics.figure_outcome(old_text, item.old, item.new)))
    return results, rag_update_s


def _answers(bot: Bot, name: str, items: list[Change], tick: Callable[[str], None],
             should_stop: Callable[[], bool] | None) -> list[tuple[str, float]]:
    """(answer, seconds) per question, stopping early when asked."""
    out = []
    for item in items:
        if should_stop and should_stop():
            break
        started = time.perf_counter()
        out.append((str(getattr(bot.answer(item.question), "text", "") or ""), round(time.perf_counter() - started, 3)))
        tick(name)
    return out


def _counter(total: int, say: Progress) -> Callable[[str], None]:
    done = [0]

    def tick(name: str) -> None:
        done[0] += 1
        say(0.1 + 0.85 * done[0] / max(total, 1), f"{name}: {done[0]}/{total} answers")
    return tick


def policy_summary(names: list[str], results: list[ChangeResult], rag_update_s: float,
                   estimate: dict[str, Any] | None, doc_name: str, new_path: Path, applied: bool) -> dict[str, Any]:
    """eval.json keys: ``policy_change`` maps each bot to {new, old, neither} counts (what the
    guide reads), ``policy_change_questions`` holds the per-question rows."""
    counts = {b: {o: sum(1 for r in results if r.bot == b and r.outcome == o) for o in OUTCOMES} for b in names}
    # no "bots" key: merged into an eval.json, it would replace the per-bot accuracy table
    return {"policy_change": counts, "rag_update_s": rag_update_s,
            "retrain_s": estimate["retrain_s"] if estimate else None,
            "retrain_estimate": estimate,
            "policy_change_questions": [asdict(r) for r in results],
            "policy_change_settings": {"document": doc_name, "new_version": str(new_path), "applied": applied,
                                       "note": "Scored on the figure each answer states after the documents changed. "
                                               + ((estimate or {}).get("note") or RETRAIN_NOTE)}}


def outcome_table(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per changed question: its old and new figure, then each bot's outcome after the
    update (``<bot>``) and before it (``<bot>_before``)."""
    rows: dict[str, dict[str, Any]] = {}
    for r in summary.get("policy_change_questions", []):
        row = rows.setdefault(r["question"], {"question": r["question"], "old": r["old"], "new": r["new"]})
        row[r["bot"]] = r["outcome"]
        row[f"{r['bot']}_before"] = r.get("before", "")
    return list(rows.values())
