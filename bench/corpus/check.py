"""Check the development corpus: build it, read every file back, and verify the question sets against it.

    .venv/bin/python bench/corpus/check.py

Builds every document twice into a temporary folder (the two builds must be byte-identical),
extracts the text back the way an ingester would (pypdf for PDF, python-docx for DOCX,
BeautifulSoup for HTML, the file itself for Markdown and text), splits it into clauses by the
document's numbering style, and verifies:

- SPLIT.json: 5 + 5 documents, every format in each half, the unnumbered documents never tuned; a third set,
  `fresh`, of 4 documents, one per format md/html/docx/pdf, a fourth, `fresh2`, of 4 documents, one per
  format txt/html/docx/pdf, a fifth, `fresh3`, of 4 documents, one per format md/txt/html/docx, a sixth,
  `fresh4`, of 4 documents, one per format txt/html/docx/pdf, and a seventh, `fresh5`, of 4 documents, one per
  format md/txt/html/pdf, all five only for reporting;
- every document has 25-45 clauses with unique ids; PDFs have several pages; a ``pdf_runin`` PDF has at
  least 8 words hyphenated at a line end; a ``pdf_columns`` PDF has text in both columns of every page;
- heldout.jsonl: >= 16 rows; each clause id exists, every fact (a figure) is in that clause's text,
  no fact is given away by its question, and no question copies 7 or more words in a row from its clause;
  numbered documents have a question whose clause label digits recur in its figure (e.g. 1.4 -> 14 days);
- out_of_scope.jsonl: >= 6 distinct questions;
- changes.jsonl: 4 rows; `old` is in the clause in v1, `new` is in it in v2 and `old` is not,
  and v2's extracted text is v1's with exactly these replacements;
- README.md carries the table row printed for every document.

Exit status 0 when everything passes; every failure is printed.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from build import CORPUS_DIR, DOCS, DOCS_BY_NAME, DOCS_DIR, Doc, build, figure_pattern, read_jsonl

FORMATS = {"md", "txt", "html", "docx", "pdf"}
FRESH_FORMATS = {"md", "html", "docx", "pdf"}  # the fresh set: written after tuning, one document per format
FRESH2_FORMATS = {"txt", "html", "docx", "pdf"}  # the fresh2 set: written later still, one document per format
FRESH3_FORMATS = {"md", "txt", "html", "docx"}  # the fresh3 set: files as found in the wild, one document per format
FRESH4_FORMATS = {"txt", "html", "docx", "pdf"}  # the fresh4 set: layouts of people's own files, one document per format
FRESH5_FORMATS = {"md", "txt", "html", "pdf"}  # the fresh5 set: exports and layouts of everyday tools, one per format
SETS = (("tune", 5, FORMATS), ("never_tuned", 5, FORMATS), ("fresh", 4, FRESH_FORMATS), ("fresh2", 4, FRESH2_FORMATS),
        ("fresh3", 4, FRESH3_FORMATS), ("fresh4", 4, FRESH4_FORMATS), ("fresh5", 4, FRESH5_FORMATS))
UNNUMBERED = {"public_library", "vet_practice", "escape_rooms"}  # clause id = heading / question text; never tuned
PAGE_BREAK = "\f"
HYPHENATED_MIN = 8  # pdf_runin: words hyphenated at a line end, at least


# ---- extraction ---------------------------------------------------------------------------------------------

def extract_text(path: Path, doc: Doc | None = None) -> str:
    """Plain text of an uploaded file, one block (paragraph, heading, list item, table row) per line.

    Headings of HTML and DOCX come back with Markdown '#' marks; PDF pages are separated by a form feed.
    For a document with ``word_numbering`` the numbers Word draws are put back before each paragraph;
    for one with ``html_lists`` every list item carries the marker the browser draws ('2. ', nested
    items indented: '  b. '), without the text of its nested lists, and a FAQ's <dt> reads 'Q: question'.
    For one with ``html_main`` only the page's <main> is read (a saved page's banner, menus and footer are
    not the document). For one with ``html_legacy`` (an old page laid out by a table) only the largest cell
    of the layout table is read, with a line break at every <br> and block element. For one with ``html_gdocs`` (a
    Google Docs export) each list item carries the number its CSS counter draws. Text files are read in
    the document's ``encoding`` (a byte-order mark is dropped, CRLF line ends read as LF).
    """
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        from pypdf import PdfReader

        return f"\n{PAGE_BREAK}\n".join(page.extract_text() or "" for page in PdfReader(path).pages)
    if suffix == ".docx":
        return _docx_text(path, drawn_numbers=bool(doc and doc.word_numbering))
    if suffix in (".html", ".htm") and doc is not None and doc.html_legacy:
        return _legacy_html_text(path)
    if suffix in (".html", ".htm") and doc is not None and doc.html_gdocs:
        return _gdocs_html_text(path)
    if suffix in (".html", ".htm"):
        return _html_text(path, lists=bool(doc and doc.html_lists), main=bool(doc and doc.html_main))
    return path.read_text(encoding=doc.encoding if doc else "utf-8")


def _docx_text(path: Path, drawn_numbers: bool = False) -> str:
    from docx import Document
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    document = Document(str(path))
    draw = _WordNumbers(document) if drawn_numbers else None
    lines = []
    for child in document.element.body.iterchildren():
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "p":
            paragraph = Paragraph(child, document)
            style = paragraph.style.name if paragraph.style is not None else ""
            text = paragraph.text.strip()
            if not text:
                continue
            if draw is not None and (number := draw.next(child)):
                text = f"{number} {text}"
            if style == "Title":
                text = "# " + text
            elif heading := re.fullmatch(r"Heading (\d)", style):
                text = "#" * (int(heading.group(1)) + 1) + " " + text
            lines.append(text)
        elif tag == "tbl":
            for row in Table(child, document).rows:
                lines.append(" | ".join(cell.text.strip() for cell in row.cells))
    return "\n".join(lines)


class _WordNumbers:
    """The numbers Word draws for paragraphs numbered directly (w:numPr), from numbering.xml: enough
    for the corpus's own lists (decimal, letters, roman; "%1.%2" texts; deeper levels restart)."""

    def __init__(self, document) -> None:
        from docx.oxml.ns import qn

        self.qn = qn
        root = document.part.numbering_part.element
        abstract = {a.get(qn("w:abstractNumId")): {
            int(lvl.get(qn("w:ilvl"))): (lvl.find(qn("w:numFmt")).get(qn("w:val")), lvl.find(qn("w:lvlText")).get(qn("w:val")))
            for lvl in a.findall(qn("w:lvl"))} for a in root.findall(qn("w:abstractNum"))}
        self.levels = {num.get(qn("w:numId")): abstract[num.find(qn("w:abstractNumId")).get(qn("w:val"))]
                       for num in root.findall(qn("w:num"))}
        self.counters: dict[str, list[int]] = {}

    def next(self, p) -> str:
        qn = self.qn
        numpr = p.find(f"{qn('w:pPr')}/{qn('w:numPr')}")
        if numpr is None or numpr.find(qn("w:numId")) is None:
            return ""
        num_id = numpr.find(qn("w:numId")).get(qn("w:val"))
        ilvl = int(numpr.find(qn("w:ilvl")).get(qn("w:val"))) if numpr.find(qn("w:ilvl")) is not None else 0
        levels = self.levels.get(num_id)
        if not levels:
            return ""
        counters = self.counters.setdefault(num_id, [0] * 9)
        counters[ilvl] += 1
        counters[ilvl + 1:] = [0] * (8 - ilvl)
        return re.sub(r"%(\d)", lambda m: _counter(counters[int(m.group(1)) - 1], levels[int(m.group(1)) - 1][0]),
                      levels[ilvl][1])


