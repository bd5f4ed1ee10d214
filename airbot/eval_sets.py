"""The question sets an evaluation asks: held-out Q&A in any training format (with optional
``facts`` and ``clause`` fields), bare out-of-scope questions, and the guard that keeps a bot
from being scored on the rows it was trained on.

    python -c "from airbot.eval_sets import read_heldout; print(read_heldout('heldout.jsonl')[0])"
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from airbot.config import AirbotConfig
from airbot.errors import DataError

Kind = Literal["heldout", "out_of_scope", "probe"]


@dataclass
class EvalItem:
    """One question to ask: a held-out Q&A (reference, facts, clause), an out-of-scope or a probe question."""

    kind: Kind
    question: str
    reference: str = ""
    facts: list[str] = field(default_factory=list)
    clause: str | None = None
    where: str = ""


def read_heldout(path: Path, limit: int | None = None) -> list[EvalItem]:
    """Held-out Q&A in any training format; ``facts`` (list, or ';'-separated text) and
    ``clause`` are optional extra fields. The last user turn is the question, the last answer
    the reference, so multi-turn rows are scored on their final exchange."""
    from airbot.data import read_dataset

    loaded = read_dataset(path)
    items = []
    for i, (row, extra) in enumerate(zip(loaded.rows, loaded.extras or [{}] * len(loaded.rows))):
        question = next(m["content"] for m in reversed(row) if m["role"] == "user")
        reference = next(m["content"] for m in reversed(row) if m["role"] == "assistant")
        clause = extra.get("clause")
        items.append(EvalItem("heldout", question, reference, parse_facts(extra.get("facts")),
                              str(clause) if clause not in (None, "") else None, loaded.where(i)))
    return items[:limit] if limit else items


def parse_facts(raw: Any) -> list[str]:
    """Facts as a list of strings, however the file wrote them (list, JSON text, 'a; b')."""
    if raw is None or raw == "":
        return []
    if isinstance(raw, (list, tuple)):
        return [str(f).strip() for f in raw if str(f).strip()]
    text = str(raw).strip()
    if text.startswith("["):
        try:
            return parse_facts(json.loads(text))
        except ValueError:
            pass
    return [f.strip() for f in re.split(r"[;|]", text) if f.strip()]


def read_questions(path: Path, kind: Kind = "out_of_scope", limit: int | None = None) -> list[EvalItem]:
    """Bare questions (JSONL/JSON/CSV with a question column, or one per line in .txt)."""
    from airbot.data import QUESTION_ALIASES

    if not path.is_file():
        raise DataError(f"Question file {path} does not exist; pass a JSONL file with a 'question' field per line.")
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".txt":
        found = [line.strip() for line in text.splitlines() if line.strip()]
    else:
        found = [_question_of(r, QUESTION_ALIASES) for r in _records(path, text)]
    items = [EvalItem(kind, q, where=f"line {i + 1}") for i, q in enumerate(found) if q]
    if not items:
        raise DataError(f"{path} has no questions; each line should look like {{\"question\": \"...\"}}.")
    return items[:limit] if limit else items


def _records(path: Path, text: str) -> list[Any]:
    if path.suffix.lower() in (".csv", ".tsv"):
        import csv
        import io

        return list(csv.DictReader(io.StringIO(text), delimiter="\t" if path.suffix.lower() == ".tsv" else ","))
    try:
        doc = json.loads(text)
        return doc if isinstance(doc, list) else [doc]
    except ValueError:
        pass
    try:
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    except ValueError as err:
        raise DataError(f"{path} is neither JSON nor JSON Lines ({err}); write one {{\"question\": ...}} per line.") \
            from None


def _question_of(record: Any, aliases: Sequence[str]) -> str:
    if isinstance(record, str):
        return record.strip()
    if isinstance(record, dict):
        low = {str(k).lower(): v for k, v in record.items()}
        return next((str(low[a]).strip() for a in aliases if low.get(a)), "")
    return ""


def heldout_rows_of_training_file(data: Path, run_dir: Path | None, items: list[EvalItem],
                                  config: AirbotConfig) -> tuple[list[EvalItem], str]:
    """Scoring a bot on the rows it was trained on measures memory, not skill: when ``data`` is
    the run's own training file, keep only the rows its split held out."""
    from airbot.data import split_rows

    trained = _run_data_path(run_dir)
    if trained is None or trained.resolve() != data.resolve():
        return items, "whole file"
    _, held = split_rows(len(items), config.data.heldout_fraction, config.data.seed)
    return [items[i] for i in held], f"the {len(held)} rows the run held out of its training file"


def _run_data_path(run_dir: Path | None) -> Path | None:
    if run_dir is None or not (run_dir / "config.yaml").is_file():
        return None
    import yaml

    try:
        path = ((yaml.safe_load((run_dir / "config.yaml").read_text()) or {}).get("data") or {}).get("path")
    except (OSError, ValueError, AttributeError):
        return None
    return Path(path) if path else None
