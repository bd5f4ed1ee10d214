"""Cutting policy documents into clause-sized chunks.

Every format is first turned into ``Block``s (paragraphs and headings, with page numbers
where the format has pages: airbot/knowledge/readers.py); one structural chunker then works on
those, so PDF, DOCX, HTML, Markdown and plain text are chunked by the same rules:

* headings (Markdown ``#``, HTML ``<h1>``, DOCX "Heading N", PDF bold or larger lines, or, in
  formats without explicit headings, short numbered / ALL-CAPS lines) open a section and stay
  with every chunk under them as its context;
* a line that opens with one of the document's clause labels (``1.2``, ``4.2.1``, ``A1.``,
  ``B.2``, ``C3)``, ``Art. 4``, ``Section C3``, ``§ 2``: airbot.knowledge.clauses) opens a chunk
  that cites the label as the document writes it;
* a labelled sub-item (``(a)``, ``(iv)``, ``(1)``) is a clause of its own, cited ``3(b)``,
  ``3(b)(ii)`` or ``Art. 4(1)``, and repeats the sentence that introduces its list so it reads alone;
  a clause that is nothing but that sentence is no chunk (no fact to find; retrieved first for
  "Is my quote still valid?", it cited ``2(b)`` and showed no figure);
* bullets and unlabelled numbered items stay with their clause; without any numbering, each
  paragraph (a PDF block) is a chunk, cited by its heading and page, and so is each item of a
  list (with the sentence introducing the list), unless the items are a few words each;
* plain numbers (``1.``, ``2)``) may start again at 1 under every heading;
* a label with only a title ("Article 2. Access") and a question standing alone as a paragraph
  (a FAQ's bold question) are headings of what follows them, not chunks without a fact;
* a chunk is never more than one clause or paragraph: anything longer than ``max_tokens``
  embedder tokens is split at sentence ends, each piece repeating the last sentence before it.

    python -c "from airbot.knowledge.chunking import read_chunks; print(*read_chunks('policy.pdf')[:3], sep='\\n')"
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from airbot.knowledge.clauses import (
    Label,
    Scheme,
    depth,
    find_label,
    heading_clause,
    opens_with_own_label,
    strip_clause_number,
    sub_styles,
)
from airbot.knowledge.clauses import sub_value as _sub_value
from airbot.knowledge.readers import Block, read_blocks
from airbot.text import split_sentences

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

    def question(self) -> str | None:
        """The question this chunk answers when its heading is one (an FAQ entry; a "Q:" may open with a
        sentence of context, and no other heading ends in "?"), else None."""
        heading = self.section.rsplit(" > ", 1)[-1].strip(" *")
        return heading if _is_question(heading, marked=True) else None

    def search_text(self) -> str:
        """What BM25 sees: heading and text with the clause number, so "clause 3.2" finds it."""
        return f"{self.section}\n{self.text}" if self.section else self.text

    def label(self) -> str:
        """Short human citation: the clause as written ("clause A1", "Art. 4", "§ 2.1"), else
        the heading, else the page."""
        if self.clause:
            return self.clause if not self.clause[:1].isalnum() or " " in self.clause else f"clause {self.clause}"
        heading = self.section.rsplit(" > ", 1)[-1]
        page = f"page {self.page}" if self.page else ""
        return ", ".join(x for x in (heading, page) if x) or self.doc

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> Chunk:
        fields: dict[str, Any] = {k: row.get(k) for k in ("id", "doc", "text", "page", "section", "clause")}
        return cls(**fields)


# --- chunking --------------------------------------------------------------------------------
# A list item that stays inside its clause: a bullet, an unlabelled "1." / "a." item, or a "(a)"
# that is not a sub-clause (no clause above it, or out of order).
_LETTER_ITEM = re.compile(r"^([a-z]|[ivx]{2,5})[.)]\s+")
_FAQ_MARK = re.compile(r"^(Q|A|Question|Answer)\s*[:.]\s+", re.IGNORECASE)
_ITEM_NUMBER = re.compile(r"^(\d{1,2})[.)]\s")
_LIST_ITEM = re.compile(r"^(?:[-*•▪◦]\s+|\d{1,2}[.)]\s+|(?:[a-z]|[ivx]{2,5})[.)]\s+|[A-Z]\)\s+|[A-Z]\.\s+(?=[A-Z0-9])"
                        r"|\([a-z0-9]{1,5}\)\s+)")


# "Late fee: USD 20": a block of nothing but such lines is a list (a fee schedule), one fact a line.
# Never a question ("Question: Can I ...?"): a FAQ's question and answer lines stay one chunk.
_KEY_VALUE = re.compile(r"^[A-Z][^:.!?]{1,50}:\s+\S[^:?]{0,60}$")
TITLE_LEVEL = 10
"""Heading level of a clause label with only a title ("Article 2. Access") found in the body:
below every heading the format marks (levels 1-6), nested by the label's depth."""


