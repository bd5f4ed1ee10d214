"""Reading every supported format and chunking along the document's own structure."""

from __future__ import annotations

from pathlib import Path

import pytest

from airbot.errors import DocumentError
from airbot.knowledge.chunking import chunk_blocks, read_chunks
from airbot.knowledge.clauses import clause_id
from airbot.knowledge.readers import Block, read_blocks

POLICY_MD = """# Example Rail Conditions

These rules apply to every journey.

## 1. Luggage

1.1 Each passenger may bring 2 suitcases of up to 25 kg.

1.2 Bicycles travel for a fee of EUR 12.
(a) Folding bicycles travel free.
(b) Tandems are not carried.

## 2. Tickets

2.1 Tickets are refundable up to 48 hours before departure.
"""


def _pdf(path: Path, pages: list[list[str]]) -> Path:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("helvetica", size=11)
    for lines in pages:
        pdf.add_page()
        for line in lines:
            pdf.multi_cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))
    return path


def test_markdown_chunks_follow_headings_and_clauses(tmp_path: Path) -> None:
    path = tmp_path / "rail.md"
    path.write_text(POLICY_MD)
    chunks = read_chunks(path)
    by_clause = {c.clause: c for c in chunks}
    assert {"1.1", "1.2", "2.1"} <= set(by_clause)
    assert by_clause["1.1"].section == "1. Luggage" and by_clause["2.1"].section == "2. Tickets"
    # (a)/(b) are clauses of their own, each repeating the sentence that introduces them
    assert by_clause["1.2(a)"].text == "Bicycles travel for a fee of EUR 12.\n(a) Folding bicycles travel free."
    assert by_clause["1.2(b)"].text.endswith("(b) Tandems are not carried.") and by_clause["1.2(b)"].section == "1. Luggage"
    assert by_clause["1.1"].embed_text().startswith("1. Luggage")  # the heading gives the clause its topic
    assert all(c.doc == "rail.md" and c.page is None for c in chunks)
    assert "Example Rail Conditions" not in by_clause["1.1"].section  # a lone title is not a section


def test_pdf_keeps_pages_and_drops_page_numbers(tmp_path: Path) -> None:
    path = _pdf(tmp_path / "rail.pdf", [["1. Luggage", "1.1 Each passenger may bring 2 suitcases of up to 25 kg.",
                                          "Page 1"],
                                         ["2. Tickets", "2.1 Tickets are refundable up to 48 hours before departure.",
                                          "Page 2"]])
    chunks = read_chunks(path)
    by_clause = {c.clause: c for c in chunks}
    assert by_clause["1.1"].page == 1 and by_clause["2.1"].page == 2
    assert by_clause["2.1"].section == "2. Tickets"
    assert "Page" not in by_clause["1.1"].text


def test_docx_html_and_text(tmp_path: Path) -> None:
    import docx

    document = docx.Document()
    document.add_heading("Article 3 Refunds", level=1)
    document.add_paragraph("3.1 Refunds are paid within 14 days.")
    document.add_paragraph("3.2 Vouchers are valid for 12 months.")
    document.save(str(tmp_path / "terms.docx"))
    (tmp_path / "terms.html").write_text(
        "<html><head><style>p{}</style></head><body><nav>Home</nav><h2>Section 4 Pets</h2>"
        "<p>4.1 Cats travel for <b>USD 40</b>.</p><ul><li>4.2 Dogs travel in the hold.</li></ul></body></html>")
    (tmp_path / "terms.txt").write_text("PETS\n\nArticle 7 Small pets travel in the cabin.\n\n"
                                        "Article 8 Large pets travel in the hold.\n")
    docx_chunks = read_chunks(tmp_path / "terms.docx")
    assert [c.clause for c in docx_chunks] == ["3.1", "3.2"] and docx_chunks[0].section == "Article 3 Refunds"
    html_chunks = read_chunks(tmp_path / "terms.html")
    assert [c.clause for c in html_chunks] == ["4.1", "4.2"] and "USD 40" in html_chunks[0].text
    assert all("Home" not in c.text and "p{}" not in c.text for c in html_chunks)
    txt_chunks = read_chunks(tmp_path / "terms.txt")
    assert [c.clause for c in txt_chunks] == ["Article 7", "Article 8"] and txt_chunks[0].section == "PETS"


def test_long_clause_is_split_within_the_limit_and_keeps_its_id() -> None:
    sentence = "Passengers must present a valid passport and visa at check-in for every international flight. "
    blocks = [Block("Travel documents", level=2), Block("5.1 " + sentence * 12)]
    chunks = chunk_blocks(blocks, "doc.md", max_tokens=60)
    assert len(chunks) > 1
    assert all(c.clause == "5.1" and c.section == "Travel documents" for c in chunks)
    assert all(len(c.embed_text().split()) * 1.3 <= 60 + 2 for c in chunks)


def test_each_plain_paragraph_is_a_chunk_and_bare_numbers_are_clauses_only_without_dotted_ones() -> None:
    blocks = [Block("Intro", level=1), Block("Short one."), Block("Short two."), Block("Fees", level=1),
              Block("Fees apply.")]
    chunks = chunk_blocks(blocks, "d.txt")
    assert [c.text for c in chunks] == ["Short one.", "Short two.", "Fees apply."]
    assert [c.label() for c in chunks] == ["Intro", "Intro", "Fees"]  # no number: cited by heading
    assert clause_id("3. Bags are free.", allow_single=True) == "3"
    assert clause_id("3. Bags are free.", allow_single=False) is None
    assert clause_id("1.2.3 Deep clause", allow_single=False) == "1.2.3"
    assert clause_id("Section 12: Refunds", allow_single=False) == "Section 12"


