"""Render the development corpus (bench/corpus/docs/) into the files a user would upload.

Every document lives in ``docs/<name>/``. Markdown, text and HTML documents are written there
as the final file (``policy.md``, ``policy.txt``, ``policy.html``) and are copied as they are.
DOCX and PDF documents are written as ``source.md``, a small line-based markup that lists the
blocks exactly as they must appear:

    # text          title (DOCX style "Title")
    ## text         heading level 1 (DOCX "Heading 1")
    ### text        heading level 2 (DOCX "Heading 2")
    - text          bulleted list item (DOCX "List Bullet")
    1. text         numbered list item (DOCX "List Number", a later list that starts at 1 restarts
                    Word's count; the PDF prints the number given)
    | a | b |       table row; the first row is the header, |---| rows are skipped
    anything else   one paragraph per line (DOCX "Normal")

With ``word_toc`` (DOCX) the outline is typed the way many Word users type it: "## 1. Fees" is a
bold "Normal" paragraph "1.<tab>FEES" (no heading style), "1.1 text" a paragraph "1.1<tab>text" with
a hanging indent, and a line "[TOC]" is replaced by a table of contents ("Table of Contents" in
Word's "TOC Heading" style, one "toc 1" paragraph "1.<tab>Fees<tab>2" per heading, a page break).

With ``clause_tables`` (DOCX) the clauses are laid out in borderless two-column tables, as many
contracts are: each run of "5.3 text" lines becomes one table, a row per clause, the number in the
left cell and the text in the right; "|" rows are still an ordinary data table with a header row.

With ``pdf_runin`` (PDF) paragraphs are justified and may carry "**bold**" runs (a clause's run-in
heading "**Clause 4.2 Late arrival.** text"), "\\-" marks a point where a word may be hyphenated at a
line end (a soft hyphen, as word processors store them), "[^1]" is a footnote marker printed as a
superscript figure ("¹", up to 3) whose text, a line "[^1]: text", is printed at the foot of the page
that carries the marker, and a line "[footer]: text" is a running footer printed with "Page N".

With ``pdf_columns`` (PDF) the page is a two-column leaflet: the title and the lines before the first
"##" heading are a masthead across the page, then the text flows down the left column, on into the right
column and on to the next page; "## HEADING" lines are bold capitals, a "T7 text" paragraph starts with
its label in bold, a "|" table is drawn inside one column, and "[footer]: text" is a running footer
printed with "Page N of M".

Markdown, text and HTML files are copied as they are, in UTF-8 with LF line ends unless the
document asks for another ``encoding`` ("utf-16": little-endian with a byte-order mark; "cp1252": Windows'
"ANSI" code page) or ``newline`` (CRLF).

Version 2 of a document is version 1 with the edits of its ``changes.jsonl`` applied: each
``old`` figure must occur exactly once in the source (as a whole figure, not inside a larger
one) and is replaced by ``new``.

    .venv/bin/python bench/corpus/build.py OUT_DIR

writes ``<name>.<ext>`` and ``<name>_v2.<ext>`` for every document. Output is deterministic
(fixed dates in DOCX and PDF, fixed zip timestamps) and needs no network.
"""

from __future__ import annotations

import codecs
import io
import json
import re
import sys
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

CORPUS_DIR = Path(__file__).resolve().parent
DOCS_DIR = CORPUS_DIR / "docs"
FIXED_DATE = datetime(2026, 1, 1, tzinfo=UTC)
ZIP_DATE = (2026, 1, 1, 0, 0, 0)
PDF_FONT = "Helvetica"  # a core font: nothing embedded, latin-1 text only
MARGIN = 22  # PDF left and right margins, mm


@dataclass(frozen=True)
class Doc:
    """One corpus document and how its clause labels look in the extracted text."""

    name: str
    domain: str
    fmt: str  # md, txt, html, docx or pdf: the format it is rendered to
    source: str  # file name inside docs/<name>/
    numbering: str  # the numbering style, in words
    label_re: str  # matched per line of the extracted text; group 1 is the clause id
    boundary_re: str  # a line matching this ends a clause without starting one (headings)
    nested: bool = False  # "3." / "(a)" / "(i)" clauses whose ids are built as 3(a)(i)
    sub_re: str = ""  # a line matching this inside a clause is also a sub-clause of its own, id "<clause>(<group 1>)"
    section_re: str = ""  # a line matching this ends a clause and prefixes the next ids: "<group 1>(<label>)", IV(A)
    word_numbering: bool = False  # DOCX: the typed labels of source.md ("## 1.", "1.1", "(a)") are drawn by Word
    html_lists: bool = False  # HTML: list items are read with the markers the browser draws, <dt> lines as "Q: "
    pdf_hanging: bool = False  # PDF: clause labels in bold at the margin, the text justified beside them
    word_toc: bool = False  # DOCX: a typed outline ("1.<tab>FEES" bold, "1.1<tab>text") and a Word table of contents
    table_alone: bool = False  # a table after a clause that does not announce it is cited by its section number
    html_main: bool = False  # HTML: a saved web page; only its <main> is the document (no banner, menus, footer)
    footnotes: bool = False  # Markdown: a footnote's text "[^1]: ..." belongs to the clause that carries its marker
    encoding: str = "utf-8"  # text formats: "utf-16" is UTF-16 LE with a byte-order mark (Notepad's "Unicode");
    # "cp1252" is Windows' "ANSI" code page
    newline: str = "\n"  # text formats: the line ends written ("\r\n" for a Windows file)
    sub_wrapped: bool = False  # sub-items "(a) ..." wrap onto indented lines, which also belong to the sub-item
    html_legacy: bool = False  # HTML: an old page laid out by a <table>; its largest cell is the document, <br> breaks lines
    clause_tables: bool = False  # DOCX: "5.3 text" clauses are rows of borderless two-column tables (number | text)
    pdf_runin: bool = False  # PDF: justified, hyphenated text, "**Clause 4.2 ...**" run-in headings, footnotes, running footer
    pdf_columns: bool = False  # PDF: a two-column leaflet, text flowing down the left column, the right, then the next page
    html_gdocs: bool = False  # HTML: a Google Docs export; list numbers are drawn by its CSS counters, lists continue by start=