def _counter(value: int, fmt: str) -> str:
    if fmt == "lowerLetter":
        return chr(96 + value)
    if fmt == "upperLetter":
        return chr(64 + value)
    if fmt in ("lowerRoman", "upperRoman"):
        roman = ["", "i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x"][value]
        return roman if fmt == "lowerRoman" else roman.upper()
    return str(value)


def _html_marker(item) -> str:
    """The marker a browser draws before an <li> of an <ol>: its number in the list's type."""
    parent = item.parent
    index = int(parent.get("start", 1)) + [li for li in parent.find_all("li", recursive=False)].index(item)
    style = (parent.get("style") or "").replace(" ", "")
    kind = parent.get("type") or {"list-style-type:lower-alpha": "a", "list-style-type:lower-roman": "i",
                                   "list-style-type:upper-alpha": "A"}.get(style.rstrip(";"), "1")
    fmt = {"a": "lowerLetter", "A": "upperLetter", "i": "lowerRoman", "I": "upperRoman"}.get(kind, "decimal")
    return _counter(index, fmt) + ". "


def _html_text(path: Path, lists: bool = False, main: bool = False) -> str:
    from copy import copy

    from bs4 import BeautifulSoup

    soup = BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")
    for br in soup.find_all("br"):
        br.replace_with(" ")
    lines = []
    root = soup.find("main") if main else soup.body
    for element in root.find_all(["h1", "h2", "h3", "h4", "p", "li", "tr"] + (["dt", "dd"] if lists else [])):
        if lists and element.name == "li":
            own = copy(element)
            for nested in own.find_all(["ol", "ul"]):
                nested.decompose()
            depth = len(element.find_parents(["ol", "ul"])) - 1
            marker = _html_marker(element) if element.parent.name == "ol" else "- "
            text = "  " * depth + marker + " ".join(own.get_text().split())
        elif lists and element.name == "dt":
            text = "Q: " + " ".join(element.get_text().split())
        elif element.name == "tr":
            text = " | ".join(" ".join(cell.get_text().split()) for cell in element.find_all(["th", "td"]))
        else:
            text = " ".join(element.get_text().split())
            if element.name.startswith("h"):
                text = "#" * int(element.name[1]) + " " + text
        if text:
            lines.append(text)
    return "\n".join(lines)


