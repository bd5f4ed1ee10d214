"""The knowledge base's records and on-disk helpers: what the manifest stores per document,
what a search returns, and the atomic file writes every commit relies on. Split from
airbot/knowledge/index.py so that module holds the index logic alone."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from airbot.errors import DocumentError
from airbot.knowledge.chunking import Chunk
from airbot.storage import resolve_name


@dataclass
class DocumentInfo:
    """One indexed document as the manifest records it."""

    name: str
    sha256: str
    version: int
    chunk_ids: list[str]
    added: str
    key: str
    source: str = ""
    names: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk: ``score`` is the dense cosine (what the refusal threshold is compared to),
    ``fused`` the rank-fusion score the list is ordered by."""

    chunk: Chunk
    score: float
    fused: float

    @property
    def doc(self) -> str:
        return self.chunk.doc

    @property
    def page(self) -> int | None:
        return self.chunk.page

    @property
    def section(self) -> str:
        return self.chunk.section

    @property
    def clause(self) -> str | None:
        return self.chunk.clause

    @property
    def text(self) -> str:
        return self.chunk.text


@dataclass
class IndexStatus:
    """What the UI and CLI show about an index."""

    path: str
    version: int
    embedder: str
    chunk_tokens: int
    documents: list[DocumentInfo] = field(default_factory=list)
    refusal_threshold: float | None = None  # the relevance below which the RAG bots refuse
    refusal: str = ""  # that rule in words, with where the number came from (airbot.knowledge.refusal.describe)

    @property
    def chunks(self) -> int:
        return sum(len(d.chunk_ids) for d in self.documents)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "chunks": self.chunks}


def index_dir(name_or_dir: str | Path, *, allow_paths: bool = False) -> Path:
    """The folder of an index: a bare name lives under ``AIRBOT_HOME/indexes``; a path is used as
    given only with ``allow_paths`` (the CLI) or as a ``Path`` airbot made (``airbot.storage.resolve_name``)."""
    return resolve_name("indexes", name_or_dir, allow_paths=allow_paths)


FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")


def check_manifest(root: Path, manifest: dict[str, Any], allowed_embedders: set[str]) -> None:
    """Refuse a manifest that points outside its own folder or names an embedder the server does not
    allow (a loaded embedder is code and weights from wherever it names): every file it lists, and
    every document's vectors key, must be a plain file name inside ``root``."""
    files = manifest.get("files") or {}
    names = [*(files.values() if isinstance(files, dict) else [files]),
             *(d.get("key", "") for d in manifest.get("documents", []) if isinstance(d, dict))]
    bad = [str(n)[:80] for n in names if not (isinstance(n, str) and FILE_NAME.fullmatch(n))]
    where = root.name
    if bad or not isinstance(files, dict) or not isinstance(manifest.get("documents", []), list):
        raise DocumentError(f"The index '{where}' has a manifest that names files outside its own folder "
                            f"({', '.join(bad) or 'malformed entries'}), so it is not opened. Rebuild the index "
                            f"from its documents.")
    embedder = str(manifest.get("embedder", ""))
    if embedder and embedder not in allowed_embedders:
        raise DocumentError(f"The index '{where}' was built with the embedder '{embedder[:80]}', which this server "
                            f"does not use (allowed: {', '.join(sorted(allowed_embedders))}). Rebuild the index "
                            f"with the configured embedder (model.embedder).")


def doc_spans(docs: list[DocumentInfo]) -> dict[str, tuple[int, int]]:
    """Each document's rows: documents are stored end to end in manifest order."""
    ends = np.cumsum([len(d.chunk_ids) for d in docs]).tolist()
    return {d.name: (end - len(d.chunk_ids), end) for d, end in zip(docs, ends, strict=True)}
