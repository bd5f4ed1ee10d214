"""Reading and validating training sets, the train/held-out split, and the trained-token mask.

Any CSV, TSV, JSON, JSONL or Parquet file of question/answer pairs (common column aliases),
OpenAI ``messages`` or ShareGPT ``conversations`` becomes a list of chat conversations.
Every problem in the file is collected into one ``DataError`` naming the file, the row, the
field and the fix, so a messy file is repaired in one pass instead of one error at a time::

    python -m airbot data check airbot/samples/airline_train.jsonl
    python -c "from airbot.data.dataset import read_dataset; print(read_dataset('my.csv').format)"

The quality report lives in ``airbot.data.quality``; the dataset store in ``airbot.data.store``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from airbot.data.files import FIX_HINT, SUPPORTED, Problems, Record, read_records, type_name
from airbot.errors import DataError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

Message = dict[str, str]
Conversation = list[Message]

QUESTION_ALIASES = ("question", "instruction", "prompt", "query", "q", "input")
ANSWER_ALIASES = ("answer", "output", "response", "completion", "a")
# Extra context that belongs to the question (Alpaca's ``input``, Dolly's ``context``).
APPENDED_ALIASES = ("input", "context")
SYSTEM_ALIASES = ("system", "system_prompt")
ROLES = ("system", "user", "assistant")
SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                  "chatgpt": "assistant", "system": "system"}
__all__ = ["ANSWER_ALIASES", "QUESTION_ALIASES", "SUPPORTED", "Conversation", "LoadedDataset", "Message",
           "check_lengths", "read_dataset", "render_row", "split_rows", "templated", "token_lengths"]


@dataclass
class LoadedDataset:
    """A training set normalized to chat conversations, with where each row came from."""

    path: Path
    format: str
    """'qa', 'messages' or 'sharegpt'."""
    fields: dict[str, str]
    """Role of each source column used, e.g. {'question': 'instruction', 'answer': 'output'}."""
    rows: list[Conversation]
    """Each row: optional system, then alternating user/assistant, ending with assistant."""
    row_numbers: list[int]
    """1-based line (JSONL), data row (CSV/TSV/Parquet) or item (JSON) of each row in the source."""
    extras: list[dict[str, Any]] = field(default_factory=list)
    """Columns not used for the conversation (e.g. an evaluation set's ``facts``), per row."""
    file_type: str = ""
    """'csv', 'tsv', 'json', 'jsonl' or 'parquet'."""

    def __len__(self) -> int:
        return len(self.rows)

    def where(self, index: int) -> str:
        """How a person finds row ``index`` in their file ("line 7", "row 3")."""
        unit = {"jsonl": "line", "json": "item"}.get(self.file_type, "row")
        return f"{unit} {self.row_numbers[index]}"


def read_dataset(path: str | Path, *, tokenizer: PreTrainedTokenizerBase | None = None,
                 max_tokens: int | None = None) -> LoadedDataset:
    """Read, detect, normalize and validate a training file; raises one DataError with every problem.

    With ``max_tokens`` every conversation is measured with the chat template applied (the
    shared default tokenizer when none is given), since that is what training sees.
    """
    path = Path(path)
    file_type, records, problems = read_records(path)
    try:
        fmt, fields = _detect(path, records)
    except DataError as err:
        problems.append(str(err).removeprefix(f"{path.name}: "))
        problems.fail(path, FIX_HINT)
        raise
    rows, numbers, extras = _normalize(fmt, fields, records, problems)
    problems.fail(path, FIX_HINT)
    ds = LoadedDataset(path, fmt, fields, rows, numbers, extras, file_type)
    if max_tokens:
        check_lengths(ds, tokenizer, max_tokens)
    return ds


# --- format detection --------------------------------------------------------------------------
def _detect(path: Path, records: list[Record]) -> tuple[str, dict[str, str]]:
    """Pick the format from the columns seen across all rows (first spelling of each wins)."""
    columns: dict[str, str] = {}
    for record in records:
        for key in record.values:
            columns.setdefault(str(key).strip().lower(), key)
    if "messages" in columns:
        return "messages", {"messages": columns["messages"], **_pick(columns, "system", SYSTEM_ALIASES)}
    if "conversations" in columns:
        return "sharegpt", {"conversations": columns["conversations"], **_pick(columns, "system", SYSTEM_ALIASES)}
    return "qa", _qa_fields(path, columns)


def _pick(columns: dict[str, str], role: str, aliases: tuple[str, ...]) -> dict[str, str]:
    found = next((columns[a] for a in aliases if a in columns), None)
    return {role: found} if found is not None else {}


def _qa_fields(path: Path, columns: dict[str, str]) -> dict[str, str]:
    fields = {**_pick(columns, "question", QUESTION_ALIASES), **_pick(columns, "answer", ANSWER_ALIASES)}
    if len(fields) < 2:
        seen = ", ".join(f"'{c}'" for c in list(columns.values())[:20])
        missing = [role for role in ("question", "answer") if role not in fields]
        raise DataError(
            f"{path.name}: no {' and no '.join(missing)} column found (columns: {seen}). Name the question column one "
            f"of {', '.join(QUESTION_ALIASES)} and the answer column one of {', '.join(ANSWER_ALIASES)}; or use "
            f"OpenAI 'messages' or ShareGPT 'conversations'.")
    appended = [columns[a] for a in APPENDED_ALIASES if a in columns and columns[a] != fields["question"]]
    if appended:
        fields["input"] = appended[0]
    return {**fields, **_pick(columns, "system", SYSTEM_ALIASES)}


# --- normalization and row checks --------------------------------------------------------------
def _normalize(fmt: str, fields: dict[str, str], records: list[Record],
               problems: Problems) -> tuple[list[Conversation], list[int], list[dict[str, Any]]]:
    """Conversations of the good rows (with their numbers and extras); bad rows are recorded."""
    build = {"qa": _qa_row, "messages": _messages_row, "sharegpt": _sharegpt_row}[fmt]
    used = set(fields.values())
    rows, numbers, extras = [], [], []
    for record in records:
        before = len(problems)
        conversation = build(record, fields, problems)
        if conversation is not None and len(problems) == before:
            rows.append(conversation)
            numbers.append(record.number)
            extras.append({k: v for k, v in record.values.items() if k not in used})
    return rows, numbers, extras


def _text(record: Record, column: str, problems: Problems, required: bool = True) -> str | None:
    """The stripped text of ``column``; records what is wrong with it otherwise."""
    where = f"{record.where}, field '{column}'"
    if column not in record.values or record.values[column] is None:
        if required:
            problems.append(f"{where}: missing; every row needs it")
        return None
    value = record.values[column]
    if not isinstance(value, str):
        problems.append(f"{where}: is {type_name(value)} ({_short(value)}), expected text; write it as a "
                        f"quoted string")
        return None
    if required and not value.strip():
        problems.append(f"{where}: is empty; fill it in or delete the row")
        return None
    return value.strip()


def _short(value: Any, limit: int = 40) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[:limit] + "..."


def _qa_row(record: Record, fields: dict[str, str], problems: Problems) -> Conversation | None:
    question = _text(record, fields["question"], problems)
    answer = _text(record, fields["answer"], problems)
    extra = _text(record, fields["input"], problems, required=False) if "input" in fields else None
    system = _text(record, fields["system"], problems, required=False) if "system" in fields else None
    if question is None or answer is None:
        return None
    if extra:
        question = f"{question}\n\n{extra}"
    head = [{"role": "system", "content": system}] if system else []
    return [*head, {"role": "user", "content": question}, {"role": "assistant", "content": answer}]


def _conversation_list(record: Record, column: str, problems: Problems) -> list | None:
    """The list in ``column``; a CSV or Parquet cell may hold it as JSON text."""
    value = record.values.get(column)
    where = f"{record.where}, field '{column}'"
    if value is None:
        problems.append(f"{where}: missing; every row needs its conversation")
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as err:
            problems.append(f"{where}: is text that is not a JSON list ({err.msg}); write a list of messages")
            return None
        except RecursionError:
            problems.append(f"{where}: is JSON nested too deeply to be a list of messages; write a list of messages")
            return None
    if not isinstance(value, list):
        problems.append(f"{where}: is {type_name(value)}, expected a list of messages like "
                        f"[{{\"role\": \"user\", \"content\": \"...\"}}, ...]")
        return None
    if not value:
        problems.append(f"{where}: is an empty list; add the user question and the assistant answer")
        return None
    return value


def _messages_row(record: Record, fields: dict[str, str], problems: Problems) -> Conversation | None:
    items = _conversation_list(record, fields["messages"], problems)
    if items is None:
        return None
    return _checked(record, fields, items, "role", "content", dict(zip(ROLES, ROLES, strict=True)), problems)


def _sharegpt_row(record: Record, fields: dict[str, str], problems: Problems) -> Conversation | None:
    items = _conversation_list(record, fields["conversations"], problems)
    if items is None:
        return None
    return _checked(record, fields, items, "from", "value", SHAREGPT_ROLES, problems)


def _checked(record: Record, fields: dict[str, str], items: list, role_key: str, text_key: str,
             roles: dict[str, str], problems: Problems) -> Conversation | None:
    """Messages with known roles and text content, in a trainable order."""
    column = fields.get("messages") or fields["conversations"]
    messages: Conversation = []
    for index, item in enumerate(items, start=1):
        where = f"{record.where}, field '{column}', message {index}"
        message = _message(item, where, role_key, text_key, roles, problems)
        if message is not None:
            messages.append(message)
    if len(messages) != len(items):
        return None
    system = _text(record, fields["system"], problems, required=False) if "system" in fields else None
    if system and messages[0]["role"] != "system":
        messages.insert(0, {"role": "system", "content": system})
    order = _order_problem(messages)
    if order:
        problems.append(f"{record.where}, field '{column}': {order}")
        return None
    return messages


def _message(item: Any, where: str, role_key: str, text_key: str, roles: dict[str, str],
             problems: Problems) -> Message | None:
    if not isinstance(item, dict):
        problems.append(f"{where}: is {type_name(item)}, expected {{\"{role_key}\": ..., \"{text_key}\": ...}}")
        return None
    role, content = item.get(role_key), item.get(text_key)
    if role not in roles:
        known = ", ".join(roles)
        problems.append(f"{where}: unknown {role_key} {_short(role)}; use one of {known}")
        return None
    if not isinstance(content, str):
        what = "missing" if content is None else type_name(content)
        problems.append(f"{where}: '{text_key}' is {what}, expected text")
        return None
    if not content.strip():
        problems.append(f"{where}: '{text_key}' is empty; write the {roles[role]} text or remove the message")
        return None
    return {"role": roles[role], "content": content.strip()}


def _order_problem(messages: Conversation) -> str | None:
    """Why the roles are not system?, user, assistant, user, assistant, ..., assistant."""
    body = messages[1:] if messages[0]["role"] == "system" else messages
    for index, message in enumerate(body):
        position = index + 1 + (len(messages) - len(body))
        expected = "user" if index % 2 == 0 else "assistant"
        if message["role"] == "system":
            return f"message {position} is a system message; only the first message may be one"
        if message["role"] != expected:
            previous = body[index - 1]["role"] if index else "start"
            if index == 0:
                return f"message {position} is from the assistant; a conversation starts with the user"
            return f"messages {position - 1} and {position} are both from the {previous}; user and assistant " \
                   f"must take turns"
    if not body:
        return "has only a system message; add the user question and the assistant answer"
    if body[-1]["role"] != "assistant":
        return "ends with a user message; the last message must be the assistant answer the model learns"
    return None


# --- tokens ------------------------------------------------------------------------------------
def templated(messages: Conversation, tokenizer: PreTrainedTokenizerBase, *, prompt_only: bool = False) -> str:
    """The conversation as the model reads it (chat template applied)."""
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=prompt_only)
    return cast(str, text)  # tokenize=False: the template's text, never token ids


