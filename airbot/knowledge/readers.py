"""Reading policy documents: PDF, DOCX, HTML, Markdown and plain text, each turned into ``Block``s.

A ``Block`` is a paragraph or a heading (with its page number where the format has pages);
airbot/knowledge/chunking.py then cuts every format's blocks into chunks by one set of rules, so a
reader's only job is to recover the document's own structure faithfully. Every way a file
can be unusable (missing, empty, scanned, encrypted, binary, damaged) is a ``DocumentError``
that says how to fix the file.

    python -c "from airbot.knowledge.readers import read_blocks; print(*read_blocks('policy.pdf')[:5], sep='\\n')"
"""

from __future__ import annotations

import codecs
import html
import itertools
import os
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from airbot.errors import DocumentError
from airbot.knowledge.word_numbering import WordNumbering, draw, roman

SUPPORTED = {".pdf": "PDF", ".md": "Markdown", ".markdown": "Markdown", ".txt": "text", ".text": "text",
             ".html": "HTML", ".htm": "HTML", ".docx": "DOCX"}
SUPPORTED_HINT = "airbot reads PDF, DOCX, Markdown (.md), HTML and plain text (.txt)"
# Limits checked before the expensive work (parsing, chunking, embedding): a 278 KB DOCX that
# inflated to 100 MB of XML kept the indexer busy for 15+ minutes before these (see _check_size).
MAX_DOCUMENT_MB = float(os.environ.get("AIRBOT_MAX_DOC_MB", "50"))
MAX_TEXT_FILE_MB = 10
"""Markdown, HTML and text files: 10 MB of text is ~5,000 pages, far past any policy."""
DOCX_MAX_MEMBERS = 2000
DOCX_MAX_XML_MB = 25
"""Uncompressed XML a DOCX may hold (its text, styles, relations); images are not parsed."""
DOCX_MAX_UNZIPPED_MB = 200
PDF_MAX_PAGES = 2000
MAX_TEXT_CHARS = 2_000_000
"""Characters of text one document may yield (~1,000 pages): more is a dump, not a policy."""


@dataclass(frozen=True)
class Block:
    """One paragraph (lines joined by newlines) or heading (``level`` > 0) of a document."""

    text: str
    page: int | None = None
    level: int = 0
    bold: bool = False
    """All of its text is bold (a Word, HTML or Markdown paragraph): perhaps a heading set by hand."""
    row: bool = False
    """A table's row (``table_rows``): part of the clause above only when that clause introduces a table."""


# --- reading ---------------------------------------------------------------------------------
def read_blocks(path: str | Path) -> list[Block]:
    """The document's paragraphs and headings; a clear ``DocumentError`` for anything unusable."""
    path = Path(path)
    if not path.is_file():
        raise DocumentError(f"Document {path.name} does not exist. Check the path.")
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        raise DocumentError(f"{path.name}: '{suffix or 'no extension'}' files are not supported; {SUPPORTED_HINT}. "
                            "Save or export it as one of those.")
    _check_size(path, suffix)
    reader = {".pdf": _read_pdf, ".docx": _read_docx, ".html": _read_html, ".htm": _read_html}.get(suffix, _read_markdown)
    blocks = _bold_headings(_without_contents([b for b in map(_typeset, reader(path)) if b.text.strip()]))
    if not any(b.level == 0 for b in blocks):
        raise DocumentError(f"{path.name} contains no text to index. Check it is the right file and not blank.")
    chars = sum(len(b.text) for b in blocks)
    if chars > MAX_TEXT_CHARS:
        raise DocumentError(_too_much_text(path, chars))
    return blocks


_TYPESETTING = str.maketrans({"\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl",
                              "\ufb05": "st", "\ufb06": "st", "\u00ad": None, "\u200b": None, "\u200c": None,
                              "\u200d": None, "\u2060": None, "\ufeff": None})
"""Characters that only typesetting put there: ligatures (a PDF from LaTeX or InDesign yields "ﬁve
days" for "five days"), soft hyphens (HTML ``&shy;``, Word's optional hyphen) and zero-width marks,
which split a word for the embedder, BM25 and the strict reader alike ("can\u00adcel")."""


def _typeset(block: Block) -> Block:
    """The block with its typesetting-only characters replaced by the letters they stand for."""
    text = block.text.translate(_TYPESETTING)
    return block if text == block.text else replace(block, text=text)


BOLD_HEADING_WORDS = 10
"""Longest bold paragraph read as a heading; a longer one is an emphasised sentence."""


def _bold_headings(blocks: list[Block]) -> list[Block]:
    """Paragraphs bold all through that title what follows ("Membership" in bold, then its rules),
    as many people set headings in Word, HTML or Markdown without heading styles: a heading one
    level below the last real heading (1 with none). Left as text: a sentence (ends in a stop),
    a question (the chunker reads FAQs), a list's introduction (ends in ":") or a line right after
    one (a table's header row), and anything longer than ``BOLD_HEADING_WORDS`` words. As text, the
    title was a chunk of one word and the rules under it lost their topic."""
    out: list[Block] = []
    real = 0
    for block in blocks:
        if block.level:
            real = block.level
        text = block.text.strip()
        if (block.bold and not block.level and 0 < len(text.split()) <= BOLD_HEADING_WORDS
                and text[-1:] not in ".,;:?!" and re.search(r"[A-Za-z]", text)
                and not (out and out[-1].text.rstrip().endswith(":"))):
            block = replace(block, level=min(real + 1, 6))
        out.append(block)
    return out


_CONTENTS_ENTRY = re.compile(r"(\S.*?)\s*(?:(?:\.\s?){4,}|…{2,}|_{4,}|-{4,})\s*(?:\d{1,4}|[ivxlc]{1,6})", re.IGNORECASE)
"""A table of contents line: a title, a dotted (or ruled) leader and a page number."""
_CONTENTS_TITLE = re.compile(r"(?:table of )?contents|on this page|in this (?:document|policy)", re.IGNORECASE)
_MD_CONTENTS_LINK = re.compile(r"\s*(?:[-*+]|\d+[.)])\s+\[([^\]]+)\]\(#[^)]*\)\s*")
"""A Markdown list item that is only a link to a heading of the same page ("- [Fees](#fees)")."""


def _without_contents(blocks: list[Block]) -> list[Block]:
    """The document without its table of contents (``contents_entries``) and the "Contents" title over it."""
    lines = [(i, line) for i, b in enumerate(blocks) for line in b.text.split("\n")]
    drop = {lines[pos] for pos in _contents_entries([line for _, line in lines])}
    if not drop:
        return blocks
    out: list[Block] = []
    for i, block in enumerate(blocks):
        kept = [line for line in block.text.split("\n") if (i, line) not in drop]
        if len(kept) < len(block.text.split("\n")) and out and _contents_title(out[-1].text):
            out.pop()
        if any(line.strip() for line in kept):
            out.append(replace(block, text="\n".join(kept)))
    return out


def _contents_entries(lines: list[str]) -> set[int]:
    """Positions of a table of contents' entries among ``lines``: runs of two or more ("2. Charges
    ........ 4", "- [Fees](#fees)") whose titles come back later as headings or lines. Each entry was a
    chunk that named a topic without its rules ("3. Missed appointments 4" beat the clause on missed
    appointments, and its page number read as a figure)."""
    plain = [" ".join(_clean_inline(line.strip().lstrip("#")).lower().split()) for line in lines]
    found: set[int] = set()
    run: list[tuple[int, str]] = []

    def close() -> None:
        if len(run) >= 2 and all(any(t and text.startswith(t) for text in plain[pos + 1:] if text != plain[pos])
                                 for pos, t in run):
            found.update(pos for pos, _ in run)
        run.clear()

    for pos, line in enumerate(lines):
        if entry := _CONTENTS_ENTRY.fullmatch(line.strip()) or _MD_CONTENTS_LINK.fullmatch(line):
            run.append((pos, " ".join(_clean_inline(entry.group(1)).lower().split())))
        elif line.strip():
            close()
    close()
    return found


def _contents_title(text: str) -> bool:
    """Is this line the title over a table of contents ("Contents", "## Table of contents")?"""
    return bool(_CONTENTS_TITLE.fullmatch(_clean_inline(text.strip().lstrip("#")).strip(" :")))


_UNICODE_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF16_LE, "utf-16"),
                 (codecs.BOM_UTF16_BE, "utf-16"))


