"""The knowledge base: policy documents embedded into a FAISS index on disk, searched with
dense + BM25 ranking fused.

    python -m airbot index airbot/samples/airline_policy.pdf --out ~/.airbot/indexes/default
    python -c "from airbot.knowledge import KnowledgeBase; print(KnowledgeBase.open('default').search('bag fee'))"

Layout of ``AIRBOT_HOME/indexes/<name>/``::

    manifest.json          the commit point: documents (sha256, version, chunk ids), index version
    vectors/<key>.npy      one document's chunk embeddings, written once and never rewritten
    chunks-<v>.jsonl       every chunk's text and place (doc, page, section, clause), in FAISS row order
    faiss-<v>.index        flat inner-product index over all documents' vectors

Adding, replacing or removing a document embeds only that document, then rebuilds the flat
FAISS index from the stored vectors (milliseconds). The new files are written first and the
manifest is swapped in last with ``os.replace``, so a crash leaves the previous index intact.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from airbot.config import RagConfig, airbot_home
from airbot.documents import Chunk, chunk_blocks, proper_names, read_blocks
from airbot.errors import DocumentError
from airbot.models import DEFAULT_EMBEDDER, shared_embedder
from airbot.ranking import build_bm25, candidates, fuse, tokenize

INDEX_FORMAT = 1
Progress = Callable[[float, str], None]


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
    """A retrieved chunk: ``score`` is the dense cosine (what ``min_score`` is compared to),
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


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Write to a temporary sibling and rename: readers see the old file or the new, never half."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class KnowledgeBase:
    """A document index on disk plus its in-memory search structures; thread-safe."""

    def __init__(self, root: Path, manifest: dict[str, Any], rag: RagConfig | None = None) -> None:
        self.root = root
        self.rag = rag or RagConfig()
        self._lock = threading.RLock()
        self._manifest = manifest
        self._docs = [DocumentInfo(**d) for d in manifest.get("documents", [])]
        self._chunks: list[Chunk] = []
        self._vectors = np.zeros((0, 0), dtype=np.float32)
        self._faiss: Any = None
        self._bm25: Any = None
        self._row: dict[str, int] = {}
        if self._docs:
            self._load_files()

    # --- opening -------------------------------------------------------------------------------
    @classmethod
    def open(cls, name_or_dir: str | Path, *, create: bool = False, rag: RagConfig | None = None,
             embedder: str = DEFAULT_EMBEDDER) -> KnowledgeBase:
        """Open an index by name or folder; ``create`` starts an empty one when none is there."""
        root = index_dir(name_or_dir)
        manifest_path = root / "manifest.json"
        if manifest_path.is_file():
            try:
                manifest = json.loads(manifest_path.read_text())
            except (OSError, json.JSONDecodeError) as err:
                raise DocumentError(f"The index at {root} has an unreadable manifest ({err}). Rebuild it with "
                                    f"`python -m airbot index DOC... --out {root}`.") from None
            return cls(root, manifest, rag)
        if not create:
            raise DocumentError(f"No index at {root}. Build one first: `python -m airbot index POLICY.pdf --out {root}` "
                                "(or add documents in the Data tab).")
        chunk_tokens = rag.chunk_tokens if rag else RagConfig().chunk_tokens
        return cls(root, {"format": INDEX_FORMAT, "version": 0, "embedder": embedder,
                          "chunk_tokens": chunk_tokens, "documents": []}, rag)

    def _load_files(self) -> None:
        import faiss

        files = self._manifest["files"]
        try:
            rows = (self.root / files["chunks"]).read_text().splitlines()
            self._chunks = [Chunk.from_dict(json.loads(r)) for r in rows if r.strip()]
            self._faiss = faiss.read_index(str(self.root / files["faiss"]))
        except (OSError, RuntimeError, json.JSONDecodeError, KeyError) as err:
            raise DocumentError(f"The index at {self.root} is damaged ({type(err).__name__}: {err}). Rebuild it with "
                                f"`python -m airbot index DOC... --out {self.root}`.") from None
        self._vectors = self._faiss.reconstruct_n(0, self._faiss.ntotal) if self._faiss.ntotal else self._vectors
        self._bm25 = build_bm25(self._chunks)
        self._row = {c.id: i for i, c in enumerate(self._chunks)}

    # --- reading -------------------------------------------------------------------------------
    @property
    def version(self) -> int:
        return int(self._manifest.get("version", 0))

    @property
    def embedder_name(self) -> str:
        return str(self._manifest.get("embedder", DEFAULT_EMBEDDER))

    @property
    def chunk_tokens(self) -> int:
        return int(self._manifest.get("chunk_tokens", self.rag.chunk_tokens))

    def on_disk_version(self) -> int:
        """The version the manifest on disk has now (0 when there is none yet)."""
        try:
            return int(json.loads((self.root / "manifest.json").read_text()).get("version", 0))
        except (OSError, ValueError):
            return 0

    def documents(self) -> list[DocumentInfo]:
        with self._lock:
            return list(self._docs)

    def chunks(self, doc: str | None = None) -> list[Chunk]:
        """All chunks, or one document's, in document order."""
        with self._lock:
            if doc is not None and doc not in {d.name for d in self._docs}:
                raise DocumentError(f"No document named '{doc}' in the index at {self.root}. "
                                    f"Indexed: {', '.join(d.name for d in self._docs) or 'none'}.")
            return [c for c in self._chunks if doc is None or c.doc == doc]

    def status(self) -> IndexStatus:
        with self._lock:
            return IndexStatus(str(self.root), self.version, self.embedder_name, self.chunk_tokens, list(self._docs))

    # --- searching -----------------------------------------------------------------------------
    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit-length float32 embeddings, so inner product is cosine similarity.

        The bf16 encoder (bench/retrieval.py: 2.9x faster indexing, 2x faster queries) gives the
        same vectors as sentence-transformers to cosine >= 0.9999, so old indexes stay valid."""
        from airbot.fastembed_query import fast_encoder

        vecs = fast_encoder(self.embedder_name).encode(texts)
        return np.asarray(vecs, dtype=np.float32).reshape(len(texts), -1)

    def search(self, query: str, k: int | None = None) -> list[Hit]:
        """Top ``k`` chunks by the configured fusion of dense cosine and BM25 rankings."""
        k = k or self.rag.top_k
        with self._lock:
            if not self._chunks or not query.strip():
                return []
            dense = self._dense_scores(self.embed([query])[0])
            lexical = self._bm25.get_scores(tokenize(query)) if self._bm25 else np.zeros_like(dense)
            lexical = np.asarray(lexical, dtype=np.float32)
            fused = fuse(dense, lexical, self.rag.fusion, self.rag.rrf_k, self.rag.bm25_weight)
            pool = candidates(dense, lexical, k) if self.rag.fusion == "weighted" else np.arange(len(dense))
            order = pool[np.argsort(-fused[pool], kind="stable")][:k]
            return [Hit(self._chunks[i], float(dense[i]), float(fused[i])) for i in order]

    def relevance(self, query: str, hits: list[Hit]) -> float:
        """How well the best hit covers the question, judged without the documents' own names.

        Dense similarity alone is fooled by a question that merely names the organisation
        ("the share price of <airline>" is close to the paragraph introducing the airline), so
        those names are dropped from the question before comparing it with the hits again.
        """
        if not hits:
            return 0.0
        best = max(h.score for h in hits)
        names = {n for d in self._docs for n in d.names}
        masked = re.sub(r"\b(?:" + "|".join(map(re.escape, sorted(names))) + r")(?:'s)?\b", " ", query) if names else query
        if masked == query:
            return best
        if not tokenize(masked):
            return 0.0  # the question was nothing but the name
        with self._lock:
            rows = [self._row[h.chunk.id] for h in hits if h.chunk.id in self._row]
            vectors = self._vectors[rows]
        return min(best, float((vectors @ self.embed([masked])[0]).max())) if rows else best

    def _dense_scores(self, query_vec: np.ndarray) -> np.ndarray:
        """Cosine of the query with every chunk, via the FAISS flat index."""
        n = self._faiss.ntotal
        scores, ids = self._faiss.search(query_vec.reshape(1, -1), n)
        dense = np.full(n, -1.0, dtype=np.float32)
        dense[ids[0][ids[0] >= 0]] = scores[0][ids[0] >= 0]
        return dense

    # --- changing ------------------------------------------------------------------------------
    def add(self, path: str | Path, *, name: str | None = None, progress: Progress | None = None) -> DocumentInfo:
        """Index a document; one already indexed under that name is replaced (new version),
        an unchanged one (same sha256) is left as it is."""
        path = Path(path)
        name = name or path.name
        with self._lock:
            old = self._doc(name)
            sha = _sha256(path) if path.is_file() else ""
            if old and old.sha256 == sha:
                return old
            return self._put(path, name, old, progress)

    def replace(self, path: str | Path, *, name: str | None = None, progress: Progress | None = None) -> DocumentInfo:
        """A new version of an indexed document (``name`` defaults to the file name)."""
        path = Path(path)
        name = name or path.name
        with self._lock:
            old = self._doc(name)
            if old is None:
                raise DocumentError(f"There is no document named '{name}' to replace in {self.root}. "
                                    f"Indexed: {', '.join(d.name for d in self._docs) or 'none'}; add it instead.")
            return self._put(path, name, old, progress)

    def remove(self, name: str) -> None:
        """Drop a document; the others keep their stored vectors."""
        with self._lock:
            if self._doc(name) is None:
                raise DocumentError(f"There is no document named '{name}' in {self.root}. "
                                    f"Indexed: {', '.join(d.name for d in self._docs) or 'none'}.")
            self._commit([d for d in self._docs if d.name != name], {})

    def _doc(self, name: str) -> DocumentInfo | None:
        return next((d for d in self._docs if d.name == name), None)

    def _put(self, path: Path, name: str, old: DocumentInfo | None, progress: Progress | None) -> DocumentInfo:
        say = progress or (lambda _f, _s: None)
        say(0.0, f"reading {path.name}")
        blocks = read_blocks(path)  # a bad file fails here, before the embedder loads
        chunks = chunk_blocks(blocks, name, self.chunk_tokens, self._token_counter())
        say(0.3, f"embedding {len(chunks)} chunks of {name}")
        vectors = self.embed([c.embed_text() for c in chunks])
        sha = _sha256(path)
        key = hashlib.sha256(f"{sha}|{name}|{self.embedder_name}|{self.chunk_tokens}".encode()).hexdigest()[:24]
        vec_path = self.root / "vectors" / f"{key}.npy"
        vec_path.parent.mkdir(parents=True, exist_ok=True)
        _write_atomic(vec_path, lambda p: _save_npy(p, vectors))
        info = DocumentInfo(name, sha, (old.version + 1) if old else 1, [c.id for c in chunks],
                            time.strftime("%Y-%m-%dT%H:%M:%S"), key, str(path.resolve()), proper_names(blocks))
        docs = [info if d.name == name else d for d in self._docs] if old else [*self._docs, info]
        say(0.8, "writing the index")
        self._commit(docs, {name: (chunks, vectors)})
        say(1.0, f"indexed {name} (version {info.version}, {len(chunks)} chunks)")
        return info

    def _token_counter(self) -> Callable[[str], int]:
        tokenizer = shared_embedder(self.embedder_name).tokenizer
        return lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])

    def _commit(self, docs: list[DocumentInfo], new: dict[str, tuple[list[Chunk], np.ndarray]]) -> None:
        """Write the next version's files, then swap the manifest in; memory follows on success."""
        import faiss

        chunks, vectors = self._assemble(docs, new)
        version = self.version + 1
        files = {"chunks": f"chunks-{version:06d}.jsonl", "faiss": f"faiss-{version:06d}.index"}
        self.root.mkdir(parents=True, exist_ok=True)
        dim = vectors.shape[1] if vectors.size else shared_embedder(self.embedder_name).get_embedding_dimension()
        index = faiss.IndexFlatIP(dim)
        if len(vectors):
            index.add(vectors)
        _write_atomic(self.root / files["chunks"],
                      lambda p: p.write_text("".join(json.dumps(c.to_dict()) + "\n" for c in chunks)))
        _write_atomic(self.root / files["faiss"], lambda p: faiss.write_index(index, str(p)))
        manifest = {**self._manifest, "format": INDEX_FORMAT, "version": version, "files": files,
                    "documents": [asdict(d) for d in docs], "updated": time.strftime("%Y-%m-%dT%H:%M:%S")}
        _write_atomic(self.root / "manifest.json", lambda p: p.write_text(json.dumps(manifest, indent=1)))
        self._manifest, self._docs, self._chunks, self._faiss = manifest, list(docs), chunks, index
        self._vectors = vectors
        self._bm25 = build_bm25(chunks)
        self._row = {c.id: i for i, c in enumerate(chunks)}
        self._clean(files, docs)

    def _assemble(self, docs: list[DocumentInfo],
                  new: dict[str, tuple[list[Chunk], np.ndarray]]) -> tuple[list[Chunk], np.ndarray]:
        """Chunks and vectors of ``docs`` in order: new ones from ``new``, the rest from storage."""
        chunks: list[Chunk] = []
        parts: list[np.ndarray] = []
        for doc in docs:
            if doc.name in new:
                doc_chunks, vecs = new[doc.name]
            else:
                doc_chunks = [c for c in self._chunks if c.doc == doc.name]
                vecs = np.load(self.root / "vectors" / f"{doc.key}.npy")
            chunks.extend(doc_chunks)
            parts.append(vecs.astype(np.float32))
        vectors = np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32)
        return chunks, vectors

    def _clean(self, keep: dict[str, str], docs: list[DocumentInfo]) -> None:
        """Delete files no manifest refers to any more (best effort; leftovers are harmless)."""
        live = set(keep.values()) | {f"{d.key}.npy" for d in docs}
        for path in [*self.root.glob("chunks-*.jsonl"), *self.root.glob("faiss-*.index"),
                     *self.root.glob("vectors/*.npy")]:
            if path.name not in live:
                path.unlink(missing_ok=True)


