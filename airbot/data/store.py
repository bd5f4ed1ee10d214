"""Accepted training sets on disk, so they survive a restart and a run can name its data.

Each dataset is a folder ``AIRBOT_HOME/datasets/<name>/`` holding the file exactly as the
user gave it (``original.<ext>``), the normalized ``data.jsonl`` (one ``{"messages": [...]}``
per row plus the row's extra columns) and ``meta.json``. A dataset is written into a hidden
temporary folder and renamed into place, so a crash never leaves half a dataset and an
existing one is never overwritten; the shipped sample (``meta.origin == "sample"``) is the only
dataset airbot ever replaces itself. Names come from requests, so ``get_dataset`` takes names only::

    python -m airbot data list
    python -c "from airbot.data.store import save_dataset; print(save_dataset('my.csv').name)"
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from airbot.data.dataset import LoadedDataset, read_dataset
from airbot.errors import DataError
from airbot.storage import file_lock, resolve_name, store_dir

SAMPLE_NAME = "airline-sample"


@dataclass
class StoredDataset:
    """One dataset folder and what ``meta.json`` says about it."""

    name: str
    dir: Path
    meta: dict[str, Any]

    @property
    def data_path(self) -> Path:
        """The normalized messages file every trainer reads (``read_dataset`` reads it back)."""
        return self.dir / "data.jsonl"

    @property
    def source_path(self) -> Path:
        """The user's file, byte for byte."""
        return self.dir / self.meta["source_file"]

    @property
    def rows(self) -> int:
        return int(self.meta["rows"])

    def load(self) -> LoadedDataset:
        """The stored rows as a LoadedDataset (format 'messages', extras kept)."""
        return read_dataset(self.data_path)


def datasets_dir() -> Path:
    """Where datasets live; read on each call so a changed AIRBOT_HOME is honoured."""
    return store_dir("datasets")


def sanitize_name(text: str) -> str:
    """A safe folder name from a file stem: lowercase letters, digits, '-' and '_'."""
    name = re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-_")
    return name[:60].strip("-_") or "dataset"


def check_new_name(name: str) -> str:
    """The folder name a dataset asked to be stored as ``name`` gets; the sample's name is refused
    (checked before any work, so ``data check --save airline-sample`` says so at once)."""
    wanted = sanitize_name(name)
    if wanted == SAMPLE_NAME:
        raise DataError(f"'{SAMPLE_NAME}' is the name of the shipped sample, so your data cannot be stored under it "
                        f"(the sample would be confused with it). Pick another name, e.g. 'my-airline'.")
    return wanted


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_dataset(path: str | Path, name: str | None = None, *, loaded: LoadedDataset | None = None,
                 max_tokens: int | None = None) -> StoredDataset:
    """Validate ``path`` and store it; identical content already stored is reused, not copied again.

    An explicit ``name`` that is taken by different content is an error (nothing is replaced);
    a name derived from the file stem gets a ``-2``, ``-3`` ... suffix instead.
    """
    path = Path(path)
    wanted = check_new_name(name) if name is not None else None
    ds = loaded or read_dataset(path, max_tokens=max_tokens)
    sha = file_sha256(path)
    same = [d for d in list_datasets() if d.meta.get("sha256") == sha and wanted in (None, d.name)]
    if same:
        return same[0]
    base = wanted or sanitize_name(path.stem)
    if name is not None and (datasets_dir() / base).exists():
        raise DataError(f"A dataset named '{base}' already exists with different content. Pick another name "
                        f"or delete that dataset first.")
    return _write(path, ds, base, sha, allow_suffix=name is None)