def token_lengths(texts: list[str], tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """Token counts of already-templated texts (the template carries its own special tokens)."""
    if not texts:
        return []
    return [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]


def check_lengths(ds: LoadedDataset, tokenizer: PreTrainedTokenizerBase | None, max_tokens: int) -> None:
    """Reject rows over ``max_tokens`` with the chat template applied (what training sees).

    Separate from parsing so callers can find a file's structural problems before paying for
    a tokenizer; ``None`` means the shared default model's tokenizer.
    """
    if tokenizer is None:
        from airbot.models import shared_tokenizer

        tokenizer = shared_tokenizer()
    problems = Problems()
    lengths = token_lengths([templated(m, tokenizer) for m in ds.rows], tokenizer)
    for index, length in enumerate(lengths):
        where = ds.where(index)
        if length > max_tokens:
            problems.append(f"{where}: {length} tokens with the chat template, over the limit of {max_tokens}; "
                            f"shorten it or raise data.max_tokens (--max-tokens)")
    problems.fail(ds.path, FIX_HINT)


def render_row(messages: Conversation, tokenizer: PreTrainedTokenizerBase) -> list[tuple[str, bool]]:
    """The templated conversation cut into (text, trained) pieces.

    A turn's trained span is what templating up to and including it adds after the generation
    prompt: its answer plus the end-of-turn token, which teaches the model to stop. Comparing
    two templatings works for any chat template, with no per-model markers.
    """
    full = templated(messages, tokenizer)
    spans = []
    for index, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        start = len(templated(messages[:index], tokenizer, prompt_only=True))
        end = len(templated(messages[:index + 1], tokenizer))
        if full[:end].startswith(full[:start]):
            spans.append((start, end))
    return _pieces(full, spans)


def _pieces(text: str, spans: list[tuple[int, int]]) -> list[tuple[str, bool]]:
    pieces: list[tuple[str, bool]] = []
    cursor = 0
    for start, end in spans:
        if start > cursor:
            pieces.append((text[cursor:start], False))
        pieces.append((text[start:end], True))
        cursor = end
    if cursor < len(text):
        pieces.append((text[cursor:], False))
    return pieces


# --- split -------------------------------------------------------------------------------------
def split_rows(n: int, heldout_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Deterministic (train, held-out) row indices, both sorted.

    Rows are ranked by a hash of (seed, index), so the split is the same on every machine and
    Python version, and adding rows at the end rarely moves existing ones between the sets.
    """
    if not 0 <= heldout_fraction < 1:
        raise DataError(f"data.heldout_fraction is {heldout_fraction}; use a share from 0 (no held-out rows) "
                        f"to below 1, e.g. 0.1.")
    count = round(n * heldout_fraction)
    if heldout_fraction > 0 and n >= 10:
        count = max(count, 1)
    count = min(count, max(n - 1, 0))
    ranked = sorted(range(n), key=lambda i: hashlib.sha256(f"{seed}:{i}".encode()).digest())
    heldout = sorted(ranked[:count])
    chosen = set(heldout)
    return [i for i in range(n) if i not in chosen], heldout