def _is_title(rest: str) -> bool:
    """Whether the words after a clause label are a title ("Late payment"), not a clause's text:
    one to six words, capitalised, no figure, not ending like a sentence."""
    rest = rest.lstrip(" -—–:*").rstrip(" *")
    words = rest.split()
    return 0 < len(words) <= 6 and rest[0].isupper() and rest[-1] not in ".,;:!?" and not re.search(r"\d", rest)


def _title_line(ln: _Line) -> bool:
    """A paragraph's first line that titles the lines below it ("Delivery" over "1. Delivery fee: $3")."""
    return ln.first and not ln.whole and ln.closed and not ln.item and _is_title(ln.text) and find_label(ln.text) is None


QUESTION_LEVEL = TITLE_LEVEL + 9
"""Heading level of a question standing alone as a paragraph: below every other heading."""


def _is_question(line: str, marked: bool = False) -> bool:
    """A single question of up to 25 words ("How far ahead can I book?"; "**...?**" in a text file too).
    ``marked``: the line says it is a question ("Q: ..."), so a sentence of context may come first ("Q: My
    piano has been in storage for years. Can it still be tuned?"), up to 40 words."""
    line = line.strip("*_ ")
    if marked:
        return line.endswith("?") and len(line.split()) <= 40
    return line.endswith("?") and len(line.split()) <= 25 and not re.search(r"[.!?]\s", line)


_ASKING = re.compile(r"(?:Can|Could|Do|Does|Did|Is|Are|Was|Will|Would|Should|May|How|What|When|Where|Which|Who|Why)\b")


def _asked(line: str) -> str:
    """A question paragraph's words without its emphasis or bullet ("- **Can I ...?**", a Notion toggle)."""
    return re.sub(r"^[-*•▪◦]\s+", "", line.strip("*_ ")).strip("*_ ")


def _asks_after_context(line: str) -> bool:
    """A paragraph of one sentence of context and a question ("My dog has sensitive skin. Can I bring my own
    shampoo?"), up to 25 words: a FAQ's question all the same."""
    line = _asked(line)
    parts = re.split(r"(?<=[.!])\s+", line)
    return (len(parts) == 2 and len(line.split()) <= 25 and _is_question(parts[1])
            and _ASKING.match(parts[1]) is not None)


@dataclass(frozen=True)
class _Line:
    """A body line: whether it opens its block, stands alone (nothing runs into it: first, or
    after a full stop; a heading line must), is a list item (a bullet, an unlabelled number, a
    line of a "Key: value" block) and is closed (the next line does not continue its sentence: it
    opens with a capital or is an item, "a) A full groom ...")."""

    text: str
    first: bool
    alone: bool
    item: bool
    closed: bool
    whole: bool = False
    """The block's only line (a paragraph of one line)."""
    row: bool = False
    """A table's row (``Block.row``)."""


SHORT_ITEM_WORDS = 3
"""List items of this many words or fewer ("- Mondays", "- Bank holidays") stay together in the
paragraph that lists them: alone they are too short to retrieve or to read."""


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
    label = find_label(line)
    if label is not None and label.family in ("word", "sign") and len(words) <= 8:
        return depth(label.text)
    letters = [c for c in line if c.isalpha()]
    if len(letters) >= 3 and all(c.isupper() for c in letters):
        return 1
    capitalised = all(w[0].isupper() or w.lower() in {"and", "of", "the", "for", "to", "in", "on", "a", "&"}
                      for w in words if w[0].isalpha())
    return 1 if alone and capitalised and len(words) <= 6 and not _LIST_ITEM.match(line) else 0


