"""The knowledge base: policy documents embedded into a FAISS index on disk, searched with
dense + BM25 ranking fused.

    python -m airbot index airbot/samples/airline_policy.pdf --out ~/.airbot/indexes/default
    python -c "from airbot.knowledge.index import KnowledgeBase; print(KnowledgeBase.open('default').search('bag fee'))"

Layout of ``AIRBOT_HOME/indexes/<name>/``::

    manifest.json          the commit point: documents (sha256, version, chunk ids), index version
    vectors/<key>.npy      one document's chunk embeddings, written once and never rewritten
    chunks-<v>.jsonl       every chunk's text and place (doc, page, section, clause), in FAISS row order
    faiss-<v>.index        inner-product index over all documents' vectors: flat, or IVF past
                           ``ann_min_chunks`` (airbot.knowledge.dense)

Adding, replacing or removing a document embeds and tokenizes only that document; the FAISS
index and BM25 matrix are rebuilt from the stored vectors and term ids (the IVF keeps its
centroids and the other rows' cells). The new files are written first and the manifest is
swapped in last with ``os.replace``, so a crash leaves the previous index intact. Format 1
indexes (always flat) open as they are and are written as format 2 by their next change.

A search scores only a candidate pool: the dense top k from the vector index plus BM25's best
chunk (BM25 itself is a sparse lookup over the chunks containing the query's words), so its
cost does not grow with a Python pass or a full sort over every chunk (bench/retrieval.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from airbot.config import AirbotConfig, RagConfig
from airbot.errors import DocumentError, ModelError
from airbot.knowledge import refusal
from airbot.knowledge.chunking import Chunk, chunk_blocks, proper_names
from airbot.knowledge.dense import ANN_MIN_CHUNKS, VectorIndex
from airbot.knowledge.lexical import Bm25, DocTerms, Vocabulary, candidates, dense_pool, fuse, pool_ranks
from airbot.knowledge.manifest import DocumentInfo, Hit, IndexStatus, check_manifest, doc_spans, index_dir
from airbot.knowledge.readers import read_blocks
from airbot.models import DEFAULT_EMBEDDER, EMBEDDED_EMBEDDERS, shared_embedder
from airbot.storage import file_lock, remove_stale_tmp, save_npy, sha256_file, write_atomic, write_json, write_jsonl
from airbot.text import tokenize

INDEX_FORMAT = 2
READABLE_FORMATS = (1, 2)
Progress = Callable[[float, str], None]
LOCK_FILE = ".lock"


class KnowledgeBase:
    """A document index on disk plus its in-memory search structures; thread-safe."""

    def __init__(self, root: Path, manifest: dict[str, Any], rag: RagConfig | None = None,
                 ann_min_chunks: int = ANN_MIN_CHUNKS) -> None:
        self.root = root
        self.rag = rag or RagConfig()
        self.ann_min_chunks = ann_min_chunks
        self._lock = threading.RLock()
        self._adopt(manifest)

    def _adopt(self, manifest: dict[str, Any]) -> None:
        """Make ``manifest`` (and the files it names) this copy's state."""
        self._manifest = manifest
        self._docs = [DocumentInfo(**d) for d in manifest.get("documents", [])]
        self._chunks: list[Chunk] = []
        self._vectors = np.zeros((0, 0), dtype=np.float32)
        self._index: VectorIndex | None = None
        self._vocab = Vocabulary()
        self._terms: dict[str, DocTerms] = {}
        self._bm25: Bm25 | None = None
        self._row: dict[str, int] = {}
        if self._docs:
            self._load_files()

    # --- opening -------------------------------------------------------------------------------
    @classmethod
    def open(cls, name_or_dir: str | Path, *, create: bool = False, rag: RagConfig | None = None,
             embedder: str = DEFAULT_EMBEDDER, ann_min_chunks: int = ANN_MIN_CHUNKS) -> KnowledgeBase:
        """Open an index by name or folder; ``create`` starts an empty one when none is there.
        Past ``ann_min_chunks`` chunks the dense side is an approximate (IVF) index."""
        root = index_dir(name_or_dir)
        manifest_path = root / "manifest.json"
        if manifest_path.is_file():
            manifest = _read_manifest(root, embedder)
            return cls(root, manifest, rag, ann_min_chunks)
        if not create:
            raise DocumentError(f"No index at '{root.name}'. Build one first: `python -m airbot index POLICY.pdf --out "
                                f"{root.name}` (or add documents in the Data tab).")
        if root.exists() and not root.is_dir():
            raise DocumentError(f"'{root.name}' is a file, not an index folder. Give the index a new name or folder.")
        chunk_tokens = rag.chunk_tokens if rag else RagConfig().chunk_tokens
        return cls(root, {"format": INDEX_FORMAT, "version": 0, "embedder": embedder,
                          "chunk_tokens": chunk_tokens, "documents": []}, rag, ann_min_chunks)

    def _load_files(self) -> None:
        """Chunks, stored vectors and the FAISS index of the manifest's version, and BM25 from the chunks."""
        from airbot.knowledge import dense as vector_index

        files = self._manifest["files"]
        try:
            rows = (self.root / files["chunks"]).read_text().splitlines()
            self._chunks = [Chunk.from_dict(json.loads(r)) for r in rows if r.strip()]
            vectors = [np.load(self.root / "vectors" / f"{d.key}.npy").astype(np.float32) for d in self._docs]
            index = vector_index.read(str(self.root / files["faiss"]))
        except (OSError, RuntimeError, ValueError, KeyError) as err:
            raise DocumentError(f"The index '{self.root.name}' is damaged ({type(err).__name__}). Rebuild it with "
                                f"`python -m airbot index DOC... --out {self.root.name}`.") from None
        self._vectors = np.concatenate(vectors)
        if not len(self._chunks) == len(self._vectors) == index.ntotal:
            raise DocumentError(f"The index '{self.root.name}' is damaged ({len(self._chunks)} chunks, {len(self._vectors)} "
                                f"vectors, {index.ntotal} indexed). Rebuild it with `python -m airbot index DOC... "
                                f"--out {self.root.name}`.")
        if (index.kind == "ivf") != (len(self._vectors) >= self.ann_min_chunks):  # e.g. a format-1 flat index past it
            index = vector_index.build(self._vectors, self._vectors.shape[1], self.ann_min_chunks)
        self._index = index
        spans = doc_spans(self._docs)
        self._terms = {d.name: DocTerms.of(self._chunks[slice(*spans[d.name])], self._vocab) for d in self._docs}
        self._bm25 = Bm25([self._terms[d.name] for d in self._docs], len(self._vocab))
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
                raise DocumentError(f"No document named '{doc}' in the index '{self.root.name}'. "
                                    f"Indexed: {', '.join(d.name for d in self._docs) or 'none'}.")
            return [c for c in self._chunks if doc is None or c.doc == doc]

    def status(self) -> IndexStatus:
        """What the Data tab and ``airbot index`` show, refusal rule included: users should see why
        the RAG bot answers one question and refuses another."""
        with self._lock:
            entry, chunks = self._manifest.get("refusal"), len(self._chunks)
            return IndexStatus(str(self.root), self.version, self.embedder_name, self.chunk_tokens, list(self._docs),
                               refusal.threshold(entry, self.rag.min_score),
                               refusal.describe(entry, self.rag.min_score, chunks))

    # --- searching -----------------------------------------------------------------------------
    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit-length float32 embeddings, so inner product is cosine similarity.

        The bf16 encoder (bench/retrieval.py: 2.9x faster indexing, 2x faster queries) gives the
        same vectors as sentence-transformers to cosine >= 0.9999, so old indexes stay valid."""
        from airbot.knowledge.embedding import fast_encoder

        vecs = fast_encoder(self.embedder_name).encode(texts)
        return np.asarray(vecs, dtype=np.float32).reshape(len(texts), -1)

    def search(self, query: str, k: int | None = None) -> list[Hit]:
        """Top ``k`` chunks by the configured fusion of dense cosine and BM25 rankings.

        Only a candidate pool is fused (ranking.candidates): the dense neighbours from the
        vector index and BM25's best chunk(s). Their cosines are recomputed exactly from the
        stored vectors, so ``Hit.score`` (what ``min_score`` compares) is the true cosine even
        for a chunk that only BM25 proposed or that an IVF index found approximately."""
        from airbot.knowledge import dense as vector_index

        k = k or self.rag.top_k
        method, rrf_k = self.rag.fusion, self.rag.rrf_k
        with self._lock:
            if not self._chunks or not query.strip() or self._index is None or self._bm25 is None:
                return []
            query_vec = self.embed([query])[0]
            _, rows = vector_index.search(self._index, query_vec, dense_pool(method, k, rrf_k))
            lexical = self._bm25.scores(self._vocab.lookup(tokenize(query)))
            pool = candidates(rows, lexical, k, method, rrf_k)
            dense = self._vectors[pool] @ query_vec
            ranks = pool_ranks(pool, len(rows), lexical) if method == "rrf" else None
            fused = fuse(dense, lexical[pool], method, rrf_k, self.rag.bm25_weight, ranks)
            order = np.argsort(-fused, kind="stable")[:k]
            return [Hit(self._chunks[pool[i]], float(dense[i]), float(fused[i])) for i in order]

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

    def refusal_threshold(self, min_score: float | None = None) -> float:
        """The relevance below which the bot refuses: this index's calibrated threshold
        (airbot.knowledge.refusal: how high off-topic questions score here), kept within a band around
        ``min_score`` (default: this index's ``rag.min_score``); ``min_score`` itself for an
        index written before calibration existed."""
        base = self.rag.min_score if min_score is None else min_score
        with self._lock:
            return refusal.threshold(self._manifest.get("refusal"), base)

    # --- changing ------------------------------------------------------------------------------
    def add(self, path: str | Path, *, name: str | None = None, progress: Progress | None = None) -> DocumentInfo:
        """Index a document; one already indexed under that name is replaced (new version),
        an unchanged one (same sha256) is left as it is."""
        path = Path(path)
        name = name or path.name
        with self._writing():
            old = self._doc(name)
            sha = sha256_file(path) if path.is_file() else ""
            if old and old.sha256 == sha:
                return old
            return self._put(path, name, old, progress)

    def replace(self, path: str | Path, *, name: str | None = None, progress: Progress | None = None) -> DocumentInfo:
        """A new version of an indexed document (``name`` defaults to the file name)."""
        path = Path(path)
        name = name or path.name
        with self._writing():
            old = self._doc(name)
            if old is None:
                raise DocumentError(f"There is no document named '{name}' to replace in the index '{self.root.name}'. "
                                    f"Indexed: {', '.join(d.name for d in self._docs) or 'none'}; add it instead.")
            return self._put(path, name, old, progress)

    def remove(self, name: str) -> None:
        """Drop a document; the others keep their stored vectors."""
        with self._writing():
            if self._doc(name) is None:
                raise DocumentError(f"There is no document named '{name}' in the index '{self.root.name}'. "
                                    f"Indexed: {', '.join(d.name for d in self._docs) or 'none'}.")
            self._commit([d for d in self._docs if d.name != name], {})

    def _doc(self, name: str) -> DocumentInfo | None:
        return next((d for d in self._docs if d.name == name), None)

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """One writer per index across threads and processes (``INDEX/.lock``, ``flock``): a second
        writer waits its turn, then starts from the version the first one committed, so two
        writers at once keep both documents instead of the last one's manifest winning."""
        with self._lock, file_lock(self.root / LOCK_FILE, f"the index '{self.root.name}'"):
            if self.on_disk_version() != self.version:
                self._adopt(_read_manifest(self.root, self.embedder_name))
            for folder in (self.root, self.root / "vectors"):  # what a writer killed mid-write left behind
                remove_stale_tmp(folder)
            yield

    def _chunk_vectors(self, chunks: list[Chunk]) -> np.ndarray:
        """One unit vector per chunk. An FAQ entry's is its text's and its question's, added and
        normalised: people ask in the FAQ's words more than in its answer's, and a mean-pooled
        embedder dilutes the question in "heading: answer" (dense top-1 on the tune Q&A sets laid out
        as FAQs, 84 paraphrased questions: 42 with the text alone, 50 with the question alone, 52 with
        both). Still one vector per chunk, so search, fusion and the refusal threshold are unchanged."""
        vectors = self.embed([c.embed_text() for c in chunks])
        asked = [(i, q) for i, c in enumerate(chunks) if (q := c.question())]
        if asked:
            rows = [i for i, _ in asked]
            both = vectors[rows] + self.embed([q for _, q in asked])
            vectors[rows] = both / np.linalg.norm(both, axis=1, keepdims=True).clip(min=1e-12)
        return vectors

    def _put(self, path: Path, name: str, old: DocumentInfo | None, progress: Progress | None) -> DocumentInfo:
        say = progress or (lambda _f, _s: None)
        say(0.0, f"reading {path.name}")
        blocks = read_blocks(path)  # a bad file fails here, before the embedder loads
        chunks = chunk_blocks(blocks, name, self.chunk_tokens, self._token_counter())
        say(0.3, f"embedding {len(chunks)} chunks of {name}")
        vectors = self._chunk_vectors(chunks)
        sha = sha256_file(path)
        key = hashlib.sha256(f"{sha}|{name}|{self.embedder_name}|{self.chunk_tokens}".encode()).hexdigest()[:24]
        vec_path = self.root / "vectors" / f"{key}.npy"
        vec_path.parent.mkdir(parents=True, exist_ok=True)
        save_npy(vec_path, vectors)
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
        from airbot.knowledge import dense as vector_index

        chunks, vectors, kept = self._assemble(docs, new)
        version = self.version + 1
        files = {"chunks": f"chunks-{version:06d}.jsonl", "faiss": f"faiss-{version:06d}.index"}
        self.root.mkdir(parents=True, exist_ok=True)
        dim = vectors.shape[1] if vectors.size else shared_embedder(self.embedder_name).get_embedding_dimension()
        if dim is None:
            raise ModelError(f"The embedder '{self.embedder_name}' does not report its vector size; "
                             f"use a sentence-transformers model that does (e.g. '{DEFAULT_EMBEDDER}').")
        index = vector_index.build(vectors, dim, self.ann_min_chunks, self._index, kept)
        terms = {d.name: DocTerms.of(new[d.name][0], self._vocab) if d.name in new else self._terms[d.name] for d in docs}
        write_jsonl(self.root / files["chunks"], (c.to_dict() for c in chunks))
        write_atomic(self.root / files["faiss"], lambda p: vector_index.write(index, str(p)))
        manifest = {**self._manifest, "format": INDEX_FORMAT, "version": version, "files": files,
                    "vector_index": index.kind, "documents": [asdict(d) for d in docs],
                    "refusal": refusal.calibrate(self.embedder_name, self.embed, lambda q: _best_cosines(vectors, q)),
                    "updated": time.strftime("%Y-%m-%dT%H:%M:%S")}
        write_json(self.root / "manifest.json", manifest)
        self._manifest, self._docs, self._chunks, self._index = manifest, list(docs), chunks, index
        self._vectors, self._terms = vectors, terms
        self._bm25 = Bm25([terms[d.name] for d in docs], len(self._vocab))
        self._row = {c.id: i for i, c in enumerate(chunks)}
        self._clean(files, docs)

    def _assemble(self, docs: list[DocumentInfo], new: dict[str, tuple[list[Chunk], np.ndarray]]
                  ) -> tuple[list[Chunk], np.ndarray, list[tuple[int, int, int]]]:
        """Chunks and vectors of ``docs`` in order (new ones from ``new``, the rest sliced from
        memory, which holds the stored vectors), and the (old row, new row, length) spans kept."""
        old = doc_spans(self._docs)
        chunks: list[Chunk] = []
        parts: list[np.ndarray] = []
        kept: list[tuple[int, int, int]] = []
        for doc in docs:
            if doc.name in new:
                doc_chunks, vecs = new[doc.name]
            else:
                start, stop = old[doc.name]
                doc_chunks, vecs = self._chunks[start:stop], self._vectors[start:stop]
                kept.append((start, len(chunks), stop - start))
            chunks.extend(doc_chunks)
            parts.append(np.asarray(vecs, dtype=np.float32))
        vectors = np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32)
        return chunks, vectors, kept

    def _clean(self, keep: dict[str, str], docs: list[DocumentInfo]) -> None:
        """Delete files no manifest refers to any more (best effort; leftovers are harmless)."""
        live = set(keep.values()) | {f"{d.key}.npy" for d in docs}
        for path in [*self.root.glob("chunks-*.jsonl"), *self.root.glob("faiss-*.index"),
                     *self.root.glob("vectors/*.npy")]:
            if path.name not in live:
                path.unlink(missing_ok=True)


