"""airbot.knowledge.manifest: where an index lives (a bare name under AIRBOT_HOME/indexes, a path as
given), which rows each document occupies, and that a Hit reads its citation fields from its chunk."""

from __future__ import annotations

from pathlib import Path

import pytest

from airbot.errors import DocumentError
from airbot.knowledge.chunking import Chunk
from airbot.knowledge.manifest import DocumentInfo, Hit, doc_spans, index_dir


def test_index_dir_puts_bare_names_under_home_and_keeps_paths(fresh_home: Path, tmp_path: Path) -> None:
    assert index_dir("default") == fresh_home / "indexes" / "default"
    assert index_dir("policy_v2.1") == fresh_home / "indexes" / "policy_v2.1"
    folder = tmp_path / "my-index"
    assert index_dir(folder) == folder and index_dir(str(folder), allow_paths=True) == folder
    assert index_dir("./kb", allow_paths=True) == Path("kb")
    assert index_dir("indexes/kb", allow_paths=True) == Path("indexes/kb")
    assert index_dir("~/kb", allow_paths=True) == Path.home() / "kb"
    for text in ("my index!", str(folder), "../default", "~/kb"):  # text from a request is a name, never a path
        with pytest.raises(DocumentError, match="is not an index name"):
            index_dir(text)


def _doc(name: str, chunks: int) -> DocumentInfo:
    return DocumentInfo(name=name, sha256="0" * 64, version=1, chunk_ids=[f"{name}-{i}" for i in range(chunks)],
                        added="2024-01-01", key=name)


def test_doc_spans_are_consecutive_in_manifest_order() -> None:
    docs = [_doc("policy.md", 3), _doc("empty.md", 0), _doc("terms.pdf", 2)]
    assert doc_spans(docs) == {"policy.md": (0, 3), "empty.md": (3, 3), "terms.pdf": (3, 5)}
    assert doc_spans([]) == {}


def test_hit_reads_its_fields_from_the_chunk() -> None:
    chunk = Chunk(id="c1", doc="policy.pdf", text="3.2 Pets travel in the cabin.", page=4, section="Pets", clause="3.2")
    hit = Hit(chunk=chunk, score=0.71, fused=0.02)
    assert (hit.doc, hit.page, hit.section, hit.clause, hit.text) == \
        ("policy.pdf", 4, "Pets", "3.2", "3.2 Pets travel in the cabin.")
    bare = Hit(chunk=Chunk(id="c2", doc="faq.md", text="Yes.", page=None, section="", clause=None), score=0.5, fused=0.5)
    assert bare.page is None and bare.clause is None and bare.section == ""
