"""Every clause style a policy may use, in every format: one chunk per clause (never a whole
section), cited by the label as the document writes it, headings kept as context, PDF pages kept.

The documents here are written for these tests (none is a corpus or sample document)."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from airbot.knowledge.chunking import Chunk, chunk_blocks, read_chunks
from airbot.knowledge.readers import Block, read_blocks


def _clauses(chunks: list[Chunk]) -> list[str | None]:
    return [c.clause for c in chunks if c.clause]


def _by_clause(chunks: list[Chunk]) -> dict[str | None, Chunk]:
    return {c.clause: c for c in chunks}


def _cited(path: Path, text: str) -> list[tuple[str | None, str, str]]:
    """Write ``text`` to ``path`` and read it back as (clause, section, text) per chunk."""
    path.write_text(text)
    return [(c.clause, c.section, c.text) for c in read_chunks(path)]


# --- the styles, as plain text ------------------------------------------------------------------
WRAPPED_LETTERS = """KESTREL WATER SUPPLY TERMS

PART A: YOUR ACCOUNT

A1) We supply homes that use no more than 400 cubic metres a year. Homes that use
    more are supplied under our business terms.
A2) A new account is opened within 5 working days. The standing charge is
    0.289 per day and is billed every 3 months.

PART B: PAYING

B1) Bills are due within 21 days.
B2) A returned payment costs EUR 12.
"""


def test_letter_number_clauses_with_parenthesis_and_wrapped_lines(tmp_path: Path) -> None:
    path = tmp_path / "water.txt"
    path.write_text(WRAPPED_LETTERS)
    chunks = read_chunks(path)
    assert _clauses(chunks) == ["A1", "A2", "B1", "B2"]  # "0.289 per day" on a wrapped line is no clause
    a2 = _by_clause(chunks)["A2"]
    assert a2.text == "A2) A new account is opened within 5 working days. The standing charge is 0.289 per day " \
                      "and is billed every 3 months."
    assert a2.section == "PART A: YOUR ACCOUNT" and a2.label() == "clause A2"


@pytest.mark.parametrize(("lines", "ids"), [
    (["A1. Accounts are free.", "A2. Cards cost EUR 5.", "B1. Transfers are free."], ["A1", "A2", "B1"]),
    (["A.1 Rooms are ready at 15:00.", "A.2 Check-out is at 11:00.", "B.1 Parking costs $30."], ["A.1", "A.2", "B.1"]),
    (["1.1 Fees are due monthly.", "1.2 Late fees are EUR 5.", "2.1 Refunds take 14 days."], ["1.1", "1.2", "2.1"]),
    (["4.2.1 Claims take 10 days.", "4.2.2 Excess is GBP 100.", "4.3.1 Glass is covered."], ["4.2.1", "4.2.2", "4.3.1"]),
    (["§ 1 Fees are due.", "§ 2 Fees are EUR 300.", "§ 2.1 Late fees are EUR 20."], ["§ 1", "§ 2", "§ 2.1"]),
    (["Art. 1 The car is insured.", "Art. 2 Fuel is not included."], ["Art. 1", "Art. 2"]),
    (["Section 4.2 Fees are monthly.", "Clause 7(b) Late payers pay EUR 5."], ["Section 4.2", "Clause 7(b)"]),
    (["1. Returns take 14 days.", "2. Repairs take 5 days.", "3. Screens cost EUR 89."], ["1", "2", "3"]),
    (["P1: A day pass costs CHF 65.", "P2: A week costs CHF 300."], ["P1", "P2"]),  # letter labels with a colon
])
def test_each_style_gives_one_chunk_per_clause_cited_as_written(lines: list[str], ids: list[str]) -> None:
    chunks = chunk_blocks([Block("Terms", level=1), *[Block(line) for line in lines]], "terms.md")
    assert _clauses(chunks) == ids
    assert [c.text for c in chunks] == lines  # one clause per chunk, never merged into a section


NESTED = """REPAIR TERMS

3. Repair prices
(a) Screens are replaced for the following prices:
(i) a phone screen costs EUR 89;
(ii) a tablet screen costs EUR 129.
(b) Batteries are replaced for EUR 49.
4. Warranty
(a) Repairs carry a warranty of 90 days.
"""


@pytest.mark.parametrize(("lines", "ids"), [
    (["Clause 4 Lockers are in the hall.", "(A) Lockers cost EUR 1 per visit.", "(B) Lost keys cost EUR 20."],
     ["Clause 4", "Clause 4(A)", "Clause 4(B)"]),  # upper-case sub-items
    (["1. Lessons are weekly.", "a. A 30-minute lesson costs USD 25.", "b. Ten lessons cost USD 220.",
      "2. Lanes cost USD 40."], ["1", "1(a)", "1(b)", "2"]),  # "a." items
    (["1. B1: Lessons close at 17:00.", "2. B2: A deposit of 30% is due.", "- 4.2 Refunds take 14 days."],
     ["B1", "B2", "4.2"]),  # a list marker before an item's own label (Markdown, text, a PDF of a Word list)
    (["4.1 Bookings are made online.", "- (a) A deposit of 20% is due.", "- (b) The rest is due 30 days ahead."],
     ["4.1", "4.1(a)", "4.1(b)"]),  # a bullet before a sub-item
])
def test_upper_case_and_dotted_sub_items_and_marked_labels_are_clauses(lines: list[str], ids: list[str]) -> None:
    chunks = chunk_blocks([Block("Terms", level=1), *[Block(line) for line in lines]], "terms.txt")
    assert _clauses(chunks) == ids


OUTLINE = """RIVERSIDE ALLOTMENT SOCIETY RULES

IV. FEES

A. The annual rent for a full plot is GBP 60.
B. A half plot costs GBP 35 a year.

V. CONDUCT