_BLOCK_TAGS = {"p", "div", "table", "dl", "dd", "ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "center",
               "blockquote", "form", "pre"}


def _legacy_html_text(path: Path) -> str:
    """An old page laid out by a <table>: the document is the cell of the outer table with the most text
    (the navigation cell beside it is not). Lines break at <br> and around block elements, as a browser
    draws them; a table row reads 'a | b', a <dt> 'Q: question'; blank lines are dropped."""
    from bs4 import BeautifulSoup, Comment, NavigableString

    soup = BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")
    layout = soup.body.find("table")
    cells = [td for tr in layout.find_all("tr", recursive=False) for td in tr.find_all("td", recursive=False)]
    root = max(cells, key=lambda td: len(td.get_text()))
    lines = [""]

    def walk(node) -> None:
        for child in node.children:
            if isinstance(child, Comment):
                continue
            if isinstance(child, NavigableString):
                lines[-1] += str(child)
            elif child.name in ("script", "style"):
                continue
            elif child.name == "br":
                lines.append("")
            elif child.name == "tr":
                lines.extend([" | ".join(" ".join(cell.get_text().split())
                                         for cell in child.find_all(["td", "th"], recursive=False)), ""])
            elif child.name == "dt":
                lines.extend(["Q: " + child.get_text(), ""])
            elif child.name in _BLOCK_TAGS:
                lines.append("")
                walk(child)
                lines.append("")
            else:
                walk(child)

    walk(root)
    return "\n".join(text for text in (" ".join(line.split()) for line in lines) if text)


