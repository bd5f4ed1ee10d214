"""Cutting policy documents into clause-sized chunks.

Every format is first turned into ``Block``s (paragraphs and headings, with page numbers
where the format has pages: airbot/knowledge/readers.py); one structural chunker then works on
those, so PDF, DOCX, HTML, Markdown and plain text are chunked by the same rules:

* headings (Markdown ``#``, HTML ``<h1>``, DOCX "Heading N", or, in formats without
  explicit headings, short numbered / ALL-CAPS lines) open a section;
* a line that starts with a clause number (``1.2``, ``1.2.3``, ``Article 5``, ``Art. 5.1``,
  ``Section 3``, ``§ 2.1``, ``Clause 7(b)``: airbot.knowledge.clauses) opens a chunk that keeps that
  clause id in one canonical spelling; ``(a)`` sub-items stay with their clause;
* plain paragraphs are packed together within a section and a page;
* anything longer than ``max_tokens`` embedder tokens is split at sentence ends.

    python -c "from airbot.knowledge.chunking import read_chunks; print(*read_chunks('policy.pdf')[:3], sep='\\n')"
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from airbot.knowledge.clauses import CLAUSE_DOTTED, CLAUSE_WORD, clause_id, depth, heading_clause, strip_clause_number
from airbot.knowledge.readers import Block, read_blocks

TokenCounter = Callable[[str], int]


@dataclass(frozen=True)
class Chunk:
    """The unit that is embedded, retrieved and cited; it remembers where it came from."""

    id: str
    doc: str
    text: str
    page: int | None
    section: str
    clause: str | None

    def embed_text(self) -> str:
        """What the embedder sees: the section heading gives a bare clause its topic, and the
        clause number, which means nothing to a sentence embedder, is left out."""
        body = strip_clause_number(self.text)
        return f"{self.section}: {body}" if self.section else body

    def search_text(self) -> str:
        """What BM25 sees: heading and text with the clause number, so "clause 3.2" finds it."""
        return f"{self.section}\n{self.text}" if self.section else self.text

    def label(self) -> str:
        """Short human citation: clause id, else page, else section."""
        if self.clause:
            return f"clause {self.clause}"
        return f"page {self.page}" if self.page else (self.section or self.doc)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> Chunk:
        fields: dict[str, Any] = {k: row.get(k) for k in ("id", "doc", "text", "page", "section", "clause")}
        return cls(**fields)


# --- chunking --------------------------------------------------------------------------------
_SUBITEM = re.compile(r"^\(?([a-z]|[ivx]{1,4}|\d{1,2})\)\s+")
_LIST_MARK = re.compile(r"^[-*•]\s+")


def _heading_level(line: str, alone: bool) -> int:
    """Level of a heading line in a format without explicit headings (0: not a heading).

    Headings are short and do not end like sentences; numbered ones take their depth from
    the number, ALL-CAPS or Title Case lines standing alone are top-level.
    """
    words = line.split()
    if not words or len(words) > 10 or len(line) > 90 or line.rstrip()[-1] in ".,;:!?":
        return 0
    number = re.match(r"^(\d+(?:\.\d+)*)\.?\s+[A-Z]", line)
    if number:
        return number.group(1).count(".") + 1
    if (word := CLAUSE_WORD.match(line)) and len(words) <= 8:
        return depth(word.group("num"))
    letters = [c for c in line if c.isalpha()]
    if len(letters) >= 3 and all(c.isupper() for c in letters):
        return 1
    capitalised = all(w[0].isupper() or w.lower() in {"and", "of", "the", "for", "to", "in", "on", "a", "&"}
                      for w in words if w[0].isalpha())
    return 1 if alone and capitalised and len(words) <= 6 else 0


@dataclass
class _Unit:
    """A clause or paragraph being assembled from lines."""

    lines: list[str]
    page: int | None
    section: str
    clause: str | None
    numbered: bool


class _Chunker:
    """Walks blocks once, tracking the heading path, and emits clause / paragraph units."""

    def __init__(self, blocks: list[Block]) -> None:
        self.blocks = blocks
        self.infer_headings = not any(b.level for b in blocks)
        lines = [ln.strip() for b in blocks if not b.level for ln in b.text.split("\n")]
        self.allow_single = not any(CLAUSE_DOTTED.match(ln) for ln in lines)
        top = [b for b in blocks if b.level == 1]
        deeper = any(b.level > 1 for b in blocks)
        # A lone level-1 heading above deeper ones is the document's title, not a section's topic.
        self.title = top[0].text if len(top) == 1 and deeper and blocks[0] is top[0] else None
        self.stack: list[tuple[int, str, str | None]] = []
        self.units: list[_Unit] = []
        self.current: _Unit | None = None

    def run(self) -> list[_Unit]:
        for block in self.blocks:
            if block.level:
                self._heading(block.text, block.level)
                continue
            lines = [ln.strip() for ln in block.text.split("\n") if ln.strip()]
            for i, line in enumerate(lines):
                # A line can be a heading if nothing runs into it: first, or after a full stop.
                alone = i == 0 or lines[i - 1][-1] in ".!?:"
                self._line(line, block.page, first=i == 0, alone=alone)
        self._flush()
        return self.units

    def _section(self) -> str:
        return " > ".join(text for _, text, _ in self.stack if text != self.title)

    def _default_clause(self) -> str | None:
        return next((num for _, _, num in reversed(self.stack) if num), None)

    def _heading(self, text: str, level: int) -> None:
        self._flush()
        while self.stack and self.stack[-1][0] >= level:
            self.stack.pop()
        self.stack.append((level, text, heading_clause(text)))

    def _line(self, line: str, page: int | None, first: bool, alone: bool) -> None:
        if self.infer_headings and (level := _heading_level(line, alone)):
            self._heading(line, level)
            return
        clause = clause_id(line, self.allow_single)
        cur = self.current
        if clause:
            self._start(line, page, clause, numbered=True)
        elif cur is None:
            self._start(line, page, self._default_clause(), numbered=False)
        elif cur.numbered and (first or _SUBITEM.match(line) or _LIST_MARK.match(line)):
            cur.lines.append("\n" + line)  # sub-items and follow-on paragraphs stay with their clause
        elif first or (page != cur.page and not cur.numbered):
            self._start(line, page, self._default_clause(), numbered=False)
        else:
            cur.lines.append(("\n" if _SUBITEM.match(line) or _LIST_MARK.match(line) else "") + line)

    def _start(self, line: str, page: int | None, clause: str | None, numbered: bool) -> None:
        self._flush()
        self.current = _Unit([line], page, self._section(), clause, numbered)

    def _flush(self) -> None:
        if self.current:
            self.units.append(self.current)
            self.current = None


def _join_lines(lines: list[str]) -> str:
    """Re-flow wrapped lines: hyphenated breaks close up, other breaks become spaces."""
    text = ""
    for line in lines:
        if line.startswith("\n"):
            text += "\n" + line[1:]
        elif text.endswith("-") and line[:1].islower():
            text = text[:-1] + line
        else:
            text += (" " if text and not text.endswith("\n") else "") + line
    return text.strip()


def approx_tokens(text: str) -> int:
    """Word-piece estimate (~1.3 per word) for when no tokenizer is at hand."""
    return int(len(text.split()) * 1.3) + 1


def _split_long(text: str, budget: int, count: TokenCounter) -> list[str]:
    """Pack sentences (or, for a giant sentence, words) into pieces within ``budget`` tokens."""
    if count(text) <= budget:
        return [text]
    parts = re.split(r"(?<=[.!?;:])\s+|\n+", text)
    if len(parts) == 1:
        parts = text.split()
    pieces: list[str] = []
    for part in parts:
        if pieces and count(pieces[-1] + " " + part) <= budget:
            pieces[-1] += " " + part
        elif count(part) > budget and len(part.split()) > 1:
            pieces.extend(_split_long(part, budget, count))
        else:
            pieces.append(part)
    return pieces


def chunk_blocks(blocks: list[Block], doc: str, max_tokens: int = 160,
                 count_tokens: TokenCounter = approx_tokens) -> list[Chunk]:
    """Clause-sized chunks within ``max_tokens`` (counted on the embedded text, heading included)."""
    pieces: list[tuple[str, _Unit]] = []
    for unit in _Chunker(blocks).run():
        budget = max(16, max_tokens - count_tokens(unit.section))
        for text in _split_long(_join_lines(unit.lines), budget, count_tokens):
            prev = pieces[-1] if pieces else None
            if (prev and not unit.numbered and not prev[1].numbered and prev[1].section == unit.section
                    and prev[1].page == unit.page and prev[1].clause == unit.clause
                    and count_tokens(prev[0] + "\n" + text) <= budget):
                pieces[-1] = (prev[0] + "\n" + text, prev[1])  # small plain paragraphs share a chunk
            else:
                pieces.append((text, unit))
    return [Chunk(f"{doc}#{i}", doc, text, unit.page, unit.section, unit.clause)
            for i, (text, unit) in enumerate(pieces)]


def document_title(blocks: list[Block]) -> str:
    """The first heading (or a heading-like first line), e.g. "Lumora Air Conditions of Carriage"."""
    if not blocks:
        return ""
    if any(b.level for b in blocks):
        return next(b.text for b in blocks if b.level)
    first = blocks[0].text.split("\n", 1)[0].strip()
    return first if _heading_level(first, alone=True) else ""


def proper_names(blocks: list[Block]) -> list[str]:
    """Title words the document never writes in lower case: the organisation's or product's name.

    A question that mentions the name is not thereby covered by the document ("the share price
    of <airline>"), so the relevance check looks at the question without these words.
    """
    lower_words = {w for b in blocks for w in re.findall(r"\b[a-z][a-z'-]+\b", b.text)}
    title = document_title(blocks)
    return sorted({w for w in re.findall(r"\b[A-Z][\w'-]+\b", title)
                   if w.lower() not in lower_words and not w.isupper()})


def read_chunks(path: str | Path, max_tokens: int = 160, count_tokens: TokenCounter | None = None,
                doc: str | None = None) -> list[Chunk]:
    """Read and chunk one document; ``doc`` names it (default: the file name)."""
    path = Path(path)
    return chunk_blocks(read_blocks(path), doc or path.name, max_tokens, count_tokens or approx_tokens)