A) Bonfires are not allowed between 1 April and 30 September.
B) Hosepipes may be used only before 8 am.
"""


def test_an_outline_of_roman_sections_and_capital_letter_items(tmp_path: Path) -> None:
    """"IV. FEES" then "A.", "B." on consecutive lines: one chunk per item, cited under its section."""
    chunks = _cited(tmp_path / "allotments.txt", OUTLINE)
    assert chunks == [("IV(A)", "IV. FEES", "A. The annual rent for a full plot is GBP 60."),
                      ("IV(B)", "IV. FEES", "B. A half plot costs GBP 35 a year."),
                      ("V(A)", "V. CONDUCT", "A) Bonfires are not allowed between 1 April and 30 September."),
                      ("V(B)", "V. CONDUCT", "B) Hosepipes may be used only before 8 am.")]


def test_a_numbered_title_over_its_lettered_items_heads_them(tmp_path: Path) -> None:
    """"1) Appointments" with "a) ...", "b) ..." indented below it in the same block: a heading, not a
    chunk of one word."""
    chunks = _cited(tmp_path / "grooming.txt", "Dog Grooming Policy\n\n1) Appointments\n   a) A full groom costs EUR 45.\n"
                    "   b) Nail clipping costs EUR 12.\n2) Cancellations\n"
                    "   a) Cancel 24 hours ahead or pay 50% of the price.\n")
    assert chunks == [("1(a)", "Dog Grooming Policy > 1) Appointments", "a) A full groom costs EUR 45."),
                      ("1(b)", "Dog Grooming Policy > 1) Appointments", "b) Nail clipping costs EUR 12."),
                      ("2(a)", "Dog Grooming Policy > 2) Cancellations", "a) Cancel 24 hours ahead or pay 50% of the price.")]


def test_sub_items_are_clauses_of_their_own_that_repeat_their_lead_in(tmp_path: Path) -> None:
    path = tmp_path / "repair.txt"
    path.write_text(NESTED)
    chunks = _by_clause(read_chunks(path))
    assert {"3(a)(i)", "3(a)(ii)", "3(b)", "4(a)"} <= set(chunks)
    assert "3(a)" not in chunks  # nothing but the sentence its items repeat
    assert chunks["3(a)(ii)"].text == "Screens are replaced for the following prices:\n(ii) a tablet screen costs EUR 129."
    assert chunks["3(b)"].text == "(b) Batteries are replaced for EUR 49."
    assert chunks["4(a)"].section == "REPAIR TERMS > 4. Warranty" or chunks["4(a)"].section.endswith("4. Warranty")


def test_article_headings_with_numbered_paragraphs() -> None:
    blocks = [Block("Rental Conditions", level=1), Block("Art. 4 Fuel", level=2),
              Block("(1) The car is handed over with a full tank."), Block("(2) A missing litre costs EUR 3."),
              Block("Art. 5 Mileage", level=2), Block("Each day includes 200 km.")]
    chunks = chunk_blocks(blocks, "rental.docx")
    assert _clauses(chunks) == ["Art. 4(1)", "Art. 4(2)", "Art. 5"]
    assert _by_clause(chunks)["Art. 4(2)"].section == "Art. 4 Fuel"


def test_section_headings_under_lettered_parts() -> None:
    blocks = [Block("Clinic Terms", level=1), Block("Part C - Fees", level=2), Block("Section C3 - Missed visits", level=3),
              Block("A missed visit costs EUR 40."), Block("Tell us 24 hours ahead to avoid it.")]
    chunks = chunk_blocks(blocks, "clinic.pdf")
    assert [c.clause for c in chunks] == ["Section C3", "Section C3"]  # each paragraph its own chunk
    assert chunks[0].section == "Part C - Fees > Section C3 - Missed visits"


def test_no_numbering_gives_one_chunk_per_paragraph_under_its_heading(tmp_path: Path) -> None:
    path = tmp_path / "library.md"
    path.write_text("# Library Rules\n\n## Borrowing\n\n### Loan periods\n\nBooks are lent for 21 days.\n\n"
                    "DVDs are lent for 7 days.\n\n### Fines\n\nLate books cost EUR 0.20 a day.\n")
    chunks = read_chunks(path)
    assert [c.text for c in chunks] == ["Books are lent for 21 days.", "DVDs are lent for 7 days.",
                                        "Late books cost EUR 0.20 a day."]
    assert chunks[1].section == "Borrowing > Loan periods" and chunks[2].label() == "Fines"


RESTARTED = """MUNICIPAL POOL - VISITOR RULES

I. ADMISSION
1. Children under 8 must be accompanied by an adult in the water.
2. A single swim costs EUR 4; a 10-swim card costs EUR 35.

II. LOCKERS
1. Lockers need a EUR 1 coin, which is returned.
2. Items left in lockers overnight are kept for 14 days.
   a) Keys are kept at reception.
"""


@pytest.mark.parametrize("fmt", ["txt", "md"])
def test_numbered_items_that_restart_under_each_heading_are_clauses(tmp_path: Path, fmt: str) -> None:
    """Many documents number each section's items from 1 again: every item is a clause of its
    own, cited as written, with its section heading as context (not one chunk per section)."""
    text = RESTARTED
    if fmt == "md":
        for old, new in (("MUNICIPAL", "# Municipal"), ("I. ADMISSION", "## Admission"), ("II. LOCKERS", "## Lockers"),
                         ("   a)", "    a)")):
            text = text.replace(old, new)
    path = tmp_path / f"pool.{fmt}"
    path.write_text(text)
    chunks = read_chunks(path)
    assert [c.clause for c in chunks] == ["1", "2", "1", "2", "2(a)"]
    assert [len(c.text.split("\n")) for c in chunks[:4]] == [1, 1, 1, 1]
    assert "Lockers need a EUR 1 coin" in chunks[2].text and chunks[2].section.lower().endswith("lockers")


def test_items_of_an_unnumbered_list_are_chunks_with_their_lead_in(tmp_path: Path) -> None:
    """A price list is several facts: each item of a list under a plain paragraph is a chunk that
    repeats the sentence introducing the list; a list of a few words per item stays whole."""
    path = tmp_path / "groom.md"
    path.write_text("# Grooming\n\n## Prices\n\nOur prices are:\n\n- A full groom for a small dog costs GBP 35.\n"
                    "- A full groom for a large dog costs GBP 55.\n\nWe are closed on:\n- Mondays\n- Bank holidays\n")
    chunks = read_chunks(path)
    assert [c.text for c in chunks] == ["Our prices are:\n- A full groom for a small dog costs GBP 35.",
                                        "Our prices are:\n- A full groom for a large dog costs GBP 55.",
                                        "We are closed on:\n- Mondays\n- Bank holidays"]
    assert all(c.section == "Prices" for c in chunks)


def test_a_label_with_only_a_title_heads_its_clauses_instead_of_being_a_chunk(tmp_path: Path) -> None:
    """"**Article 2.** Access" or "§ 4 Late payment" in the body is a heading: no chunk without a
    fact, and the clauses below keep it as context (sub-items cited under it)."""
    path = tmp_path / "storage.md"
    path.write_text("# Storage Rental\n\n**1.1** Rent for a small unit is USD 60.\n\n**Article 2.** Access\n\n"
                    "**2.1.** Gates open from 6:00 to 22:00.\n\n§ 4 Late payment\n(1) A late fee of USD 20 applies.\n"
                    "(2) After 60 days we may sell the contents.\n\n**2.2** Members of the Premium\nplan get a key.\n")
    chunks = read_chunks(path)
    assert [c.clause for c in chunks] == ["1.1", "2.1", "§ 4(1)", "§ 4(2)", "2.2"]
    assert chunks[1].section.endswith("Article 2. Access") and chunks[2].section.endswith("§ 4 Late payment")
    assert chunks[4].text == "2.2 Members of the Premium plan get a key."  # a wrapped clause is not a title


def test_a_block_of_key_value_lines_is_a_list_of_facts(tmp_path: Path) -> None:
    path = tmp_path / "fees.md"
    path.write_text("# Fees\n\n## Schedule\n\nLate fee: USD 20\nLock cutting fee: USD 45\nGate code reset: USD 5\n\n"
                    "Note: fees are charged\nto your card.\n")
    assert [c.text for c in read_chunks(path)] == ["Late fee: USD 20", "Lock cutting fee: USD 45", "Gate code reset: USD 5",
                                                   "Note: fees are charged to your card."]
    faq = tmp_path / "faq.md"  # a FAQ's "Question: ... / Answer: ..." pair is not a list: the question heads its answer
    faq.write_text("# FAQ\n\n## Booking\n\nQuestion: How far ahead can I book?\nAnswer: Up to 8 weeks ahead.\n")
    assert [(c.question(), c.text) for c in read_chunks(faq)] == [("How far ahead can I book?", "Up to 8 weeks ahead.")]


def test_a_faq_question_standing_alone_heads_its_answer(tmp_path: Path) -> None:
    """A DOCX FAQ with each question as a bold paragraph: the answer's chunk carries its question
    (a question chunk without its answer would be retrieved for the question and say nothing)."""
    import docx

    doc = docx.Document()
    doc.add_heading("Riverside Grooming FAQ", 0)
    for question, answer in (("How far ahead can I book?", "You can book up to 8 weeks in advance."),
                             ("Is there a deposit?", "We take a deposit of GBP 10 when you book.")):
        doc.add_paragraph().add_run(question).bold = True
        doc.add_paragraph(answer)
    doc.save(str(tmp_path / "faq.docx"))
    chunks = read_chunks(tmp_path / "faq.docx")
    assert [c.text for c in chunks] == ["You can book up to 8 weeks in advance.", "We take a deposit of GBP 10 when you book."]
    assert chunks[1].section.endswith("Is there a deposit?") and "deposit" in chunks[1].embed_text()


def test_a_long_clause_splits_at_sentences_with_overlap() -> None:
    sentences = [f"Fee {n} is EUR {n * 10} a visit." for n in range(1, 30)]
    chunks = chunk_blocks([Block("Fees", level=1), Block("7.1 " + " ".join(sentences))], "d.md", max_tokens=60)
    assert len(chunks) > 2 and all(c.clause == "7.1" for c in chunks)
    for before, after in itertools.pairwise(chunks):
        last = before.text.rsplit(". ", 1)[-1]
        assert after.text.startswith(last.rstrip(".")), "each piece repeats the sentence before it"
    assert all(len(c.embed_text().split()) * 1.3 <= 62 for c in chunks)


# --- formats ------------------------------------------------------------------------------------
def test_docx_list_number_paragraphs_and_tables(tmp_path: Path) -> None:
    import docx

    document = docx.Document()
    document.add_heading("Bank Terms", level=0)
    document.add_heading("A. Opening", level=1)
    document.add_paragraph("A1. You must be 18.")
    document.add_paragraph("A2. Bring these documents:")
    document.add_paragraph("a passport;", style="List Number")
    document.add_paragraph("a utility bill from the last 3 months.", style="List Number")
    document.add_paragraph("A3. Fees depend on the package:")
    table = document.add_table(rows=3, cols=2)
    for r, row in enumerate([["Package", "Monthly fee"], ["Basic", "EUR 0"], ["Premium", "EUR 12.50"]]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    document.save(str(tmp_path / "bank.docx"))
    chunks = _by_clause(read_chunks(tmp_path / "bank.docx"))
    assert set(chunks) == {"A1", "A2", "A3"}
    assert chunks["A2"].text == "A2. Bring these documents:\n1. a passport;\n2. a utility bill from the last 3 months."
    assert chunks["A3"].text.endswith("\nPackage: Basic, Monthly fee: EUR 0\nPackage: Premium, Monthly fee: EUR 12.50")


def test_a_numbered_list_a_sub_clause_introduces_stays_in_it(tmp_path: Path) -> None:
    """Articles numbered by their headings, paragraphs (1), (2), and a "List Number" list under
    "(1) ... the following:": the items are (1)'s, not clauses "1", "2", "3" that swallow (2)."""
    import docx

    document = docx.Document()
    document.add_heading("Art. 4 Documents required at pick-up", level=2)
    document.add_paragraph("(1) At pick-up the renter must present the following:")
    for item in ("a valid driving licence;", "a passport;", "a credit card in the renter's name."):
        document.add_paragraph(item, style="List Number")
    document.add_paragraph("(2) A deposit of EUR 300 is blocked on the credit card at pick-up.")
    document.add_heading("Art. 5 Fuel", level=2)
    document.add_paragraph("(1) A missing litre costs EUR 3.")
    document.save(str(tmp_path / "rental.docx"))
    chunks = _by_clause(read_chunks(tmp_path / "rental.docx"))
    assert set(chunks) == {"Art. 4(1)", "Art. 4(2)", "Art. 5(1)"}
    assert chunks["Art. 4(1)"].text.endswith("\n3. a credit card in the renter's name.")
    assert chunks["Art. 4(2)"].text == "(2) A deposit of EUR 300 is blocked on the credit card at pick-up."


