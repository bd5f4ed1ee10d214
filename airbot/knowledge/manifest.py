"""The knowledge base's records and on-disk helpers: what the manifest stores per document,
what a search returns, and the atomic file writes every commit relies on. Split from
airbot/knowledge/index.py so that module holds the index logic alone."""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from airbot.config import airbot_home
from airbot.errors import DocumentError
from airbot.knowledge.chunking import Chunk


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


def index_dir(name_or_dir: str | Path) -> Path:
    """A bare name lives under ``AIRBOT_HOME/indexes``; anything path-like is used as given."""
    text = str(name_or_dir)
    if isinstance(name_or_dir, Path) or "/" in text or os.sep in text or text.startswith(".") or Path(text).is_dir():
        return Path(text).expanduser()
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", text):
        raise DocumentError(f"Index name '{text}' may only use letters, digits, '-', '_' and '.'.")
    return airbot_home() / "indexes" / text


def doc_spans(docs: list[DocumentInfo]) -> dict[str, tuple[int, int]]:
    """Each document's rows: documents are stored end to end in manifest order."""
    ends = np.cumsum([len(d.chunk_ids) for d in docs]).tolist()
    return {d.name: (end - len(d.chunk_ids), end) for d, end in zip(docs, ends, strict=True)}
