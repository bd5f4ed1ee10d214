"""airbot.data.files: every supported file type reads into numbered records with their place in the
file, and file-level faults (broken JSON lines, non-UTF-8 bytes, duplicate columns) are reported
with the line or header they are on."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from airbot.data.files import read_records

ROWS = [{"question": "Pets?", "answer": "Small ones, EUR 50."}, {"question": "Bags?", "answer": "2 x 23 kg."}]


def _values(records: list) -> list[dict]:
    return [r.values for r in records]


@pytest.mark.parametrize(("name", "text", "file_type"), [
    ("d.csv", 'question,answer\nPets?,"Small ones, EUR 50."\nBags?,2 x 23 kg.\n', "csv"),
    ("d.tsv", "question\tanswer\nPets?\tSmall ones, EUR 50.\n\nBags?\t2 x 23 kg.\n", "tsv"),
])
def test_csv_and_tsv_records_know_their_row_and_line(tmp_path: Path, name: str, text: str, file_type: str) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    kind, records, problems = read_records(path)
    assert kind == file_type and not problems and _values(records) == ROWS
    assert [r.number for r in records] == [1, 2]
    assert records[0].where == "row 1 (line 2)"
    assert records[1].where == ("row 2 (line 3)" if file_type == "csv" else "row 2 (line 4)")  # blank line skipped


def test_json_list_and_jsonl_records(tmp_path: Path) -> None:
    listed = tmp_path / "d.json"
    listed.write_text(json.dumps(ROWS), encoding="utf-8")
    kind, records, problems = read_records(listed)
    assert kind == "json" and not problems and _values(records) == ROWS
    assert [(r.number, r.where) for r in records] == [(1, "item 1"), (2, "item 2")]

    lines = tmp_path / "d.jsonl"
    lines.write_text(json.dumps(ROWS[0]) + "\n\n" + json.dumps(ROWS[1]) + "\n", encoding="utf-8")
    kind, records, problems = read_records(lines)
    assert kind == "jsonl" and not problems and _values(records) == ROWS
    assert [(r.number, r.where) for r in records] == [(1, "line 1"), (3, "line 3")]


def test_parquet_records(tmp_path: Path) -> None:
    path = tmp_path / "d.parquet"
    pd.DataFrame(ROWS).to_parquet(path, index=False)
    kind, records, problems = read_records(path)
    assert kind == "parquet" and not problems and _values(records) == ROWS
    assert [(r.number, r.where) for r in records] == [(1, "row 1"), (2, "row 2")]


def test_a_bad_jsonl_line_is_a_problem_naming_its_line(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps(ROWS[0]) + '\n{"question": "Bags?", "answer": \n' + json.dumps(ROWS[1]) + "\n[1, 2]\n",
                    encoding="utf-8")
    _, records, problems = read_records(path)
    assert _values(records) == ROWS
    assert len(problems) == 2
    assert problems[0].startswith("line 2: invalid JSON")
    assert problems[1].startswith("line 4: is a list, expected an object")


def test_a_non_utf8_byte_is_a_problem_naming_its_line_and_offset(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_bytes(b"question,answer\nPets?,Small ones\nCaf\xe9?,Yes\n")
    _, records, problems = read_records(path)
    assert len(problems) == 1
    assert problems[0].startswith("line 3: byte 0xe9 at byte offset 36 is not valid UTF-8")
    assert [r.values["answer"] for r in records] == ["Small ones", "Yes"]  # the rest is still read


def test_duplicate_csv_columns_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("question,answer,Answer\nPets?,Yes,No\n", encoding="utf-8")
    _, records, problems = read_records(path)
    assert len(records) == 1
    assert problems == ["header: columns 2 and 3 are both named 'Answer'; rename or delete one so each column "
                        "has one meaning"]