DOCS: tuple[Doc, ...] = (
    Doc("gym_membership", "gym membership", "md", "policy.md",
        "decimal clauses 1.1 under '1.' headings", r"^(\d+\.\d+) ", r"^#"),
    Doc("electricity_supply", "electricity utility", "txt", "policy.txt",
        "letter+number with parenthesis, C3) (wrapped lines)", r"^([A-H]\d+)\) ", r"^PART [A-H]: "),
    Doc("hotel_booking", "hotel booking terms", "html", "policy.html",
        "letter-dot-number, B.2", r"^([A-H]\.\d+) ", r"^#"),
    Doc("bank_current_account", "bank current account", "docx", "source.md",
        "letter+number clauses A1. under lettered sections", r"^([A-H]\d+)\. ", r"^#"),
    Doc("home_insurance", "home insurance", "pdf", "source.md",
        "three-level decimal, 4.2.1", r"^(\d+\.\d+\.\d+) ", r"^\d+\.(\d+)? [A-Z]"),
    Doc("public_library", "public library", "md", "policy.md",
        "none: headings and plain paragraphs (clause id = heading)", r"^### (.+?)\s*$", r"^#"),
    Doc("phone_repair", "mobile-phone repair shop", "txt", "policy.txt",
        "numbered clauses with (a) and (i) sub-items, 3(b)(ii) (wrapped lines)", "", "", nested=True),
    Doc("university_fees", "university fees and rules", "html", "policy.html",
        "paragraph sign, § 2 / § 2.1", r"^(§ \d+\.\d+) ", r"^#"),
    Doc("car_rental", "car rental", "docx", "source.md",
        "articles Art. 4 with paragraphs (1), (2)", r"^#+ (Art\. \d+) ", r"^#"),
    Doc("clinic_patient", "healthcare clinic", "pdf", "source.md",
        "Section C3 headings under lettered parts", r"^(Section [A-F]\d+) - ", r"^Part [A-F] - "),
    Doc("vet_practice", "veterinary practice", "md", "policy.md",
        "FAQ: bold question lines under '##' sections, no numbers (clause id = question)", r"^\*\*(.+?)\*\*\s*$", r"^#"),
    Doc("self_storage", "self-storage facility", "html", "policy.html",
        "roman-numeral articles (Article IV) with decimal clauses, 4.2", r"^(\d+\.\d+) ", r"^#"),
    Doc("ski_school", "ski school", "docx", "source.md",
        "numbered items restarting at 1 under each heading, labelled by the heading's initial, P2:", r"^([A-Z]\d+): ", r"^#"),
    Doc("city_parking", "parking operator", "pdf", "source.md",
        "rules Rule 1.1 under 'Part 1 -' headings", r"^(Rule \d+\.\d+) ", r"^Part \d+ - "),
    Doc("marina_berths", "marina berthing", "docx", "source.md",
        "Word multi-level numbering (not typed): '1.' headings, 1.1 clauses, (a) sub-items, 2.3(b)",
        r"^(\d+\.\d+) ", r"^#", sub_re=r"^\(([a-h])\) ", word_numbering=True),
    Doc("allotment_society", "allotment society", "txt", "policy.txt",
        "outline: roman sections in capitals (IV. FEES), lettered items A. with 1. sub-points, IV(A)",
        r"^([A-H])\. ", r"^$", section_re=r"^([IVX]+)\. [A-Z][A-Z ,'&-]+$"),
    Doc("dance_studio", "dance studio", "html", "policy.html",
        "nested HTML lists under numbered headings (item = 3, a. = 3(b)), roman list, FAQ <dl> (id = question)",
        r"^(?:## (\d+)\. |Q: (.+?)\s*$)", r"^#", sub_re=r"^\s+([a-h]|i|ii|iii|iv|v|vi)\. ", html_lists=True),
    Doc("ebike_rental", "e-bike rental", "pdf", "source.md",
        "hanging-indent labels 4.2 beside justified text, running header and 'Page N of M'",
        r"^(\d+\.\d+) ", r"^\d+\. [A-Z]", pdf_hanging=True),
    Doc("climbing_centre", "climbing wall", "html", "policy.html",
        "saved web page (banner, menus, footer around <main>): '1.' headings, <p>1.1 clauses, contents links, price table",
        r"^(\d+\.\d+) ", r"^#", html_main=True),
    Doc("nursery_school", "day nursery", "docx", "source.md",
        "typed outline with tabs ('1.<tab>FEES' bold, '1.1<tab>'), Word table of contents, a table standing alone = section 6",
        r"^(\d+\.\d+)\t", r"^\d+\.\t[A-Z][A-Z ,&'/-]+$", word_toc=True, table_alone=True),
    Doc("escape_rooms", "escape rooms", "md", "policy.md",
        "static-site page: front matter, '##' headings without numbers over numbered lists (clause id = heading), footnote",
        r"^## (?!Contents\s*$)(.+?)\s*$", r"^#", sub_re=r"^(\d+)\. ", footnotes=True),
    Doc("laundrette", "launderette", "txt", "policy.txt",
        "UTF-16 text with CRLF: dotted contents, '1. SECTION' capitals, 1.1 clauses with bullets, form-feed pages",
        r"^(\d+\.\d+) ", r"^\d+\. [A-Z][A-Z ,&'/-]+$", encoding="utf-16", newline="\r\n"),
    Doc("driving_school", "driving school", "pdf", "source.md",
        "bold run-in 'Clause 4.2' headings in justified, hyphenated paragraphs, footnotes at the page foot, running footer",
        r"^(Clause \d+\.\d+) ", r"^\d+\. [A-Z]", footnotes=True, pdf_runin=True),
    Doc("ferry_tours", "lake ferry tours", "html", "policy.html",
        "old table-layout page: <font>/<b> headings, '1.1' clauses between <br><br>, fare table, FAQ <dl> (id = question)",
        r"^(?:(\d+\.\d+) |Q: (.+?)\s*$)", r"^\d+\. [A-Z]", html_legacy=True),
    Doc("campsite", "campsite", "txt", "policy.txt",
        "Windows-1252 text with CRLF, wrapped at 72: 'SECTION 3 - ...', 3.1 clauses, wrapped (a) sub-items, 3.2(a)",
        r"^(\d+\.\d+) ", r"^SECTION \d+ - ", sub_re=r"^\s+\(([a-h])\) ", sub_wrapped=True,
        encoding="cp1252", newline="\r\n"),
    Doc("wedding_venue", "wedding venue", "docx", "source.md",
        "clauses in borderless two-column tables (number 5.3 in the left cell, text in the right) under Heading 1, a price table",
        r"^(\d+\.\d+) \| ", r"^#", clause_tables=True),
    Doc("pet_grooming", "dog and cat grooming salon", "md", "policy.md",
        "Notion export: emoji '##' headings, '1)' clauses with indented 'a)' items, 6(b), callouts, <br> table, "
        "bold toggle questions (id = question)",
        r"^(?:(\d+)\) |- \*\*(.+?)\*\*\s*$)", r"^(?:#|> )", sub_re=r"^\s+([a-h])\) "),
    Doc("tool_hire", "tool and plant hire", "pdf", "source.md",
        "two-column leaflet: bold capital headings, T7 clauses flowing down both columns and across pages, "
        "a price table in one column",
        r"^(T\d+) ", r"^[A-Z][A-Z ,&'/-]{4,}$", pdf_columns=True),
    Doc("language_cafe", "language cafe", "html", "policy.html",
        "Google Docs export: <p class><span> text, <h2 id=h.*> headings, one list numbered by CSS counters "
        "and continued by start= across <ol>s, flat a. sub-lists, 6(b)",
        r"^(\d+)\. ", r"^#", sub_re=r"^\s+([a-h])\. ", html_gdocs=True),
    Doc("piano_tuner", "piano tuner", "txt", "policy.txt",
        "email letter: '1)' clauses with wrapped 'a)' items, 5(a), dotted-leader price list, Q:/A: pairs "
        "(id = question), signature block",
        r"^(?:(\d+)\) |Q: (.+?)\s*$)", r"^(?!A: )\S", sub_re=r"^\s+([a-h])\) ", sub_wrapped=True),
)
DOCS_BY_NAME = {doc.name: doc for doc in DOCS}