def test_word_numbered_items_that_carry_their_own_label_cite_it(tmp_path: Path) -> None:
    """Word numbers the items 1, 2 again under every heading; each names itself "B1:", "P2:" after
    its heading's initial (not the next letter): the label in the text is the clause."""
    import docx

    document = docx.Document()
    document.add_heading("Bookings", level=1)
    document.add_paragraph("B1: Online bookings for the next day close at 17:00.", style="List Number")
    document.add_paragraph("B2: A deposit of 30% secures a booking.", style="List Number")
    document.add_heading("Prices", level=1)
    document.add_paragraph("P1: A private lesson costs CHF 120 for 1 hour.", style="List Number")
    document.add_paragraph("P2: Families get 10% off the second child.", style="List Number")
    document.save(str(tmp_path / "ski.docx"))
    chunks = read_chunks(tmp_path / "ski.docx")
    assert _clauses(chunks) == ["B1", "B2", "P1", "P2"]
    assert chunks[2].text == "P1: A private lesson costs CHF 120 for 1 hour." and chunks[2].section == "Prices"


def test_html_letter_dot_clauses_lists_and_tables(tmp_path: Path) -> None:
    (tmp_path / "hotel.html").write_text(
        "<html><body><h1>Hotel Terms</h1><h2>C. Cancelling</h2>"
        "<p><strong>C.1</strong> Deadlines depend on your rate:</p>"
        "<table><tr><th>Rate</th><th>Free until</th></tr><tr><td>Flexible</td><td>48 hours before</td></tr></table>"
        "<p><strong>C.2</strong> Pets are welcome:</p><ul><li>up to 2 dogs;</li><li>a fee of $75.</li></ul>"
        "</body></html>")
    chunks = _by_clause(read_chunks(tmp_path / "hotel.html"))
    assert set(chunks) == {"C.1", "C.2"}
    assert chunks["C.1"].text == "C.1 Deadlines depend on your rate:\nRate: Flexible, Free until: 48 hours before"
    assert chunks["C.2"].text == "C.2 Pets are welcome:\n- up to 2 dogs;\n- a fee of $75."


def test_markdown_pipe_tables_are_read_row_by_row(tmp_path: Path) -> None:
    (tmp_path / "gym.md").write_text("# Gym\n\n## 2. Prices\n\n2.1 Monthly prices:\n\n| Plan | Price |\n|---|---|\n"
                                     "| Basic | £20 |\n| Premium | £49.99 |\n")
    chunk = _by_clause(read_chunks(tmp_path / "gym.md"))["2.1"]
    assert chunk.text == "2.1 Monthly prices:\nPlan: Basic, Price: £20\nPlan: Premium, Price: £49.99"
    # a Notion export's cells: bold, and lines broken by <br> (read as "£54£60" before)
    (tmp_path / "groom.md").write_text("# Grooming\n\n5) Prices are:\n\n| Size | Full groom |\n| --- | --- |\n"
                                       "| **Medium**<br>10 to 20 kg | £54<br>£60 for poodle crosses |\n")
    assert read_chunks(tmp_path / "groom.md")[-1].text.endswith(
        "Size: Medium 10 to 20 kg, Full groom: £54 £60 for poodle crosses")


def test_an_html_table_inside_markdown_is_read_as_a_table(tmp_path: Path) -> None:
    """Markdown may hold an HTML ``<table>`` (GitHub, Confluence exports): with its tags stripped it was one
    line of glued cells, "Swim£5.20£2.60"."""
    (tmp_path / "pool.md").write_text("# Pool\n\n## 1. Entry\n\n1.1 Entry prices are:\n\n<table>\n<tr><th>Ticket</th>"
                                      "<th>Adult</th><th>Child</th></tr>\n<tr><td>Swim</td><td>£5.20</td><td>£2.60</td></tr>"
                                      "\n</table>\n\n1.2 Under 3s swim free.\n")
    chunks = _by_clause(read_chunks(tmp_path / "pool.md"))
    assert chunks["1.1"].text == "1.1 Entry prices are:\nTicket: Swim, Adult: £5.20, Child: £2.60"
    assert chunks["1.2"].text == "1.2 Under 3s swim free."


