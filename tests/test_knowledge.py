"""The on-disk index: build, search, incremental updates, atomicity, and the shipped policy."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from airbot.config import RagConfig
from airbot.errors import DocumentError
from airbot.knowledge import KnowledgeBase, build_index
from airbot.ranking import candidates, fuse, tokenize
from airbot.samples import sample_path

PETS = "# Pets\n\n## 1. Cabin pets\n\n1.1 Cats and small dogs travel in the cabin for USD 40 per flight.\n\n" \
       "1.2 The carrier may weigh at most 8 kg including the pet.\n"
MEALS = "# Meals\n\n## 1. Food on board\n\n1.1 Hot meals are served on flights longer than 3 hours.\n\n" \
        "1.2 Vegetarian meals must be ordered 24 hours before departure.\n"


@pytest.fixture
def docs(tmp_path: Path) -> tuple[Path, Path]:
    pets, meals = tmp_path / "pets.md", tmp_path / "meals.md"
    pets.write_text(PETS)
    meals.write_text(MEALS)
    return pets, meals


def test_build_search_and_reopen(tmp_path: Path, docs: tuple[Path, Path]) -> None:
    seen: list[float] = []
    kb = build_index(docs, tmp_path / "idx", progress=lambda f, _m: seen.append(f))
    assert seen and seen[-1] == pytest.approx(1.0)
    hits = kb.search("How much does it cost to bring my cat?", 2)
    assert hits[0].doc == "pets.md" and hits[0].clause == "1.1" and hits[0].section == "1. Cabin pets"
    assert 0 < hits[0].score <= 1 and hits[0].fused >= hits[1].fused
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text())
    assert [d["name"] for d in manifest["documents"]] == ["pets.md", "meals.md"]
    assert all(len(d["sha256"]) == 64 and d["version"] == 1 and d["chunk_ids"] for d in manifest["documents"])
    again = KnowledgeBase.open(tmp_path / "idx")
    assert again.search("vegetarian food order", 1)[0].doc == "meals.md"
    assert again.status().chunks == len(again.chunks()) == 4 and again.version == 2


def test_replace_bumps_version_and_leaves_other_vectors_untouched(tmp_path: Path, docs: tuple[Path, Path]) -> None:
    pets = docs[0]
    kb = build_index(docs, tmp_path / "idx")
    meals_key = next(d.key for d in kb.documents() if d.name == "meals.md")
    meals_file = tmp_path / "idx" / "vectors" / f"{meals_key}.npy"
    before = (meals_file.stat().st_mtime_ns, meals_file.stat().st_ino)
    pets.write_text(PETS.replace("USD 40", "USD 55"))
    info = kb.replace(pets)
    assert info.version == 2 and kb.version == 3
    assert (meals_file.stat().st_mtime_ns, meals_file.stat().st_ino) == before
    assert "USD 55" in kb.search("price of a cat in the cabin", 1)[0].text
    assert kb.add(pets).version == 2  # unchanged content: no new version
    kb.remove("meals.md")
    assert [d.name for d in kb.documents()] == ["pets.md"] and not meals_file.exists()
    assert all(h.doc == "pets.md" for h in kb.search("vegetarian meals", 3))
    assert len(list((tmp_path / "idx").glob("faiss-*.index"))) == 1  # old versions are cleaned up


def test_failed_update_leaves_previous_index_intact(tmp_path: Path, docs: tuple[Path, Path],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import faiss

    pets, meals = docs
    kb = build_index([pets], tmp_path / "idx")
    manifest = (tmp_path / "idx" / "manifest.json").read_text()

    def boom(*_a: object, **_k: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(faiss, "write_index", boom)
    with pytest.raises(OSError, match="disk full"):
        kb.add(meals)
    monkeypatch.undo()
    assert (tmp_path / "idx" / "manifest.json").read_text() == manifest
    assert [d.name for d in kb.documents()] == ["pets.md"]
    reopened = KnowledgeBase.open(tmp_path / "idx")
    assert reopened.status().chunks == 2 and reopened.search("cat", 1)[0].doc == "pets.md"


def test_errors_are_clear(tmp_path: Path, docs: tuple[Path, Path]) -> None:
    with pytest.raises(DocumentError, match=r"No index at .*python -m airbot index"):
        KnowledgeBase.open(tmp_path / "missing")
    kb = build_index([docs[0]], tmp_path / "idx")
    with pytest.raises(DocumentError, match=r"no document named 'nope\.md'"):
        kb.remove("nope.md")
    with pytest.raises(DocumentError, match=r"no document named 'meals\.md' to replace"):
        kb.replace(docs[1])
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(b"not a pdf")
    with pytest.raises(DocumentError, match=r"bad\.pdf could not be read"):
        kb.add(bad)
    assert [d.name for d in kb.documents()] == ["pets.md"]


def test_named_index_lives_under_airbot_home(fresh_home: Path, docs: tuple[Path, Path]) -> None:
    kb = KnowledgeBase.open("default", create=True)
    kb.add(docs[0])
    assert (fresh_home / "indexes" / "default" / "manifest.json").is_file()
    with pytest.raises(DocumentError, match="may only use"):
        KnowledgeBase.open("bad name!")


def test_fusion_and_tokens() -> None:
    dense = np.array([0.9, 0.5, 0.1], dtype=np.float32)
    lexical = np.array([0.0, 3.0, 0.0], dtype=np.float32)
    assert fuse(dense, lexical, "dense").argmax() == 0
    assert fuse(dense, lexical, "bm25").argmax() == 1
    rrf = fuse(dense, lexical, "rrf", rrf_k=1)
    assert rrf[1] > rrf[0] > rrf[2]  # a chunk ranked by both beats one ranked first by one
    close = np.array([0.60, 0.58, 0.1, 0.05], dtype=np.float32)
    terms = np.array([0.0, 2.0, 0.0, 4.0], dtype=np.float32)
    weighted = fuse(close, terms, "weighted", weight=0.1)
    assert weighted[1] > weighted[0]  # exact terms break a near-tie between similar clauses
    assert list(candidates(close, terms, 2)) == [0, 1, 3]  # dense top 2, plus BM25's best match
    assert tokenize("What are the bags' charges?") == ["bag", "charg"]


def test_shipped_policy_retrieval_and_v2_update(tmp_path: Path) -> None:
    """The documented figures in small: right clause in the top 3, and a v2 swap in seconds."""
    held = [json.loads(x) for x in sample_path("heldout").read_text().splitlines() if x.strip()]
    kb = build_index([sample_path("policy")], tmp_path / "idx", rag=RagConfig())
    found = sum(row["clause"] in [h.clause for h in kb.search(row["question"], 3)] for row in held)
    assert found / len(held) >= 0.9
    started = time.perf_counter()
    kb.replace(sample_path("policy_v2"), name=sample_path("policy").name)
    assert time.perf_counter() - started < 20
    change = json.loads(sample_path("changes").read_text().splitlines()[0])
    hits = kb.search(change["question"], 3)
    assert any(change["new"] in h.text for h in hits) and not any(change["old"] in h.text for h in hits)


def test_knowledge_panel_handlers_and_api_names(fresh_home: Path, docs: tuple[Path, Path]) -> None:
    import gradio as gr

    from airbot.config import load_config
    from airbot.ui import knowledge_panel
    from airbot.ui.app import AppState

    state = AppState(config=load_config())
    with gr.Blocks() as demo:
        knowledge_panel.build(state)
    names = {fn.api_name for fn in demo.fns.values()}
    assert {"kb_add", "kb_use_sample", "kb_status", "kb_remove", "kb_chunks", "kb_replace"} <= names
    panel = knowledge_panel.KnowledgePanel(state.config)
    status, table, picker, chunks = panel.add([str(p) for p in docs], progress=lambda *a, **k: None)
    assert "2 document(s), 4 chunks" in status and list(table["document"]) == ["pets.md", "meals.md"]
    assert picker["value"] == "meals.md" and list(chunks["clause / page"]) == ["1.1", "1.2"]
    new = docs[0].with_name("pets-2026.md")
    new.write_text(PETS.replace("USD 40", "USD 45"))
    status, table, _, chunks = panel.replace("pets.md", str(new), progress=lambda *a, **k: None)
    assert "pets.md (v2)" in status and any("USD 45" in t for t in chunks["text"])
    status, table, picker, _ = panel.remove("meals.md")
    assert list(table["document"]) == ["pets.md"] and picker["choices"] == ["pets.md"]
    with pytest.raises(gr.Error, match="Pick the document"):
        knowledge_panel.user_errors(panel.remove)(None)
