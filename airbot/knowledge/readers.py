"""Reading policy documents: PDF, DOCX, HTML, Markdown and plain text, each turned into ``Block``s.

A ``Block`` is a paragraph or a heading (with its page number where the format has pages);
airbot/knowledge/chunking.py then cuts every format's blocks into chunks by one set of rules, so a
reader's only job is to recover the document's own structure faithfully. Every way a file
can be unusable (missing, empty, scanned, encrypted, binary, damaged) is a ``DocumentError``
that says how to fix the file.

    python -c "from airbot.knowledge.readers import read_blocks; print(*read_blocks('policy.pdf')[:5], sep='\\n')"
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airbot.errors import DocumentError

SUPPORTED = {".pdf": "PDF", ".md": "Markdown", ".markdown": "Markdown", ".txt": "text", ".text": "text",
             ".html": "HTML", ".htm": "HTML", ".docx": "DOCX"}
SUPPORTED_HINT = "airbot reads PDF, DOCX, Markdown (.md), HTML and plain text (.txt)"


@dataclass(frozen=True)
class Block:
    """One paragraph (lines joined by newlines) or heading (``level`` > 0) of a document."""

    text: str
    page: int | None = None
    level: int = 0


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
            if setext:
                current = []
                heading_text, level = lines[0], 1 if line.startswith("=") else 2
            elif heading:
                heading_text, level = heading.group(2), len(heading.group(1))
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