SPACED_TABLE = """SECTION 2 - PITCH FEES

2.1  Pitch fees are per pitch per night:

                          Low season   Mid season   High season
     Grass tent pitch       \u00a318.00       \u00a322.00        \u00a328.00
     Serviced pitch         \u00a331.00       \u00a335.00        \u00a343.00

2.2  Low season runs from 13 March to 21 May.
     Mid season  is  the  rest.
"""


def test_a_table_typed_with_spaces_names_its_cells(tmp_path: Path) -> None:
    """A plain-text fee table aligned with spaces was one paragraph of bare figures and its header line a
    heading over every later clause; a wrapped clause with double spaces is still text."""
    (tmp_path / "campsite.txt").write_text(SPACED_TABLE)
    chunks = _by_clause(read_chunks(tmp_path / "campsite.txt"))
    assert chunks["2.1"].text == ("2.1  Pitch fees are per pitch per night:\n"
                                  "Grass tent pitch, Low season: \u00a318.00, Mid season: \u00a322.00, High season: \u00a328.00\n"
                                  "Serviced pitch, Low season: \u00a331.00, Mid season: \u00a335.00, High season: \u00a343.00")
    assert chunks["2.2"].section == "SECTION 2 - PITCH FEES" and "Mid season  is  the  rest." in chunks["2.2"].text


def _pdf_table(pdf: Any, text: str) -> None:
    """A table drawn by fpdf: rows split by "\n", cells by "|", the first row bold (fpdf's heading row)."""
    pdf.set_font("helvetica", size=10)
    with pdf.table(text_align="LEFT", line_height=6) as table:
        for row in text.split("\n"):
            cells = table.row()
            for value in row.split("|"):
                cells.cell(value)


