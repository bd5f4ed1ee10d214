"""A DOCX is read as Word shows it: clause numbers that Word draws (automatic numbering from
numbering.xml), so a Word policy's chunks cite "2.1", not "Section 2", and text python-docx's
``Paragraph.text`` leaves out (content controls, tracked insertions). The documents are built here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from airbot.knowledge.chunking import read_chunks
from airbot.knowledge.readers import read_blocks
from airbot.knowledge.word_numbering import W, draw


def _define_list(document: Any, levels: list[dict[str, str]], abstract_id: int = 90) -> int:
    """Add an abstract numbering with ``levels`` (numFmt, lvlText, optional pStyle / isLgl) and one
    list instance of it; returns the instance's numId."""
    from docx.oxml import parse_xml
    from docx.oxml.ns import nsdecls

    numbering = document.part.numbering_part.element
    xml = "".join(
        f'<w:lvl w:ilvl="{i}"><w:start w:val="{lvl.get("start", "1")}"/><w:numFmt w:val="{lvl["fmt"]}"/>'
        + (f'<w:pStyle w:val="{lvl["style"]}"/>' if "style" in lvl else "")
        + ("<w:isLgl/>" if lvl.get("legal") else "")
        + f'<w:lvlText w:val="{lvl["text"]}"/></w:lvl>' for i, lvl in enumerate(levels))
    abstract = parse_xml(f'<w:abstractNum {nsdecls("w")} w:abstractNumId="{abstract_id}">{xml}</w:abstractNum>')
    numbering.insert(0, abstract)  # abstract definitions come before the list instances
    return _add_instance(document, abstract_id)


def _add_instance(document: Any, abstract_id: int, restart: bool = False) -> int:
    numbering = document.part.numbering_part.element
    num = numbering.add_num(abstract_id)
    if restart:
        num.add_lvlOverride(ilvl=0).add_startOverride(1)
    return int(num.numId)


def _numbered(paragraph: Any, num_id: int, ilvl: int | None) -> Any:
    numpr = paragraph._p.get_or_add_pPr().get_or_add_numPr()
    if ilvl is not None:
        numpr.get_or_add_ilvl().val = ilvl
    numpr.get_or_add_numId().val = num_id
    return paragraph


