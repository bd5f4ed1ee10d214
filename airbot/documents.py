"""Reading policy documents and cutting them into clause-sized chunks.

Every format is first turned into ``Block``s (paragraphs and headings, with page numbers
where the format has pages); one structural chunker then works on those, so PDF, DOCX,
HTML, Markdown and plain text are chunked by the same rules:

* headings (Markdown ``#``, HTML ``<h1>``, DOCX "Heading N", or, in formats without
  explicit headings, short numbered / ALL-CAPS lines) open a section;
* a line that starts with a clause number (``1.2``, ``1.2.3``, ``Article 5``, ``Art. 5.1``,
  ``Section 3``, ``§ 2.1``, ``Clause 7(b)``: airbot.clauses) opens a chunk that keeps that
  clause id in one canonical spelling; ``(a)`` sub-items stay with their clause;
* plain paragraphs are packed together within a section and a page;
* anything longer than ``max_tokens`` embedder tokens is split at sentence ends.

    python -c "from airbot.documents import read_chunks; print(*read_chunks('policy.pdf')[:3], sep='\\n')"
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from airbot.clauses import CLAUSE_DOTTED, CLAUSE_WORD, clause_id, depth, heading_clause, strip_clause_number
from airbot.errors import DocumentError

SUPPORTED = {".pdf": "PDF", ".md": "Markdown", ".markdown": "Markdown", ".txt": "text", ".text": "text",
             ".html": "HTML", ".htm": "HTML", ".docx": "DOCX"}
SUPPORTED_HINT = "airbot reads PDF, DOCX, Markdown (.md), HTML and plain text (.txt)"
TokenCounter = Callable[[str], int]


@dataclass(frozen=True)
class Block:
    """One paragraph (lines joined by newlines) or heading (``level`` > 0) of a document."""

    text: str
    page: int | None = None
    level: int = 0


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
        return cls(**{k: row.get(k) for k in ("id", "doc", "text", "page", "section", "clause")})


# --- reading ---------------------------------------------------------------------------------
def read_blocks(path: str | Path) -> list[Block]:
    """The document's paragraphs and headings; a clear ``DocumentError`` for anything unusable."""
    path = Path(path)
    if not path.is_file():
        raise DocumentError(f"Document {path} does not exist. Check the path.")
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        raise DocumentError(f"{path.name}: '{suffix or 'no extension'}' files are not supported; {SUPPORTED_HINT}. "
                            "Save or export it as one of those.")
    if path.stat().st_size == 0:
        raise DocumentError(f"{path.name} is empty (0 bytes). Upload the document's real file.")
    reader = {".pdf": _read_pdf, ".docx": _read_docx, ".html": _read_html, ".htm": _read_html}.get(suffix, _read_markdown)
    blocks = [b for b in reader(path) if b.text.strip()]
    if not any(b.level == 0 for b in blocks):
        raise DocumentError(f"{path.name} contains no text to index. Check it is the right file and not blank.")
    return blocks


def _read_text_file(path: Path) -> str:
    raw = path.read_bytes()
    if b"\x00" in raw[:4096]:
        raise DocumentError(f"{path.name} looks like a binary file, not {SUPPORTED[path.suffix.lower()]} text. "
                            "Export the document as text, Markdown, PDF or DOCX.")
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1")


def _read_pdf(path: Path) -> list[Block]:
    from pypdf import PdfReader

    try:
        reader = PdfReader(path)
        if reader.is_encrypted and not reader.decrypt(""):
            raise DocumentError(f"{path.name} is password-protected. Save an unprotected copy (print to PDF) and upload that.")
        pages = [page.extract_text() or "" for page in reader.pages]
    except DocumentError:
        raise
    except Exception as err:  # pypdf raises many types for damaged files; all mean "re-export it"
        hint = "install 'cryptography' or " if "cryptography" in str(err) else ""
        raise DocumentError(f"{path.name} could not be read as a PDF ({type(err).__name__}: {err}). It may be damaged "
                            f"or encrypted; {hint}re-export or re-download it and upload it again.") from None
    if not any(p.strip() for p in pages):
        raise DocumentError(f"{path.name} has {len(pages)} page(s) but no extractable text: it looks like a scan or "
                            "images. Run OCR on it first (e.g. `ocrmypdf in.pdf out.pdf`) and upload the result.")
    pages = _drop_page_furniture(pages)
    return [Block(para, page=n) for n, text in enumerate(pages, 1) for para in _paragraphs(text)]


