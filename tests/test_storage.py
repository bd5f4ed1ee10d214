"""airbot.storage: atomic JSON/text/array writes that never leave a tmp file or half a file, JSON
reads that answer None instead of raising, JSONL logs whose torn last line is skipped, file hashes;
names from requests resolved only inside the store; a cross-process lock that makes the second
writer wait (bounded) and that a killed holder never leaves stuck; dead writers' tmp files removed."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from airbot.errors import AirbotError, DocumentError, JobError
from airbot.storage import (
    append_jsonl,
    file_lock,
    is_locked,
    read_json,
    read_jsonl,
    remove_stale_tmp,
    resolve_name,
    save_npy,
    sha256_file,
    write_atomic,
    write_json,
)


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


def test_names_from_requests_resolve_inside_the_store_only(fresh_home: Path, tmp_path: Path) -> None:
    assert resolve_name("runs", "lora-0612") == fresh_home / "runs" / "lora-0612"
    assert resolve_name("indexes", "policy_v2.1") == fresh_home / "indexes" / "policy_v2.1"
    outside = tmp_path / "elsewhere"
    for text in ("../elsewhere", str(outside), "~/x", "./x", "a/b", "..", ".", "", "a" * 101, "bad name!", "x\x00"):
        with pytest.raises(JobError, match="is not a run name") as caught:
            resolve_name("runs", text)
        assert str(fresh_home) not in str(caught.value)  # names things, never the server's folders
    with pytest.raises(DocumentError, match="is not an index name"):
        resolve_name("indexes", "/etc")
    assert resolve_name("runs", str(outside), allow_paths=True) == outside  # the CLI's user owns the machine
    assert resolve_name("runs", outside) == outside  # a Path is a folder airbot's own code made


def test_a_symlink_out_of_the_store_is_refused(fresh_home: Path, tmp_path: Path) -> None:
    (fresh_home / "evals").mkdir()
    (tmp_path / "secret").mkdir()
    (fresh_home / "evals" / "innocent").symlink_to(tmp_path / "secret", target_is_directory=True)
    with pytest.raises(AirbotError, match="points outside") as caught:
        resolve_name("evals", "innocent")
    assert str(tmp_path) not in str(caught.value)


def test_file_lock_makes_the_second_writer_wait_then_tells_it(tmp_path: Path) -> None:
    lock = tmp_path / "idx" / ".lock"
    order: list[str] = []

    def second() -> None:
        with file_lock(lock, "the index 'idx'", wait_s=10):
            order.append("second")

    with file_lock(lock, "the index 'idx'"):
        assert is_locked(lock)
        worker = threading.Thread(target=second)
        worker.start()
        time.sleep(0.3)
        order.append("first")
        with pytest.raises(AirbotError, match="The index 'idx' is being changed by another process"):
            with file_lock(lock, "the index 'idx'", wait_s=0.1):
                pass
    worker.join(5)
    assert order == ["first", "second"] and not is_locked(lock)


def test_a_killed_holder_never_leaves_the_lock_stuck(tmp_path: Path) -> None:
    lock = tmp_path / ".lock"
    code = (f"import time; from pathlib import Path; from airbot.storage import file_lock\n"
            f"with file_lock(Path({str(lock)!r}), 'x'):\n    print('held', flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    assert is_locked(lock)
    holder.kill()
    holder.wait(10)
    with file_lock(lock, "x", wait_s=5):  # the kernel dropped it with the process
        pass


def test_stale_tmp_files_of_dead_writers_are_removed(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".manifest.json.{dead.stdout.strip()}.tmp"
    live = tmp_path / f".status.json.{os.getpid()}.tmp"
    for path in (stale, live, tmp_path / "manifest.json"):
        path.write_text("{}")
    assert remove_stale_tmp(tmp_path) == [stale.name]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, "manifest.json"])
