"""The saved evaluation: ``EvalReport`` and its eval.json contract, saving and loading it, the
plain-text table the CLI prints, and merging a policy-change result into an existing eval.json.

    from airbot.evaluate.report import format_table, list_evaluations, load_report
    print(format_table(load_report(list_evaluations()[0])))   # the newest saved evaluation
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from airbot.errors import AirbotError
from airbot.evaluate.scoring import QuestionResult
from airbot.storage import store_dir

SMALL_SET_NOTE = ("Small sets: each figure comes from {n} held-out question(s) per bot, so read the 95% intervals "
                  "(Wilson for shares, Student-t for means), not the point values; overlapping intervals mean the "
                  "difference is not established.")


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


# --- saving --------------------------------------------------------------------------------------
def evals_root() -> Path:
    """Where evaluations live; the guide tab lists ``evals/*/eval.json`` from here."""
    return store_dir("evals")  # the current workspace's (airbot.workspace)


def save_report(report: EvalReport, out_dir: Path | None = None, run_dir: Path | None = None) -> Path:
    """eval.json + questions.jsonl under ``out_dir`` (default ``AIRBOT_HOME/evals/<name>``), and
    a copy under ``RUN_DIR/evals/<name>`` so a run carries its evidence with it."""
    from airbot.storage import write_json

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


def saved_eval(name: str | None) -> Path | None:
    """The eval.json of the saved evaluation ``name`` (its folder's name, as the pickers list it), or
    None when there is none; a name that is not one (a path, '../x') is an AirbotError."""
    from airbot.storage import resolve_name

    if not name:
        return None
    path = resolve_name("evals", name) / "eval.json"
    return path if path.is_file() else None


# --- the table and the policy-change merge -------------------------------------------------------
def format_table(report: dict[str, Any]) -> str:
    """A plain-text table of the per-bot figures, with the small-sample note under it."""
    def pct(value: Any, ci: Any = None) -> str:
        if value is None:
            return "-"
        return f"{value * 100:.0f}%" + (f" [{ci[0] * 100:.0f}-{ci[1] * 100:.0f}]" if ci else "")

    head = f"{'bot':<10} {'n':>3} {'strict (95% CI)':>16} {'model':>6} {'facts (95% CI)':>16} {'similar':>8} " \
           f"{'ROUGE-L':>8} {'refusals':>9} {'clause':>7} {'latency':>8}"
    lines = [head, "-" * len(head)]
    for name, b in report["bots"].items():
        sim = "-" if b.get("similarity") is None else f"{b['similarity']:.2f}"
        rouge = "-" if b.get("rouge_l") is None else f"{b['rouge_l']:.2f}"
        lat = "-" if b.get("mean_latency_s") is None else f"{b['mean_latency_s']:.2f}s"
        strict = pct(b.get("strict_accuracy"), b.get("strict_accuracy_ci"))
        lines.append(f"{name:<10} {b['n']:>3} {strict:>16} {pct(b.get('model_strict_accuracy')):>6} "
                     f"{pct(b['fact_accuracy'], b.get('fact_accuracy_ci')):>16} {sim:>8} "
                     f"{rouge:>8} {pct(b.get('refusal_accuracy')):>9} {pct(b.get('clause_accuracy')):>7} {lat:>8}")
    if report.get("forgetting"):
        lines.append(report["forgetting"]["summary"])
    lines.append(report.get("note", ""))
    return "\n".join(lines)


def merge_policy(target: Path, policy: dict[str, Any]) -> Path:
    """Store a policy-change result in an existing eval.json, so the guide sees both together."""
    from airbot.storage import read_json, write_json

    path = target / "eval.json" if target.is_dir() else target
    obj = read_json(path)
    if obj is None:
        raise AirbotError(f"'{path.parent.name}' holds no evaluation's eval.json; run `python -m airbot eval` first.")
    write_json(path, {**obj, **policy})
    return path