def _pdf(path: Path, pages: list[list[tuple[str, str]]]) -> Path:
    """A PDF with headings ("h", bold and larger), bold body-size lines ("b"), tables ("t") and
    body paragraphs ("p"), with a gap after each."""
    from fpdf import FPDF

    pdf = FPDF()
    for lines in pages:
        pdf.add_page()
        for kind, text in lines:
            if kind == "t":
                _pdf_table(pdf, text)
                pdf.ln(3)
                continue
            pdf.set_font("helvetica", style="B" if kind in "hb" else "", size=13 if kind == "h" else 10)
            pdf.multi_cell(0, 5, text, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(3)
    pdf.output(str(path))
    return path


def test_pdf_blocks_headings_and_pages(tmp_path: Path) -> None:
    long = "Visitors may bring one guest per visit, and the guest must sign in at the front desk " * 3
    path = _pdf(tmp_path / "club.pdf", [
        [("h", "Guests"), ("p", long.strip()), ("p", "A guest pass costs EUR 12.")],
        [("h", "Lockers"), ("p", "Lockers cost EUR 1 a day."), ("p", "Lost keys cost EUR 15.")]])
    blocks = read_blocks(path)
    assert [(b.level, b.page) for b in blocks if b.level] == [(1, 1), (1, 2)]
    chunks = read_chunks(path)
    assert [c.text for c in chunks][-3:] == ["A guest pass costs EUR 12.", "Lockers cost EUR 1 a day.",
                                             "Lost keys cost EUR 15."]
    assert chunks[0].text == long.strip() and chunks[0].page == 1  # a wrapped paragraph is one block
    assert [c.page for c in chunks] == [1, 1, 2, 2] and chunks[-1].label() == "Lockers, page 2"


def test_a_pdf_paragraph_that_runs_over_a_page_break_is_one_chunk(tmp_path: Path) -> None:
    video = "Video visits are for follow-up visits, repeat prescriptions and test results only " * 3
    path = _pdf(tmp_path / "clinic.pdf", [
        [("h", "Telehealth"), ("p", video.strip() + "."),
         ("p", "We send the link 5 minutes before the appointment; if you have not received it,")],
        [("p", "please call reception."), ("p", "Video visits cost USD 65.")]])
    chunks = read_chunks(path)
    assert [c.text for c in chunks][1:] == ["We send the link 5 minutes before the appointment; if you have not "
                                            "received it, please call reception.", "Video visits cost USD 65."]
    assert [c.page for c in chunks] == [1, 1, 2]


def test_a_pdf_tables_bold_header_row_does_not_cut_it_from_its_clause(tmp_path: Path) -> None:
    """No tables in a PDF, only lines: a bold header row under "... for the vehicle group:" is not a heading."""
    path = _pdf(tmp_path / "rental.pdf", [[
        ("h", "Art. 19 Damage"), ("p", "(1) The renter is liable up to the excess for the vehicle group:"),
        ("b", "Vehicle group Excess"), ("p", "Economy EUR 1,100\nPremium EUR 2,500"),
        ("p", "(2) Super Cover costs EUR 19.90 per day."), ("h", "Art. 20 Keys"), ("p", "(1) A lost key costs EUR 450.")]])
    chunks = _by_clause(read_chunks(path))
    assert set(chunks) == {"Art. 19(1)", "Art. 19(2)", "Art. 20(1)"}
    assert "Premium EUR 2,500" in chunks["Art. 19(1)"].text and chunks["Art. 19(2)"].section == "Art. 19 Damage"


def test_a_pdf_table_under_a_numbered_clause_stays_in_it(tmp_path: Path) -> None:
    """A table is lines whose pieces share columns: its bold header row ("Plan Monthly price Classes")
    opens no section, its rows are not cited as clause "2", and each cell is named by its header."""
    path = _pdf(tmp_path / "gym.pdf", [[
        ("h", "2. Membership prices"), ("p", "2.1 The monthly price of each plan is shown below."),
        ("t", "Plan|Monthly price|Classes\nBasic|GBP 20|None\nPremium|GBP 49.99|Unlimited"),
        ("p", "2.2 Off-peak members may enter between 10:00 and 16:00."), ("p", "2.3 A day pass costs GBP 12.")]])
    chunks = read_chunks(path)
    assert _clauses(chunks) == ["2.1", "2.2", "2.3"]
    assert chunks[0].text.endswith("\nPlan: Basic, Monthly price: GBP 20, Classes: None"
                                   "\nPlan: Premium, Monthly price: GBP 49.99, Classes: Unlimited")  # as DOCX/HTML/Markdown
    assert {c.section for c in chunks} == {"2. Membership prices"}


def test_a_pdf_numbered_heading_with_a_tab_after_its_number_stays_a_heading(tmp_path: Path) -> None:
    """"4<tab>Fees" is drawn as two pieces far apart, like a table's cells; the number makes it a heading."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    for number, title, body in (("4", "Fees", "4.1 A day pass costs EUR 10."), ("5", "Refunds", "5.1 Refunds take 14 days.")):
        pdf.set_font("helvetica", style="B", size=12)
        pdf.cell(40, 8, number)
        pdf.cell(0, 8, title, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("helvetica", size=10)
        pdf.multi_cell(0, 5, body, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(3)
    pdf.output(str(tmp_path / "tabs.pdf"))
    assert [(b.level, b.text) for b in read_blocks(tmp_path / "tabs.pdf") if b.level] == [(1, "4 Fees"), (1, "5 Refunds")]


def test_a_faq_question_in_markdown_bold_inside_a_text_file_heads_its_answer() -> None:
    chunks = chunk_blocks([Block("**How much is a day pass?**"), Block("A day pass costs EUR 5.")], "faq.txt")
    assert [(c.question(), c.text) for c in chunks] == [("How much is a day pass?", "A day pass costs EUR 5.")]


def test_a_pdf_list_is_no_table_and_a_number_wrapped_alone_is_no_page_number(tmp_path: Path) -> None:
    """List markers sit in a column of their own, like a table's first cells; a year wrapped onto a line
    of its own looks like a page number."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=10)
    pdf.multi_cell(0, 5, "1.1 Bring the following:", new_x="LMARGIN", new_y="NEXT")
    for marker, item in (("1.", "a passport;"), ("2.", "a bank card.")):
        pdf.cell(8, 5, marker)
        pdf.multi_cell(0, 5, item, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.multi_cell(40, 5, "1.2 Passes bought in the sale of this winter are valid until 12 April 2026",
                   new_x="LMARGIN", new_y="NEXT")  # "2026" wraps onto a line of its own
    pdf.ln(3)
    pdf.multi_cell(0, 5, "1.3 Passes cost EUR 5.", new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(tmp_path / "list.pdf"))
    chunks = _by_clause(read_chunks(tmp_path / "list.pdf"))
    assert chunks["1.1"].text == "1.1 Bring the following:\n1. a passport;\n2. a bank card."
    assert chunks["1.2"].text.endswith("12 April 2026")


def test_html_clauses_split_by_br_in_spans_or_in_a_layout_table(tmp_path: Path) -> None:
    """Three ways a web page writes clauses without one <p> each: <br> between them, a <div> of
    <span>s per clause, and a table used for page layout whose cell holds the paragraphs."""
    (tmp_path / "spa.html").write_text(
        "<html><body><h1>Spa</h1><p>1.1 A massage costs EUR 60.<br>1.2 Late cancellation costs EUR 30.</p>"
        "<div><span class='n'>4.1</span> <span>Members pay GBP 20 a month.</span></div>"
        "<div><span class='n'>4.2</span> <span>Guests pay GBP 8.</span></div>"
        "<table><tr><td><p>5.1 A towel costs EUR 2.</p><p>5.2 A robe costs EUR 5.</p></td></tr></table></body></html>")
    chunks = read_chunks(tmp_path / "spa.html")
    assert [(c.clause, c.text) for c in chunks] == [
        ("1.1", "1.1 A massage costs EUR 60."), ("1.2", "1.2 Late cancellation costs EUR 30."),
        ("4.1", "4.1 Members pay GBP 20 a month."), ("4.2", "4.2 Guests pay GBP 8."),
        ("5.1", "5.1 A towel costs EUR 2."), ("5.2", "5.2 A robe costs EUR 5.")]


def test_clauses_laid_out_in_a_table_are_clauses_and_a_table_of_figures_stays_one(tmp_path: Path) -> None:
    import docx

    from airbot.knowledge.readers import table_rows

    document = docx.Document()
    document.add_heading("Locker rules", level=1)
    table = document.add_table(rows=3, cols=2)
    for r, (label, text) in enumerate([("Clause", "Rule"), ("1.1", "A locker costs EUR 2 per day."),
                                       ("1.2", "A lost key costs EUR 10.")]):
        table.cell(r, 0).text, table.cell(r, 1).text = label, text
    document.save(str(tmp_path / "lockers.docx"))
    chunks = _by_clause(read_chunks(tmp_path / "lockers.docx"))
    assert list(chunks) == ["1.1", "1.2"]  # the header row "Clause | Rule" is no chunk
    assert chunks["1.1"].text == "1.1 A locker costs EUR 2 per day." and chunks["1.2"].text == "1.2 A lost key costs EUR 10."
    assert table_rows([["Weight", "Price"], ["1.5", "EUR 8"], ["2.5", "EUR 11"]]) == [
        "Weight: 1.5, Price: EUR 8", "Weight: 2.5, Price: EUR 11"]  # short cells: figures, not clauses
    assert table_rows([["2.1", "Exclusive use starts at 10:00."]]) == ["2.1 Exclusive use starts at 10:00."]  # one clause
    assert table_rows([["1.5", "EUR 8"]]) == ["1.5 | EUR 8"]


NESTED_HTML = """<html><body><h1>Marina Berth Terms</h1><h2>1. Berthing fees</h2>
<ol><li>A <b>visitor</b> berth costs EUR 3 per metre per night.
  <ol type="a"><li>Boats over 15 metres pay EUR 4 per metre.</li><li>Multihulls pay 50% extra.</li></ol></li>
<li>Electricity costs EUR 5 per day.</li></ol>
<h2>2. Departure</h2>
<ol style="list-style-type: lower-roman"><li>Leave the berth by 12:00.</li><li>A late departure costs EUR 40.</li></ol>
<div>Moorings are <a href="#">checked</a> daily.<p>Divers need a permit.</p></div></body></html>"""
NESTED_MD = """# Marina Berth Terms

## 1. Berthing fees

1. A visitor berth costs EUR 3 per metre per night.
   a. Boats over 15 metres pay EUR 4 per metre.
   b. Multihulls pay 50% extra.
2. Electricity costs EUR 5 per day.
"""


@pytest.mark.parametrize(("name", "text"), [("marina.html", NESTED_HTML), ("marina.md", NESTED_MD)])
def test_nested_lists_number_as_drawn_and_the_next_item_closes_the_sub_items(tmp_path: Path, name: str,
                                                                             text: str) -> None:
    """A browser draws "a."/"i." by the list's type or list-style-type, and an item's own words
    before its nested list keep its number; "2." after "1.", "a.", "b." is the next item, not part of (b)."""
    (tmp_path / name).write_text(text)
    chunks = [(c.clause, c.text) for c in read_chunks(tmp_path / name)]
    assert chunks[:4] == [("1", "1. A visitor berth costs EUR 3 per metre per night."),
                          ("1(a)", "a. Boats over 15 metres pay EUR 4 per metre."), ("1(b)", "b. Multihulls pay 50% extra."),
                          ("1", "2. Electricity costs EUR 5 per day.")]
    if name.endswith(".html"):
        assert chunks[4][0] == "2(i)" and chunks[5][1].startswith("ii. A late departure costs EUR 40.")
        texts = [b.text for b in read_blocks(tmp_path / name)]  # text beside a block, inline tags and all, is one block
        assert texts[-2:] == ["Moorings are checked daily.", "Divers need a permit."]


def test_an_html_list_numbers_its_items_from_start_and_value_as_a_browser_does(tmp_path: Path) -> None:
    """``<ol start="4">`` draws 4, 5; ``<li value="9">`` draws 9 and the next item 10: the clause a reader
    cites is the number on the page (both were read as 1, 2)."""
    (tmp_path / "pottery.html").write_text(
        "<html><body><main><h1>Pottery studio terms</h1><h2>Classes</h2><ol start='4'><li>A taster class costs "
        "£35.</li><li>Courses run for 6 weeks.</li></ol><h2>Firing</h2><ol><li value='9'>Kiln firing costs £4 a "
        "piece.</li><li>Pieces left for 30 days are recycled.</li></ol></main></body></html>")
    assert [(c.clause, c.text[:3]) for c in read_chunks(tmp_path / "pottery.html")] == [
        ("4", "4. "), ("5", "5. "), ("9", "9. "), ("10", "10.")]


def _hanging_pdf(path: Path, sections: list[tuple[str, list[tuple[str, str]]]]) -> Path:
    """Clauses laid out with a hanging indent: the label in bold at the margin, the text justified in a
    column beside it (wrapping under itself, on the next page too); "t" clauses are tables, a "v" clause
    moves down to the page's last lines (the next clause runs over the break); every page has a
    running header and a "Page N of M" footer."""
    from fpdf import FPDF

    class Pdf(FPDF):
        def header(self) -> None:
            left = self.l_margin
            self.set_left_margin(20)
            self.set_font("helvetica", style="I", size=8)
            self.cell(0, 5, "Riverbank Canoe Hire - Terms of Hire", align="R", new_x="LMARGIN", new_y="NEXT")
            self.set_left_margin(left)
            self.set_y(22)

        def footer(self) -> None:
            self.set_y(-15)
            self.set_font("helvetica", size=8)
            self.cell(0, 10, f"Page {self.page_no()} of {{nb}}", align="C")

    pdf = Pdf()
    pdf.set_margins(20, 20, 20)
    pdf.add_page()
    for heading, clauses in sections:
        pdf.set_font("helvetica", style="B", size=13)
        pdf.multi_cell(0, 7, heading, new_x="LMARGIN", new_y="NEXT")
        for label, text in clauses:
            if label == "v":
                pdf.set_y(pdf.h - 32)
                continue
            if label == "t":
                _pdf_table(pdf, text)
                pdf.ln(2)
                continue
            pdf.set_font("helvetica", style="B", size=10)
            pdf.cell(14, 5.5, label)
            pdf.set_font("helvetica", size=10)
            pdf.set_left_margin(34)
            pdf.multi_cell(0, 5.5, text, align="J", new_x="LMARGIN", new_y="NEXT")
            pdf.set_left_margin(20)
            pdf.ln(2)
    pdf.output(str(path))
    return path


def test_pdf_hanging_indent_clauses_around_a_table_and_over_page_breaks(tmp_path: Path) -> None:
    """"2.1" at the margin and its sentence in a column beside it is a clause, not a table row, even
    right before and after a real table; a clause whose text runs onto the next page (past the running
    header) is one chunk."""
    long = ("A canoe hired for a full day must be back by 18:00, and a canoe returned after 18:30 is charged "
            "a late fee of GBP 15 for each hour or part of an hour, up to the price of a further day.")
    path = _hanging_pdf(tmp_path / "canoe.pdf", [
        ("1. Hire", [("1.1", "Hirers must be at least 18 years old."), ("v", ""), ("1.2", long)]),
        ("2. Prices", [("2.1", "Prices for each boat are as follows, for a half or full day of hire."),
                       ("t", "Boat|Half day|Full day\nCanoe|GBP 30|GBP 45\nKayak|GBP 20|GBP 32"),
                       ("2.2", "A deposit of GBP 50 is taken for every boat and refunded on return."),
                       ("2.3", "Buoyancy aids are included in every hire."), ("v", ""), ("2.4", long)])])
    chunks = _by_clause(read_chunks(path))
    assert {"1.1", "1.2", "2.1", "2.2", "2.3"} <= set(chunks)
    assert chunks["1.2"].text == "1.2 " + long
    assert chunks["2.1"].text.endswith("\nBoat: Canoe, Half day: GBP 30, Full day: GBP 45\n"
                                       "Boat: Kayak, Half day: GBP 20, Full day: GBP 32")
    assert chunks["2.2"].text == "2.2 A deposit of GBP 50 is taken for every boat and refunded on return."
    assert chunks["2.4"].text == "2.4 " + long and chunks["2.4"].page == 2
    assert not any("Page" in c.text or "Riverbank Canoe Hire" in c.text for c in chunks.values())


def test_a_nested_lists_introduction_stays_with_its_own_items(tmp_path: Path) -> None:
    """"Arrival rules:" introduces the lettered (or roman) items under item 1, each repeated with it;
    item 2 of the outer list is not one of them. A lower-case "b." after a capitalised "a. Studio"
    continues the sub-items."""
    (tmp_path / "studio.html").write_text(
        "<h1>Studio</h1><h2>3. Classes</h2><ol><li>Classes are booked online. Arrival rules:<ol type='a'>"
        "<li>doors open 15 minutes before each class;</li><li>latecomers may be refused after 10 minutes.</li></ol></li>"
        "<li>Open classes have at most 24 students.</li></ol><h2>4. Make-up classes</h2><ol>"
        "<li>A missed class counts as used, but may be made up as follows:<ol style='list-style-type: lower-roman'>"
        "<li>within 3 weeks;</li><li>at most 2 per term.</li></ol></li></ol>")
    (tmp_path / "hire.md").write_text("# Studio\n\n## 5. Hire\n\n1. Studios can be hired:\n"
                                      "   a. Studio 1 costs EUR 38 per hour;\n   b. parties need at least 2 hours.\n"
                                      "2. Book 5 days ahead.\n")
    assert [c.clause for c in read_chunks(tmp_path / "hire.md")] == ["5(a)", "5(b)", "5"]
    chunks = read_chunks(tmp_path / "studio.html")
    # items of a list under a numbered heading are cited by the heading, their sub-items under it
    assert [c.clause for c in chunks] == ["3", "3(a)", "3(b)", "3", "4(i)", "4(ii)"]
    texts = [c.text for c in chunks]
    assert texts == ["1. Classes are booked online. Arrival rules:",
                     "Arrival rules:\na. doors open 15 minutes before each class;",
                     "Arrival rules:\nb. latecomers may be refused after 10 minutes.",
                     "2. Open classes have at most 24 students.",  # nothing but the introduction: no chunk alone
                     "A missed class counts as used, but may be made up as follows:\ni. within 3 weeks;",
                     "A missed class counts as used, but may be made up as follows:\nii. at most 2 per term."]


def test_underlined_headings_with_clauses_right_below_and_rule_lines(tmp_path: Path) -> None:
    """A text file's "Section 1 - Prices" underlined with dashes, its clauses on the next lines, no
    blank line between: a heading, and the underline (or a "*****" rule) is no chunk."""
    (tmp_path / "windows.txt").write_text(
        "WINDOW CLEANING AGREEMENT\n=========================\n\nSection 1 - Prices\n------------------\n"
        "1.1  A standard house costs GBP 18 per clean.\n1.2  Conservatories cost an extra GBP 10.\n\n*****\n\n"
        "Section 2 - Access\n------------------\n2.1  A call-out fee of GBP 8 applies if we cannot get in.\n")
    chunks = [(c.clause, c.section) for c in read_chunks(tmp_path / "windows.txt")]
    assert chunks == [("1.1", "Section 1 - Prices"), ("1.2", "Section 1 - Prices"), ("2.1", "Section 2 - Access")]


def test_a_table_of_charges_without_a_header_row_reads_one_charge_a_row(tmp_path: Path) -> None:
    """"Lost card | EUR 3" rows with no header (row headers in HTML <th>, or plain cells): each row is
    "Lost card: EUR 3", the first one too; a header row (HTML <th>, Markdown, or no figure in it) names cells."""
    from airbot.knowledge.readers import table_rows

    (tmp_path / "library.html").write_text(
        "<h1>Library</h1><h2>Fees</h2><table><tr><th>Late return (per day)</th><td>EUR 0.20</td></tr>"
        "<tr><th>Lost card</th><td>EUR 3</td></tr></table><h2>Printing</h2><table><tr><th>Page</th><th>Price</th></tr>"
        "<tr><td>Colour</td><td>EUR 0.50</td></tr></table>")
    assert [c.text for c in read_chunks(tmp_path / "library.html")] == [
        "Late return (per day): EUR 0.20", "Lost card: EUR 3", "Page: Colour, Price: EUR 0.50"]
    assert table_rows([["Black and white page", "EUR 0.10"], ["Colour page", "EUR 0.50"]]) == [
        "Black and white page: EUR 0.10", "Colour page: EUR 0.50"]
    assert table_rows([["Package", "Monthly fee"], ["Basic", "EUR 0"]]) == ["Package: Basic, Monthly fee: EUR 0"]
    assert table_rows([["Weight", "2026 price"], ["1 kg", "EUR 8"]], header=True) == ["Weight: 1 kg, 2026 price: EUR 8"]


def test_q_and_a_lines_are_faq_entries(tmp_path: Path) -> None:
    """"Q: ...?" / "A: ..." (or "Question:" / "Answer:") in a text file: the question heads its
    answer, which is the chunk, and the chunk knows the question it answers (its FAQ vector)."""
    (tmp_path / "ferry.txt").write_text("Ferry FAQ\n\nQ: Can I bring my dog on board?\nA: Yes. Inside, a dog ticket "
                                        "costs EUR 4.\n\nQuestion: How early should I arrive?\nAnswer: 20 minutes "
                                        "before departure.\n")
    chunks = read_chunks(tmp_path / "ferry.txt")
    assert [(c.question(), c.text) for c in chunks] == [
        ("Can I bring my dog on board?", "Yes. Inside, a dog ticket costs EUR 4."),
        ("How early should I arrive?", "20 minutes before departure.")]


def test_insurance_conditions_and_exclusions_are_clauses(tmp_path: Path) -> None:
    (tmp_path / "contents.txt").write_text(
        "HOME CONTENTS INSURANCE\n\nCondition 1 - Reasonable care\nTheft claims from an unlocked home are reduced by "
        "50%.\n\nCondition 2 - Claims\nTell us within 30 days.\n\nExclusion 1: Items left in a car overnight.\n"
        "Exclusion 2: Damage by pets beyond GBP 500.\n")
    assert _clauses(read_chunks(tmp_path / "contents.txt")) == ["Condition 1", "Condition 2", "Exclusion 1", "Exclusion 2"]


def test_a_bold_line_set_by_hand_heads_the_rules_under_it(tmp_path: Path) -> None:
    """"Membership" in bold (a Word run, <p><strong>, **...**) and no heading style: a heading, so its
    rules keep the topic; a bold sentence, a bold question or a bold line after ":" stays text."""
    import docx

    document = docx.Document()
    document.add_heading("Boat Club Rules", 0)
    for title, rule in [("Membership", "Full membership costs GBP 240 a year."),
                        ("Moorings", "A swinging mooring costs GBP 180 a season.")]:
        document.add_paragraph().add_run(title).bold = True
        document.add_paragraph(rule)
    document.add_paragraph().add_run("Members must wear life jackets.").bold = True
    document.save(str(tmp_path / "club.docx"))
    (tmp_path / "club.html").write_text("<h1>Boat Club Rules</h1><p><strong>Membership</strong></p><p>Full membership "
                                        "costs GBP 240 a year.</p><p>Charges:</p><p><b>Item</b></p><p>Fee GBP 5.</p>")
    (tmp_path / "club.md").write_text("# Boat Club Rules\n\n**Membership**\nFull membership costs GBP 240 a year.\n\n"
                                      "**Can juniors join?**\nYes, from age 8.\n")
    docx_chunks = [(c.section, c.text) for c in read_chunks(tmp_path / "club.docx")]
    assert docx_chunks == [("Membership", "Full membership costs GBP 240 a year."),
                           ("Moorings", "A swinging mooring costs GBP 180 a season."),
                           ("Moorings", "Members must wear life jackets.")]
    html_chunks = [(c.section, c.text) for c in read_chunks(tmp_path / "club.html")]
    assert html_chunks[0] == ("Membership", "Full membership costs GBP 240 a year.")
    assert all("Item" not in section for section, _ in html_chunks)  # right after "Charges:", a table's header: text
    md_chunks = [(c.section, c.text, c.question()) for c in read_chunks(tmp_path / "club.md")]
    assert md_chunks == [("Membership", "Full membership costs GBP 240 a year.", None),
                         ("Membership > Can juniors join?", "Yes, from age 8.", "Can juniors join?")]


def test_a_plain_title_line_over_numbered_lines_in_one_paragraph_heads_them(tmp_path: Path) -> None:
    """"Delivery" then "1. ...", "2. ..." in one Markdown paragraph (no "#"): a sub-heading, neither a
    chunk saying nothing nor a line glued onto the end of the clause before it."""
    chunks = _cited(tmp_path / "pizza.md", "# Pizza facts\n\nDelivery\n1. Delivery costs $3 under $20.\n"
                    "2. Minimum order: $15.\n\nMenu and prices\n3. Margherita: small $9.\n")
    assert chunks == [("1", "Pizza facts > Delivery", "1. Delivery costs $3 under $20."),
                      ("2", "Pizza facts > Delivery", "2. Minimum order: $15."),
                      ("3", "Pizza facts > Menu and prices", "3. Margherita: small $9.")]


def test_a_text_saved_from_a_pdf_loses_its_page_furniture_and_wrapped_clauses_stay_clauses(tmp_path: Path) -> None:
    """Form-feed pages with a running header and "Page N of M" (pdftotext): the furniture is left
    out and a clause running over the page break is one; a clause line wrapped before a lower-case
    word ("... and a lost" / "spray deck EUR 25.") is no heading."""
    chunks = _cited(tmp_path / "kayak.txt",
                    "KAYAK CLUB RULES\n\n1.1 Members may book a kayak for 2 hours.\n\n"
                    "1.2 A lost paddle costs EUR 40 and a lost\n\nPage 1 of 3\n\fKayak Club Rules - 2026\n\n"
                    "spray deck EUR 25.\n\n1.3 Guests pay EUR 12 a session.\n\nPage 2 of 3\n"
                    "\fKayak Club Rules - 2026\n\n1.4 Lockers cost EUR 1.\n\nPage 3 of 3\n")
    assert chunks == [("1.1", "KAYAK CLUB RULES", "1.1 Members may book a kayak for 2 hours."),
                      ("1.2", "KAYAK CLUB RULES", "1.2 A lost paddle costs EUR 40 and a lost spray deck EUR 25."),
                      ("1.3", "KAYAK CLUB RULES", "1.3 Guests pay EUR 12 a session."),
                      ("1.4", "KAYAK CLUB RULES", "1.4 Lockers cost EUR 1.")]


def test_numbered_titles_over_bulleted_prices_and_a_clause_after_them(tmp_path: Path) -> None:
    """"1. Lessons" over "- Group lesson: EUR 12" bullets, "2. Memberships" over more, then "3. ..." a
    clause: the numbers after a bullet are the scheme's, not wrapped figures, and clause 3 is not in section 2."""
    chunks = _cited(tmp_path / "swim.md", "# Swim School\n\n1. Lessons\n   - Group lesson: EUR 12\n   - Private lesson: EUR 35\n"
                    "2. Memberships\n   - Family pass: EUR 60 a month\n"
                    "3. Cancellations are free up to 24 hours before a lesson.\n")
    assert chunks == [("1", "Swim School > 1. Lessons", "- Group lesson: EUR 12"),
                      ("1", "Swim School > 1. Lessons", "- Private lesson: EUR 35"),
                      ("2", "Swim School > 2. Memberships", "- Family pass: EUR 60 a month"),
                      ("3", "Swim School", "3. Cancellations are free up to 24 hours before a lesson.")]


def test_a_table_joins_the_clause_above_only_when_it_announces_one(tmp_path: Path) -> None:
    """Word clauses typed as "1.1<tab>text" under bold "1.<tab>FEES" titles; a table announced by its clause
    ("... in the table below.") is part of it, one after a clause about something else stands alone."""
    from docx import Document

    document = Document()
    document.add_paragraph().add_run("1.\tFEES").bold = True
    document.add_paragraph("1.1\tOur fees are set out in the table below.")
    fees = document.add_table(rows=2, cols=2)
    for cell, text in zip([*fees.rows[0].cells, *fees.rows[1].cells], ["Place", "Price", "Full day", "£68"], strict=True):
        cell.text = text
    document.add_paragraph().add_run("2.\tILLNESS").bold = True
    document.add_paragraph("2.1\tAfter vomiting, children must stay away for 48 hours.")
    extras = document.add_table(rows=2, cols=2)
    for cell, text in zip([*extras.rows[0].cells, *extras.rows[1].cells], ["Registration fee", "£50", "Deposit", "£200"],
                          strict=True):
        cell.text = text
    document.save(str(tmp_path / "nursery.docx"))
    chunks = [(c.clause, c.section, c.text) for c in read_chunks(tmp_path / "nursery.docx")]
    assert chunks == [("1.1", "1. FEES", "1.1 Our fees are set out in the table below.\nPlace: Full day, Price: £68"),
                      ("2.1", "2. ILLNESS", "2.1 After vomiting, children must stay away for 48 hours."),
                      ("2", "2. ILLNESS", "Registration fee: £50"),
                      ("2", "2. ILLNESS", "Deposit: £200")]


def test_an_inserted_clause_keeps_its_letter(tmp_path: Path) -> None:
    """"2.2A" between 2.2 and 2.3 (an amended contract's inserted clause) is cited as written, not as "2"."""
    chunks = _cited(tmp_path / "plan.txt", "2. Treatment\n\n2.2 Members get 20% off all other treatment.\n\n"
                    "2.2A Emergency call-outs are covered up to £800 a year.\n\n2.3 Claims must be made within 30 days.\n")
    assert [c[0] for c in chunks] == ["2.2", "2.2A", "2.3"]


def test_a_price_table_with_spanning_header_cells_keeps_each_price_under_its_column(tmp_path: Path) -> None:
    path = tmp_path / "pool.html"
    path.write_text('<html><body><h2>Prices</h2><table><tr><th rowspan="2">Ticket</th><th colspan="2">Weekday</th>'
                    '<th colspan="2">Weekend</th></tr><tr><th>Adult</th><th>Child</th><th>Adult</th><th>Child</th></tr>'
                    '<tr><td>Swim</td><td>£5.20</td><td>£2.60</td><td>£6.00</td><td>£3.00</td></tr>'
                    '<tr><td rowspan="2">Sauna</td><td colspan="2">£7.50</td><td colspan="2">£8.50</td></tr>'
                    '<tr><td colspan="2">£4.00 off-peak</td><td colspan="2">-</td></tr></table></body></html>')
    assert [c.text for c in read_chunks(path)] == [
        "Ticket: Swim, Weekday Adult: £5.20, Weekday Child: £2.60, Weekend Adult: £6.00, Weekend Child: £3.00",
        "Ticket: Sauna, Weekday Adult: £7.50, Weekday Child: £7.50, Weekend Adult: £8.50, Weekend Child: £8.50",
        "Ticket: Sauna, Weekday Adult: £4.00 off-peak, Weekday Child: £4.00 off-peak, Weekend Adult: -, Weekend Child: -"]


def test_a_word_table_with_a_merged_header_cell_names_each_column_by_both_header_rows(tmp_path: Path) -> None:
    from docx import Document

    document = Document()
    document.add_heading("Prices", 1)
    table = document.add_table(rows=3, cols=5)
    table.cell(0, 1).merge(table.cell(0, 2)).text = "Weekday"
    table.cell(0, 3).merge(table.cell(0, 4)).text = "Weekend"
    table.cell(0, 0).merge(table.cell(1, 0)).text = "Ticket"
    for column, text in enumerate(["Adult", "Child", "Adult", "Child"], start=1):
        table.cell(1, column).text = text
    for column, text in enumerate(["Swim", "£5.20", "£2.60", "£6.00", "£3.00"]):
        table.cell(2, column).text = text
    document.save(str(tmp_path / "pool.docx"))
    assert [c.text for c in read_chunks(tmp_path / "pool.docx")] == [
        "Ticket: Swim, Weekday Adult: £5.20, Weekday Child: £2.60, Weekend Adult: £6.00, Weekend Child: £3.00"]


def test_a_word_documents_headings_set_by_font_size_are_headings(tmp_path: Path) -> None:
    """No heading styles, titles set in a larger font: "Late returns" was a chunk of its own under the
    heading before it. A large sentence (ending in a stop) stays text."""
    import docx
    from docx.shared import Pt

    document = docx.Document()
    for text, size in [("Hire terms", 20), ("Deposits", 14), ("A deposit of £50 is due when you book.", None),
                       ("Late returns", 14), ("Late returns cost £10 per hour.", None), ("Bikes are checked daily.", 14)]:
        run = document.add_paragraph().add_run(text)
        run.font.size = Pt(size) if size else None
    document.save(str(tmp_path / "hire.docx"))
    assert [(c.section, c.text) for c in read_chunks(tmp_path / "hire.docx")] == [
        ("Deposits", "A deposit of £50 is due when you book."),
        ("Late returns", "Late returns cost £10 per hour."), ("Late returns", "Bikes are checked daily.")]


def test_a_pdf_tables_right_aligned_figures_stay_in_their_columns(tmp_path: Path) -> None:
    """Figures set flush right start where their digits make them ("£32" and "£145" 5 pt apart): read by
    where pieces start, the header became a heading and the first row named every other row's cells."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=10)
    pdf.multi_cell(0, 6, "T6 Our rates for the most hired tools are in the table below.", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("helvetica", size=9)
    with pdf.table(text_align=("LEFT", "RIGHT", "RIGHT"), col_widths=(60, 20, 20), width=100, align="LEFT",
                   borders_layout="NONE", line_height=6) as table:
        for values in (("Tool", "Day", "Week"), ("SDS breaker", "£32", "£96"), ("Floor sander", "£38", "£114"),
                       ("Mini digger", "£145", "£435")):
            row = table.row()
            for value in values:
                row.cell(value)
    pdf.set_font("helvetica", size=10)
    pdf.multi_cell(0, 6, "T7 A week's hire costs three times the daily rate.", new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(tmp_path / "hire.pdf"))
    chunks = _by_clause(read_chunks(tmp_path / "hire.pdf"))
    assert chunks["T6"].text.split("\n")[1:] == ["Tool: SDS breaker, Day: £32, Week: £96",
                                                 "Tool: Floor sander, Day: £38, Week: £114",
                                                 "Tool: Mini digger, Day: £145, Week: £435"]


def test_a_notion_toggle_faq_reads_as_questions_heading_their_answers(tmp_path: Path) -> None:
    """Notion exports a toggle as "- **Question?**" with the answer indented below: the heading kept the
    "- ", and a question after a sentence of context was a chunk of its own, its answer cut from it."""
    (tmp_path / "faq.md").write_text("# Grooming\n\n## FAQ\n\n- **Do you use cage dryers?**\n    \n    Never. We hand-dry "
                                     "every dog.\n\n- **My dog has sensitive skin. Can I bring my own shampoo?**\n    \n"
                                     "    Of course, at no extra cost.\n")
    assert [(c.question(), c.text) for c in read_chunks(tmp_path / "faq.md")] == [
        ("Do you use cage dryers?", "Never. We hand-dry every dog."),
        ("My dog has sensitive skin. Can I bring my own shampoo?", "Of course, at no extra cost.")]


def test_a_short_line_set_smaller_than_the_default_is_no_heading(tmp_path: Path) -> None:
    """A paragraph with no size of its own is set in the document's default (11 pt), not in "size 0": a
    short line set explicitly in 9 pt is no larger than the text and stays text."""
    import docx
    from docx.shared import Pt

    document = docx.Document()
    document.add_paragraph("1.1 A day ticket costs £8 and is valid until midnight.")
    document.add_paragraph().add_run("Prices include VAT").font.size = Pt(9)
    document.add_paragraph("1.2 A week ticket costs £30 and is valid for 7 days.")
    document.save(str(tmp_path / "tickets.docx"))
    assert all(b.level == 0 for b in read_blocks(tmp_path / "tickets.docx"))