def _write(path: Path, ds: LoadedDataset, base: str, sha: str, allow_suffix: bool,
           origin: str = "user") -> StoredDataset:
    root = datasets_dir()
    tmp = root / f".tmp-{base}-{uuid.uuid4().hex[:8]}"
    try:
        tmp.mkdir()
        meta = _fill(tmp, path, ds, sha) | {"origin": origin}
        for attempt in range(1, 1000):
            name = base if attempt == 1 else f"{base}-{attempt}"
            if _claim(tmp, root / name, meta | {"name": name}):
                return StoredDataset(name, root / name, meta | {"name": name})
            if not allow_suffix:
                break
        raise DataError(f"Could not store dataset '{base}': the name is taken. Pick another name.")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _fill(folder: Path, source: Path, ds: LoadedDataset, sha: str) -> dict[str, Any]:
    """Write the copy and the normalized rows; return the meta to go with them."""
    source_file = "original" + source.suffix.lower()
    shutil.copyfile(source, folder / source_file)
    with (folder / "data.jsonl").open("w", encoding="utf-8") as out:
        for messages, extra in zip(ds.rows, ds.extras or [{}] * len(ds), strict=True):
            out.write(json.dumps({"messages": messages, **extra}, ensure_ascii=False, default=str) + "\n")
    extra_columns = sorted({k for extra in ds.extras for k in extra})
    return {"format": ds.format, "file_type": ds.file_type, "fields": ds.fields, "rows": len(ds),
            "extra_columns": extra_columns, "source_name": source.name, "source_file": source_file,
            "sha256": sha, "created": datetime.now(UTC).isoformat(timespec="seconds")}


def _claim(tmp: Path, target: Path, meta: dict[str, Any]) -> bool:
    """Write meta.json last, then rename the folder into place; False when the name is taken."""
    (tmp / "meta.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False), encoding="utf-8")
    if target.exists():
        return False
    try:
        tmp.rename(target)  # atomic on one filesystem; fails if another save took the name meanwhile
    except OSError:
        return False
    return True


def list_datasets() -> list[StoredDataset]:
    """Every complete dataset, newest first (folders without meta.json are ignored)."""
    found = []
    for folder in datasets_dir().iterdir():
        meta_path = folder / "meta.json"
        if folder.name.startswith(".") or not meta_path.is_file():
            continue
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        found.append(StoredDataset(folder.name, folder, meta))
    return sorted(found, key=lambda d: (d.meta.get("created", ""), d.name), reverse=True)


def get_dataset(name: str) -> StoredDataset:
    """The stored dataset ``name``, or a DataError listing the ones there are (a name only, never a path)."""
    resolve_name("datasets", name)  # a path or '../x' is refused with a message that says so
    for stored in list_datasets():
        if stored.name == name:
            return stored
    known = ", ".join(d.name for d in list_datasets()) or "none yet"
    raise DataError(f"No dataset named '{name}' (stored: {known}). Upload it in the Data tab or run "
                    f"`python -m airbot data check FILE --save`.")


def delete_dataset(name: str) -> None:
    """Remove a dataset; renamed aside first so a half-deleted folder never looks like a dataset."""
    stored = get_dataset(name)
    trash = stored.dir.with_name(f".trash-{name}-{uuid.uuid4().hex[:8]}")
    stored.dir.rename(trash)
    shutil.rmtree(trash, ignore_errors=True)


def ensure_sample_dataset() -> StoredDataset:
    """The shipped airline training set, stored once (normally as 'airline-sample').

    Only a dataset airbot stored *as the sample* (``meta.origin == "sample"``) is ever replaced, when
    the shipped sample changed; a user's dataset is never touched, even one that holds the name
    (the sample then gets a suffix). One process at a time, so two page loads store it once.
    """
    from airbot.samples import sample_path

    source = sample_path("train")
    sha = file_sha256(source)
    with file_lock(datasets_dir() / ".sample.lock", "the sample dataset", wait_s=60):
        stored = list_datasets()
        current = [d for d in stored if d.meta.get("sha256") == sha
                   and (d.meta.get("origin") == "sample" or (d.name == SAMPLE_NAME and "origin" not in d.meta))]
        if current:
            return current[0]
        for old in (d for d in stored if d.meta.get("origin") == "sample"):
            delete_dataset(old.name)  # ours, not the user's: an updated sample replaces its old copy
        return _write(source, read_dataset(source), SAMPLE_NAME, sha, allow_suffix=True, origin="sample")
