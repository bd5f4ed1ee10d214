"""From a training file on disk to raw records: the file's type, its bytes, its text, its rows.

Everything here is about the *file* (wrong extension, binary content, bad encoding, broken
JSON, ragged CSV); what the rows mean is ``airbot.data.dataset``'s job. Problems are collected into a
``Problems`` list so one error can name them all::

    python -c "from airbot.data.files import read_records; print(read_records('my.csv')[1][:2])"
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airbot.errors import DataError

SUPPORTED = {".csv": "csv", ".tsv": "tsv", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl",
             ".parquet": "parquet"}
MAX_LISTED = 50
# Limits checked before the expensive work (parsing, tokenizing, the quality report), so one file
# cannot occupy the host for minutes: a 100k-row CSV took 20+ minutes and a single 60 MB row 159 s
# and 8 GB before these. Environment variables raise them on a machine that can afford it.
MAX_FILE_MB = float(os.environ.get("AIRBOT_MAX_DATA_MB", "50"))
MAX_ROWS = int(os.environ.get("AIRBOT_MAX_ROWS", "10000"))
MAX_LINE_BYTES = 1 << 20
"""Longest physical line of a CSV, TSV or JSONL file (a whole row is usually one line; minified JSON
is one line, so a .json file is only held to the size limit)."""
LINES_PER_ROW = 4
MAX_ROW_CHARS = 100_000
"""Most characters of text in one row (all its fields): far past any row ``data.max_tokens`` allows."""
FIX_HINT = "Fix the problems above and load the file again; nothing was saved."
# Content that is plainly some other kind of file, found by its first bytes.
MAGIC = {b"%PDF": "a PDF document", b"PAR1": "a Parquet file", b"PK\x03\x04": "a ZIP archive (an Excel .xlsx or "
         "Word .docx is one)", b"\xd0\xcf\x11\xe0": "an old Microsoft Office file (.xls/.doc)",
         b"\x89PNG": "a PNG image", b"\xff\xd8\xff": "a JPEG image", b"\x1f\x8b": "a gzip archive",
         b"SQLite format 3": "an SQLite database"}


@dataclass
class Record:
    """One raw row before normalization."""

    number: int
    where: str
    values: dict[str, Any]


class Problems(list):
    """Collected problem lines; ``fail`` raises them as one DataError."""

    def fail(self, path: Path, hint: str = "", purpose: str = "for training") -> None:
        """Raise every problem, in file order (header first), the first MAX_LISTED spelled out;
        ``purpose`` says what the file was meant for ("for training", "as an evaluation set")."""
        if not self:
            return
        self.sort(key=_location_key)
        shown = list(self[:MAX_LISTED])
        if len(self) > MAX_LISTED:
            shown.append(f"... and {len(self) - MAX_LISTED} more problem(s) of the same kinds")
        header = f"{path.name} cannot be used {purpose}: {len(self)} problem(s) found."
        err = DataError.collected(header, shown, hint)
        err.problems = list(self)
        raise err


def _location_key(problem: str) -> int:
    """Problems start with their place ("line 7", "row 3 (line 4)", "item 2", "header")."""
    found = re.match(r"(?:line|row|item) (\d+)", problem)
    return int(found.group(1)) if found else 0


def read_records(path: str | Path) -> tuple[str, list[Record], Problems]:
    """(file type, records, row-level problems so far); file-level problems raise at once."""
    path = Path(path)
    file_type = _file_type(path)
    check_size(path, file_type)
    problems = Problems()
    records = _parse(path, file_type, _load_content(path, file_type, problems), problems)
    if len(records) > MAX_ROWS:  # exact, now that quoted line breaks and blank lines are accounted for
        raise _too_many_rows(path, f"{len(records):,}")
    _flag_huge_rows(records, problems)
    return file_type, records, problems


# --- limits, checked before parsing --------------------------------------------------------------
def check_size(path: Path, file_type: str) -> None:
    """Refuse, in about a second and without reading the file into memory, a file past the limits:
    bigger than ``MAX_FILE_MB``, more rows than ``MAX_ROWS`` (Parquet: from its footer; text: more
    than ``LINES_PER_ROW`` lines per allowed row, counted in 1 MB blocks, since a quoted CSV value
    may span lines; the exact count follows the parse) or a line longer than ``MAX_LINE_BYTES``."""
    size = path.stat().st_size
    if size > MAX_FILE_MB * 2**20:
        raise DataError(f"{path.name} is {size / 2**20:.0f} MB; airbot reads training and evaluation files of up to "
                        f"{MAX_FILE_MB:.0f} MB ({MAX_ROWS:,} rows). Keep the rows that matter most, or split the file.")
    if file_type == "parquet":
        _check_parquet_rows(path)
    elif file_type != "json":  # pretty-printed JSON has many lines per row: its size cap and exact count suffice
        _check_lines(path)


def _check_parquet_rows(path: Path) -> None:
    import pyarrow.parquet as pq

    try:
        rows = pq.ParquetFile(path).metadata.num_rows
    except (OSError, ValueError):
        return  # not readable as Parquet: the full read says so with its own message
    if rows > MAX_ROWS:
        raise _too_many_rows(path, f"{rows:,}")


def _check_lines(path: Path) -> None:
    """Count lines block by block; stop at the first one too long or past the line limit."""
    lines, line_start, offset = 0, 0, 0
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            start = 0
            while (end := block.find(b"\n", start)) >= 0:
                lines += 1
                _check_line(path, lines, offset + end - line_start)
                line_start, start = offset + end + 1, end + 1
            offset += len(block)
            _check_line(path, lines + 1, offset - line_start)
            if lines > MAX_ROWS * LINES_PER_ROW:
                raise _too_many_rows(path, f"more than {MAX_ROWS:,}")


def _check_line(path: Path, number: int, length: int) -> None:
    if length > MAX_LINE_BYTES:
        raise DataError(f"{path.name}, line {number}: the line is at least {length / 2**20:.1f} MB long; a row may "
                        f"be at most {MAX_LINE_BYTES // 2**20} MB. Check that the file has one example per line and "
                        f"no stray quote that joins lines.")


def _too_many_rows(path: Path, rows: str) -> DataError:
    return DataError(f"{path.name} has {rows} rows; airbot reads at most {MAX_ROWS:,} rows per file (set "
                     f"AIRBOT_MAX_ROWS to raise the limit on a machine that can train on more). Keep the rows that "
                     f"matter most, or split the file.")


def _flag_huge_rows(records: list[Record], problems: Problems) -> None:
    """Rows with more than ``MAX_ROW_CHARS`` characters are problems, so the file is refused before
    anything tokenizes them (``Problems.fail`` runs before the length check)."""
    for record in records:
        chars = _text_chars(record.values)
        if chars > MAX_ROW_CHARS:
            problems.append(f"{record.where}: has {chars:,} characters of text; a row may have at most "
                            f"{MAX_ROW_CHARS:,}. Shorten it or split it into several examples")


def _text_chars(value: Any, depth: int = 0) -> int:
    """Characters of text in a row's values (nested lists and objects included, a few levels deep)."""
    if isinstance(value, str):
        return len(value)
    if depth > 8:
        return 0
    if isinstance(value, dict):
        return sum(_text_chars(v, depth + 1) for v in value.values())
    if isinstance(value, list):
        return sum(_text_chars(v, depth + 1) for v in value)
    return 0