def _read_text_file(path: Path) -> str:
    """A text file's characters: UTF-8 (with or without its mark), UTF-16/32 with a byte-order mark (what
    Windows Notepad saves as "Unicode": refused as binary before), else Windows-1252."""
    raw = path.read_bytes()
    for bom, encoding in _UNICODE_BOMS:
        if raw.startswith(bom):
            try:
                return raw.decode(encoding)
            except UnicodeDecodeError:
                break
    if b"\x00" in raw[:4096]:
        kind = SUPPORTED[path.suffix.lower()]
        raise DocumentError(f"{path.name} looks like a binary file, not {'plain' if kind == 'text' else kind} text. "
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
        if len(reader.pages) > PDF_MAX_PAGES:
            raise DocumentError(f"{path.name} has {len(reader.pages):,} pages; airbot indexes PDFs of up to "
                                f"{PDF_MAX_PAGES:,} pages. Split it into parts and upload them separately.")
        layouts = [_page_lines(page) for page in reader.pages]
        pages = ["\n".join(line.text for line in lines) for lines in layouts]
    except DocumentError:
        raise
    except Exception as err:  # pypdf raises many types for damaged files; all mean "re-export it"
        hint = "install 'cryptography' or " if "cryptography" in str(err) else ""
        raise DocumentError(f"{path.name} could not be read as a PDF ({type(err).__name__}: {err}). It may be damaged "
                            f"or encrypted; {hint}re-export or re-download it and upload it again.") from None
    if not any(p.strip() for p in pages):
        raise DocumentError(f"{path.name} has {len(pages)} page(s) but no extractable text: it looks like a scan or "
                            "images. Run OCR on it first (e.g. `ocrmypdf in.pdf out.pdf`) and upload the result.")
    running = _running_lines(pages, [_edge_keys(lines) for lines in layouts])
    if not all(line.y for lines in layouts for line in lines):  # no usable positions: paragraphs by blank lines
        pages = _drop_page_furniture(pages, running)
        return [Block(para, page=n) for n, text in enumerate(pages, 1) for para in _paragraphs(text)]
    kept, notes = _footnotes([_page_text(lines, running) for lines in layouts])
    return _place_footnotes(_pdf_blocks(kept), notes)


@dataclass(frozen=True)
class _PdfLine:
    """One line of a PDF page's text layer: where it sits (``y`` from the page bottom), how big
    and whether all of it is bold; enough to tell headings and paragraph breaks apart."""

    text: str
    y: float
    size: float
    bold: bool
    page: int = 0
    pieces: tuple[tuple[float, str], ...] = ()
    """Its text as drawn, piece by piece ``(x, text)``: a table's cells are pieces of their own."""


def _page_lines(page: Any) -> list[_PdfLine]:
    """The page's text lines with their position and font, from pypdf's text visitor (the
    visitor's pieces join to exactly the text ``extract_text`` returns)."""
    pieces: list[tuple[str, float, float, bool, float]] = []

    def visit(text: str, cm: list[float], tm: list[float], font: Any, size: float) -> None:
        name = str((font or {}).get("/BaseFont", ""))
        x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
        y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
        scale = abs(tm[3] * cm[3]) or 1.0
        pieces.append((text, round(y, 1), round(size * scale, 1), bool(re.search(r"bold|black|heavy", name, re.I)),
                       round(x, 1)))

    page.extract_text(visitor_text=visit)
    lines: list[_PdfLine] = []
    text = ""
    marks: list[tuple[float, float, bool, float, str]] = []
    for piece, y, size, bold, x in [*pieces, ("\n", 0.0, 0.0, False, 0.0)]:
        for i, part in enumerate(piece.split("\n")):
            if i:
                if text.strip():
                    lines.append(_PdfLine(text.strip(), marks[0][0], max(m[1] for m in marks), all(m[2] for m in marks),
                                          pieces=_pieces(marks)))
                text, marks = "", []
            text += part
            if part.strip():
                marks.append((y, size, bold, x if i == 0 else -1.0, part))
    return lines


_SUPERSCRIPT_FIGURES = "¹²³⁴⁵⁶⁷⁸⁹⁰"
_FOOTNOTE_START = re.compile(rf"([{_SUPERSCRIPT_FIGURES}]+|\d{{1,2}}(?=\s)|[*†‡]{{1,3}})\s*(?=\S)")


def _body_size(sized: Iterable[tuple[float, str]]) -> float:
    """The font size most of the text is set in, from ``(size, text)`` pairs (PDF lines, Word paragraphs)."""
    weights: dict[float, int] = {}
    for size, text in sized:
        weights[size] = weights.get(size, 0) + len(text)
    return max(weights, key=lambda k: weights[k]) if weights else 0.0


def _footnotes(pages: list[list[_PdfLine]]) -> tuple[list[list[_PdfLine]], list[tuple[int, str, str]]]:
    """Each page without the footnotes at its foot, and the notes as ``(page, marker, text)``.

    A page's footnotes are its last lines set smaller than the body, the first opening with a marker
    ("¹", "2 ", "*") that the text above carries (``_marker_in``). Read in place they were glued onto
    whatever clause ended the page (and split a clause running over the page break in two), while the
    clause that points to them lost what they add: "The DVLA normally needs about 3 weeks" sat in the
    refresher-lesson clause."""
    body = _body_size((ln.size, ln.text) for lines in pages for ln in lines)
    out: list[list[_PdfLine]] = []
    notes: list[tuple[int, str, str]] = []
    for n, lines in enumerate(pages, 1):
        foot = len(lines)
        while foot > 0 and lines[foot - 1].size < body - 0.5:
            foot -= 1
        tail, text = lines[foot:], "\n".join(ln.text for ln in lines[:foot])
        first = _FOOTNOTE_START.match(tail[0].text) if tail else None
        if first is None or not _marker_in(first.group(1), text):
            out.append(lines)
            continue
        found: list[tuple[int, str, str]] = []
        for ln in tail:
            start = _FOOTNOTE_START.match(ln.text)
            if start and _marker_in(start.group(1), text):
                found.append((n, start.group(1), ln.text[start.end():]))
            else:
                found[-1] = (n, found[-1][1], f"{found[-1][2]} {ln.text}")
        notes += found
        out.append(lines[:foot])
    return out, notes


def _marker_in(marker: str, text: str) -> bool:
    """Whether ``text`` points to footnote ``marker``: the superscript itself, or the figure set right after
    a word or a stop ("Payment1." as a raised figure extracts), or the symbol."""
    if marker[0] in _SUPERSCRIPT_FIGURES or not marker[0].isdigit():
        return marker in text
    return re.search(rf"(?<=[a-z)\].,;:'’”]){marker}(?!\d)", text) is not None


def _place_footnotes(blocks: list[Block], notes: list[tuple[int, str, str]]) -> list[Block]:
    """Each note after the text of the block that points to it on its page (or an earlier one), as the
    Markdown reader places a footnote; a note that no block points to stays a paragraph of its page."""
    blocks = list(blocks)
    for page, marker, note in notes:
        at = next((i for i, b in enumerate(blocks) if b.page == page and b.level == 0 and _marker_in(marker, b.text)),
                  None)
        if at is None:
            at = next((i for i in reversed(range(len(blocks))) if (blocks[i].page or 0) < page
                       and blocks[i].level == 0 and _marker_in(marker, blocks[i].text)), None)
        if at is None:
            last = max((i for i, b in enumerate(blocks) if (b.page or 0) <= page), default=len(blocks) - 1)
            blocks.insert(last + 1, Block(f"{marker} {note}", page=page))
        else:
            blocks[at] = replace(blocks[at], text=_after_pointer(blocks[at].text, marker, f"{marker} {note}"))
    return blocks


def _after_pointer(text: str, marker: str, note: str) -> str:
    """``text`` with ``note`` as a line after the clause that carries ``marker``: after its line and the lines
    that continue it, before the next line that opens with a clause label (a page set without paragraph
    spacing is one block of many clauses) or at the end."""
    from airbot.knowledge.clauses import find_label

    lines = text.split("\n")
    at = next((i for i, line in enumerate(lines) if _marker_in(marker, line)), len(lines) - 1)
    end = next((j for j in range(at + 1, len(lines)) if find_label(lines[j]) is not None), len(lines))
    return "\n".join([*lines[:end], note, *lines[end:]])


def _pieces(marks: list[tuple[float, float, bool, float, str]]) -> tuple[tuple[float, str], ...]:
    """A line's text by where each drawn piece starts (text after a line break inside a piece goes on with it)."""
    out: list[list[Any]] = []
    for _, _, _, x, part in marks:
        if out and x < 0:
            out[-1][1] += part
        else:
            out.append([x, part])
    return tuple((float(x), " ".join(text.split())) for x, text in out if text.strip())


def _pdf_blocks(pages: list[list[_PdfLine]]) -> list[Block]:
    """Paragraphs and headings from positioned lines: a paragraph ends where the gap to the next
    line is wider than the body's line spacing or the font changes; lines larger than the body
    text, or bold all through, are headings (larger first: level 1)."""
    lines = [replace(ln, page=n) for n, page in enumerate(pages, 1) for ln in page]
    body = _body_size((ln.size, ln.text) for ln in lines)
    styles = sorted({(ln.size, ln.bold) for ln in lines if _pdf_heading(ln, body)}, key=lambda s: (-s[0], not s[1]))
    levels = {style: min(i + 1, 6) for i, style in enumerate(styles)}
    gaps = sorted(a.y - b.y for a, b in itertools.pairwise(lines) if a.page == b.page and a.size == b.size == body
                  and not a.bold and not b.bold and a.y > b.y)
    pitch = gaps[len(gaps) // 4] if gaps else body * 1.2  # the tighter spacing: lines inside one paragraph
    blocks: list[Block] = []
    current: list[_PdfLine] = []
    for item in _pdf_tables(lines):
        if isinstance(item, Block):  # a table row, already named cell by cell
            if current:
                blocks.append(_pdf_block(current, body, levels))
                current = []
            blocks.append(item)
            continue
        ln, prev = item, current[-1] if current else None
        same = (prev is not None and _pdf_heading(prev, body) == _pdf_heading(ln, body)
                and (prev.size, prev.bold) == (ln.size, ln.bold)
                and ((prev.page == ln.page and 0 < prev.y - ln.y <= pitch * 1.25) or _runs_on(prev, ln, body)))
        if not same and current:
            blocks.append(_pdf_block(current, body, levels))
            current = []
        current.append(ln)
    if current:
        blocks.append(_pdf_block(current, body, levels))
    return _table_headers(blocks)


TABLE_ALIGN = 1.5
"""Points within which two pieces start at the same x: one column of a table."""


def _pdf_tables(lines: list[_PdfLine]) -> list[_PdfLine | Block]:
    """The lines with every table replaced by its rows, each named by the header's cells as in the
    other formats ("Car park: Station, 1 hour: EUR 2.50"); a PDF flattened them to "Station EUR
    2.50 EUR 7.00", whose figures say nothing alone. A table is two or more lines of one page whose
    pieces past the first start at x positions that other lines share (its columns); a line of one
    piece in a column is a cell wrapping on from its row. Measured x, not text widths: a cell's text
    can fill its column, and a sentence's bold word is a piece of its own that no other line aligns with."""
    out: list[_PdfLine | Block] = []
    i = 0
    while i < len(lines):
        run = _table_run(lines, i)
        if not run:
            out.append(lines[i])
            i += 1
            continue
        shared = _shared_x(run)
        rows: list[list[str]] = []
        for line in run:
            if len(line.pieces) > 1 or not rows:
                rows.append([""] * (len(shared) + 1))
            for n, (x, text) in enumerate(line.pieces):
                k = 0 if n == 0 and len(line.pieces) > 1 else _column(shared, _extent(x, text, line.size))
                rows[-1][k] = f"{rows[-1][k]} {text}".strip()
        out.extend(Block(row, page=run[0].page, row=True) for row in table_rows(rows))
        i += len(run)
    return out


def _table_run(lines: list[_PdfLine], start: int) -> list[_PdfLine]:
    """The table that starts at ``lines[start]`` (empty: none): the lines of its page from there
    whose pieces past the first all sit in shared columns, at least two of them with several pieces."""
    first = lines[start]
    if len(first.pieces) < 2 or _hanging_clause(first):
        return []
    x0 = first.pieces[0][0]
    run = [first]
    for line in lines[start + 1:]:
        several = len(line.pieces) > 1 and abs(line.pieces[0][0] - x0) < TABLE_ALIGN
        wrapped = len(line.pieces) == 1 and line.pieces[0][0] > x0 + TABLE_ALIGN
        if line.page != first.page or not (several or wrapped) or _hanging_clause(line):
            break
        run.append(line)
    shared = _shared_x(run)
    kept: list[_PdfLine] = []
    for line in run:
        inner = [_extent(x, text, line.size) for x, text in (line.pieces[1:] if len(line.pieces) > 1 else line.pieces)]
        if not shared or not all(any(_aligned(piece, c) for c in shared) for piece in inner):
            break
        kept.append(line)
    rows = [line for line in kept if len(line.pieces) > 1]
    if len(rows) < 2 or all(_LIST_MARKER.match(line.pieces[0][1]) for line in rows):
        return []  # a list: its markers ("1.", "-", "(a)") drawn apart from the items' text
    return kept


def _hanging_clause(line: _PdfLine) -> bool:
    """A clause label set apart from its sentence ("2.1" at the margin, "Rental prices for each ..."
    beside it: a hanging indent, or a label | sentence table row): prose, never a table's row. As a
    row, it and every clause after it sharing the text column became cells of the table above."""
    return (len(line.pieces) == 2 and _label_only(line.pieces[0][1])
            and len(line.pieces[1][1].split()) >= HANGING_WORDS)


HANGING_WORDS = 5
"""Words beside a label that make a sentence, not a table cell ("1.5 | EUR 8" is a row of figures)."""
_LIST_MARKER = re.compile(r"^(?:[-*•▪◦·]|\d{1,3}[.)]|[a-zA-Z][.)]|\([a-zA-Z0-9]{1,5}\)|[ivxlc]{1,6}[.)])$")


def _shared_x(run: list[_PdfLine]) -> list[tuple[float, float]]:
    """The columns (past each line's first piece) that pieces of two or more lines share, as the first such
    piece's (start, end), left to right."""
    pieces = sorted(_extent(x, text, line.size) for line in run
                    for x, text in (line.pieces[1:] if len(line.pieces) > 1 else line.pieces))
    shared: list[tuple[float, float]] = []
    for piece in pieces:
        if sum(_aligned(piece, other) for other in pieces) >= 2 and not any(_aligned(piece, c) for c in shared):
            shared.append(piece)
    return shared


RIGHT_ALIGN = 4.0
"""Points within which two pieces' estimated right edges meet: a right-aligned column of figures ("£32"
and "£145" start 5 pt apart, end together)."""
_GLYPH_EM = {**dict.fromkeys("0123456789£$€", 0.556), **dict.fromkeys(" .,:;'|!il", 0.278),
             **dict.fromkeys("mwM", 0.833), "W": 0.944}
"""Glyph widths in em of the common PDF sans (Helvetica/Arial metrics) that a text's width is estimated by;
other capitals 0.667, other characters 0.5 (a bold header runs a little wider: ``RIGHT_ALIGN`` allows it)."""


def _extent(x: float, text: str, size: float) -> tuple[float, float]:
    """Where a piece of text starts and (estimated from its characters) ends on the line."""
    return x, x + size * sum(_GLYPH_EM.get(ch, 0.667 if ch.isupper() else 0.5) for ch in text)


def _aligned(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """Two pieces in one column: they start together (left-aligned) or end together (right-aligned)."""
    return abs(a[0] - b[0]) < TABLE_ALIGN or abs(a[1] - b[1]) < RIGHT_ALIGN


def _column(shared: list[tuple[float, float]], piece: tuple[float, float]) -> int:
    """The column of a piece past a row's first: the shared column it aligns with (1-based; 0 is the rows'
    first column), else the last one starting left of it."""
    at = next((i for i, column in enumerate(shared) if _aligned(piece, column)), None)
    if at is None:
        at = max((i for i, column in enumerate(shared) if column[0] <= piece[0] + TABLE_ALIGN), default=-1)
    return at + 1


def _runs_on(prev: _PdfLine, line: _PdfLine, body: float) -> bool:
    """Whether ``line`` opens a page in the middle of the sentence the last page ended ("... if you
    have not received it," / "please call reception."): one paragraph, not two chunks."""
    return (line.page == prev.page + 1 and not _pdf_heading(prev, body) and prev.text.rstrip()[-1:] not in ".!?:;"
            and line.text[:1].islower())


def _table_headers(blocks: list[Block]) -> list[Block]:
    """A bold line right after a sentence ending in ":" read as body text: a heading never follows
    one; in a PDF it is a table's header row that was not drawn in columns (its other lines, same
    style, right after it, go with it). As a heading it cut the table from the clause introducing
    it: its rows cited no clause, and the clause's next sub-item "(2)" lost its article."""
    out: list[Block] = []
    demoted: int | None = None
    for block in blocks:
        prev = out[-1] if out else None
        if block.level and (block.level == demoted or (prev is not None and not prev.level
                                                       and prev.text.rstrip().endswith(":"))):
            out.append(Block(block.text, page=block.page))
            demoted = block.level
            continue
        demoted = None
        out.append(block)
    return out


def _pdf_heading(line: _PdfLine, body: float) -> bool:
    return (line.size > body + 0.4 or line.bold) and len(line.text) <= 120


def _pdf_block(lines: list[_PdfLine], body: float, levels: dict[tuple[float, bool], int]) -> Block:
    first = lines[0]
    if _pdf_heading(first, body) and len(lines) <= 3:
        return Block(" ".join(ln.text for ln in lines), page=first.page, level=levels[(first.size, first.bold)])
    return Block("\n".join(ln.text for ln in lines), page=first.page)


_PAGE_NUMBER = re.compile(r"^(page\s*)?[#\divxlc]+(\s*(of|/)\s*[#\d]+)?$", re.IGNORECASE)


def _line_key(line: str) -> str:
    return re.sub(r"\d+", "#", line.strip().lower())


def _running_lines(pages: list[str], edges: list[set[str]] | None = None) -> set[str]:
    """Running headers/footers: lines that (digits aside) recur on more than half of 3+ pages, and in
    a two-page document the lines at the top or bottom edge of both pages (``edges``: each page's
    first and last line keys)."""
    counts: dict[str, int] = {}
    for text in pages:
        for k in {_line_key(ln) for ln in text.splitlines() if ln.strip()}:
            counts[k] = counts.get(k, 0) + 1
    running = {k for k, n in counts.items() if len(pages) >= 3 and n > len(pages) / 2 and len(k) < 80}
    if len(pages) == 2 and edges and len(edges) == 2:
        running |= {k for k in edges[0] & edges[1] if len(k) < 80}
    return running


def _at_edge(lines: list[_PdfLine]) -> list[bool]:
    """Per line of a page: whether it is the page's top or bottom line (where furniture sits)."""
    top, bottom = (max(ln.y for ln in lines), min(ln.y for ln in lines)) if lines else (0.0, 0.0)
    return [ln.y >= top or ln.y <= bottom for ln in lines]


def _edge_keys(lines: list[_PdfLine]) -> set[str]:
    """The keys of a page's top and bottom lines (where running headers and footers sit)."""
    return {_line_key(ln.text) for ln, edge in zip(lines, _at_edge(lines), strict=True) if edge}


def _furniture(line: str, running: set[str], edge: bool = True) -> bool:
    """A page number (only at the page's ``edge``: a figure or year wrapped onto a line of its own
    inside the text, "... until 12 April / 2026", is text) or a running header/footer line."""
    return (edge and bool(_PAGE_NUMBER.match(line.strip()))) or _line_key(line) in running


def _page_text(lines: list[_PdfLine], running: set[str]) -> list[_PdfLine]:
    """A page's lines without its furniture; a page number counts only on the page's top or bottom line."""
    return [ln for ln, edge in zip(lines, _at_edge(lines), strict=True) if not _furniture(ln.text, running, edge)]


def _drop_page_furniture(pages: list[str], running: set[str]) -> list[str]:
    """Remove page numbers and running headers/footers, which would glue onto the last clause."""
    return ["\n".join(ln for ln in text.splitlines() if not _furniture(ln, running)) for text in pages]


def _paragraphs(text: str, indented: bool = False) -> list[str]:
    """Blank-line separated paragraphs, each a newline-joined run of non-empty lines (``indented``: the first
    line keeps its indent)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return [p.strip("\n").rstrip() if indented else p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]


_MD_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_MD_SETEXT = re.compile(r"^(=+|-+)\s*$")
_MD_BOLD_LINE = re.compile(r"(\*\*|__)(.+?)\1")
_MD_RULE = re.compile(r"^\s*([-=*_~])(?:\s*\1){2,}\s*$")


def _read_markdown(path: Path) -> list[Block]:
    """Markdown and plain text: ``#`` and underlined headings, blank-line paragraphs, pipe tables
    read row by row; a text with form feeds (a PDF saved as text, ``pdftotext``) loses its running
    headers and page numbers as a PDF does."""
    text = _text_pages_joined(_read_text_file(path)).replace("\r\n", "\n").replace("\r", "\n")
    lines = (_markdown_source(text) if SUPPORTED[path.suffix.lower()] == "Markdown" else text).split("\n")
    lines = _email_header(lines)
    if contents := _contents_entries(lines):  # taken out before paragraphs form: a link list is re-flowed
        title = min(contents) - 1
        while title >= 0 and not lines[title].strip():
            title -= 1
        lines = [line for pos, line in enumerate(lines)
                 if pos not in contents and not (pos == title and _contents_title(line))]
    blocks: list[Block] = []
    for para in _paragraphs("\n".join(lines), indented=True):
        rows, start = _spaced_table(para.split("\n"))  # the first line's indent places a header's cells
        if rows:  # a table typed with spaces ends the paragraph: its lines are rows, the text before it a paragraph
            blocks.extend(_markdown_blocks(para.split("\n")[:start]) + [Block(row, row=True) for row in rows])
            continue
        para = para.strip()
        for is_table, lines in _table_runs(para.split("\n")):
            if is_table:
                blocks.extend(Block(row, row=True) for row in lines)  # a row is its own line, never re-flowed into the next
            else:
                blocks.extend(_markdown_blocks(lines))
    return blocks


_EMAIL_FIELD = re.compile(r"^(from|sent|date|to|cc|bcc|subject|reply-to|importance)\s*:", re.IGNORECASE)


def _email_header(lines: list[str]) -> list[str]:
    """A text without the saved e-mail header at its top ("From: ... / Sent: ... / To: ... / Subject: RE:
    ..."): read as text, "From: Martin Hale <martin@...>" was the heading of every chunk. The subject does not
    take its place: a title over every clause made their embeddings alike (fresh5's piano tuner: with the
    subject heading all 37 chunks, 8 of its 25 in-scope questions were refused; without it, 6)."""
    start = next((i for i, line in enumerate(lines) if line.strip()), len(lines))
    end = next((i for i in range(start, len(lines)) if not lines[i].strip()), len(lines))
    fields = [_EMAIL_FIELD.match(line.strip()) for line in lines[start:end]]
    names = {m.group(1).lower() for m in fields if m}
    if end - start < 2 or not all(fields) or not names & {"from", "subject"} or not names & {"to", "sent", "date"}:
        return lines
    return lines[end:]


_SPACED_CELL = re.compile(r"\S+(?: \S+)*")
"""A cell of a table typed with spaces: words one space apart (two or more spaces end it)."""


def _spaced_table(lines: list[str]) -> tuple[list[str], int]:
    """A table typed with spaces at the end of a paragraph, as ``table_rows`` lines, and the line it starts
    at (no rows: none). A plain-text fee table ("Grass tent pitch   £18.00   £22.00   £28.00" under
    "Low season   Mid season   High season") was one paragraph of figures whose header line read as a
    heading over every clause after it; each row now names its cells ("Low season: £18.00")."""
    for start in range(len(lines) - 1):
        if (rows := _spaced_rows(lines[start:])) is not None:
            header = len(rows[0]) > len([c for c in rows[0] if c]) or (
                not any(re.search(r"\d", c) for c in rows[0]) and all(re.search(r"\d", " ".join(r)) for r in rows[1:]))
            return table_rows(rows, header=header or None), start
    return [], len(lines)


def _spaced_rows(lines: list[str]) -> list[list[str]] | None:
    """The cells of lines that form a table typed with spaces, or None: at least three columns, every line
    but the first (a header over an empty first column may lack it) with a cell in each, and each column's
    cells overlapping on the page (left-, right- or centre-aligned alike). A clause line "1.1  Bookings ..."
    followed by its wrapped lines is no table: those lines have one cell."""
    spans = [[(m.start(), m.end(), m.group()) for m in _SPACED_CELL.finditer(line.expandtabs(8))] for line in lines]
    n = max(len(cells) for cells in spans)
    if n < 3 or (len(spans) < 3 and len(spans[0]) < n) or any(len(cells) != n for cells in spans[1:]) \
            or len(spans[0]) not in (n, n - 1):
        return None
    for column in range(n):
        cells = [row[column - n + len(row)] for row in spans if column - n + len(row) >= 0]
        if max(c[0] for c in cells) >= min(c[1] for c in cells):
            return None
    return [[""] * (n - len(row)) + [c[2] for c in row] for row in spans]


_MD_FRONT_MATTER = re.compile(r"\A---[ \t]*\n.*?\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL)
_MD_LINK_DEFINITION = re.compile(r"^ {0,3}\[(?!\^)[^\]]+\]:[ \t]*\S+.*$", re.MULTILINE)
_MD_FOOTNOTE = re.compile(r"^ {0,3}\[\^([^\]]+)\]:[ \t]*(.*(?:\n(?: {2,}|\t).*)*)", re.MULTILINE)
"""A footnote's definition ("[^1]: text", indented lines continuing it)."""
_MD_ATTRIBUTES = re.compile(r"\{:[^}\n]*\}|[ \t]*\{[#.][\w\s#.=\"'-]*\}(?=[ \t]*$)", re.MULTILINE)
"""Kramdown's "{: .class }" and Pandoc/Hugo's "{#id .class}" after a heading, image or paragraph."""
_HTML_TAG = re.compile(r"</?[A-Za-z][\w-]*(?:\s[^<>]*)?/?>")
_HTML_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
"""A character reference as Markdown renders it ("&pound;12", "&amp;", "&#8211;"); only with its ";", so
"R&D" or "fees&parking" stay as written (``html.unescape`` alone reads "&para" as a pilcrow)."""


def _markdown_source(text: str) -> str:
    """What a Markdown file says, without what only its renderer reads: YAML front matter (a Jekyll or
    Hugo page's "title: ... layout: page"), HTML comments and tags, images, attribute lists, link reference
    definitions and footnote markers, with character references as the characters they draw; a footnote's
    own text follows the list item or paragraph that refers to it (``_footnotes_in_place``). Each was read
    as words: "layout: page permalink: /policy/" was a chunk, "[^1]" and "<details>" sat inside clauses,
    "&pound;12" was no price, and a footnote on a price glued onto the last section."""
    text = _MD_FRONT_MATTER.sub("", text)
    text = re.sub(r"<!--.*?-->", "", text, flags=re.DOTALL)
    text = re.sub(r"!\[[^\]]*\]\([^)]*\)|!\[[^\]]*\]\[[^\]]*\]", "", text)  # images
    text = _MD_ATTRIBUTES.sub("", text)
    text = _MD_LINK_DEFINITION.sub("", text)
    text = _footnotes_in_place(text)
    text = re.sub(r"\[([^\]]+)\]\[[^\]]*\]", r"\1", text)  # [text][ref]
    text = _HTML_TABLE.sub(_pipe_table, text)
    # a line break inside a pipe table's cell is a space (the row is one line), elsewhere a new line
    text = "\n".join(_HTML_BREAK.sub(" " if _PIPE_ROW.match(line) else "\n", line) for line in text.split("\n"))
    return _HTML_ENTITY.sub(lambda m: html.unescape(m.group(0)), _HTML_TAG.sub("", text))


_HTML_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)


_HTML_TABLE = re.compile(r"<table\b.*?</table\s*>", re.IGNORECASE | re.DOTALL)


def _pipe_table(match: re.Match[str]) -> str:
    """An HTML ``<table>`` inside Markdown as its rows read as the HTML reader reads them (``table_rows``:
    cells on the browser's grid, named by the header), each a one-cell pipe row so the rows stay rows; with
    its tags stripped it was one line of glued cells ("Swim£5.20£2.60")."""
    from bs4 import BeautifulSoup

    table = BeautifulSoup(match.group(0), "html.parser").find("table")
    rows = table_rows(*_html_table(table)) if table is not None else []
    return "\n\n" + "\n".join(f"| {row.replace('|', '/')} |" for row in rows) + "\n\n" if rows else ""


def _footnotes_in_place(text: str) -> str:
    """Footnote definitions moved to just after the list item or paragraph that first refers to them, markers
    dropped: a footnote qualifies what points to it, not the section that happens to end the file."""
    notes = {m.group(1): " ".join(m.group(2).split()) for m in _MD_FOOTNOTE.finditer(text)}
    lines = _MD_FOOTNOTE.sub("", text).split("\n")
    placed: set[str] = set()
    out: list[str] = []
    waiting: list[str] = []  # notes to place at the end of the current item or paragraph
    for i, line in enumerate(lines):
        refs = [r for r in re.findall(r"\[\^([^\]]+)\]", line) if r in notes and r not in placed]
        placed.update(refs)
        waiting += [notes[r] for r in refs]
        out.append(re.sub(r"\[\^[^\]]+\]", "", line))
        following = lines[i + 1] if i + 1 < len(lines) else ""
        if waiting and (not following.strip() or _MD_ITEM.match(following)):
            out += waiting
            waiting = []
    return "\n".join(out + waiting + ["\n" + notes[r] for r in notes if r not in placed and notes[r]])


_MD_ITEM = re.compile(r"\s*(?:[-*+•]|\d+[.)]|\(?[a-z]\))\s")


def _text_pages_joined(text: str) -> str:
    """A text's form-feed pages without their furniture (``_running_lines``, page numbers), joined
    again: a page that ends mid-sentence runs on into the next paragraph, as a PDF's does."""
    if "\f" not in text:
        return text
    pages = [page.strip("\n") for page in text.split("\f")]
    edges = [{_line_key(lines[0]), _line_key(lines[-1])} if (lines := [ln for ln in p.splitlines() if ln.strip()]) else set()
             for p in pages]
    kept = [page.strip("\n") for page in _drop_page_furniture(pages, _running_lines(pages, edges))]
    out = ""
    for page in (p for p in kept if p.strip()):
        out += ("\n" if out and out.rstrip()[-1:] not in ".!?:;" and page.lstrip()[:1].islower() else "\n\n") + page
    return out.strip("\n")


def _markdown_blocks(lines: list[str]) -> list[Block]:
    """One paragraph's lines: ``#`` or underlined headings (a first line underlined, whatever follows
    it: "Section 1 - Prices" / "-----" / "1.1 ..." in a text file), the rest joined as a paragraph;
    a line that only draws a rule ("-----", "***") carries no words and is left out."""
    blocks: list[Block] = []
    current: list[str] = []
    for i, line in enumerate(lines):
        heading = _MD_HEADING.match(line)
        setext = i == 1 and _MD_SETEXT.match(line.strip())
        if setext:
            current = []
            heading_text, level = lines[0], 1 if line.strip().startswith("=") else 2
        elif heading:
            heading_text, level = heading.group(2), len(heading.group(1))
        elif _MD_RULE.match(line):
            continue
        elif bold := _MD_BOLD_LINE.fullmatch(line.strip()):  # a title or a FAQ's question set in bold
            if current:
                blocks.append(Block("\n".join(current)))
                current = []
            blocks.append(Block(_clean_inline(bold.group(2)), bold=True))
            continue
        else:
            current.append(_clean_inline(line))
            continue
        if current:
            blocks.append(Block("\n".join(current)))
            current = []
        blocks.append(Block(_clean_inline(heading_text), level=level))
    if current:
        blocks.append(Block("\n".join(current)))
    return blocks


_PIPE_ROW = re.compile(r"^\s*\|.*\|\s*$")
_PIPE_RULE = re.compile(r"^\s*\|?(?:\s*:?-{2,}:?\s*\|)+\s*:?-*:?\s*\|?\s*$")


def _table_runs(lines: list[str]) -> list[tuple[bool, list[str]]]:
    """A paragraph's lines cut into runs of text lines and of pipe-table rows, the rows already
    turned into ``table_rows`` lines (the header row names every cell)."""
    runs: list[tuple[bool, list[str]]] = []
    for line in lines:
        is_row = bool(_PIPE_ROW.match(line))
        if not runs or runs[-1][0] != is_row:
            runs.append((is_row, []))
        if not (is_row and _PIPE_RULE.match(line)):
            runs[-1][1].append(line)
    return [(True, table_rows([[_clean_inline(c) for c in r.strip().strip("|").split("|")] for r in rows], header=True)) if is_row
            else (False, rows) for is_row, rows in runs]


def table_rows(rows: list[list[str]], header: bool | None = None) -> list[str]:
    """A table as one line per row, each cell named by its column header ("Package: Classic,
    Monthly fee: EUR 4.90"): a row read alone (a retrieved sentence, a quoted extract) still says
    what each figure is (cells joined by commas: a sentence splitter cuts at semicolons). A table of
    one row or one column is kept as it is, and a table whose first column is clause labels ("1.1 |
    A locker costs EUR 2.") is clauses laid out in a table: each row reads "1.1 A locker costs EUR 2.".

    ``header``: whether the first row names the columns (Markdown's always does; HTML says so with
    ``<th>``); None: guessed. A two-column table whose first row already holds a figure ("Lost card |
    EUR 3") is a list of charges with no header: each row reads "Lost card: EUR 3" (read with a
    header, its first charge named every other row's cells and was never a fact of its own)."""
    rows = [[" ".join(c.split()) for c in row] for row in rows if any(c.strip() for c in row)]
    labelled = [bool(row) and _label_only(row[0]) for row in rows]
    said = [len(" ".join(row[1:]).split()) for row, is_clause in zip(rows, labelled, strict=True) if is_clause]
    # clauses set in a table: label | sentence (under a header row, "Clause | Rule", which says nothing
    # a reader needs, or not; a table may hold one clause); "1.5 | EUR 8" is a table of weights
    if sum(labelled) >= min(2, len(rows)) and all(labelled[1:]) and sum(said) >= 4 * len(said):
        return [" ".join(c for c in row if c) for row, is_clause in zip(rows, labelled, strict=True) if is_clause]
    if len(rows) < 2 or max(len(r) for r in rows) < 2:
        return [" | ".join(c for c in row if c) for row in rows]
    if header is None:
        header = not (max(len(r) for r in rows) == 2 and any(re.search(r"\d", c) for c in rows[0]))
    if not header:
        return [f"{row[0]}: {', '.join(c for c in row[1:] if c)}" if row[0] and any(row[1:])
                else " | ".join(c for c in row if c) for row in rows]
    names, body = rows[0], rows[1:]
    merged = any(a and a == b for a, b in itertools.pairwise(names))
    if merged and len(body) > 1 and not any(re.search(r"\d", c) for c in body[0]):
        # a header cell merged across columns ("Weekday" over "Adult | Child", as a DOCX repeats it): the
        # row under it names the columns too
        names = [h if not c or c == h else f"{h} {c}".strip() for h, c in itertools.zip_longest(names, body[0], fillvalue="")]
        body = body[1:]
    return [", ".join(f"{h}: {c}" if h and h != c else c for h, c in zip(names, row) if c) for row in body]


def _clean_inline(line: str) -> str:
    """Drop Markdown emphasis and link targets; the words are what gets embedded and read."""
    line = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", line)
    line = re.sub(r"(\*\*|__|`)", "", line)
    return line.strip()


_HTML_BLOCKS = {"p", "li", "td", "th", "pre", "blockquote", "dd", "dt", "caption", "figcaption"}
_HTML_SKIP = {"script", "style", "nav", "noscript", "template", "head", "button", "select", "option", "input",
              "textarea", "dialog", "svg", "iframe"}
_HTML_CHROME_ROLES = {"navigation", "banner", "contentinfo", "complementary", "search", "dialog", "alertdialog"}
_HTML_CHROME_NAMES = re.compile(r"cookie|consent|gdpr|breadcrumb|skip-?link|share-?bar|social", re.IGNORECASE)
"""Class or id words of the page furniture saved web pages carry around the text (readability's
"unlikely candidates", cut to those no policy text is ever marked with)."""
_HTML_PAGE_CHROME_NAMES = re.compile(r"footer|sidebar|navbar|masthead", re.IGNORECASE)
"""The same for what is furniture only outside the text itself (an ``<article>``'s footer holds its notes)."""


def _read_html(path: Path) -> list[Block]:
    """A saved web page's text without the site around it: only its ``<main>`` (or single
    ``<article>``) when it marks one, with the page's own header (its title and date), and never page
    furniture (menus, link lists, cookie banners, breadcrumbs, buttons, forms, the page's footer, a
    table of contents of in-page links, "Back to top"; ``_html_chrome``). Read whole,
    a cookie notice and "Accept Manage preferences" were chunks a question could retrieve, and the
    footer ("Registered in England No. 01234567") was glued onto the last clause as figures."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(_read_text_file(path), "html.parser")
    root = soup.body or soup
    _open_accordions(root)
    for tag in root.find_all(_html_chrome):
        tag.decompose()
    blocks: list[Block] = []
    mains = root.find_all(lambda t: t.name == "main" or t.get("role") == "main") or root.find_all("article")
    if len(mains) == 1 and mains[0].get_text(strip=True):
        # the page's own header stays: it often holds the document's title and date ("Adopted ... in force from ...")
        for header in root.find_all("header"):
            if header.find_parent(["article", "main"]) is None and mains[0] not in header.parents:
                _walk_html(header, blocks)
        root = mains[0]
    _walk_html(root, blocks)
    return blocks


_TOGGLES = ("aria-controls", "data-target", "data-bs-target")


def _open_accordions(root: Any) -> None:
    """Open a FAQ written as an accordion: a button (``aria-expanded``/``aria-controls``, Bootstrap's
    ``data-bs-target``) that shows a panel saved closed (``hidden``, ``aria-hidden``, ``display: none``).
    The panel is text, not furniture, and the button's words are the question; both were dropped (a
    page of nothing but an accordion was "no text to index"). A button that opens a menu stays furniture."""
    for control in root.find_all(lambda t: any(t.has_attr(a) for a in (*_TOGGLES, "aria-expanded"))):
        ids = [i.lstrip("#") for attr in _TOGGLES for i in str(control.get(attr, "")).split()]
        if str(control.get("href", "")).startswith("#") and control.has_attr("aria-expanded"):
            ids.append(str(control["href"])[1:])
        panels = [panel for i in ids if i and (panel := root.find(id=i)) is not None and not _menu(panel)]
        if not panels:
            continue
        for panel in panels:
            for attr in ("hidden", "aria-hidden"):
                panel.attrs.pop(attr, None)
            if "display" in str(panel.get("style", "")):
                panel["style"] = re.sub(r"display\s*:\s*none;?", "", str(panel["style"]))
        if control.name == "button":  # the question: a paragraph of its own, or the heading's words
            control.name = "span" if control.find_parent(re.compile(r"^h[1-6]$")) else "p"


def _menu(tag: Any) -> bool:
    """A site menu: ``<nav>`` (or holding one), a list of links, or a box of mostly links."""
    return (tag.name == "nav" or tag.get("role") == "navigation" or tag.find("nav") is not None
            or (tag.name in ("ul", "ol") and _link_list(tag)) or _mostly_links(tag, least=2))


def _html_chrome(tag: Any) -> bool:
    """Is this element page furniture (``_read_html``)? A ``<footer>`` or ``<aside>`` counts only at page level
    (inside an ``<article>`` or ``<main>`` it holds the text's own notes); a list of nothing but links is a menu
    or a table of contents; so is a link to a place in the page standing on its own ("Back to top")."""
    if tag.decomposed or tag.attrs is None:
        return False
    if tag.get("role") in _HTML_CHROME_ROLES or tag.get("aria-hidden") == "true" or tag.has_attr("hidden"):
        return True
    names = " ".join([tag.get("id") or "", *(tag.get("class") or [])])
    if tag.name == "form" or (names and _HTML_CHROME_NAMES.search(names)):
        return True
    if tag.name in ("footer", "aside") or (names and _HTML_PAGE_CHROME_NAMES.search(names)):
        return tag.find_parent(["article", "main"]) is None
    if tag.name == "a":
        return (tag.get("href") or "").startswith("#") and _stands_alone(tag)
    if tag.name in ("td", "th", "div") and _mostly_links(tag):
        return True
    if tag.name in _HTML_FURNITURE_HOLDERS:
        return _copyright_line(tag)
    return tag.name in ("ul", "ol") and _link_list(tag)


_HTML_FURNITURE_HOLDERS = {"td", "th", "div", "center", "p", "font", "small", "span", "table"}
"""Elements an old page without ``<footer>`` puts its copyright line in."""
_COPYRIGHT = re.compile(r"©\s*(?:\d{4}|[A-Z])|\(c\)\s*(?:19|20)\d{2}\b|copyright\s*(?:©|\(c\)|(?:19|20)\d{2}\b)", re.IGNORECASE)
"""A copyright notice's opening: "© 2026", "© Acme", "(c) 2026 Acme", "Copyright © ..." ; never a clause's
"(c) Children ..." or "Copyright in our materials ..."."""


def _copyright_line(tag: Any) -> bool:
    """The page's copyright notice ("© 2026 ... Registered in England No. 02198765 · Home | Terms"): it
    was read as the last clause's words, figures and all."""
    text = tag.get_text(" ", strip=True)
    return len(text) < 400 and _COPYRIGHT.match(text) is not None


def _mostly_links(tag: Any, least: int = 4) -> bool:
    """A cell or box of ``least`` or more links that hold most of its words: the menu of a page laid out by
    a table (a ``<td>`` of "» Home", "» Fares" ... and the office's phone number beside the text), which
    was read as a paragraph."""
    links = tag.find_all("a")
    if len(links) < least or tag.find(re.compile(r"^h[1-6]$")):
        return False
    linked = sum(len(_WORD.findall(a.get_text(" "))) for a in links)
    return linked >= 0.5 * len(_WORD.findall(tag.get_text(" ")))


_WORD = re.compile(r"\w[\w'’@./-]*")


def _stands_alone(tag: Any) -> bool:
    """Is an inline element on its own, not inside a sentence ("Back to top ↑" between two sections)?"""
    from bs4 import NavigableString

    for side in (tag.previous_sibling, tag.next_sibling):
        if isinstance(side, NavigableString) and side.strip():
            return False
        if side is not None and not isinstance(side, NavigableString) and side.name not in (*_HTML_INNER_BLOCKS, "br"):
            return False
    return True


def _link_list(lst: Any) -> bool:
    """A list of links and nothing else: a site menu, or a table of contents (its entries repeat the
    headings below, and were chunks that beat the clauses they name)."""
    items = lst.find_all("li", recursive=False)
    if len(items) < 2:
        return False
    for li in items:
        nested = li.find_all(["ul", "ol"])
        if not li.find("a") or not all(_link_list(sub) for sub in nested if sub.find_parent(["ul", "ol"]) is lst):
            return False
        links = " ".join(a.get_text(" ", strip=True) for a in li.find_all("a"))
        if len("".join(li.get_text("", strip=True).split())) > len("".join(links.split())) + 8:  # words of its own
            return False
    return True


_HTML_INNER_BLOCKS = [*_HTML_BLOCKS, "div", "table", "ul", "ol", "section", "article", "h1", "h2", "h3", "h4", "h5", "h6"]
_HTML_CONTAINERS = {"div", "section", "article", "main", "header", "footer", "aside"}


def _walk_html(node: Any, blocks: list[Block], marker: str = "") -> None:
    """Headings, paragraphs, list items and tables in document order. An element with no block
    inside it is one block (a ``<div>`` of ``<span>``s too: "<span>4.1</span> <span>Members
    pay ...</span>" is one clause); ``<br>`` breaks its lines; a table whose cells hold paragraphs or
    headings is page layout, read cell by cell, not a table of figures. Text beside blocks (a list
    item's own words before the list nested in it) is one block per run, led by ``marker``."""
    from bs4 import NavigableString, Tag

    run: list[str] = []

    def flush() -> None:
        nonlocal marker
        text = _spaced(" ".join(run))
        run.clear()
        if text:
            blocks.append(Block(text if not marker or _drawn_over(marker, text) else marker + text))
            marker = ""

    for child in node.children:
        if isinstance(child, NavigableString):
            if type(child) is NavigableString and child.strip():
                run.append(str(child))
            continue
        if not isinstance(child, Tag) or child.name in _HTML_SKIP:
            continue
        leaf = not child.find(_HTML_INNER_BLOCKS)
        if child.name == "br" or not leaf or child.name in _HTML_INNER_BLOCKS or child.name in _HTML_CONTAINERS:
            flush()
        if child.name == "table" and not any(_holds_paragraphs(c) for c in child.find_all(["td", "th"])):
            rows, header = _html_table(child)
            blocks.extend(Block(row, row=True) for row in table_rows(rows, header))
        elif child.name == "li" and leaf:
            text, marker = _html_text(child), _list_marker(child)
            blocks.append(Block(text if _drawn_over(marker, text) else marker + text))
        elif child.name == "li":  # its own words, then the list nested in it
            _walk_html(child, blocks, _list_marker(child))
        elif re.fullmatch(r"h[1-6]", child.name):
            blocks.append(Block(child.get_text(" ", strip=True), level=int(child.name[1])))
        elif (child.name in _HTML_BLOCKS or child.name in _HTML_CONTAINERS) and leaf:
            if text := _html_text(child):
                bold = " ".join(b.get_text(" ") for b in child.find_all(["b", "strong"]) if not b.find_parent(["b", "strong"]))
                blocks.append(Block(text, bold=bold.split() == text.split()))
        elif not leaf:
            _walk_html(child, blocks)
        elif child.name != "br":  # inline (<b>, <a>, <span>): part of the text run around it
            run.append(child.get_text(" "))
    flush()


def _holds_paragraphs(cell: Any) -> bool:
    """Does a table cell hold paragraphs (so the table lays out the page)? Blocks inside it, a rule, or lines
    set apart by an empty line (``<br><br>``), as pages written before CSS separate paragraphs."""
    from bs4 import NavigableString

    if cell.find([*_HTML_INNER_BLOCKS, "hr"]):
        return True
    for br in cell.find_all("br"):
        after = br.next_sibling
        while isinstance(after, NavigableString) and not after.strip():
            after = after.next_sibling
        if getattr(after, "name", None) == "br":
            return True
    return False


def _html_table(table: Any) -> tuple[list[list[str]], bool | None]:
    """A table's cells on the grid a browser draws (a cell spanning columns or rows fills each place it
    covers), and whether the first row is a header (``_html_header``). Read cell by cell as written,
    "<th colspan=2>Weekday</th>" named one column and every price after it moved left: "Weekend: £2.60"
    for a weekday child's ticket. A header cell spanning columns then repeats, and ``table_rows`` names
    its columns with the row below too ("Weekday Adult"), as for a DOCX's merged cell."""
    grid: list[list[Any]] = []
    pending: dict[int, tuple[Any, int]] = {}  # column -> (cell, rows it still covers below)
    for tr in table.find_all("tr"):
        row: list[Any] = []
        cells = iter(tr.find_all(["td", "th"]))
        column = 0
        while True:
            if column in pending:
                cell, left = pending.pop(column)
                if left > 1:
                    pending[column] = (cell, left - 1)
                row.append(cell)
                column += 1
                continue
            cell = next(cells, None)
            if cell is None:
                break
            for _ in range(_span(cell, "colspan")):
                if _span(cell, "rowspan") > 1:
                    pending[column] = (cell, _span(cell, "rowspan") - 1)
                row.append(cell)
                column += 1
        grid.append(row)
    return [[_spaced(c.get_text(" ", strip=True)) for c in row] for row in grid], _html_header(grid)


def _span(cell: Any, name: str) -> int:
    """A cell's colspan or rowspan (1 when missing or not a sensible number)."""
    value = str(cell.get(name) or "1").strip()
    return min(int(value), 50) if value.isdigit() and int(value) > 0 else 1


def _html_header(rows: list[list[Any]]) -> bool | None:
    """Whether an HTML table's first row names its columns: a first row of ``<th>`` cells does; ``<th>``
    down the first column only (row headers: "<th>Lost card</th><td>EUR 3</td>") does not; else unknown."""
    cells = [c for row in rows for c in row]
    if not rows or not rows[0] or not any(c.name == "th" for c in cells):
        return None
    if all(c.name == "th" for c in rows[0]) and len(rows[0]) > 1:
        return True
    return False if all(row and row[0].name == "th" for row in rows) else None


def _html_text(node: Any) -> str:
    """An element's words, one line per ``<br>``-separated line."""
    for br in node.find_all("br"):
        br.replace_with("\n")
    lines = (_spaced(line) for line in node.get_text(" ").split("\n"))
    return "\n".join(line for line in lines if line)


def _spaced(text: str) -> str:
    """Words separated by single spaces, none before punctuation: pieces of an element are joined
    with a space ("<span>4.1</span><span>Members</span>" are two words), which put one before the
    comma after an inline tag ("costs <b>€8</b>, half" read "costs €8 , half")."""
    return re.sub(r" (?=[,.;:!?)](?:\s|$))", "", " ".join(text.split()))


def _read_docx(path: Path) -> list[Block]:
    import docx
    from docx.table import Table

    try:
        document = docx.Document(str(path))
        items = _docx_items(document)
    except Exception as err:  # zip / XML errors: the file is not a usable DOCX
        raise DocumentError(f"{path.name} could not be read as a DOCX ({type(err).__name__}). It may be damaged or an "
                            "old .doc renamed; open it in Word/LibreOffice, save as .docx and upload again.") from None
    blocks: list[Block] = []
    sizes: list[float | None] = []  # per block: its font size where it may be a heading set by size
    drawn, guessed, default = WordNumbering(document), _ListNumbers(), _default_size(document)
    for item in items:
        if isinstance(item, Table):
            rows = [["\n".join(_docx_text(p) for p in c.paragraphs).strip() for c in r.cells] for r in item.rows]
            added = table_rows(rows)
            blocks.extend(Block(row, row=True) for row in added)
            sizes.extend([None] * len(added))
            guessed.reset()
            continue
        style = (item.style.name if item.style is not None else "") or ""
        if re.fullmatch(r"toc(?: \d| heading)", style, re.IGNORECASE):
            if blocks and _contents_title(blocks[-1].text):
                blocks.pop()
                sizes.pop()
            continue  # Word's table of contents: its entries repeat the headings, with page numbers
        level = 1 if style == "Title" else int(m.group(1)) if (m := re.match(r"Heading (\d)", style)) else 0
        # a tab after a typed clause number ("1.1\tA full day costs ...") is the gap Word draws: a space
        text, marker = re.sub(r"[ \t]*\t[ \t]*", " ", _docx_text(item)).strip(), drawn.marker(item)
        if marker == "":
            guessed.reset()
        elif marker is None or re.fullmatch(r"List Number [2-9]", style):
            # no definition to draw from, or Word's built-in nested list styles, which draw a plain "1."
            # indented under the item above: a sub-item "(a)" says what the indent said
            marker = guessed.marker(item, style)
        else:
            guessed.marker(item, style)  # keeps the guess's levels in step for a nested style below
        # Word draws "1." before an item that names its own clause ("B1: Lessons can be booked ..."):
        # the label in the text is the one to cite
        blocks.append(Block(text if _drawn_over(marker, text) else marker + text, level=level, bold=_all_bold(item)))
        sizes.append(_font_size(item, default) if level == 0 and not marker else None)
    return _sized_headings(blocks, sizes)


def _default_size(document: Any) -> float:
    """The size (pt) text takes where nothing else sets one: the document's defaults (``w:docDefaults``,
    in half-points), else Word's 11 pt."""
    found = document.styles.element.xpath("./w:docDefaults/w:rPrDefault/w:rPr/w:sz/@w:val")
    return int(found[0]) / 2 if found and str(found[0]).isdigit() else 11.0


def _font_size(paragraph: Any, default: float) -> float:
    """The largest size (pt) a Word paragraph's text is set in: its runs' own, else its style's (and the
    styles that one is based on), else the document's ``default``."""
    style_size = 0.0
    style = paragraph.style
    while style is not None and not style_size:
        style_size = style.font.size.pt if style.font is not None and style.font.size is not None else 0.0
        style = style.base_style
    style_size = style_size or default
    return max((run.font.size.pt if run.font.size is not None else style_size
                for run in paragraph.runs if run.text.strip()), default=style_size)


def _sized_headings(blocks: list[Block], sizes: list[float | None]) -> list[Block]:
    """Short paragraphs set larger than the text and not ending a sentence are headings, larger first
    (level 1), as people title a Word document by enlarging the font instead of using heading styles;
    read as text, "Late returns" was a chunk of its own under the heading before it. Only where the
    document uses no heading style (a heading style says how it is organised)."""
    if any(b.level for b in blocks):
        return blocks
    if all(size is None for size in sizes):
        return blocks
    body = _body_size((size, b.text) for b, size in zip(blocks, sizes, strict=True) if size is not None)
    titles = [size is not None and size >= body + 1.5 and len(b.text.split()) <= BOLD_HEADING_WORDS
              and not b.text.rstrip().endswith((".", ":", ";", ",")) for b, size in zip(blocks, sizes, strict=True)]
    levels = {size: n for n, size in enumerate(sorted({s for s, t in zip(sizes, titles, strict=True) if t and s},
                                                      reverse=True), start=1)}
    return [replace(b, level=min(levels[s], 6)) if t and s else b for b, s, t in zip(blocks, sizes, titles, strict=True)]


def _all_bold(paragraph: Any) -> bool:
    """Whether every run of a Word paragraph that has text is bold (set on the run or by its style)."""
    style_bold = bool(paragraph.style is not None and paragraph.style.font.bold)
    runs = [run for run in paragraph.runs if run.text.strip()]
    return bool(runs) and all(run.bold or (run.bold is None and style_bold) for run in runs)


_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def _docx_items(document: Any) -> list[Any]:
    """The body's paragraphs and tables in order, those inside block-level content controls
    (``w:sdt``, common in company templates) too: python-docx's ``iter_inner_content`` skips them,
    and their clauses were lost."""
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    items: list[Any] = []

    def walk(element: Any) -> None:
        for child in element.iterchildren():
            if child.tag == _W + "p":
                items.append(Paragraph(child, document._body))
            elif child.tag == _W + "tbl":
                items.append(Table(child, document._body))
            elif child.tag in (_W + "sdt", _W + "sdtContent", _W + "customXml"):
                walk(child)

    walk(document.element.body)
    return items


def _docx_text(paragraph: Any) -> str:
    """A paragraph's text as Word shows it: its runs, hyperlinks, inline content controls and tracked
    insertions (``Paragraph.text`` leaves the last two out: "1.3 Lockers are emptied" lost "every
    night at 23:00." and became a heading), never deleted text; tabs and line breaks kept."""
    parts: list[str] = []
    for node in paragraph._p.iter(_W + "t", _W + "tab", _W + "br", _W + "cr"):
        parent = node.getparent()
        if parent is None or parent.tag != _W + "r" or any(
                a.tag in (_W + "del", _W + "moveFrom") for a in node.iterancestors()):
            continue  # tab stops in the paragraph's properties, deleted or moved-away text
        parts.append(node.text or "" if node.tag == _W + "t" else "\t" if node.tag == _W + "tab" else "\n")
    return "".join(parts)


def _drawn_over(marker: str, text: str) -> bool:
    """Whether the list marker Word or a browser draws is left out: the item names its own clause."""
    from airbot.knowledge.clauses import opens_with_own_label

    return opens_with_own_label(text, after_bullet=marker == "- ")


def _label_only(cell: str) -> bool:
    """Whether a table cell is nothing but a clause label ("1.1", "A3.", "§ 2", "Art. 4", "(b)")."""
    from airbot.knowledge.clauses import find_label

    cell = cell.strip()
    label = find_label(cell + " x") if 0 < len(cell) <= 16 else None
    return label is not None and label.end >= len(cell)


_LIST_STYLES = {"1": "decimal", "a": "lowerLetter", "A": "upperLetter", "i": "lowerRoman", "I": "upperRoman",
                "decimal": "decimal", "lower-alpha": "lowerLetter", "lower-latin": "lowerLetter",
                "upper-alpha": "upperLetter", "upper-latin": "upperLetter", "lower-roman": "lowerRoman",
                "upper-roman": "upperRoman", "decimal-leading-zero": "decimalZero"}
"""An ``<ol>``'s ``type`` attribute or CSS ``list-style-type`` -> the counter format (as Word names them)."""


def _list_marker(li: Any) -> str:
    """What a browser draws before a list item: "3. " (or "c. ", "iii. " by the list's ``type`` or
    ``list-style-type``) in a numbered list, "- " in a bulleted one, nothing for ``none``."""
    parent = li.find_parent(["ol", "ul"])
    css = re.search(r"list-style(?:-type)?\s*:\s*([a-z-]+)", str(parent.get("style", "")) if parent else "")
    kind = css.group(1) if css else str(parent.get("type", "")) if parent is not None else ""
    if kind == "none":
        return ""
    if parent is None or parent.name == "ul" or kind in ("disc", "circle", "square"):
        return "- "
    return f"{draw(_ordinal(li, parent), _LIST_STYLES.get(kind, 'decimal'))}. "


def _ordinal(li: Any, parent: Any) -> int:
    """An ordered list item's number as a browser counts it: its own ``value``, else one more than the item
    before it, from the list's ``start`` (``<li value="9">`` restarts the count: the items after it are 10, 11)."""
    before = 0
    for item in [li, *li.find_previous_siblings("li")]:
        value = str(item.get("value", "")).strip()
        if value.isdigit():
            return int(value) + before
        before += 1
    start = str(parent.get("start", "1")).strip()
    return (int(start) if start.isdigit() else 1) + before - 1


class _ListNumbers:
    """A guess at the numbers Word draws where the document does not define them (``WordNumbering``
    renders those it does): "1. " for a "List Number" paragraph (or one with numbering properties),
    "(a) " / "(i) " one and two levels down, "- " for bullets. Numbering restarts after any other paragraph."""

    def __init__(self) -> None:
        self.counts: list[int] = []

    def reset(self) -> None:
        self.counts = []

    def marker(self, paragraph: Any, style: str) -> str:
        ppr = paragraph._p.pPr
        numpr = ppr.numPr if ppr is not None else None
        if style.startswith("List Bullet"):
            self.reset()
            return "- "
        if not style.startswith("List Number") and numpr is None:
            self.reset()
            return ""
        level = int(numpr.ilvl.val) if numpr is not None and numpr.ilvl is not None else 0
        level = max(level, int(m.group(1)) - 1 if (m := re.search(r"(\d)$", style)) else 0)
        self.counts = (self.counts + [0] * (level + 1))[: level + 1]
        self.counts[level] += 1
        n = self.counts[level]
        return (f"{n}. ", f"({chr(96 + min(n, 26))}) ", f"({roman(n)}) ")[min(level, 2)]


# --- limits, checked before any parser runs ----------------------------------------------------
def _check_size(path: Path, suffix: str) -> None:
    """Refuse an empty or oversized file before any parser reads it."""
    size = path.stat().st_size
    if size == 0:
        raise DocumentError(f"{path.name} is empty (0 bytes). Upload the document's real file.")
    limit = MAX_DOCUMENT_MB if suffix in (".pdf", ".docx") else min(MAX_DOCUMENT_MB, MAX_TEXT_FILE_MB)
    if size > limit * 2**20:
        raise DocumentError(f"{path.name} is {size / 2**20:.0f} MB; airbot indexes {SUPPORTED[suffix]} documents of "
                            f"up to {limit:.0f} MB. Split it into parts, or remove images and attachments.")
    if suffix == ".docx":
        _check_docx_archive(path)


def _check_docx_archive(path: Path) -> None:
    """A DOCX is a zip: refuse one with thousands of parts or that inflates past the caps (a "zip
    bomb"), from its directory alone. zipfile never inflates a part past its declared size, so the
    declared sizes bound what python-docx reads."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        raise DocumentError(f"{path.name} could not be read as a DOCX: it is not a valid zip archive (damaged, cut "
                            "short, or an old .doc renamed). Open it in Word/LibreOffice, save as .docx and upload it "
                            "again.") from None
    xml = sum(m.file_size for m in members if m.filename.endswith((".xml", ".rels")))
    total = sum(m.file_size for m in members)
    if len(members) > DOCX_MAX_MEMBERS or xml > DOCX_MAX_XML_MB * 2**20 or total > DOCX_MAX_UNZIPPED_MB * 2**20:
        raise DocumentError(f"{path.name} unpacks to {len(members):,} parts and {total / 2**20:,.0f} MB "
                            f"({xml / 2**20:,.0f} MB of XML); airbot reads DOCX files of up to {DOCX_MAX_MEMBERS:,} "
                            f"parts, {DOCX_MAX_XML_MB} MB of XML and {DOCX_MAX_UNZIPPED_MB} MB in all. Save the text "
                            f"as a new DOCX or a PDF and upload that.")


def _too_much_text(path: Path, chars: int) -> str:
    return (f"{path.name} holds {chars:,} characters of text; airbot indexes documents of up to "
            f"{MAX_TEXT_CHARS:,} (~1,000 pages). Split it into parts and upload them separately.")