LEGAL_TXT = """TENANCY TERMS

ARTICLE 1 - RENT

Art. 1.1 Rent is EUR 900 a month and is due on the
first working day of the month.

Art. 1.2 Late rent costs EUR 25 per week.

ARTICLE 2 - DEPOSIT

Art. 2.1 The deposit is two months' rent. It is
returned within 30 days of the keys being handed back, less:
(a) unpaid rent;
(b) repairs beyond normal wear.
"""


def test_legal_numbering_in_plain_text_keeps_clause_ids(tmp_path: Path) -> None:
    """"Art. 1.1" clauses under "ARTICLE 1" headings: each clause its own chunk with its id,
    wrapped lines re-joined and (a)/(b) items kept with their clause."""
    path = tmp_path / "tenancy.txt"
    path.write_text(LEGAL_TXT)
    chunks = [c for c in read_chunks(path) if c.clause]
    assert [c.clause for c in chunks] == ["Art. 1.1", "Art. 1.2", "Art. 2.1", "Art. 2.1(a)", "Art. 2.1(b)"]
    assert chunks[0].text == "Art. 1.1 Rent is EUR 900 a month and is due on the first working day of the month."
    assert chunks[4].section == "ARTICLE 2 - DEPOSIT"
    assert chunks[4].text == "It is returned within 30 days of the keys being handed back, less:\n(b) repairs beyond normal wear."
    assert chunks[0].embed_text() == "ARTICLE 1 - RENT: Rent is EUR 900 a month and is due on the first working day " \
                                     "of the month."


def test_section_signs_and_deep_numbered_headings_in_plain_text() -> None:
    blocks = [Block("§ 1 Scope\nThese rules apply to all guests."), Block("§ 2.1 Check-in starts at 15:00."),
              Block("4.2.1 Refund requests\nRequests are answered within 5 days.")]
    chunks = chunk_blocks(blocks, "house.txt")
    assert [c.clause for c in chunks] == ["§ 1", "§ 2.1", "4.2.1"]
    assert chunks[2].section == "§ 1 Scope > 4.2.1 Refund requests" and chunks[2].text == "Requests are answered within 5 days."


def test_telecom_fixture_articles_are_cited_by_clause() -> None:
    """The markdown "## Article 1" + "Art. 1.1" layout: every clause keeps its own id."""
    chunks = read_chunks(Path(__file__).resolve().parents[1] / "fixtures" / "telecom" / "policy.md")
    ids = [c.clause for c in chunks if c.clause]
    assert ids[:4] == ["Art. 1.1", "Art. 1.2", "Art. 1.3", "Art. 1.4"] and len(ids) == 21


def test_sample_policy_pdf_and_markdown_agree() -> None:
    from airbot.samples import sample_path

    md = read_chunks(sample_path("policy"))
    pdf = read_chunks(sample_path("policy_pdf"))
    md_clauses = [c.clause for c in md if c.clause]
    assert md_clauses == [c.clause for c in pdf if c.clause] and len(md_clauses) > 20
    assert all(c.page for c in pdf)


# --- documents that cannot be used --------------------------------------------------------------
def test_encrypted_pdf(tmp_path: Path) -> None:
    from pypdf import PdfReader, PdfWriter

    plain = _pdf(tmp_path / "plain.pdf", [["1.1 Secret clause."]])
    writer = PdfWriter(clone_from=PdfReader(plain))
    writer.encrypt("s3cret", algorithm="RC4-128")
    with (tmp_path / "locked.pdf").open("wb") as fh:
        writer.write(fh)
    with pytest.raises(DocumentError, match=r"locked\.pdf is password-protected"):
        read_blocks(tmp_path / "locked.pdf")


def test_image_only_pdf_says_ocr(tmp_path: Path) -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.rect(20, 20, 100, 60, style="F")
    pdf.output(str(tmp_path / "scan.pdf"))
    with pytest.raises(DocumentError, match=r"scan\.pdf .*no extractable text.*OCR"):
        read_blocks(tmp_path / "scan.pdf")


@pytest.mark.parametrize(("name", "content", "match"), [
    ("broken.pdf", b"%PDF-1.7 this is not really a pdf", r"broken\.pdf could not be read as a PDF"),
    ("broken.docx", b"PK\x03\x04 not a real zip", r"broken\.docx could not be read as a DOCX"),
    ("empty.md", b"", r"empty\.md is empty"),
    ("blank.txt", b"   \n\n  \n", r"blank\.txt contains no text"),
    ("binary.txt", b"\x00\x01\x02garbage", r"binary\.txt looks like a binary file"),
    ("sheet.xlsx", b"PK\x03\x04", r"sheet\.xlsx: '\.xlsx' files are not supported.*PDF, DOCX"),
])
def test_bad_documents_name_the_file_and_the_fix(tmp_path: Path, name: str, content: bytes, match: str) -> None:
    (tmp_path / name).write_bytes(content)
    with pytest.raises(DocumentError, match=match):
        read_blocks(tmp_path / name)


def test_missing_document(tmp_path: Path) -> None:
    with pytest.raises(DocumentError, match="does not exist"):
        read_blocks(tmp_path / "nope.pdf")