# --- the file itself ---------------------------------------------------------------------------
def _file_type(path: Path) -> str:
    if not path.is_file():
        raise DataError(f"{path.name} does not exist or is not a file. Check the path and try again.")
    ext = path.suffix.lower()
    if ext not in SUPPORTED:
        listed = ", ".join(sorted(SUPPORTED))
        raise DataError(f"{path.name}: the extension '{ext or '(none)'}' is not supported. airbot reads "
                        f"{listed}. Export or rename the file to one of those.")
    return SUPPORTED[ext]


def _load_content(path: Path, file_type: str, problems: Problems) -> str | bytes:
    """Raw bytes for Parquet, decoded text otherwise, after checking the content matches the name."""
    raw = path.read_bytes()
    if not raw.strip():
        raise DataError(f"{path.name} is empty. Upload a file with one example per row.")
    if file_type == "parquet":
        if not (raw.startswith(b"PAR1") and raw.endswith(b"PAR1")):
            raise DataError(f"{path.name} is not a Parquet file: it looks like {_describe_bytes(raw)}. "
                            f"Rename it to its real extension or export it again as Parquet.")
        return raw
    _check_text_bytes(path, raw, file_type)
    return _decode(raw, problems)


def _describe_bytes(raw: bytes) -> str:
    for magic, what in MAGIC.items():
        if raw.startswith(magic):
            return what
    head = raw.lstrip()[:1]
    if head in (b"{", b"["):
        return "JSON text"
    if b"\x00" in raw[:8192]:
        return "binary data"
    return "plain text (CSV or similar)"