@dataclass
class _Unit:
    """A clause or paragraph being assembled from lines."""

    lines: list[str]
    page: int | None
    section: str
    clause: str | None
    numbered: bool
    lead: str = ""  # a sub-item's list introduction, repeated so the item reads alone
    marker: str = ""  # the kind of list marker the unit opens with ("digit", "letter", "bullet", ...)
    table: bool = False  # holds a table's rows after its own words


@dataclass
class _Sub:
    """One open level of sub-items under a clause: its style (letter, roman, digit), the last
    item's ordinal and label, and that item's unit (the lead-in of a deeper level)."""

    style: str
    value: int
    token: str
    unit: _Unit


@dataclass
class _Parent:
    """The clause sub-items attach to: its label and, for a clause with its own text, its unit."""

    clause: str | None = None
    unit: _Unit | None = None
    subs: list[_Sub] = field(default_factory=list)


# A list marker before an item that names its own clause ("1. B1: Lessons ...", "- 4.2 Refunds ...", "- (a) ...").
_MARKED_LABEL = re.compile(r"^(?:(?P<bullet>[-*+•])|\d{1,3}[.)])\s+"
                           r"(?=(?:[A-Z]\.?\d|\d+\.\d|§|\(|(?i:art|article|section|clause|rule)\b))")


def _own_label(line: str) -> str:
    """The line without a list marker typed before a clause label of its own, which is the one to
    cite (``opens_with_own_label``: the same rule leaves out the markers Word and browsers draw)."""
    if (m := _MARKED_LABEL.match(line)) and opens_with_own_label(line[m.end():], after_bullet=bool(m.group("bullet"))):
        return line[m.end():]
    return line


def _block_lines(block: Block) -> list[_Line]:
    """A body block's lines with what the chunker needs to know about each in context."""
    lines = [_own_label(ln.strip()) for ln in block.text.split("\n") if ln.strip()]
    table = len(lines) >= 2 and all(_KEY_VALUE.match(line) for line in lines)
    return [_Line(line, i == 0, i == 0 or lines[i - 1][-1] in ".!?:", table or bool(_LIST_ITEM.match(line)),
                  i + 1 == len(lines) or not lines[i + 1][:1].islower() or bool(_LIST_ITEM.match(lines[i + 1])),
                  len(lines) == 1, block.row)
            for i, line in enumerate(lines)]


