"""The question sets an evaluation asks: held-out Q&A in any training format (with optional
``facts`` and ``clause`` fields), bare out-of-scope questions, and the guard that keeps a bot
from being scored on the rows it was trained on.

    python -c "from airbot.evaluate.questions import read_heldout; print(read_heldout('heldout.jsonl')[0])"
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
from airbot.text import key_figures

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
    facts_derived: bool = False
    """True when the file gave no facts and they were taken from the reference answer's figures."""


EVAL_PURPOSE = "as an evaluation set"
EVAL_HINT = ("An evaluation file has one question per row: a 'question' column plus an 'answer' (the reference) "
             "and/or 'facts' (the figures a right answer must state, a list or 'a; b'), and optionally 'clause'. "
             "Fix the rows above and load it again.")


def read_rows(path: Path, purpose: str, needs: Sequence[Sequence[str]], hint: str) -> list[tuple[str, dict[str, Any]]]:
    """The one reader of question files: (where, row) for every row of a JSONL, JSON, CSV, TSV or
    Parquet file (a .txt file is one question per line), keys lower-cased. ``needs`` lists groups of
    column names; every row must have a non-empty value for at least one name of each group.
    Every problem of the file (encoding, syntax, missing columns) is reported at once."""
    from airbot.data.files import Problems, read_records

    path = Path(path)
    if path.suffix.lower() == ".txt":
        if not path.is_file():
            raise DataError(f"{path.name} does not exist or is not a file. Check the path and try again.")
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        return [(f"line {i}", {"question": q.strip()}) for i, q in enumerate(lines, start=1) if q.strip()]
    _, records, problems = read_records(path)
    rows = []
    for record in records:
        row = {str(k).strip().lower(): v for k, v in record.values.items()}
        missing = [_column_names(group) for group in needs if not any(_present(row.get(n)) for n in group)]
        if missing:
            problems.append(f"{record.where}: no {' and no '.join(missing)}")
        else:
            rows.append((record.where, row))
    if not records and not problems:
        problems.append("the file has no rows")
    Problems(problems).fail(path, hint, purpose)
    return rows


def _column_names(group: Sequence[str]) -> str:
    """How a message names a needed column: its usual name (and 'facts' where facts would do)."""
    return " or ".join(dict.fromkeys(f"'{n}'" for n in (group[0], *(["facts"] if "facts" in group else []))))


def _present(value: Any) -> bool:
    return value is not None and str(value).strip() != "" and value == value  # value == value: not NaN


def read_heldout(path: Path, limit: int | None = None) -> list[EvalItem]:
    """Held-out questions with a reference ``answer``, key ``facts``, or both (and an optional
    ``clause``). Training formats (messages / conversations) work too: the last user turn is the
    question and the last answer the reference. When ``facts`` are missing they are derived from
    the reference's figures (``text.key_figures``), and ``derived`` says so."""
    from airbot.data.dataset import ANSWER_ALIASES, QUESTION_ALIASES

    if _is_conversation_file(path):
        return _conversation_heldout(path, limit)
    rows = read_rows(path, EVAL_PURPOSE, [QUESTION_ALIASES, (*ANSWER_ALIASES, "facts")], EVAL_HINT)
    items = []
    for where, row in rows:
        question = _first(row, QUESTION_ALIASES)
        reference = _first(row, ANSWER_ALIASES)
        facts = parse_facts(row.get("facts"))
        derived = not facts
        if derived:
            facts = key_figures(reference)
        clause = row.get("clause")
        items.append(EvalItem("heldout", question, reference, facts, str(clause) if _present(clause) else None, where,
                              derived))
    return items[:limit] if limit else items


def _first(row: dict[str, Any], names: Sequence[str]) -> str:
    return next((str(row[n]).strip() for n in names if _present(row.get(n))), "")


def _is_conversation_file(path: Path) -> bool:
    """A training-format file (OpenAI messages or ShareGPT conversations) rather than question rows."""
    from airbot.data.files import read_records

    if path.suffix.lower() == ".txt" or not Path(path).is_file():
        return False
    try:
        _, records, _ = read_records(path)
    except DataError:
        return False
    return any(k.lower() in ("messages", "conversations") for r in records[:5] for k in r.values)


