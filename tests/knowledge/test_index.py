"""The on-disk index: build, search, incremental updates, atomicity, and the shipped policy."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from airbot.config import RagConfig
from airbot.errors import DocumentError
from airbot.knowledge.index import KnowledgeBase, build_index
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


def test_index_past_the_ivf_threshold_finds_and_updates(tmp_path: Path, docs: tuple[Path, Path]) -> None:
    """A low ``ann_min_chunks`` puts the real policy in an IVF index: the same hits and cosines as
    a flat index after add / replace / remove / reopen, without retraining the centroids."""
    policy, pets, meals = sample_path("policy"), *docs
    flat = KnowledgeBase.open(tmp_path / "flat", create=True)
    kb = KnowledgeBase.open(tmp_path / "ivf", create=True, ann_min_chunks=3)
    questions = [json.loads(x)["question"] for x in sample_path("heldout").read_text().splitlines() if x.strip()][:10]
    questions += ["How much does it cost to bring my cat?", "vegetarian food order"]

    def same_hits(a: KnowledgeBase, b: KnowledgeBase) -> None:
        for q in questions:
            assert [(h.chunk.id, round(h.score, 4)) for h in a.search(q, 3)] == \
                   [(h.chunk.id, round(h.score, 4)) for h in b.search(q, 3)]

    for base in (flat, kb):
        base.add(policy)
    assert kb._index is not None and kb._index.kind == "ivf" and flat._index is not None and flat._index.kind == "flat"
    same_hits(kb, flat)
    centroids = kb._index.faiss.quantizer.reconstruct_n(0, kb._index.faiss.nlist)
    pets.write_text(PETS.replace("USD 40", "USD 55"))
    for base in (flat, kb):
        base.add(pets)
        base.replace(pets)
        base.add(meals)
    same_hits(kb, flat)
    assert np.array_equal(kb._index.faiss.quantizer.reconstruct_n(0, kb._index.faiss.nlist), centroids)
    assert "USD 55" in kb.search("price of a cat in the cabin", 1)[0].text
    for base in (flat, kb):
        base.remove(policy.name)
    assert kb._index.kind == "ivf" and kb._index.ntotal == 4
    assert kb.search("vegetarian food order", 1)[0].doc == "meals.md"
    same_hits(kb, flat)
    manifest = json.loads((tmp_path / "ivf" / "manifest.json").read_text())
    assert manifest["vector_index"] == "ivf" and manifest["format"] == 2
    again = KnowledgeBase.open(tmp_path / "ivf", ann_min_chunks=2)
    assert again._index is not None and again._index.kind == "ivf"
    assert np.array_equal(again._index.cells, kb._index.cells)
    same_hits(again, flat)
    assert KnowledgeBase.open(tmp_path / "ivf")._index.kind == "flat"  # under the default threshold: exact again


def test_format_1_index_opens_and_is_upgraded(tmp_path: Path, docs: tuple[Path, Path]) -> None:
    """An index written before format 2 (no ``vector_index``, flat FAISS) opens, searches the
    same, and its next change writes format 2; a newer format is refused clearly."""
    pets, meals = docs
    build_index([pets], tmp_path / "idx")
    path = tmp_path / "idx" / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest.pop("vector_index")
    path.write_text(json.dumps({**manifest, "format": 1}))
    kb = KnowledgeBase.open(tmp_path / "idx")
    assert kb.search("cat in the cabin", 1)[0].clause == "1.1"
    kb.add(meals)
    assert json.loads(path.read_text())["format"] == 2
    path.write_text(json.dumps({**json.loads(path.read_text()), "format": 99}))
    with pytest.raises(DocumentError, match="format 99"):
        KnowledgeBase.open(tmp_path / "idx")


def test_an_faq_entry_is_found_by_its_question_as_well_as_its_answer(tmp_path: Path) -> None:
    """Each entry's vector holds its question and its answer; other chunks keep their text's alone."""
    doc = tmp_path / "vet.md"
    doc.write_text("# Vet FAQ\n\nAll prices include VAT.\n\n## Fees\n\n**How much is a consultation?**\n\n"
                   "A standard one costs GBP 48 and a double one GBP 85.\n\n**Do you treat horses?**\n\n"
                   "No. We treat dogs, cats and rabbits.\n")
    kb = build_index([doc], tmp_path / "index")
    chunks = kb.chunks()
    assert [c.question() for c in chunks] == [None, "How much is a consultation?", "Do you treat horses?"]
    plain = kb.embed([c.embed_text() for c in chunks])
    both = plain[1] + kb.embed(["How much is a consultation?"])[0]
    assert np.allclose(kb._vectors[0], plain[0], atol=1e-5)
    assert np.allclose(kb._vectors[1], both / np.linalg.norm(both), atol=1e-5)
    assert kb.search("What's the price of a regular appointment with a vet?", 1)[0].chunk.question() == (
        "How much is a consultation?")


def test_relevance_threshold_still_separates_the_sample(tmp_path: Path) -> None:
    """min_score semantics: held-out questions stay above it, out-of-scope ones below."""
    kb = build_index([sample_path("policy")], tmp_path / "idx")
    held = [json.loads(x)["question"] for x in sample_path("heldout").read_text().splitlines() if x.strip()]
    oos = [json.loads(x)["question"] for x in sample_path("out_of_scope").read_text().splitlines() if x.strip()]
    low = min(kb.relevance(q, kb.search(q, 3)) for q in held)
    high = max(kb.relevance(q, kb.search(q, 3)) for q in oos)
    assert high < kb.refusal_threshold() <= low


TELECOM = Path(__file__).resolve().parents[1] / "fixtures" / "telecom"


def test_calibrated_threshold_answers_telecom_questions_the_global_one_refused(tmp_path: Path) -> None:
    """A small index attracts off-topic questions less, so its threshold is lower than the global
    min_score: in-scope telecom questions under 0.40 are answered, out-of-scope ones still refused."""
    kb = build_index([TELECOM / "policy.md"], tmp_path / "idx")
    rows = [json.loads(x) for x in (TELECOM / "heldout.jsonl").read_text().splitlines() if x.strip()]
    oos = [json.loads(x)["question"] for x in (TELECOM / "out_of_scope.jsonl").read_text().splitlines() if x.strip()]
    held = [kb.relevance(r["question"], kb.search(r["question"], 3)) for r in rows]
    high = max(kb.relevance(q, kb.search(q, 3)) for q in oos)
    threshold = kb.refusal_threshold()
    assert json.loads((tmp_path / "idx" / "manifest.json").read_text())["refusal"]["threshold"] < kb.rag.min_score
    assert any(s < kb.rag.min_score for s in held)  # what the global threshold wrongly refused
    assert high < threshold <= min(held)


def test_index_without_calibration_keeps_the_global_min_score(tmp_path: Path, docs: tuple[Path, Path]) -> None:
    """Indexes written before calibration have no ``refusal`` entry: they open and refuse at
    min_score; their next change calibrates them."""
    pets, meals = docs
    build_index([pets], tmp_path / "idx", rag=RagConfig(min_score=0.42))
    path = tmp_path / "idx" / "manifest.json"
    manifest = json.loads(path.read_text())
    assert manifest["refusal"]["cohort"] > 20
    manifest.pop("refusal")
    path.write_text(json.dumps(manifest))
    kb = KnowledgeBase.open(tmp_path / "idx", rag=RagConfig(min_score=0.42))
    assert kb.refusal_threshold() == 0.42 and kb.refusal_threshold(0.3) == 0.3
    assert kb.status().refusal_threshold == 0.42
    assert kb.status().refusal.startswith("refuses below 0.42 (the global rag.min_score: this index has no calibration")
    kb.add(meals)
    assert "refusal" in json.loads(path.read_text())
    assert 0.42 - 0.1 <= kb.refusal_threshold() <= 0.42 + 0.05
    status = kb.status()
    assert status.refusal_threshold == kb.refusal_threshold() and status.to_dict()["refusal"] == status.refusal
    assert status.refusal.startswith(f"refuses below {kb.refusal_threshold():.2f} (calibrated on this index: "
                                     "off-topic questions score 0.")


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
    from airbot.ui.state import AppState

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