class _Chunker:
    """Walks blocks once, tracking the heading path, and emits clause / paragraph units."""

    def __init__(self, blocks: list[Block]) -> None:
        self.blocks = blocks
        self.infer_headings = not any(b.level for b in blocks)
        self.lines = [[] if b.level else _block_lines(b) for b in blocks]
        self.scheme = Scheme(Scheme.of(self._line_roles()).families)
        top = [b for b in blocks if b.level == 1]
        deeper = any(b.level > 1 for b in blocks)
        # A lone level-1 heading above deeper ones is the document's title, not a section's topic.
        self.title = top[0].text if len(top) == 1 and deeper and blocks[0] is top[0] else None
        self.stack: list[tuple[int, str, str | None]] = []
        self.units: list[_Unit] = []
        self.current: _Unit | None = None
        self.parent = _Parent()
        self.item_number = -1
        """The number of the last unlabelled list item ("2. ...") that opened a unit; -1: none since the last clause."""

    def _line_roles(self) -> list[tuple[str, bool]]:
        """Every line in order with whether it is body text (not a heading, given or inferred):
        what ``Scheme.of`` reads the numbering from."""
        roles: list[tuple[str, bool]] = []
        for block, lines in zip(self.blocks, self.lines, strict=True):
            if block.level:
                roles.append((block.text.strip(), False))
                continue
            roles += [(ln.text, not (self._inferred_heading(ln) or _title_line(ln))) for ln in lines]
        return roles

    def _inferred_heading(self, ln: _Line) -> int:
        """The level of a heading found in a document without explicit ones (0: none); a line that
        runs on into a lower-case next line ("1.2 A lost paddle costs EUR 40 and a lost" / "spray
        deck EUR 25.") is a wrapped clause, never a heading."""
        return _heading_level(ln.text, ln.alone) if self.infer_headings and ln.closed else 0

    def run(self) -> list[_Unit]:
        for block, lines in zip(self.blocks, self.lines, strict=True):
            if block.level:
                self._heading(block.text, block.level)
                continue
            for line in lines:
                self._line(line, block.page)
        self._flush()
        return self.units

    def _section(self) -> str:
        return " > ".join(text for _, text, _ in self.stack if text != self.title)

    def _default_clause(self) -> str | None:
        return next((num for _, _, num in reversed(self.stack) if num), None)

    def _heading(self, text: str, level: int, *, own_items: bool = True) -> None:
        """Open a section; ``own_items`` False: a clause label with a title ("1) Appointments"), whose
        plain-numbered siblings are more such titles, not its items."""
        self._flush()
        while self.stack and self.stack[-1][0] >= level:
            self.stack.pop()
        self.scheme.heading(text, own_items=own_items)
        self.stack.append((level, text, heading_clause(text)))
        self.parent, self.item_number = _Parent(self._default_clause()), -1

    def _line(self, ln: _Line, page: int | None) -> None:
        line, first = ln.text, ln.first
        if level := self._inferred_heading(ln):
            self._heading(line, level)
            return
        if (asked := _FAQ_MARK.match(line)) and asked.group(1).lower().startswith("q") and _is_question(line[asked.end():],
                                                                                                          marked=True):
            # "Q: Can I bring my dog?" / "A: Yes, ..." (or "Question:" / "Answer:"): the question heads
            # its answer, as a question on a line of its own does
            self._heading(line[asked.end():].strip(), QUESTION_LEVEL)
            return
        if asked and self.stack and self.stack[-1][0] == QUESTION_LEVEL and self.current is None:
            line = line[asked.end():]
        label = self.scheme.accept(line)
        if label is None and _title_line(ln):
            # "Delivery" / "1. Delivery fee: $3 ..." in one paragraph: a plain-line sub-heading over the
            # lines below it (as a chunk it said nothing; after a clause it was glued onto its end)
            self._heading(line, TITLE_LEVEL)
            return
        if label is None and ln.whole and (_is_question(line) or _asks_after_context(line)):
            # A FAQ's question as a paragraph of its own (a bold line in DOCX or HTML, a Notion toggle's
            # "- **...?**"): it heads its answer, which would otherwise be a chunk that never says what it answers.
            self._heading(_asked(line), QUESTION_LEVEL)
            return
        if label is not None and label.family != "sub":
            if ln.closed and _is_title(line[label.end:]):
                # "Article 2. Access", "§ 4 Late payment": a label with a title and nothing else heads
                # the clauses below it; alone it would be a chunk without a fact. Below any real heading.
                self._heading(line, TITLE_LEVEL + depth(label.text), own_items=False)
                return
            # a clause is no part of a titled sibling above it ("2. Memberships" over its items, then
            # "3. Cancellations are free ...": clause 3 sits beside section 2, not in it)
            while self.stack and TITLE_LEVEL + depth(label.text) <= self.stack[-1][0] < QUESTION_LEVEL:
                self.stack.pop()
            self._start(line, page, label.text, numbered=True)
            self.parent, self.item_number = _Parent(label.text, self.current), -1
            return
        if label is None and ln.item and (m := _LETTER_ITEM.match(line)):
            # "c. hire for a party ..." after "b. Studios 2 and 3 cost ...": a lower-case item is a
            # sub-item too where a clause's items are (a capital after "b." makes "b." a label alone)
            label = Label(f"({m.group(1)})", "sub", m.end())
        if label is not None and self._sub_item(label, line, page):
            return
        cur = self.current
        number = int(m.group(1)) if ln.item and (m := _ITEM_NUMBER.match(line)) else None
        if (number is not None and number == self.item_number + 1 and cur is not None
                and any(sub.unit is cur for sub in self.parent.subs)):
            # "2." after "1. ...", "a. ...", "b. ...": the next item of the list the sub-items hang from
            self._start(line, page, self._default_clause(), numbered=False)
            self.parent, self.item_number = _Parent(self._default_clause()), number
            return
        if ln.row and cur is not None and cur.numbered and not cur.table and not _introduces_table(_join_lines(cur.lines)):
            # a table after a clause that does not announce one stands alone: "3.2 After vomiting, stay
            # away for 48 hours." then a table of fees read as part of the illness clause
            self._flush()
            cur = None
        if ln.row and cur is not None and cur.numbered:
            cur.table = True
        if cur is None:
            self._start(line, page, self._default_clause(), numbered=False)
        elif cur.numbered and (first or ln.item):
            cur.lines.append("\n" + line)  # list items and follow-on paragraphs stay with their clause
        elif not cur.numbered and ln.item and len(line.split()) > SHORT_ITEM_WORDS:
            self._list_item(line, page, cur)
        elif first or (page != cur.page and not cur.numbered):
            self._start(line, page, self._default_clause(), numbered=False)
        else:
            cur.lines.append(("\n" if ln.item else "") + line)
        if number is not None and self.current is not cur:
            self.item_number = number

    def _list_item(self, line: str, page: int | None, cur: _Unit) -> None:
        """An item of an unnumbered list is a paragraph of its own (a list of prices is several
        facts, not one) and repeats the sentence that introduces the list, if any; a paragraph
        that is nothing but that sentence is not kept alone."""
        text, marker = _join_lines(cur.lines), _marker_kind(line)
        # the items of one list share its introduction; "2." after "1. ... rules:", "a.", "b." is the
        # next item of the outer list, which the introduction of the lettered list does not cover
        lead = (cur.lead if cur.marker == marker else "") or (_lead_in(cur) if text.endswith(":") else "")
        if lead and text == lead:
            self.current = None
        self._start(line, page, self._default_clause(), numbered=False)
        assert self.current is not None  # _start just opened it
        self.current.lead, self.current.marker = lead, marker

    def _sub_item(self, label: Label, line: str, page: int | None) -> bool:
        """Open a chunk for a sub-item ``(b)`` of the clause above, if it continues a level of
        items in order or opens a deeper one at its first item; False when it is just a line."""
        parent = self.parent
        if parent.clause is None:
            return False
        token = label.text[1:-1]
        level = _sub_level(parent.subs, token)
        if level is None:
            return False
        style, at = level
        cur = self.current
        if not parent.subs and parent.unit is None and cur is not None and _join_lines(cur.lines).endswith(":"):
            parent.unit = cur  # under a heading, the item that introduces the list ("2. ... Members receive:")
        above = parent.subs[at - 1].unit if at else parent.unit
        lead = _lead_in(above)
        parent.subs[at:] = []
        clause = parent.clause + "".join(f"({s.token})" for s in parent.subs) + f"({token})"
        self._flush()
        self.current = _Unit([line], page, self._section(), clause, True, lead)
        parent.subs.append(_Sub(style, _sub_value(token, style), token, self.current))
        return True

    def _start(self, line: str, page: int | None, clause: str | None, numbered: bool) -> None:
        self._flush()
        self.current = _Unit([line], page, self._section(), clause, numbered)

    def _flush(self) -> None:
        if self.current:
            self.units.append(self.current)
            self.current = None