def _read_manifest(root: Path, embedder: str) -> dict[str, Any]:
    """The manifest on disk, checked: readable, a format this airbot reads, files inside its folder
    and an embedder the server allows (the configured one or a packaged one)."""
    try:
        manifest = json.loads((root / "manifest.json").read_text())
    except (OSError, ValueError, RecursionError) as err:
        raise DocumentError(f"The index '{root.name}' has an unreadable manifest ({type(err).__name__}). Rebuild it "
                            f"with `python -m airbot index DOC... --out {root.name}`.") from None
    if not isinstance(manifest, dict) or manifest.get("format", 1) not in READABLE_FORMATS:
        found = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise DocumentError(f"The index '{root.name}' has format {found}, which this airbot does not read "
                            f"({', '.join(map(str, READABLE_FORMATS))}); upgrade airbot or rebuild it.")
    check_manifest(root, manifest, {embedder, DEFAULT_EMBEDDER, *EMBEDDED_EMBEDDERS})
    return manifest


def _best_cosines(vectors: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Each query's best cosine over all chunk vectors (exact; 40 queries x 100k chunks is one
    ~50 ms matrix product, done once per commit, never per question)."""
    if not vectors.size:
        return np.zeros(0, dtype=np.float32)
    return (queries @ vectors.T).max(axis=1)


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


def open_index(index: KnowledgeBase | str | Path, config: AirbotConfig, *, shared: bool = True) -> KnowledgeBase:
    """The one way to open an index for answering: an open one passes through; a name or folder
    opens the process-wide shared copy (``shared``) or a private one (a throwaway working copy)."""
    if isinstance(index, KnowledgeBase):
        return index
    if shared:
        return open_shared(index, rag=config.rag, embedder=config.model.embedder)
    return KnowledgeBase.open(index, rag=config.rag, embedder=config.model.embedder)


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
    files = [Path(p) for p in paths]
    check_documents(files)
    kb = KnowledgeBase.open(out_dir, create=True, rag=rag, embedder=embedder)  # text: a name in the store
    for name in remove:
        kb.remove(name)
    for i, path in enumerate(files):
        def step(frac: float, desc: str, i: int = i) -> None:
            if progress:
                progress((i + frac) / len(files), desc)
        kb.add(path, progress=step)
    return kb