_PAGE_NUMBER = re.compile(r"^(page\s*)?[#\divxlc]+(\s*(of|/)\s*[#\d]+)?$", re.IGNORECASE)


def _drop_page_furniture(pages: list[str]) -> list[str]:
    """Remove page numbers and running headers/footers, which would glue onto the last clause.

    A running line is one that (digits aside) recurs on more than half of 3+ pages.
    """
    def key(line: str) -> str:
        return re.sub(r"\d+", "#", line.strip().lower())

    counts: dict[str, int] = {}
    for text in pages:
        for k in {key(ln) for ln in text.splitlines() if ln.strip()}:
            counts[k] = counts.get(k, 0) + 1
    running = {k for k, n in counts.items() if len(pages) >= 3 and n > len(pages) / 2 and len(k) < 80}
    return ["\n".join(ln for ln in text.splitlines()
                      if not _PAGE_NUMBER.match(ln.strip()) and key(ln) not in running) for text in pages]


def _paragraphs(text: str) -> list[str]:
    """Blank-line separated paragraphs, each a newline-joined run of non-empty lines."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]


_MD_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_MD_SETEXT = re.compile(r"^(=+|-+)\s*$")


def _read_markdown(path: Path) -> list[Block]:
    """Markdown and plain text: ``#`` and underlined headings, blank-line paragraphs."""
    blocks: list[Block] = []
    for para in _paragraphs(_read_text_file(path)):
        lines = para.split("\n")
        current: list[str] = []
        for i, line in enumerate(lines):
            heading = _MD_HEADING.match(line)
            setext = i == 1 and len(lines) == 2 and _MD_SETEXT.match(line)
            if heading or setext:
                if setext:
                    current = []
                    heading_text, level = lines[0], 1 if line.startswith("=") else 2
                else:
                    heading_text, level = heading.group(2), len(heading.group(1))
                if current:
                    blocks.append(Block("\n".join(current)))
                    current = []
                blocks.append(Block(_clean_inline(heading_text), level=level))
            else:
                current.append(_clean_inline(line))
        if current:
            blocks.append(Block("\n".join(current)))
    return blocks


def _clean_inline(line: str) -> str:
    """Drop Markdown emphasis and link targets; the words are what gets embedded and read."""
    line = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", line)
    line = re.sub(r"(\*\*|__|`)", "", line)
    return line.strip()


_HTML_BLOCKS = {"p", "li", "td", "th", "pre", "blockquote", "dd", "dt", "caption", "figcaption"}
_HTML_SKIP = {"script", "style", "nav", "noscript", "template", "head"}


def _read_html(path: Path) -> list[Block]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(_read_text_file(path), "html.parser")
    blocks: list[Block] = []
    _walk_html(soup.body or soup, blocks)
    return blocks


def _walk_html(node: Any, blocks: list[Block]) -> None:
    from bs4 import NavigableString, Tag

    for child in node.children:
        if isinstance(child, NavigableString):
            if type(child) is NavigableString and child.strip():
                blocks.append(Block(" ".join(child.split())))
        elif isinstance(child, Tag) and child.name not in _HTML_SKIP:
            if re.fullmatch(r"h[1-6]", child.name):
                blocks.append(Block(child.get_text(" ", strip=True), level=int(child.name[1])))
            elif child.name in _HTML_BLOCKS and not child.find(list(_HTML_BLOCKS | {"div", "table", "ul", "ol"})):
                blocks.append(Block(" ".join(child.get_text(" ", strip=True).split())))
            else:
                _walk_html(child, blocks)


def _read_docx(path: Path) -> list[Block]:
    import docx
    from docx.table import Table

    try:
        document = docx.Document(str(path))
        items = list(document.iter_inner_content())
    except Exception as err:  # zip / XML errors: the file is not a usable DOCX
        raise DocumentError(f"{path.name} could not be read as a DOCX ({type(err).__name__}). It may be damaged or an "
                            "old .doc renamed; open it in Word/LibreOffice, save as .docx and upload again.") from None
    blocks: list[Block] = []
    for item in items:
        if isinstance(item, Table):
            blocks.extend(Block(" | ".join(c.text.strip() for c in row.cells)) for row in item.rows)
            continue
        style = (item.style.name if item.style is not None else "") or ""
        level = 1 if style == "Title" else int(m.group(1)) if (m := re.match(r"Heading (\d)", style)) else 0
        blocks.append(Block(item.text.strip(), level=level))
    return blocks


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