def test_legal_multi_level_numbering_gives_each_clause_its_id(tmp_path: Path) -> None:
    """"1." headings, "1.1" clauses, "(a)" sub-items, all drawn by Word: the clause counter goes on
    past a table and starts again under the next heading, and a sub-item belongs to its clause."""
    import docx

    document = docx.Document()
    legal = _define_list(document, [{"fmt": "decimal", "text": "%1."}, {"fmt": "decimal", "text": "%1.%2"},
                                    {"fmt": "lowerLetter", "text": "(%3)"}])
    document.add_heading("Gym Terms", level=0)
    _numbered(document.add_heading("Membership", level=1), legal, 0)
    _numbered(document.add_paragraph("A monthly membership costs GBP 35."), legal, 1)
    table = document.add_table(rows=2, cols=2)
    for r, row in enumerate([["Plan", "Joining fee"], ["Monthly", "GBP 10"]]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    _numbered(document.add_paragraph("You may freeze your membership for up to 3 months:"), legal, 1)
    _numbered(document.add_paragraph("for an illness, with a doctor's note;"), legal, 2)
    _numbered(document.add_paragraph("for a stay abroad of at least 4 weeks."), legal, 2)
    _numbered(document.add_heading("Classes", level=1), legal, 0)
    _numbered(document.add_paragraph("A class booked and missed costs GBP 5."), legal, 1)
    document.save(str(tmp_path / "gym.docx"))

    texts = [b.text for b in read_blocks(tmp_path / "gym.docx")]
    assert texts[:3] == ["Gym Terms", "1. Membership", "1.1 A monthly membership costs GBP 35."]
    assert "(b) for a stay abroad of at least 4 weeks." in texts and "2. Classes" in texts
    chunks = {c.clause: c for c in read_chunks(tmp_path / "gym.docx")}
    assert list(chunks) == ["1.1", "1", "1.2(a)", "1.2(b)", "2.1"]
    # the table after 1.1 is not announced by it: it stands alone in section 1 (chunking._introduces_table)
    assert chunks["1.1"].text == "1.1 A monthly membership costs GBP 35."
    assert chunks["1"].text == "Plan: Monthly, Joining fee: GBP 10" and chunks["1"].section == "1. Membership"
    assert chunks["1.2(b)"].text == ("You may freeze your membership for up to 3 months:\n"
                                     "(b) for a stay abroad of at least 4 weeks.")
    assert chunks["2.1"].text == "2.1 A class booked and missed costs GBP 5." and chunks["2.1"].section == "2. Classes"


def test_numbering_from_styles_roman_articles_and_legal_counters(tmp_path: Path) -> None:
    """Headings numbered by their style ("Article II"), clauses drawn "2.1" under them (isLgl turns the
    roman article counter into a decimal), and a list that restarts at 1 only where the document says so."""
    import docx

    document = docx.Document()
    articles = _define_list(document, [{"fmt": "upperRoman", "text": "Article %1", "style": "Heading1"},
                                       {"fmt": "decimal", "text": "%1.%2", "legal": "1"}])
    heading = document.styles["Heading 1"].element.get_or_add_pPr()
    heading.get_or_add_numPr().get_or_add_numId().val = articles  # the style numbers every Heading 1
    steps = _define_list(document, [{"fmt": "decimal", "text": "%1."}], abstract_id=91)
    document.add_heading("Deposits", level=1)
    _numbered(document.add_paragraph("The deposit is EUR 200."), articles, 1)
    _numbered(document.add_paragraph("To claim it back:"), articles, 1)
    _numbered(document.add_paragraph("return the key;"), steps, 0)
    _numbered(document.add_paragraph("sign the form."), steps, 0)
    document.add_heading("Pets", level=1)
    _numbered(document.add_paragraph("One cat is allowed."), articles, 1)
    again = _add_instance(document, 91, restart=True)
    _numbered(document.add_paragraph("Register it;"), again, 0)
    _numbered(document.add_paragraph("pay EUR 50."), again, 0)
    document.save(str(tmp_path / "lease.docx"))

    texts = [b.text for b in read_blocks(tmp_path / "lease.docx")]
    assert texts == ["Article I Deposits", "1.1 The deposit is EUR 200.", "1.2 To claim it back:", "1. return the key;",
                     "2. sign the form.", "Article II Pets", "2.1 One cat is allowed.", "1. Register it;",
                     "2. pay EUR 50."]
    assert [c.clause for c in read_chunks(tmp_path / "lease.docx")] == ["1.1", "1.2", "2.1"]


def test_numbering_switched_off_and_undefined_lists(tmp_path: Path) -> None:
    """numId 0 removes a style's numbering; a list the file does not define falls back to the guess."""
    import docx

    document = docx.Document()
    _numbered(document.add_paragraph("Not numbered, though its style is.", style="List Number"), 0, 0)
    _numbered(document.add_paragraph("A list nobody defined."), 4242, 0)
    document.save(str(tmp_path / "odd.docx"))
    assert [b.text for b in read_blocks(tmp_path / "odd.docx")] == [
        "Not numbered, though its style is.", "1. A list nobody defined."]


@pytest.mark.parametrize(("value", "fmt", "drawn"), [
    (3, "decimal", "3"), (3, "decimalZero", "03"), (3, "lowerLetter", "c"), (28, "lowerLetter", "bb"),
    (4, "upperLetter", "D"), (14, "lowerRoman", "xiv"), (9, "upperRoman", "IX"), (5, "none", "")])
def test_counter_formats(value: int, fmt: str, drawn: str) -> None:
    assert draw(value, fmt) == drawn


def test_content_controls_tracked_insertions_and_hyperlinks_keep_their_text(tmp_path: Path) -> None:
    """A company template's clauses inside content controls (w:sdt), a tracked insertion not yet
    accepted and a hyperlink are all text Word shows; deleted text is not."""
    import docx
    from docx.oxml import parse_xml
    from docx.oxml.ns import nsdecls

    document = docx.Document()
    document.add_heading("Locker Terms", 1)
    document.add_paragraph("1.1 A locker costs EUR 2 per day.")
    body = document.element.body
    body.insert(len(body) - 1, parse_xml(f'<w:sdt {nsdecls("w")}><w:sdtContent><w:p><w:r><w:t>1.2 A lost key costs '
                                         'EUR 15.</w:t></w:r></w:p></w:sdtContent></w:sdt>'))
    emptied = document.add_paragraph("1.3 Lockers are emptied ")
    emptied._p.append(parse_xml(f'<w:ins {nsdecls("w")} w:id="1" w:author="a" w:date="2026-01-01T00:00:00Z"><w:r>'
                                '<w:t>every night at 23:00.</w:t></w:r></w:ins>'))
    emptied._p.append(parse_xml(f'<w:del {nsdecls("w")} w:id="2" w:author="a" w:date="2026-01-01T00:00:00Z"><w:r>'
                                '<w:delText> at 22:00.</w:delText><w:t>gone</w:t></w:r></w:del>'))
    linked = document.add_paragraph("1.4 See ")
    linked._p.append(parse_xml(f'<w:hyperlink {nsdecls("w")} w:anchor="x"><w:r><w:t>our website</w:t></w:r></w:hyperlink>'))
    linked.add_run(" for prices of EUR 3.")
    document.save(str(tmp_path / "lockers.docx"))
    assert [(c.clause, c.text) for c in read_chunks(tmp_path / "lockers.docx")] == [
        ("1.1", "1.1 A locker costs EUR 2 per day."), ("1.2", "1.2 A lost key costs EUR 15."),
        ("1.3", "1.3 Lockers are emptied every night at 23:00."), ("1.4", "1.4 See our website for prices of EUR 3.")]


def test_damaged_numbering_definitions_are_read_as_far_as_they_go(tmp_path: Path) -> None:
    """A numbering.xml whose level and start attributes are not numbers (a damaged or odd file) reads
    with the defaults (level 0, start 1), never an error."""
    import docx

    document = docx.Document()
    num_id = _define_list(document, [{"fmt": "decimal", "text": "%1.", "start": "zz"}])
    numbering = document.part.numbering_part.element
    numbering.find(f"{W}abstractNum").find(f"{W}lvl").set(f"{W}ilvl", "x")
    _numbered(document.add_paragraph("A locker costs EUR 2."), num_id, 0)
    document.save(str(tmp_path / "odd.docx"))
    assert [b.text for b in read_blocks(tmp_path / "odd.docx")] == ["1. A locker costs EUR 2."]