def _sub_level(subs: list[_Sub], token: str) -> tuple[str, int] | None:
    """Where a sub-item token goes: (its style, the level it takes). An item continues an open
    level of its style (the next ordinal, one skip allowed), or opens a deeper level at 1."""
    styles = sub_styles(token)
    for style in styles:
        for at, sub in enumerate(subs):
            if sub.style == style and sub.value < _sub_value(token, style) <= sub.value + 2:
                return style, at
    for style in styles:
        if _sub_value(token, style) == 1:
            return style, len(subs)
    return None


def _marker_kind(line: str) -> str:
    """The kind of list marker a line opens with: "digit" (2. 2)), "letter" (b. b) ii., a roman "i."
    being a letter too), "paren" ((b), (2)), "bullet", or "" for none."""
    if m := re.match(r"^(?:([-*•▪◦])|(\d+)[.)]|([a-zA-Z]|[ivx]{2,5})[.)]|(\(\w+\)))\s", line):
        return ("bullet", "digit", "letter", "paren")[m.lastindex - 1] if m.lastindex else ""
    return ""


def _lead_in(unit: _Unit | None) -> str:
    """The sentence that introduces a list of sub-items ("Refunds are not available for:"),
    without its own label: the last sentence of the text above the item, when it has words (a price
    list above the items, "Minor repairs ........ £30", ends in "£30", which was repeated before each)."""
    if unit is None:
        return ""
    text = strip_clause_number(_join_lines(unit.lines))
    sentences = split_sentences(text)
    lead = strip_clause_number(sentences[-1]) if sentences else ""
    return lead if len(re.findall(r"[^\W\d_]{2,}", lead)) >= 2 else ""