def _check_text_bytes(path: Path, raw: bytes, file_type: str) -> None:
    kind = {"csv": "CSV", "tsv": "TSV", "json": "JSON", "jsonl": "JSON Lines"}[file_type]
    for magic, what in MAGIC.items():
        if raw.startswith(magic):
            raise DataError(f"{path.name} is {what}, not a {kind} text file. Training data must be a table of "
                            f"examples; export it as CSV/JSONL (policy documents go in the Knowledge tab).")
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DataError(f"{path.name} is saved as UTF-16. Re-save it as UTF-8 (in Excel: Save As > "
                        f"'CSV UTF-8'; in an editor: encoding UTF-8).")
    nul = raw.find(b"\x00")
    if nul >= 0:
        raise DataError(f"{path.name} contains binary data (a NUL byte at byte offset {nul}), so it is not a "
                        f"{kind} text file. Check you picked the right file, or export it again as {kind}.")
    if file_type in ("csv", "tsv") and raw.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"{", b"["):
        raise DataError(f"{path.name} contains JSON, not {kind}. Rename it to .jsonl (one object per line) "
                        f"or .json (one array).")


def _decode(raw: bytes, problems: Problems) -> str:
    """UTF-8 (BOM allowed). Every line that is not valid UTF-8 becomes a problem naming its byte,
    and the rest of the file is still read (bad bytes replaced), so every problem is listed at once."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    offset = 0
    for number, line in enumerate(raw.split(b"\n"), start=1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as err:
            bad = line[err.start:err.start + 1].hex()
            problems.append(f"line {number}: byte 0x{bad} at byte offset {offset + err.start} is not valid UTF-8; "
                            f"the file is probably saved as Latin-1/Windows-1252. Re-save it as UTF-8 (in Excel: "
                            f"Save As > 'CSV UTF-8')")
        offset += len(line) + 1
    return raw.decode("utf-8-sig", errors="replace")


# --- parsing into records ----------------------------------------------------------------------
def _parse(path: Path, file_type: str, content: str | bytes, problems: Problems) -> list[Record]:
    """Records of the file; row-level syntax problems are collected, not raised."""
    if file_type == "parquet":
        records = _parquet_records(path, content, problems)  # type: ignore[arg-type]
    elif file_type in ("csv", "tsv"):
        records = _csv_records(path, content, "," if file_type == "csv" else "\t", problems)  # type: ignore[arg-type]
    else:
        records = _json_records(path, content, file_type == "jsonl", problems)  # type: ignore[arg-type]
    if not records:
        problems.fail(path, FIX_HINT)
        raise DataError(f"{path.name} has no rows: there is nothing to train on. Add at least one example "
                        f"(30 or more are recommended).")
    return records


def _parquet_records(path: Path, raw: bytes, problems: Problems) -> list[Record]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(io.BytesIO(raw))
    except (OSError, ValueError) as err:  # pyarrow's ArrowInvalid is a ValueError
        raise DataError(f"{path.name} could not be read as Parquet ({err}). Export it again.") from None
    _check_duplicate_columns(table.column_names, problems)
    return [Record(i, f"row {i}", row) for i, row in enumerate(table.to_pylist(), start=1)]


def _check_duplicate_columns(names: list[str], problems: Problems) -> None:
    seen: dict[str, int] = {}
    for index, name in enumerate(names, start=1):
        key = name.strip().lower()
        if key and key in seen:
            problems.append(f"header: columns {seen[key]} and {index} are both named '{name}'; rename or "
                            f"delete one so each column has one meaning")
        seen.setdefault(key, index)


def _csv_records(path: Path, text: str, delimiter: str, problems: Problems) -> list[Record]:
    rows = _csv_rows(path, text, delimiter)
    if not rows:
        return []
    header = rows[0][1]
    _check_duplicate_columns(header, problems)
    sep = "commas" if delimiter == "," else "tabs"
    records = []
    for number, (line, values) in enumerate(rows[1:], start=1):
        where = f"row {number} (line {line})"
        if len(values) != len(header):
            problems.append(f"{where}: has {len(values)} values but the header has {len(header)} columns; "
                            f"put a value that contains {sep}, quotes or line breaks in double quotes (\"...\")")
            continue
        records.append(Record(number, where, {k: v for k, v in zip(header, values, strict=True) if k.strip()}))
    return records


def _csv_rows(path: Path, text: str, delimiter: str) -> list[tuple[int, list[str]]]:
    """(line, values) of each non-blank row; a header crammed into one column picks ';' or tabs."""
    first = text.split("\n", 1)[0]
    if delimiter not in first:
        delimiter = max((delimiter, ";", "\t", ","), key=first.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows = []
    try:
        for values in reader:
            if any(v.strip() for v in values):  # spreadsheets leave blank rows at the end
                rows.append((reader.line_num, values))
    except csv.Error as err:
        raise DataError(f"{path.name}, line {reader.line_num}: {err}. Check the quotes on that line.") from None
    return rows


def _json_records(path: Path, text: str, prefer_lines: bool, problems: Problems) -> list[Record]:
    """A .json may hold JSON Lines and a .jsonl one array: both are unambiguous, so both are read."""
    stripped = text.lstrip()
    looks_array = stripped.startswith("[") or (stripped.startswith("{") and not prefer_lines)
    if looks_array:
        try:
            return _json_document(path, json.loads(text), problems)
        except RecursionError:
            raise DataError(f"{path.name}: the JSON is nested too deeply to be a list of examples. Write it as "
                            f"[{{\"question\": ..., \"answer\": ...}}, ...].") from None
        except json.JSONDecodeError as err:
            if not (err.msg == "Extra data" and stripped.startswith("{")):
                _json_syntax_error(path, text, err)
    return _jsonl_records(text, problems)


def _json_syntax_error(path: Path, text: str, err: json.JSONDecodeError) -> None:
    first = text.lstrip().split("\n", 1)[0]
    hint = "Fix the JSON at that spot (a missing comma, quote or bracket is usual)."
    if err.lineno == 1 and err.colno == 1 and "," in first:
        hint = "The file looks like CSV; rename it to .csv."
    raise DataError(f"{path.name}, line {err.lineno} column {err.colno}: invalid JSON ({err.msg}). {hint}")


def _json_document(path: Path, doc: Any, problems: Problems) -> list[Record]:
    if isinstance(doc, dict):
        if not isinstance(doc.get("data"), list):
            keys = ", ".join(map(str, list(doc)[:10])) or "none"
            raise DataError(f"{path.name}: a JSON file must be a list of examples or {{\"data\": [...]}}; this "
                            f"object has the keys {keys}. Put the examples in a top-level list.")
        doc = doc["data"]
    if not isinstance(doc, list):
        raise DataError(f"{path.name}: the JSON is {type_name(doc)}, not a list of examples. "
                        f"Write it as [{{\"question\": ..., \"answer\": ...}}, ...].")
    records = []
    for number, item in enumerate(doc, start=1):
        if isinstance(item, dict):
            records.append(Record(number, f"item {number}", item))
        else:
            problems.append(f"item {number}: is {type_name(item)}, expected an object with named fields such "
                            f"as {{\"question\": \"...\", \"answer\": \"...\"}}")
    return records


def _jsonl_records(text: str, problems: Problems) -> list[Record]:
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as err:
            problems.append(f"line {number}: invalid JSON at column {err.colno} ({err.msg}); each line must be "
                            f"one complete JSON object")
            continue
        except RecursionError:
            problems.append(f"line {number}: the JSON is nested too deeply; each line must be one object such as "
                            f"{{\"question\": \"...\", \"answer\": \"...\"}}")
            continue
        if isinstance(item, dict):
            records.append(Record(number, f"line {number}", item))
        else:
            problems.append(f"line {number}: is {type_name(item)}, expected an object with named fields such "
                            f"as {{\"question\": \"...\", \"answer\": \"...\"}}")
    return records


def type_name(value: Any) -> str:
    """'a number', 'an object', ... as a person would call the value's JSON type."""
    if isinstance(value, bool):
        return "a true/false value"
    if isinstance(value, (int, float)):
        return "a number"
    names = {list: "a list", dict: "an object", str: "text", type(None): "null"}
    return names.get(type(value), f"a {type(value).__name__}")