def _conversation_heldout(path: Path, limit: int | None) -> list[EvalItem]:
    from airbot.data.dataset import read_dataset

    loaded = read_dataset(path)
    items = []
    for i, (row, extra) in enumerate(zip(loaded.rows, loaded.extras or [{}] * len(loaded.rows))):
        question = next(m["content"] for m in reversed(row) if m["role"] == "user")
        reference = next(m["content"] for m in reversed(row) if m["role"] == "assistant")
        facts = parse_facts(extra.get("facts"))
        clause = extra.get("clause")
        items.append(EvalItem("heldout", question, reference, facts or key_figures(reference),
                              str(clause) if clause not in (None, "") else None, loaded.where(i), not facts))
    return items[:limit] if limit else items


def parse_facts(raw: Any) -> list[str]:
    """Facts as a list of strings, however the file wrote them (list, JSON text, 'a; b')."""
    if raw is None or raw == "" or (isinstance(raw, float) and raw != raw):
        return []
    if isinstance(raw, (list, tuple)):
        return [str(f).strip() for f in raw if str(f).strip()]
    if hasattr(raw, "tolist"):  # a Parquet list column arrives as a numpy array
        return parse_facts(raw.tolist())
    text = str(raw).strip()
    if text.startswith("["):
        try:
            return parse_facts(json.loads(text))
        except (ValueError, RecursionError):  # not a JSON list (or absurdly nested): read it as text
            pass
    return [f.strip() for f in re.split(r"[;|]", text) if f.strip()]


def read_questions(path: Path, kind: Kind = "out_of_scope", limit: int | None = None) -> list[EvalItem]:
    """Bare questions (JSONL/JSON/CSV/TSV/Parquet with a question column, or one per line in .txt)."""
    from airbot.data.dataset import QUESTION_ALIASES

    hint = "Each row needs a 'question' column (or a .txt file with one question per line)."
    rows = read_rows(path, "as a question set", [QUESTION_ALIASES], hint)
    items = [EvalItem(kind, _first(row, QUESTION_ALIASES), where=where) for where, row in rows]
    return items[:limit] if limit else items


def heldout_rows_of_training_file(data: Path, run_dir: Path | None, items: list[EvalItem],
                                  config: AirbotConfig) -> tuple[list[EvalItem], str]:
    """Scoring a bot on the rows it was trained on measures memory, not skill: when ``data`` is
    the run's own training file, keep only the rows its split held out."""
    from airbot.data.dataset import split_rows

    trained = run_training_file(run_dir)
    if trained is None or trained.resolve() != data.resolve():
        return items, "whole file"
    _, held = split_rows(len(items), config.data.heldout_fraction, config.data.seed)
    return [items[i] for i in held], f"the {len(held)} rows the run held out of its training file"


def run_training_file(run_dir: Path | None) -> Path | None:
    """The file a run trained on (its config.yaml's data.path), or None."""
    if run_dir is None or not (run_dir / "config.yaml").is_file():
        return None
    import yaml

    try:
        path = ((yaml.safe_load((run_dir / "config.yaml").read_text()) or {}).get("data") or {}).get("path")
    except (OSError, ValueError, AttributeError):
        return None
    return Path(path) if path else None


def run_heldout_questions(run_dir: Path | None, limit: int = 8) -> list[str]:
    """The questions a run held out of its training file, first ``limit``: new wordings to try its bot
    on (the Chat tab's examples). [] without a run, or when its training file is gone or unreadable."""
    from airbot.config import load_config
    from airbot.errors import AirbotError

    data = run_training_file(run_dir)
    if run_dir is None or data is None or not data.is_file():
        return []
    try:
        items, _ = heldout_rows_of_training_file(data, run_dir, read_heldout(data), load_config(run_dir / "config.yaml"))
    except AirbotError:
        return []
    return [item.question for item in items[:limit]]
