"""airbot.storage: atomic JSON/text/array writes that never leave a tmp file or half a file, JSON
reads that answer None instead of raising, JSONL logs whose torn last line is skipped, file hashes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from airbot.storage import append_jsonl, read_json, read_jsonl, save_npy, sha256_file, write_atomic, write_json


def test_write_json_round_trips_and_stringifies_what_json_lacks(tmp_path: Path) -> None:
    path = tmp_path / "status.json"
    write_json(path, {"phase": "done", "note": "café", "where": tmp_path})
    assert read_json(path) == {"phase": "done", "note": "café", "where": str(tmp_path)}
    assert "café" in path.read_text(encoding="utf-8")  # written as UTF-8, not \u escapes
    assert [p.name for p in tmp_path.iterdir()] == ["status.json"]


@pytest.mark.parametrize("content", [None, "{not json", "[1, 2]", '"text"', "[" * 100_000 + "]" * 100_000])
def test_read_json_answers_none_for_missing_corrupt_non_object_or_too_deep(tmp_path: Path, content: str | None) -> None:
    path = tmp_path / "x.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    assert read_json(path) is None


def test_write_atomic_keeps_the_old_file_and_no_tmp_when_the_writer_raises(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    write_json(path, {"version": 1})

    def broken(tmp: Path) -> None:
        tmp.write_text('{"version": 2, "half', encoding="utf-8")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomic(path, broken)
    assert read_json(path) == {"version": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]


def test_jsonl_appends_whole_lines_and_reads_skip_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    assert read_jsonl(path) == []
    append_jsonl(path, {"step": 1})
    append_jsonl(path, {"step": 2, "loss": 0.5})
    with path.open("a", encoding="utf-8") as fh:
        fh.write('{"step": 3, "lo')  # a writer killed mid-line
    assert read_jsonl(path) == [{"step": 1}, {"step": 2, "loss": 0.5}]
    assert path.read_text(encoding="utf-8").count("\n") == 2


def test_save_npy_round_trips(tmp_path: Path) -> None:
    array = np.arange(12, dtype=np.float32).reshape(3, 4) / 7
    path = tmp_path / "vectors.npy"
    save_npy(path, array)
    loaded = np.load(path)
    assert loaded.dtype == np.float32 and np.array_equal(loaded, array)
    assert [p.name for p in tmp_path.iterdir()] == ["vectors.npy"]


def test_sha256_file_matches_hashlib_across_blocks(tmp_path: Path) -> None:
    data = bytes(range(256)) * 5000  # > 1 MiB, so more than one block is read
    path = tmp_path / "doc.pdf"
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()
    path.write_bytes(b"")
    assert sha256_file(path) == hashlib.sha256(b"").hexdigest()
    assert json.dumps(sha256_file(path))  # a plain str