def _save_npy(path: Path, array: np.ndarray) -> None:
    with path.open("wb") as fh:
        np.save(fh, array)


_shared: dict[tuple[str, str, str], KnowledgeBase] = {}
_shared_lock = threading.Lock()


def open_shared(name_or_dir: str | Path, *, rag: RagConfig | None = None, embedder: str = DEFAULT_EMBEDDER,
                create: bool = False) -> KnowledgeBase:
    """One open index per folder and settings, shared by the bots and the Data tab, so an update
    made in one place is what the others search. Reloaded when another process changed it."""
    root = index_dir(name_or_dir).resolve()
    key = (str(root), embedder, repr(rag))
    with _shared_lock:
        kb = _shared.get(key)
        if kb is None or kb.on_disk_version() != kb.version:
            kb = KnowledgeBase.open(root, create=create, rag=rag, embedder=embedder)
            _shared[key] = kb
        return kb


def check_documents(paths: list[Path]) -> None:
    """Read every document first and report all unusable ones at once, before any embedding."""
    problems = []
    for path in paths:
        try:
            read_blocks(path)
        except DocumentError as err:
            problems.append(str(err))
    if len(problems) == 1:
        raise DocumentError(problems[0])
    if problems:
        raise DocumentError.collected(f"{len(problems)} documents cannot be indexed:", problems)


def build_index(paths: Iterable[str | Path], out_dir: str | Path, progress: Progress | None = None,
                rag: RagConfig | None = None, remove: Iterable[str] = (),
                embedder: str = DEFAULT_EMBEDDER) -> KnowledgeBase:
    """Create or update the index at ``out_dir``: add (or re-version) each path, drop ``remove``."""
    paths = [Path(p) for p in paths]
    check_documents(paths)
    kb = KnowledgeBase.open(Path(out_dir), create=True, rag=rag, embedder=embedder)
    for name in remove:
        kb.remove(name)
    for i, path in enumerate(paths):
        def step(frac: float, desc: str, i: int = i) -> None:
            if progress:
                progress((i + frac) / len(paths), desc)
        kb.add(path, progress=step)
    return kb
