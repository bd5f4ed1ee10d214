"""Keeping a small reader honest: the retrieved sentences that answer the question, and a check
that the model's answer states what they say.

A 135M reader, given the right clause, states its figure only 60-75% of the time: it picks the
clause's other figure, or reads the first hit when the right clause ranked second. Shorter
context did not fix that (measured on the shipped held-out set: the best 1, 2 or 3 sentences of
the top hits instead of the first hit gave 0.62, 0.52, 0.38 against 0.60). What does is checking
afterwards: each sentence of the top hits is scored against the question (embedder cosine, with
its section heading), and when the answer does not state the best sentence's figure, or states a
figure the text lacks, the bot adds the best sentences, quoted and numbered like its sources::

    from airbot.bots.grounding import grounded, quote_evidence, select_evidence
    evidence = select_evidence(question, hits, kb.embed)      # best first, source = 1-based hit
    if not grounded(answer, question, evidence[:1], context):
        answer += quote_evidence(evidence)

Everything here is generic: no word list is about any one document or domain.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from airbot.knowledge.clauses import strip_clause_number
from airbot.text import content_words, figures, split_sentences

Embed = Callable[[list[str]], np.ndarray]
QUOTE_PREFIX = "\n\nThe documents say: "  # what separates the model's words from the quoted evidence

@dataclass(frozen=True)
class Evidence:
    """One sentence of a retrieved passage: ``source`` is the 1-based position of its hit in the
    answer's sources (what its citation marker says), ``score`` its cosine with the question."""

    text: str
    source: int
    position: int
    score: float


class CachedEmbed:
    """``embed`` with the vectors of recent texts kept (least recently used dropped past ``size``).

    The same clauses come back for many questions, and re-embedding their sentences was most of
    the grounding check (18-24 ms of each RAG answer on the shipped policy, ~3 ms cached). Keys
    are the texts themselves, so a changed document can never reuse a stale vector."""

    def __init__(self, embed: Embed, size: int = 4096) -> None:
        self.embed, self.size = embed, size
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            known = {t: self._vectors[t] for t in texts if t in self._vectors}
            for text in known:
                self._vectors.move_to_end(text)
        missing = list(dict.fromkeys(t for t in texts if t not in known))
        if missing:
            known.update(zip(missing, (np.asarray(v) for v in self.embed(missing))))
            with self._lock:
                for text in missing:
                    self._vectors[text] = known[text]
                while len(self._vectors) > self.size:
                    self._vectors.popitem(last=False)
        return np.stack([known[t] for t in texts])


def select_evidence(question: str, hits: Sequence[Any], embed: Embed, *, chunks: int = 3,
                    sentences: int = 2) -> list[Evidence]:
    """The ``sentences`` sentences of the first ``chunks`` hits closest to the question, best first.

    ``hits`` are anything with ``text`` (and optionally ``section``); the hit's section heading
    is embedded with each sentence so a bare sentence ("The fee is USD 70 per pet.") keeps its
    topic. Measured on the shipped held-out set, adding BM25-style word overlap, a penalty per hit
    rank or the whole passage's cosine to the sentence cosine changed the end result by at most
    one question in 50 either way, so the score is the plain cosine.
    """
    pool: list[tuple[int, int, str, str]] = []  # (hit index, sentence index, sentence, embedded text)
    for h, hit in enumerate(list(hits)[: max(1, chunks)]):
        section = str(getattr(hit, "section", "") or "")
        for i, sentence in enumerate(split_sentences(strip_clause_number(hit.text))):
            pool.append((h, i, sentence, f"{section}: {sentence}" if section else sentence))
    if not pool:
        return []
    vectors = embed([question, *[p[3] for p in pool]])
    cosines = vectors[1:] @ vectors[0]
    scored = [Evidence(p[2], p[0] + 1, p[1], float(cosines[j])) for j, p in enumerate(pool)]
    return sorted(scored, key=lambda e: -e.score)[: max(1, sentences)]


# --- grounding check --------------------------------------------------------------------------
def grounded(answer: str, question: str, evidence: Sequence[Evidence], context: str,
             min_support: float = 0.5) -> bool:
    """Does the answer say what the evidence says? False when it states a figure found neither in
    the text it read nor in the question, when the best evidence gives a figure the answer does
    not state, or (no figures at stake) when under ``min_support`` of its words are in the text."""
    if not answer.strip():
        return False
    said, asked = figures(answer), figures(question)
    shown = figures(" ".join(e.text for e in evidence))
    if said - figures(context) - shown - asked:
        return False
    wanted = shown - asked
    if wanted:
        return bool(said & wanted)
    words = content_words(answer)
    if not words:
        return False
    return len(words & (content_words(context) | content_words(question))) / len(words) >= min_support


def quote_evidence(evidence: Sequence[Evidence]) -> str:
    """The evidence as a quoted block after the answer, each sentence with its citation number."""
    if not evidence:
        return ""
    quoted = " ".join(f"\u201c{e.text}\u201d [{e.source}]" for e in evidence)
    return f"{QUOTE_PREFIX}{quoted}"
