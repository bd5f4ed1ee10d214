"""What changed between two versions of a document: every figure that differs, where, and a
question whose answer is that figure, so the policy-change test needs nothing but the two files.

Both versions are cut into sentences (per chunk, so each sentence keeps its clause id), the two
sentence lists are aligned with ``difflib`` on their wording with the figures masked, and each
aligned pair whose figures differ yields one change per differing figure. The question is made
from the new sentence with the figure asked for ("... costs how much?"); it is a template, shown
to the user, who can edit it before the test runs::

    python -c "from airbot.evaluate.changes import find_changes; print(find_changes('v1.md', 'v2.md'))"
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path

from airbot.knowledge.chunking import Chunk, read_chunks
from airbot.knowledge.clauses import strip_clause_number
from airbot.text import key_figures, mask_labels, split_sentences


@dataclass
class Change:
    """One changed figure and a question whose answer depends on it."""

    question: str
    old: str
    new: str
    clause: str | None = None


@dataclass(frozen=True)
class _Sentence:
    text: str
    clause: str | None
    section: str

    def shape(self) -> str:
        """The wording with every figure masked: two versions of one sentence share their shape."""
        return re.sub(r"\d[\d,.]*", "#", mask_labels(self.text)).lower()


def sentences(chunks: list[Chunk]) -> list[_Sentence]:
    """Every sentence of a document in order, with the clause and heading it sits under."""
    return [_Sentence(s, c.clause, c.section) for c in chunks for s in split_sentences(strip_clause_number(c.text))]


def find_changes(old: Path | list[Chunk], new: Path | list[Chunk]) -> list[Change]:
    """The figures that differ between two versions (files or their chunks), in document order."""
    before = sentences(read_chunks(old) if isinstance(old, Path) else old)
    after = sentences(read_chunks(new) if isinstance(new, Path) else new)
    matcher = difflib.SequenceMatcher(a=[s.shape() for s in before], b=[s.shape() for s in after], autojunk=False)
    changes: list[Change] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            pairs = zip(before[i1:i2], after[j1:j2], strict=True)
        elif tag == "replace" and i2 - i1 == j2 - j1:
            pairs = zip(before[i1:i2], after[j1:j2], strict=True)
        else:
            continue
        for a, b in pairs:
            changes += _figure_changes(a, b)
    return changes


def _figure_changes(a: _Sentence, b: _Sentence) -> list[Change]:
    """One change per figure that differs between two versions of a sentence (same count, same order)."""
    old, new = key_figures(a.text), key_figures(b.text)
    if old == new or len(old) != len(new):
        return []
    if difflib.SequenceMatcher(a=a.shape(), b=b.shape()).ratio() < 0.8:
        return []  # rewritten, not a changed figure
    return [Change(question(b.text, n, b.section), o, n, b.clause) for o, n in zip(old, new, strict=True) if o != n]


_UNIT_QUESTION = [(re.compile(r"%$"), "what percentage"),
                  (re.compile(r"(?:US\$|USD|EUR|GBP|CHF|AUD|CAD|INR|JPY|SGD|AED|[$€£¥₹])", re.IGNORECASE), "how much")]


def question(sentence: str, figure: str, section: str = "") -> str:
    """A question whose answer is ``figure``: the sentence with the figure asked for."""
    ask = next((q for pattern, q in _UNIT_QUESTION if pattern.search(figure)), None)
    if ask is None:
        unit = re.sub(r"^[\d,.]+\s*", "", figure).strip()
        ask = f"how many {unit}" if unit else "what number"
    body = sentence.strip().rstrip(".;:")
    asked = body.replace(figure, ask, 1) if figure in body else f"{body}: {ask}"
    where = f"{section}: " if section and section.lower() not in asked.lower() else ""
    return f"{where}{asked[0].upper()}{asked[1:]}?"