_GDOCS_MARKER = re.compile(r'\.lst-kix_(\w+)-(\d+)>li:before\{content:"[^"]*" counter\(lst-ctn-kix_\1-\2,([\w-]+)\) "([^"]*)"\}')
_CSS_FORMATS = {"decimal": "decimal", "lower-latin": "lowerLetter", "lower-alpha": "lowerLetter",
                "upper-latin": "upperLetter", "upper-alpha": "upperLetter", "lower-roman": "lowerRoman",
                "upper-roman": "upperRoman"}


def _gdocs_html_text(path: Path) -> str:
    """A Google Docs export ("File > Download > Web page"): <p>/<h2> of <span>s, and lists whose numbers are
    not in the text but drawn by the page's CSS. An item of <ol class="lst-kix_<id>-<level>"> shows the counter
    lst-ctn-kix_<id>-<level>, in the format its "li:before" rule names; the counter is reset by an <ol> of class
    "start" and runs on into later <ol>s of the same class, whose start= attribute repeats the number (the two
    must agree). Level-1 items (a flat <ol> between the items, not nested) are indented: '  b. '. Table rows
    read "a | b"; a paragraph inside a cell is part of its row; empty paragraphs are dropped."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")
    style = " ".join(tag.get_text() for tag in soup.find_all("style"))
    formats = {(m[0], int(m[1])): (_CSS_FORMATS[m[2]], m[3]) for m in _GDOCS_MARKER.findall(style)}
    counters: dict[tuple[str, int], int] = {}
    lines = []
    for element in soup.body.find_all(["p", "h1", "h2", "h3", "h4", "li", "tr"]):
        text = " ".join(element.get_text().split())
        if element.name == "p" and element.find_parent("td") is not None:
            continue
        if element.name == "li":
            ol = element.parent
            kind = next(m for c in ol.get("class", []) if (m := re.fullmatch(r"lst-kix_(\w+)-(\d+)", c)))
            key = (kind.group(1), int(kind.group(2)))
            index = ol.find_all("li", recursive=False).index(element)
            if index == 0 and "start" in ol.get("class", []):
                counters[key] = 0
            counters[key] = counters.get(key, 0) + 1
            if int(ol.get("start", 1)) + index != counters[key]:
                raise ValueError(f"{path.name}: list item {counters[key]} has start={ol.get('start')} + {index}")
            fmt, suffix = formats[key]
            text = "  " * key[1] + _counter(counters[key], fmt) + suffix + text
        elif element.name == "tr":
            text = " | ".join(" ".join(cell.get_text().split()) for cell in element.find_all(["td", "th"]))
        elif element.name.startswith("h"):
            text = "#" * int(element.name[1]) + " " + text
        if text:
            lines.append(text)
    return "\n".join(lines)


def _column_lines(path: Path) -> list[tuple[int, int]]:
    """pdf_columns: per page, the text pieces drawn in the left and in the right half of the page (not the footer)."""
    from pypdf import PdfReader

    counts = []
    for page in PdfReader(path).pages:
        middle, found = float(page.mediabox.width) / 2, [0, 0]

        def visit(text, _cm, tm, _font, _size, middle=middle, found=found) -> None:
            if text.strip() and tm[5] > 60:  # the footer is drawn below 60 pt
                found[tm[4] >= middle] += 1

        page.extract_text(visitor_text=visit)
        counts.append((found[0], found[1]))
    return counts


# ---- clauses ------------------------------------------------------------------------------------------------

def normalize(text: str) -> str:
    return " ".join(text.split())


_ANNOUNCES_TABLE = re.compile(r":\s*$|\b(?:below|following|table)\b", re.IGNORECASE)
_FOOTNOTE = re.compile(r"^\[\^([^\]]+)\]:\s*(.*)$")
_PDF_FOOTNOTE = re.compile(r"^([\u00b9\u00b2\u00b3]) ")  # a PDF footnote at the foot of a page: "¹ text"
_PDF_FOOTER = re.compile(r"\bPage \d+$")  # the running footer line that follows a page's footnotes


def split_clauses(doc: Doc, text: str) -> tuple[dict[str, str], list[str]]:
    """{clause id: clause text} and the problems found (duplicate ids).

    With ``footnotes`` a Markdown footnote's text ("[^1]: ...", at the foot of the file) is read into
    every clause that carries its marker "[^1]" instead of the clause it happens to follow; in a PDF the
    footnote "¹ text" (up to the page's footer line) goes to the clause whose text carries "¹". With
    ``sub_wrapped`` a sub-item's wrapped lines, indented further than its "(a)", belong to it as well. With
    ``table_alone`` a table (lines "a | b") after a clause that does not announce it (no ':' at its end,
    no 'below', 'following', 'table') is a clause of its own, cited by the number of its section
    heading (the last boundary line that starts with a number, "1.<tab>FEES" -> "1")."""
    if doc.nested:
        return _split_nested(text)
    notes: dict[str, str] = {}
    if doc.footnotes and doc.fmt == "pdf":
        kept, note_marker = [], None
        for line in text.split("\n"):
            if match := _PDF_FOOTNOTE.match(line):
                note_marker = match.group(1)
                notes[note_marker] = line
            elif note_marker is not None and line != PAGE_BREAK and not _PDF_FOOTER.search(line):
                notes[note_marker] += "\n" + line
            else:
                note_marker = None
                kept.append(line)
        text = "\n".join(kept)
    elif doc.footnotes:
        kept = []
        for line in text.split("\n"):
            if match := _FOOTNOTE.match(line):
                notes[match.group(1)] = line
            else:
                kept.append(line)
        text = "\n".join(kept)
    label_re, boundary_re = re.compile(doc.label_re), re.compile(doc.boundary_re)
    sub_re = re.compile(doc.sub_re) if doc.sub_re else None
    section_re = re.compile(doc.section_re) if doc.section_re else None
    clauses: dict[str, str] = {}
    problems: list[str] = []
    current: str | None = None
    section = ""
    section_number = ""  # table_alone: the number of the last section heading
    previous_row = False  # table_alone: the line before was a table row
    sub: str | None = None  # sub_wrapped: the sub-item whose wrapped lines may follow, and the indent of its "(a)"
    sub_indent = 0

    def start(clause_id: str, line: str) -> None:
        if clause_id in clauses:
            problems.append(f"clause id {clause_id!r} occurs twice")
        clauses[clause_id] = line

    for line in text.split("\n"):  # not splitlines(): it would drop the form feed between PDF pages
        row = doc.table_alone and " | " in line
        if section_re is not None and (match := section_re.match(line)):
            section, current, sub = match.group(1), None, None
        elif match := label_re.match(line):
            label = next(group for group in match.groups() if group is not None)
            current = f"{section}({label})" if section_re is not None else label
            start(current, line)
            sub = None
        elif boundary_re.match(line):
            current, sub = None, None
            if doc.table_alone and (number := re.match(r"^#*\s*(\d+)\.", line)):
                section_number = number.group(1)
        elif row and not previous_row and current is not None and not _ANNOUNCES_TABLE.search(clauses[current]):
            current = section_number
            start(current, line)
        elif current is not None:
            clauses[current] += "\n" + line
            if sub_re is not None and (match := sub_re.match(line)):  # a sub-item is one line, also in its clause
                sub, sub_indent = f"{current}({match.group(1)})", len(line) - len(line.lstrip())
                start(sub, line)
            elif doc.sub_wrapped and sub is not None and line.strip() and len(line) - len(line.lstrip()) > sub_indent:
                clauses[sub] += "\n" + line  # ... unless it wraps onto lines indented under its text
            else:
                sub = None
        previous_row = row
    for marker, note in notes.items():
        shown = marker if doc.fmt == "pdf" else f"[^{marker}]"
        holders = [cid for cid, body in clauses.items() if shown in body]
        if not holders:
            problems.append(f"footnote [^{marker}] has no marker in any clause")
        for cid in holders:
            clauses[cid] += "\n" + note
    return clauses, problems


_TOP = re.compile(r"^(\d+)\. [A-Z]")
_LETTER = re.compile(r"^\s+\(([a-h])\) ")
_ROMAN = re.compile(r"^\s+\((i|ii|iii|iv|v|vi|vii|viii)\) ")


def _split_nested(text: str) -> tuple[dict[str, str], list[str]]:
    """Clauses '3.' > '(a)' > '(i)'; ids 3(a) and 3(a)(i); a clause's text includes its sub-items."""
    clauses: dict[str, str] = {}
    problems: list[str] = []
    top = letter = None
    open_ids: list[str] = []  # the clause ids the current line belongs to
    for line in text.splitlines():
        if match := _TOP.match(line):
            top, letter, open_ids = match.group(1), None, []
            continue
        new_id = None
        if top is not None and (match := _LETTER.match(line)):
            letter = new_id = f"{top}({match.group(1)})"
            open_ids = [letter]
        elif letter is not None and (match := _ROMAN.match(line)):
            new_id = f"{letter}({match.group(1)})"
            open_ids = [letter, new_id]
        elif not line.startswith(" ") or not line.strip():
            open_ids = []
            continue
        if new_id is not None:
            if new_id in clauses:
                problems.append(f"clause id {new_id!r} occurs twice")
            clauses[new_id] = ""
        for clause_id in open_ids:
            clauses[clause_id] += line + "\n"
    return clauses, problems


def _running_lines(text: str) -> set[str]:
    """A PDF's running header and footer: lines found on every page, and 'Page N of M' lines; a clause
    continues across a page break only if more than these follows the break."""
    pages = text.split(PAGE_BREAK)
    if len(pages) < 2:
        return set()
    on_every = set.intersection(*({ln.strip() for ln in page.split("\n") if ln.strip()} for page in pages))
    return on_every | {ln.strip() for ln in text.split("\n") if re.fullmatch(r"Page \d+ of \d+", ln.strip())}


def has_figure(figure: str, text: str) -> bool:
    return bool(figure_pattern(normalize(figure)).search(normalize(text)))


def longest_common_run(question: str, clause: str) -> int:
    """Length of the longest run of words the question shares with the clause."""
    q, c = re.findall(r"\w+", question.lower()), re.findall(r"\w+", clause.lower())
    best, previous = 0, [0] * (len(c) + 1)
    for qw in q:
        row = [0] * (len(c) + 1)
        for j, cw in enumerate(c, start=1):
            if qw == cw:
                row[j] = previous[j - 1] + 1
                best = max(best, row[j])
        previous = row
    return best


ROMAN = {"I": 1, "II": 2, "III": 3, "IV": 4, "V": 5, "VI": 6, "VII": 7, "VIII": 8, "IX": 9, "X": 10}


def label_digits_recur(clause_id: str, facts: list[str]) -> bool:
    """True when the clause label's number reappears at the start of a figure: 1.4 -> '14 days', C3 -> '3 estimated',
    IV(A) -> '£46' (a roman section number counts as its value)."""
    if roman := re.match(r"^([IVX]+)\(", clause_id):
        clause_id = str(ROMAN.get(roman.group(1), "")) + clause_id[len(roman.group(1)):]
    groups = re.findall(r"\d+", clause_id)
    if not groups:
        return False
    candidates = {"".join(groups), "".join(groups[:2])}
    numbers = [n.replace(",", "") for fact in facts for n in re.findall(r"\d[\d,]*", fact)]
    return any(n.startswith(c) for n in numbers for c in candidates)


# ---- the checks ---------------------------------------------------------------------------------------------

def readme_row(doc: Doc, n_clauses: int, n_heldout: int, n_oos: int, half: str) -> str:
    return f"| {doc.name} | {doc.domain} | {doc.fmt} | {doc.numbering} | {n_clauses} | {n_heldout} | {n_oos} | {half} |"


def check_split(failures: list[str]) -> dict[str, str]:
    split = json.loads((DOCS_DIR / "SPLIT.json").read_text(encoding="utf-8"))
    half_of = {}
    for half, size, want in SETS:
        names = split.get(half, [])
        if len(names) != size:
            failures.append(f"SPLIT.json: {half} has {len(names)} documents, not {size}")
        formats = [DOCS_BY_NAME[n].fmt for n in names if n in DOCS_BY_NAME]
        if set(formats) != want or (half.startswith("fresh") and len(formats) != len(want)):
            failures.append(f"SPLIT.json: {half} has formats {sorted(formats)}, expected {sorted(want)}")
        for name in names:
            if name not in DOCS_BY_NAME:
                failures.append(f"SPLIT.json: unknown document {name!r}")
            if name in half_of:
                failures.append(f"SPLIT.json: {name} is in two sets")
            half_of[name] = half
    if set(half_of) != set(DOCS_BY_NAME):
        failures.append(f"SPLIT.json: documents missing {sorted(set(DOCS_BY_NAME) - set(half_of))}")
    for name in sorted(UNNUMBERED):
        if half_of.get(name) == "tune":
            failures.append(f"SPLIT.json: the unnumbered document {name} must never be tuned")
    if set(split) != {half for half, _, _ in SETS}:
        failures.append(f"SPLIT.json: keys {sorted(split)}, expected {', '.join(sorted(h for h, _, _ in SETS))}")
    return half_of


def check_doc(doc: Doc, built: dict[str, Path], half: str, failures: list[str]) -> str:
    def fail(message: str) -> None:
        failures.append(f"{doc.name}: {message}")

    folder = DOCS_DIR / doc.name
    text_v1, text_v2 = extract_text(built[doc.name], doc), extract_text(built[f"{doc.name}_v2"], doc)
    clauses_v1, problems = split_clauses(doc, text_v1)
    clauses_v2, problems_v2 = split_clauses(doc, text_v2)
    for problem in problems + problems_v2:
        fail(problem)
    if list(clauses_v1) != list(clauses_v2):
        fail("v1 and v2 have different clause ids")
    if not 25 <= len(clauses_v1) <= 45:
        fail(f"{len(clauses_v1)} clauses, expected 25-45")
    notes = []
    if doc.fmt == "pdf":
        pages = text_v1.count(PAGE_BREAK) + 1
        running = _running_lines(text_v1)
        spanning = [cid for cid, body in clauses_v1.items() if PAGE_BREAK in body
                    and [ln for ln in body.split(PAGE_BREAK, 1)[1].split("\n") if ln.strip() and ln.strip() not in running]]
        notes.append(f"{pages} pages, clauses continued on the next page: {', '.join(spanning) or 'none'}")
        if pages < 2 or not spanning:
            fail(f"PDF has {pages} pages and {len(spanning)} clauses across a page break; expected several pages and one")
        if doc.pdf_runin:
            hyphenated = re.findall(r"[a-z]-\n[a-z]", text_v1)
            notes.append(f"words hyphenated at a line end: {len(hyphenated)}")
            if len(hyphenated) < HYPHENATED_MIN:
                fail(f"{len(hyphenated)} words hyphenated at a line end, expected >= {HYPHENATED_MIN}")
        if doc.pdf_columns:
            columns = _column_lines(built[doc.name])
            notes.append("text pieces per page (left/right column): " + ", ".join(f"{a}/{b}" for a, b in columns))
            if not all(a and b for a, b in columns):
                fail("a page of the two-column PDF has text in only one column")

    heldout = read_jsonl(folder / "heldout.jsonl")
    if len(heldout) < 16:
        fail(f"heldout.jsonl has {len(heldout)} rows, expected >= 16")
    worst_copy, traps = 0, 0
    for row in heldout:
        question, facts, cid = row.get("question", ""), row.get("facts", []), row.get("clause", "")
        if set(row) != {"question", "facts", "clause"} or not question or not facts:
            fail(f"bad heldout row {row}")
            continue
        if cid not in clauses_v1:
            fail(f"heldout clause {cid!r} not found (question {question!r})")
            continue
        for fact in facts:
            if not re.search(r"\d", fact):
                fail(f"fact {fact!r} has no figure")
            if not has_figure(fact, clauses_v1[cid]):
                fail(f"fact {fact!r} not in clause {cid} (question {question!r})")
            if not has_figure(fact, text_v1):
                fail(f"fact {fact!r} not in the document")
            if has_figure(fact, question):
                fail(f"question gives away its fact {fact!r}: {question!r}")
        run = longest_common_run(question, clauses_v1[cid])
        worst_copy = max(worst_copy, run)
        if run >= 7:
            fail(f"question copies {run} words in a row from {cid}: {question!r}")
        traps += label_digits_recur(cid, facts)
    if doc.name not in UNNUMBERED and traps == 0:
        fail("no question whose clause label digits recur in its figure")
    notes.append(f"longest run of words copied from a clause: {worst_copy}; label-digit traps: {traps}")

    oos = read_jsonl(folder / "out_of_scope.jsonl")
    questions = [row.get("question", "") for row in oos]
    if len(oos) < 6 or len(set(questions)) != len(questions) or not all(questions):
        fail(f"out_of_scope.jsonl needs >= 6 distinct questions, has {len(set(questions))}")

    changes = read_jsonl(folder / "changes.jsonl")
    if len(changes) != 4:
        fail(f"changes.jsonl has {len(changes)} rows, expected 4")
    expected_v2 = normalize(text_v1)
    for change in changes:
        cid, old, new = change.get("clause"), change.get("old", ""), change.get("new", "")
        if not change.get("question") or cid not in clauses_v1 or cid not in clauses_v2:
            fail(f"bad change row {change}")
            continue
        if not has_figure(old, clauses_v1[cid]):
            fail(f"change: {old!r} not in v1 clause {cid}")
        if not has_figure(new, clauses_v2[cid]):
            fail(f"change: {new!r} not in v2 clause {cid}")
        if has_figure(old, clauses_v2[cid]):
            fail(f"change: {old!r} still in v2 clause {cid}")
        if has_figure(old, change["question"]) or has_figure(new, change["question"]):
            fail(f"change question gives away the figure: {change['question']!r}")
        expected_v2 = figure_pattern(old).sub(lambda _m, new=new: new, expected_v2)
    if expected_v2 != normalize(text_v2):
        fail("v2 differs from v1 by more than the changes in changes.jsonl")

    row = readme_row(doc, len(clauses_v1), len(heldout), len(oos), half)
    print(f"{doc.name:22} {doc.fmt:5} clauses {len(clauses_v1):2}  heldout {len(heldout):2}  oos {len(oos)}  "
          f"changes {len(changes)}  [{half}]  {'; '.join(notes)}")
    return row


def main() -> int:
    failures: list[str] = []
    half_of = check_split(failures)
    with tempfile.TemporaryDirectory() as tmp:
        first, second = build(Path(tmp) / "a"), build(Path(tmp) / "b")
        for key, path in first.items():
            if hashlib.sha256(path.read_bytes()).digest() != hashlib.sha256(second[key].read_bytes()).digest():
                failures.append(f"{key}: two builds differ (output not deterministic)")
        print(f"built {len(first)} files twice into {tmp}: "
              f"{'identical' if not any('deterministic' in f for f in failures) else 'DIFFERENT'}")
        rows = [check_doc(doc, first, half_of.get(doc.name, "?"), failures) for doc in DOCS]
    readme = (CORPUS_DIR / "README.md").read_text(encoding="utf-8") if (CORPUS_DIR / "README.md").exists() else ""
    for row in rows:
        if row not in readme:
            failures.append(f"README.md lacks the row: {row}")
    for failure in failures:
        print("FAIL", failure)
    print("corpus check:", "FAILED" if failures else "passed", f"({len(failures)} failures)")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