def read_source(doc: Doc) -> str:
    return (DOCS_DIR / doc.name / doc.source).read_text(encoding="utf-8")


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def figure_pattern(figure: str) -> re.Pattern[str]:
    """Match `figure` as a whole figure: '£5' does not match inside '£50' or '£5.50', '2 hours' not inside '12 hours'."""
    return re.compile(r"(?<![\w.,])" + re.escape(figure) + r"(?![\w]|[.,]\d)", re.IGNORECASE)


def apply_changes(text: str, changes: list[dict]) -> str:
    """Version 2: replace each change's `old` figure, which must occur exactly once in the source."""
    for change in changes:
        pattern = figure_pattern(change["old"])
        found = len(pattern.findall(text))
        if found != 1:
            raise ValueError(f"{change['old']!r} occurs {found} times in the source; a change needs exactly one")
        text = pattern.sub(lambda _m, new=change["new"]: new, text)
    return text


# ---- the line-based markup used for DOCX and PDF sources -------------------------------------------------

Block = tuple  # ("title"|"h1"|"h2"|"p"|"bullet", text) | ("number", n, text) | ("table", rows)


def parse_markup(text: str) -> list[Block]:
    blocks: list[Block] = []
    table: list[list[str]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("|"):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            if not all(re.fullmatch(r":?-+:?", cell) for cell in cells):
                table.append(cells)
            continue
        if table:
            blocks.append(("table", table))
            table = []
        if not line:
            continue
        if heading := re.match(r"^(#{1,3}) (.+)$", line):
            blocks.append((("title", "h1", "h2")[len(heading.group(1)) - 1], heading.group(2)))
        elif line.startswith("- "):
            blocks.append(("bullet", line[2:]))
        elif number := re.match(r"^(\d+)\. (.+)$", line):
            blocks.append(("number", int(number.group(1)), number.group(2)))
        else:
            blocks.append(("p", line))
    if table:
        blocks.append(("table", table))
    return blocks


def render_docx(text: str, word_numbering: bool = False, word_toc: bool = False, clause_tables: bool = False) -> bytes:
    """The DOCX of a markup source. With ``word_numbering`` the typed labels of "## 1. Heading",
    "1.1 text" and "(a) text" lines are taken out of the text and drawn by Word instead: one
    multi-level list ("%1." / "%1.%2" / "(%3)" lowerLetter) numbers the headings, clauses and sub-items
    (w:numPr on each paragraph); a typed label that differs from what Word will draw is an error.
    With ``word_toc`` the labels stay typed, followed by a tab: "## 1. Fees" is a bold paragraph
    "1.<tab>FEES", "1.1 text" a paragraph "1.1<tab>text" with a hanging indent, and the line "[TOC]"
    becomes a table of contents in Word's "TOC Heading" / "toc 1" styles, one entry per heading.
    With ``clause_tables`` each run of "5.3 text" paragraphs is one borderless two-column table."""
    from docx import Document
    from docx.shared import Pt

    blocks = parse_markup(text)
    document = Document()
    props = document.core_properties
    props.author = "airbot development corpus"
    props.last_modified_by = "airbot development corpus"
    props.created = props.modified = FIXED_DATE.replace(tzinfo=None)
    props.revision = 1
    numbered_before = False  # a List Number paragraph has been written (the first list keeps the style's numbering)
    list_num_id: int | None = None  # the numbering instance of the current restarted list
    outline = _WordOutline(document) if word_numbering else None
    if word_toc and ("p", "[TOC]") not in blocks:
        raise ValueError("word_toc: the source has no [TOC] line")
    clause_table = None  # clause_tables: the table of the current run of clauses
    for block in blocks:
        kind = block[0]
        if clause_tables:
            if kind == "p" and (clause := re.fullmatch(r"(\d+\.\d+) (.+)", block[1])):
                if clause_table is None:
                    clause_table = _clause_table(document)
                _clause_row(clause_table, clause.group(1), clause.group(2))
                continue
            clause_table = None
        if word_toc and _typed_outline(document, blocks, block):
            continue
        if outline is not None and kind in ("h1", "p") and (drawn := outline.take(kind, block[1])):
            level, body = drawn
            if kind == "h1":
                paragraph = document.add_heading(body, level=1)
            else:
                paragraph = document.add_paragraph(body)
                paragraph.paragraph_format.space_after = Pt(6)
            outline.number(paragraph, level)
        elif kind == "title":
            document.add_heading(block[1], level=0)
            props.title = block[1]
        elif kind in ("h1", "h2"):
            document.add_heading(block[1], level=1 if kind == "h1" else 2)
        elif kind == "bullet":
            document.add_paragraph(block[1], style="List Bullet")
        elif kind == "number":
            paragraph = document.add_paragraph(block[2], style="List Number")
            if block[1] == 1 and numbered_before:  # a later list that starts at 1 again: restart Word's count
                list_num_id = _restarted_numbering(document)
            if list_num_id is not None:
                numbering = paragraph._p.get_or_add_pPr().get_or_add_numPr()
                numbering.get_or_add_ilvl().val = 0
                numbering.get_or_add_numId().val = list_num_id
            numbered_before = True
        elif kind == "table":
            rows = block[1]
            table = document.add_table(rows=len(rows), cols=len(rows[0]))
            table.style = "Table Grid"
            for r, row in enumerate(rows):
                for c, value in enumerate(row):
                    cell = table.cell(r, c)
                    cell.text = value
                    if r == 0:
                        for run in cell.paragraphs[0].runs:
                            run.bold = True
        else:
            paragraph = document.add_paragraph(block[1])
            paragraph.paragraph_format.space_after = Pt(6)
    buffer = io.BytesIO()
    document.save(buffer)
    return _fixed_zip(buffer.getvalue())


TOC_CHARS_PER_PAGE = 2600  # word_toc: the page numbers of the contents are estimated from the text before each heading


def _typed_outline(document, blocks: list[Block], block: Block) -> bool:
    """word_toc: write ``block`` if it is part of the typed outline (the [TOC] line, a "1. Fees"
    heading, a "1.1 text" clause); False for any other block, which is written as usual."""
    from docx.enum.style import WD_STYLE_TYPE
    from docx.enum.text import WD_BREAK, WD_TAB_ALIGNMENT, WD_TAB_LEADER
    from docx.oxml.ns import qn
    from docx.shared import Cm, Pt

    kind, body = block[0], block[-1]
    if block == ("p", "[TOC]"):
        if "toc 1" not in [style.name for style in document.styles]:
            style = document.styles.add_style("toc 1", WD_STYLE_TYPE.PARAGRAPH)
            style.element.attrib.pop(qn("w:customStyle"), None)  # Word's own built-in style, as Word writes it
            style.style_id, style.priority, style.unhide_when_used = "TOC1", 39, True
            style.base_style = document.styles["Normal"]
            style.paragraph_format.space_after = Pt(4)
            style.paragraph_format.tab_stops.add_tab_stop(Cm(1))
            style.paragraph_format.tab_stops.add_tab_stop(Cm(15.9), WD_TAB_ALIGNMENT.RIGHT, WD_TAB_LEADER.DOTS)
        document.add_paragraph("Table of Contents", style="TOC Heading")
        chars = 0
        for other in blocks:
            if other[0] == "h1" and (heading := re.fullmatch(r"(\d+)\. (.+)", other[1])):
                page = 2 + chars // TOC_CHARS_PER_PAGE  # the contents fill page 1
                document.add_paragraph(f"{heading.group(1)}.\t{heading.group(2)}\t{page}", style="toc 1")
            if other[0] != "title":
                chars += len(str(other[-1])) if other[0] != "table" else sum(len(" ".join(r)) for r in other[1])
        document.add_paragraph().add_run().add_break(WD_BREAK.PAGE)
        return True
    if kind == "h1" and (heading := re.fullmatch(r"(\d+)\. (.+)", body)):
        paragraph = document.add_paragraph()
        paragraph.add_run(f"{heading.group(1)}.\t{heading.group(2).upper()}").bold = True
        paragraph.paragraph_format.space_before = Pt(12)
        paragraph.paragraph_format.space_after = Pt(6)
        paragraph.paragraph_format.keep_with_next = True
        return True
    if kind == "p" and (clause := re.fullmatch(r"(\d+\.\d+) (.+)", body)):
        paragraph = document.add_paragraph(f"{clause.group(1)}\t{clause.group(2)}")
        paragraph.paragraph_format.left_indent = Cm(1.27)
        paragraph.paragraph_format.first_line_indent = Cm(-1.27)
        paragraph.paragraph_format.space_after = Pt(6)
        return True
    return False


CLAUSE_COLUMNS_CM = (1.6, 14.4)  # clause_tables: the number column and the text column


def _clause_table(document):
    """clause_tables: an empty borderless two-column table (fixed widths) for a run of clauses."""
    from docx.oxml import parse_xml
    from docx.oxml.ns import nsdecls, qn
    from docx.shared import Cm

    table = document.add_table(rows=0, cols=2)
    table.autofit = False
    tbl_pr = table._tbl.tblPr
    borders = parse_xml(f'<w:tblBorders {nsdecls("w")}>' + "".join(
        f'<w:{side} w:val="nil"/>' for side in ("top", "left", "bottom", "right", "insideH", "insideV")) + "</w:tblBorders>")
    later = [child for child in tbl_pr if child.tag in (qn("w:shd"), qn("w:tblLayout"), qn("w:tblCellMar"), qn("w:tblLook"))]
    if later:  # the schema's order: tblBorders before shd, tblLayout, tblCellMar and tblLook
        later[0].addprevious(borders)
    else:
        tbl_pr.append(borders)
    for column, width in zip(table.columns, CLAUSE_COLUMNS_CM, strict=True):
        column.width = Cm(width)
    return table


def _clause_row(table, number: str, text: str) -> None:
    from docx.shared import Cm, Pt

    row = table.add_row()
    for column, (cell, value, width) in enumerate(zip(row.cells, (number, text), CLAUSE_COLUMNS_CM, strict=True)):
        cell.width = Cm(width)
        paragraph = cell.paragraphs[0]
        run = paragraph.add_run(value)
        if column == 0:
            run.bold = True
        paragraph.paragraph_format.space_after = Pt(6)


def _restarted_numbering(document) -> int:
    """A new numbering instance of the "List Number" style's list that starts again at 1; returns its numId."""
    style_num_id = document.styles["List Number"].element.pPr.numPr.numId.val
    numbering = document.part.numbering_part.numbering_definitions._numbering
    abstract_id = numbering.num_having_numId(style_num_id).abstractNumId.val
    num = numbering.add_num(abstract_id)
    num.add_lvlOverride(ilvl=0).add_startOverride(1)
    return num.numId


class _WordOutline:
    """One multi-level Word list for a document's typed outline: level 0 "%1." (numbered Heading 1),
    level 1 "%1.%2" (clauses), level 2 "(%3)" in lower-case letters (sub-items)."""

    LEVELS = (("decimal", "%1.", 0, 0), ("decimal", "%1.%2", 567, 567), ("lowerLetter", "(%3)", 1134, 567))
    PATTERNS: ClassVar[dict[str, tuple[tuple[int, str], ...]]] = {
        "h1": ((0, r"(\d+)\. (.+)"),), "p": ((1, r"(\d+)\.(\d+) (.+)"), (2, r"\(([a-z])\) (.+)"))}
    ABSTRACT_ID = 90

    def __init__(self, document) -> None:
        from docx.oxml import parse_xml
        from docx.oxml.ns import nsdecls

        numbering = document.part.numbering_part.element
        levels = "".join(
            f'<w:lvl w:ilvl="{i}"><w:start w:val="1"/><w:numFmt w:val="{fmt}"/><w:lvlText w:val="{text}"/>'
            f'<w:lvlJc w:val="left"/><w:pPr><w:ind w:left="{left + hanging}" w:hanging="{hanging}"/></w:pPr></w:lvl>'
            for i, (fmt, text, left, hanging) in enumerate(self.LEVELS))
        numbering.insert(0, parse_xml(  # abstract definitions come before the list instances
            f'<w:abstractNum {nsdecls("w")} w:abstractNumId="{self.ABSTRACT_ID}">'
            f'<w:multiLevelType w:val="multilevel"/>{levels}</w:abstractNum>'))
        self.num_id = int(numbering.add_num(self.ABSTRACT_ID).numId)
        self.counters = [0, 0, 0]

    def take(self, kind: str, text: str) -> tuple[int, str] | None:
        """(level, text without its label) for a line whose typed label Word draws; checks the label."""
        for level, pattern in self.PATTERNS[kind]:
            if match := re.fullmatch(pattern, text):
                counters = self.counters[:level] + [self.counters[level] + 1] + [0] * (2 - level)
                drawn = {0: f"{counters[0]}.", 1: f"{counters[0]}.{counters[1]}", 2: f"({chr(96 + counters[2])})"}[level]
                typed = {0: f"{match.group(1)}.", 1: f"{match.group(1)}.{match.group(2)}", 2: f"({match.group(1)})"}[level]
                if typed != drawn:
                    raise ValueError(f"typed label {typed!r} but Word draws {drawn!r}: {text[:60]!r}")
                self.counters = counters
                return level, match.group(match.lastindex)
        return None

    def number(self, paragraph, level: int) -> None:
        numbering = paragraph._p.get_or_add_pPr().get_or_add_numPr()
        numbering.get_or_add_ilvl().val = level
        numbering.get_or_add_numId().val = self.num_id


def _fixed_zip(data: bytes) -> bytes:
    """Rewrite a zip with fixed timestamps so that the same input gives the same bytes."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=ZIP_DATE)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            dst.writestr(fixed, src.read(info.filename))
    return out.getvalue()


def render_pdf(text: str, hanging: bool = False) -> bytes:
    """The PDF of a markup source. With ``hanging`` every "4.2 text" paragraph is drawn as a clause
    with a hanging label: "4.2" in bold at the left margin, the text justified in a column to the right
    of it (wrapped lines stay in that column, also across a page break), and every page has a running
    header (the title, with a rule under it) and a "Page N of M" footer."""
    from fpdf import FPDF

    for number, line in enumerate(text.splitlines(), start=1):
        try:
            line.encode("latin-1")
        except UnicodeEncodeError as err:
            raise ValueError(f"line {number}: {line[err.start]!r} cannot be drawn in {PDF_FONT}; use latin-1 text") from None

    blocks = parse_markup(text)
    running_title = next((block[1] for block in blocks if block[0] == "title"), "")

    class PolicyPDF(FPDF):
        def header(self) -> None:
            if not hanging:
                return
            left = self.x  # the margin in force, which a clause's text column may have moved
            self.set_font(PDF_FONT, style="I", size=8)
            self.set_xy(MARGIN, 10)
            self.cell(self.w - 2 * MARGIN, 4, running_title, align="R")
            self.line(MARGIN, 15, self.w - MARGIN, 15)
            self.set_xy(left, 20)

        def footer(self) -> None:
            self.set_y(-15)
            self.set_font(PDF_FONT, size=8)
            self.cell(0, 10, f"Page {self.page_no()} of {{nb}}" if hanging else f"Page {self.page_no()}", align="C")

    pdf = PolicyPDF(format="A4")
    pdf.set_creation_date(FIXED_DATE)
    pdf.set_creator("airbot development corpus")
    pdf.set_margins(MARGIN, 20, MARGIN)
    pdf.set_auto_page_break(True, margin=22)
    pdf.add_page()
    label_width = 14
    for block in blocks:
        kind = block[0]
        if hanging and kind == "p" and (clause := re.match(r"^(\d+\.\d+) (.+)$", block[1])):
            if pdf.will_page_break(11):  # a label never stands alone at the foot of a page
                pdf.add_page()
            pdf.set_font(PDF_FONT, style="B", size=10.5)
            pdf.set_x(pdf.l_margin)
            pdf.cell(label_width, 5.5, clause.group(1))
            pdf.set_font(PDF_FONT, size=10.5)
            pdf.set_left_margin(pdf.l_margin + label_width)  # wrapped lines, on this page or the next, stay in the column
            pdf.multi_cell(0, 5.5, clause.group(2), align="J", new_x="LMARGIN", new_y="NEXT")
            pdf.set_left_margin(pdf.l_margin - label_width)
            pdf.ln(2)
        elif kind == "title":
            pdf.set_title(block[1])
            pdf.set_font(PDF_FONT, style="B", size=17)
            pdf.multi_cell(0, 8, block[1], new_x="LMARGIN", new_y="NEXT")
            pdf.ln(3)
        elif kind == "h1":
            pdf.ln(3)
            pdf.set_font(PDF_FONT, style="B", size=13)
            pdf.multi_cell(0, 7, block[1], new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1)
        elif kind == "h2":
            pdf.ln(1)
            pdf.set_font(PDF_FONT, style="B", size=11)
            pdf.multi_cell(0, 6, block[1], new_x="LMARGIN", new_y="NEXT")
        elif kind in ("bullet", "number"):
            marker = "-" if kind == "bullet" else f"{block[1]}."
            pdf.set_font(PDF_FONT, size=10.5)
            pdf.set_x(pdf.l_margin + 6)
            pdf.cell(6, 5.5, marker)
            pdf.multi_cell(0, 5.5, block[-1], new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1)
        elif kind == "table":
            pdf.set_font(PDF_FONT, size=10)
            with pdf.table(text_align="LEFT", line_height=6) as table:
                for row in block[1]:
                    table_row = table.row()
                    for value in row:
                        table_row.cell(value)
            pdf.ln(2)
        else:
            pdf.set_font(PDF_FONT, size=10.5)
            pdf.multi_cell(0, 5.5, block[1], new_x="LMARGIN", new_y="NEXT")
            pdf.ln(2)
    return bytes(pdf.output())


SUPERSCRIPTS = {"1": "\u00b9", "2": "\u00b2", "3": "\u00b3"}  # the superscript figures of latin-1
SOFT_HYPHEN = "\u00ad"
RUNIN_BOTTOM = 24  # pdf_runin: the bottom margin (mm) of a page without footnotes


def _pdf_source(text: str) -> tuple[list[str], str, dict[str, str]]:
    """A ``pdf_runin`` / ``pdf_columns`` source's body lines, its "[footer]: text" and its footnotes
    "[^1]: text"; every line must be latin-1 (the core font draws nothing else)."""
    notes: dict[str, str] = {}
    footer_text = ""
    body: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        try:
            line.encode("latin-1")
        except UnicodeEncodeError as err:
            raise ValueError(f"line {number}: {line[err.start]!r} cannot be drawn in {PDF_FONT}; use latin-1 text") from None
        if note := re.fullmatch(r"\[\^(\d)\]: (.+)", line.strip()):
            notes[note.group(1)] = note.group(2)
        elif footer := re.fullmatch(r"\[footer\]: (.+)", line.strip()):
            footer_text = footer.group(1)
        else:
            body.append(line)
    return body, footer_text, notes


def render_pdf_runin(text: str) -> bytes:
    """The PDF of a markup source with ``pdf_runin``: justified paragraphs with "**bold**" run-in
    headings, soft hyphens "\\-", footnotes "[^1]" printed at the foot of the page that carries the
    marker (the marker's paragraph is kept on one page with its footnote), headings kept with the
    paragraph that follows, and a running footer "[footer]: text" with "Page N" on the right."""
    from fpdf import FPDF

    body, footer_text, notes = _pdf_source(text)
    if set(notes) - set(SUPERSCRIPTS):
        raise ValueError(f"pdf_runin: footnotes {sorted(notes)}; only 1 to {len(SUPERSCRIPTS)} have superscript figures")

    def shown(value: str) -> str:
        value = re.sub(r"\[\^(\d)\]", lambda m: SUPERSCRIPTS[m.group(1)], value.replace("\\-", SOFT_HYPHEN))
        if "[^" in value or "\\" in value:
            raise ValueError(f"pdf_runin: unknown footnote marker or escape in {value[:60]!r}")
        return value

    class RuninPDF(FPDF):
        page_notes: list[str]  # the footnotes of the current page (set by header() on every new page)
        reserved: float  # the height kept free for them above the bottom margin

        def header(self) -> None:
            self.page_notes, self.reserved = [], 0.0
            self.set_auto_page_break(True, margin=RUNIN_BOTTOM)

        def footer(self) -> None:
            self.set_auto_page_break(False)  # the footnotes and the footer are drawn below the page-break line
            if self.page_notes:
                top = self.h - RUNIN_BOTTOM - self.reserved + 2
                self.line(MARGIN, top, MARGIN + 45, top)
                self.set_xy(MARGIN, top + 1.5)
                self.set_font(PDF_FONT, size=8)
                for note in self.page_notes:
                    self.multi_cell(0, 3.8, note, align="J", new_x="LMARGIN", new_y="NEXT")
            self.set_font(PDF_FONT, size=8)
            self.set_xy(MARGIN, -16)
            self.cell(120, 6, footer_text)
            self.cell(0, 6, f"Page {self.page_no()}", align="R")

    pdf = RuninPDF(format="A4")
    pdf.set_creation_date(FIXED_DATE)
    pdf.set_creator("airbot development corpus")
    pdf.set_margins(MARGIN, 20, MARGIN)
    pdf.add_page()
    blocks = parse_markup("\n".join(body))
    for index, block in enumerate(blocks):
        kind = block[0]
        if kind == "title":
            pdf.set_title(block[1])
            pdf.set_font(PDF_FONT, style="B", size=16)
            pdf.multi_cell(0, 7.5, shown(block[1]), new_x="LMARGIN", new_y="NEXT")
            pdf.ln(2)
        elif kind in ("h1", "h2"):
            following = blocks[index + 1] if index + 1 < len(blocks) else None
            if pdf.will_page_break(9 + 3 * 5.2 if following else 9):  # a heading never stands alone at the foot
                pdf.add_page()
            pdf.ln(3)
            pdf.set_font(PDF_FONT, style="B", size=12 if kind == "h1" else 11)
            pdf.multi_cell(0, 6, shown(block[1]), new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1)
        elif kind == "p":
            value = shown(block[1])
            markers = re.findall(r"\[\^(\d)\]", block[1])
            pdf.set_font(PDF_FONT, size=10.5)
            if markers:  # keep the paragraph and its footnotes on one page
                pdf.set_auto_page_break(False)  # a dry run would otherwise break the page (and run header())
                pdf.set_font(PDF_FONT, size=8)
                texts = [f"{SUPERSCRIPTS[m]} {shown(notes[m])}" for m in markers]
                need = sum(pdf.multi_cell(0, 3.8, t, align="J", dry_run=True, output="HEIGHT") for t in texts) + 4
                pdf.set_font(PDF_FONT, size=10.5)
                height = pdf.multi_cell(0, 5.2, value, align="J", markdown=True, dry_run=True, output="HEIGHT")
                if pdf.y + height > pdf.h - RUNIN_BOTTOM - pdf.reserved - need:
                    pdf.add_page()
                pdf.page_notes = [*pdf.page_notes, *texts]
                pdf.reserved += need
                pdf.set_auto_page_break(True, margin=RUNIN_BOTTOM + pdf.reserved)
            pdf.multi_cell(0, 5.2, value, align="J", markdown=True, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1.8)
        else:
            raise ValueError(f"pdf_runin: {kind} blocks are not drawn")
    return bytes(pdf.output())


COLUMN_MARGIN = 15  # pdf_columns: the page margins (mm)
COLUMN_GUTTER = 8  # pdf_columns: the space between the two columns (mm)
COLUMN_LINE = 4.6  # pdf_columns: the line height of the text (mm)


def render_pdf_columns(text: str) -> bytes:
    """The PDF of a markup source with ``pdf_columns``: a leaflet whose masthead (the title and the
    lines before the first "##") runs across the page, and whose text then flows in two columns, down
    the left column, into the right one and on to the next page. "## HEADING" is a bold heading kept
    with what follows, "T7 text" a justified paragraph whose label is bold, a "|" table is drawn within
    one column (never split), and "[footer]: text" is printed at the foot of every page with "Page N of M"."""
    from fpdf import FPDF

    body, footer_text, notes = _pdf_source(text)
    if notes:
        raise ValueError(f"pdf_columns: footnotes {sorted(notes)} are not drawn in a two-column leaflet")
    blocks = parse_markup("\n".join(body))
    first_heading = next(i for i, block in enumerate(blocks) if block[0] == "h1")

    class ColumnPDF(FPDF):
        column = 0
        top = float(COLUMN_MARGIN)  # where the columns start on this page (below the masthead on page 1)

        @property
        def column_width(self) -> float:
            return (self.w - 2 * COLUMN_MARGIN - COLUMN_GUTTER) / 2

        def set_column(self, column: int) -> None:
            self.column = column
            left = COLUMN_MARGIN + column * (self.column_width + COLUMN_GUTTER)
            self.set_left_margin(left)
            self.set_right_margin(self.w - left - self.column_width)
            self.set_x(left)

        @property
        def accept_page_break(self) -> bool:  # the left column is full: go on in the right one
            if self.column == 0:
                self.set_column(1)
                self.set_y(self.top)
                return False
            self.set_column(0)
            self.top = float(COLUMN_MARGIN)
            return True

        def next_column(self) -> None:
            if self.column == 0:
                self.set_column(1)
                self.set_y(self.top)
            else:
                self.set_column(0)
                self.top = float(COLUMN_MARGIN)
                self.add_page()

        def make_room(self, height: float) -> None:
            if self.y + height > self.page_break_trigger:
                self.next_column()

        def footer(self) -> None:
            self.set_auto_page_break(False)
            left, right = self.l_margin, self.r_margin
            self.set_margins(COLUMN_MARGIN, COLUMN_MARGIN, COLUMN_MARGIN)
            self.line(COLUMN_MARGIN, self.h - 14, self.w - COLUMN_MARGIN, self.h - 14)
            self.set_xy(COLUMN_MARGIN, -13)
            self.set_font(PDF_FONT, size=7.5)
            self.cell(130, 5, footer_text)
            self.cell(0, 5, f"Page {self.page_no()} of {{nb}}", align="R")
            self.set_left_margin(left)
            self.set_right_margin(right)
            self.set_auto_page_break(True, margin=COLUMN_MARGIN + 5)

    pdf = ColumnPDF(format="A4")
    pdf.set_creation_date(FIXED_DATE)
    pdf.set_creator("airbot development corpus")
    pdf.set_margins(COLUMN_MARGIN, COLUMN_MARGIN, COLUMN_MARGIN)
    pdf.set_auto_page_break(True, margin=COLUMN_MARGIN + 5)
    pdf.add_page()
    for index, block in enumerate(blocks[:first_heading]):  # the masthead, across the page
        if block[0] == "title":
            pdf.set_title(block[1])
            pdf.set_font(PDF_FONT, style="B", size=22)
            pdf.multi_cell(0, 10, block[1], new_x="LMARGIN", new_y="NEXT")
        elif index == 1:  # the strap line under the title, in bold; any further lines in small italics
            pdf.set_font(PDF_FONT, style="B", size=9.5)
            pdf.multi_cell(0, 5, block[-1], new_x="LMARGIN", new_y="NEXT")
        else:
            pdf.set_font(PDF_FONT, style="I", size=8)
            pdf.multi_cell(0, 4, block[-1], new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_line_width(0.6)
    pdf.line(COLUMN_MARGIN, pdf.y, pdf.w - COLUMN_MARGIN, pdf.y)
    pdf.set_line_width(0.2)
    pdf.top = pdf.y + 5
    pdf.set_column(0)
    pdf.set_y(pdf.top)
    for block in blocks[first_heading:]:
        kind = block[0]
        if kind in ("h1", "h2"):
            pdf.make_room(8 + 3 * COLUMN_LINE)  # a heading never ends a column
            if pdf.y > pdf.top + 1:
                pdf.ln(2.5)
            pdf.set_font(PDF_FONT, style="B", size=10.5)
            pdf.multi_cell(0, 5.5, block[1], new_x="LMARGIN", new_y="NEXT")
            pdf.line(pdf.l_margin, pdf.y, pdf.l_margin + pdf.column_width, pdf.y)
            pdf.ln(1.5)
        elif kind == "p":
            pdf.set_font(PDF_FONT, size=9.5)
            value = block[1]
            if clause := re.fullmatch(r"([A-Z]\d+) (.+)", value):
                value = f"**{clause.group(1)}** {clause.group(2)}"
                if "**" in clause.group(2) or "__" in clause.group(2) or "--" in clause.group(2):
                    raise ValueError(f"pdf_columns: markdown markers in {value[:60]!r}")
            pdf.multi_cell(0, COLUMN_LINE, value, align="J", markdown=bool(clause), new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1.6)
        elif kind == "table":
            rows = block[1]
            row_height = 5.2
            pdf.make_room(row_height * len(rows) + 2)
            figure_width = 17  # the figure columns; the first column takes the rest of the column's width
            widths = [pdf.column_width - figure_width * (len(rows[0]) - 1)] + [figure_width] * (len(rows[0]) - 1)
            for r, row in enumerate(rows):
                pdf.set_font(PDF_FONT, style="B" if r == 0 else "", size=9)
                for c, (value, width) in enumerate(zip(row, widths, strict=True)):
                    pdf.cell(width, row_height, value, border="B" if r == 0 else 0, align="L" if c == 0 else "R")
                pdf.ln(row_height)
            pdf.ln(1.6)
        else:
            raise ValueError(f"pdf_columns: {kind} blocks are not drawn")
    return bytes(pdf.output())


def render(doc: Doc, text: str) -> bytes:
    if doc.fmt == "docx":
        return render_docx(text, word_numbering=doc.word_numbering, word_toc=doc.word_toc,
                           clause_tables=doc.clause_tables)
    if doc.fmt == "pdf" and doc.pdf_runin:
        return render_pdf_runin(text)
    if doc.fmt == "pdf" and doc.pdf_columns:
        return render_pdf_columns(text)
    if doc.fmt == "pdf":
        return render_pdf(text, hanging=doc.pdf_hanging)
    text = text.replace("\n", doc.newline)
    if doc.encoding == "utf-16":  # little-endian with a byte-order mark, whatever machine builds it
        return codecs.BOM_UTF16_LE + text.encode("utf-16-le")
    return text.encode(doc.encoding)


def build(out_dir: Path) -> dict[str, Path]:
    """Write every document and its version 2 into out_dir; returns {"<name>" | "<name>_v2": path}."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for doc in DOCS:
        text = read_source(doc)
        changes = read_jsonl(DOCS_DIR / doc.name / "changes.jsonl")
        for key, version in ((doc.name, text), (f"{doc.name}_v2", apply_changes(text, changes))):
            path = out_dir / f"{key}.{doc.fmt}"
            path.write_bytes(render(doc, version))
            written[key] = path
    return written


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python bench/corpus/build.py OUT_DIR", file=sys.stderr)
        return 2
    for key, path in build(Path(argv[0])).items():
        print(f"{key}: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