_ANNOUNCES_TABLE = re.compile(r":\s*$|\b(?:below|following|table|as follows)\b", re.IGNORECASE)


def _introduces_table(text: str) -> bool:
    """Does a clause announce the table after it ("The prices are:", "... set out in the table below.")?"""
    return bool(_ANNOUNCES_TABLE.search(text))


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


def _segments(text: str) -> list[str]:
    """The text's sentences in order; one that starts a new line is marked with a leading newline
    (list items and table rows stay on lines of their own when pieces are joined again)."""
    out: list[str] = []
    for n, line in enumerate(text.split("\n")):
        for i, sentence in enumerate(split_sentences(line)):
            out.append(("\n" if n and not i else "") + sentence)
    return out


def _glue(segments: list[str]) -> str:
    return "".join(s if s.startswith("\n") else " " + s for s in segments).strip()


def _split_long(text: str, budget: int, count: TokenCounter) -> list[str]:
    """Pieces within ``budget`` tokens, cut at sentence ends (a giant sentence at words); each
    piece after the first repeats the previous piece's last sentence when it is short enough,
    so a sentence that leans on the one before it ("This fee is waived...") keeps its subject."""
    if count(text) <= budget:
        return [text]
    segments: list[str] = []
    for segment in _segments(text):
        if count(segment) > budget and len(segment.split()) > 1:
            words = segment.split()
            step = max(1, len(words) * budget // (count(segment) + 1))
            segments.extend(" ".join(words[i:i + step]) for i in range(0, len(words), step))
        else:
            segments.append(segment)
    pieces: list[list[str]] = []
    current: list[str] = []
    for segment in segments:
        if current and count(_glue([*current, segment])) > budget:
            pieces.append(current)
            tail = current[-1].lstrip("\n")
            overlap = len(current) > 1 and count(tail) <= budget // 3 and count(_glue([tail, segment])) <= budget
            current = [tail] if overlap else []
        current.append(segment)
    if current:
        pieces.append(current)
    return [_glue(p) for p in pieces]


def chunk_blocks(blocks: list[Block], doc: str, max_tokens: int = 160,
                 count_tokens: TokenCounter = approx_tokens) -> list[Chunk]:
    """Clause-sized chunks within ``max_tokens`` (counted on the embedded text, heading included):
    one per clause, sub-item or paragraph, a long one in overlapping pieces."""
    pieces: list[tuple[str, _Unit]] = []
    units = _Chunker(blocks).run()
    for unit, after in zip(units, [*units[1:], None], strict=True):
        if after is not None and after.lead.endswith(":") and strip_clause_number(_join_lines(unit.lines)) == after.lead:
            continue  # "(b) Quotes remain valid for the following periods:" alone: its items repeat it
        lead = f"{unit.lead}\n" if unit.lead else ""
        budget = max(16, max_tokens - count_tokens(unit.section) - (count_tokens(lead) if lead else 0))
        pieces.extend((lead + text, unit) for text in _split_long(_join_lines(unit.lines), budget, count_tokens))
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
