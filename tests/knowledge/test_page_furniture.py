"""What a real file carries besides its text: a saved web page's menus, cookie banner, breadcrumbs and
footer, and every format's table of contents. None of it may become a chunk or glue onto a clause."""

from __future__ import annotations

from pathlib import Path

from airbot.knowledge.chunking import read_chunks

WEB_PAGE = """<!DOCTYPE html><html><head><title>Membership terms | PulseFit</title><script>var x = 1;</script></head>
<body>
<div id="cookie-banner"><p>We use cookies to improve your experience.</p><button>Accept</button></div>
<header><nav><ul><li><a href="/">Home</a></li><li><a href="/join">Join now</a></li></ul></nav>
<ul class="top"><li><a href="/login">Log in</a></li><li><a href="/help">Help</a></li></ul></header>
<div class="breadcrumb"><a href="/">Home</a> &gt; Membership terms</div>
%(open)s
<h1>PulseFit Membership Terms</h1>
<h2>Contents</h2>
<ol><li><a href="#s1">Membership plans</a></li><li><a href="#s2">Payments</a></li></ol>
<h2 id="s1">1. Membership plans</h2>
<p>1.1 The Standard plan costs £36 a month.</p>
<h2 id="s2">2. Payments</h2>
<p>2.1 If a direct debit fails, we charge an admin fee of £8.</p>
<p>2.2 See also: <a href="/fees">our fee list</a> and <a href="/faq">questions</a>.</p>
%(close)s
<%(foot)s><p>&copy; 2026 PulseFit Clubs Ltd. Registered in England No. 01234567.</p>
<ul><li><a href="/privacy">Privacy policy</a></li><li><a href="/cookies">Cookie policy</a></li></ul></%(foot_end)s>
<form><input name="q"><button>Search</button></form>
</body></html>
"""


def _texts(path: Path) -> list[str]:
    return [c.text for c in read_chunks(path)]


def test_a_saved_web_page_reads_as_its_text_only(tmp_path: Path) -> None:
    # with <main>, without it (a footer marked only by its id), and marked as an <article>
    for n, (open_, close, foot) in enumerate([("<main>", "</main>", "footer"), ("<div>", "</div>", 'div id="site-footer"'),
                                              ("<article>", "</article>", "footer")]):
        path = tmp_path / f"terms{n}.html"
        path.write_text(WEB_PAGE % {"open": open_, "close": close, "foot": foot, "foot_end": foot.split()[0]})
        texts = _texts(path)
        assert texts == ["1.1 The Standard plan costs £36 a month.", "2.1 If a direct debit fails, we charge an admin fee of £8.",
                         "2.2 See also: our fee list and questions."], (open_, texts)


def test_the_page_header_with_the_documents_title_and_date_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "regulations.html"
    path.write_text("<html><body><header><h1>Hollin University Fee Regulations</h1>"
                    "<p>Adopted on 20 November 2025, in force from 1 October 2026</p></header>"
                    "<main><h2>§ 1 Fees</h2><p>§ 1.1 The semester fee is EUR 318.</p>"
                    "<article><p>§ 1.2 Late payment costs EUR 30.</p><footer><p>Note: fees are reviewed every year.</p>"
                    "</footer></article></main></body></html>")
    texts = _texts(path)
    assert "Adopted on 20 November 2025, in force from 1 October 2026" in texts
    assert any("fees are reviewed every year" in t for t in texts)  # an article's own footer is its text


def test_a_table_of_contents_is_no_chunk_in_any_format(tmp_path: Path) -> None:
    text = ("HARBOURSIDE STORAGE TERMS\n\nCONTENTS\n1. Your agreement ........................ 2\n"
            "2. Charges ............................... 3\n\n1. Your agreement\n1.1 The agreement runs month to month.\n\n"
            "2. Charges\n2.1 A late payment fee of £15 is charged.\n")
    (tmp_path / "storage.txt").write_text(text)
    markdown = ("# Bike hire terms\n\n## Contents\n\n- [Hire charges](#hire-charges)\n- [Deposits](#deposits)\n\n"
                "## Hire charges\n\nAn e-bike costs $20 per hour.\n\n## Deposits\n\nWe take a deposit of $150.\n")
    (tmp_path / "bike.md").write_text(markdown)
    for name in ("storage.txt", "bike.md"):
        texts = _texts(tmp_path / name)
        assert not any("...." in t or "Contents" in t or "CONTENTS" in t for t in texts), (name, texts)
        assert len(texts) == 2, (name, texts)


def test_words_table_of_contents_is_left_out(tmp_path: Path) -> None:
    from docx import Document
    from docx.enum.style import WD_STYLE_TYPE

    document = Document()
    document.add_paragraph("Table of Contents")
    toc = document.styles.add_style("toc 1", WD_STYLE_TYPE.PARAGRAPH)
    for number, title in enumerate(["Fees", "Missed appointments"], start=1):
        document.add_paragraph(f"{number}.\t{title}\t{number + 1}", style=toc)
    document.add_heading("1. Fees", 1)
    document.add_paragraph("1.1 An examination costs £55.")
    document.add_heading("2. Missed appointments", 1)
    document.add_paragraph("2.1 We charge £35 for an appointment missed without notice.")
    document.save(str(tmp_path / "dental.docx"))
    assert _texts(tmp_path / "dental.docx") == ["1.1 An examination costs £55.",
                                                "2.1 We charge £35 for an appointment missed without notice."]


def test_a_pdfs_contents_page_is_left_out(tmp_path: Path) -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=11)
    pdf.cell(0, 8, "Contents", new_x="LMARGIN", new_y="NEXT")
    for number, (title, page) in enumerate([("Pitch fees", 2), ("Cancellations", 2)], start=1):
        pdf.cell(0, 8, f"{number}. {title} {'.' * 60} {page}", new_x="LMARGIN", new_y="NEXT")
    pdf.add_page()
    for line in ("1. Pitch fees", "1.1 A grass pitch costs GBP 28 per night.", "2. Cancellations",
                 "2.1 Cancellations within 28 days lose the deposit."):
        pdf.cell(0, 8, line, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(tmp_path / "campsite.pdf"))
    texts = _texts(tmp_path / "campsite.pdf")
    assert texts == ["1.1 A grass pitch costs GBP 28 per night.", "2.1 Cancellations within 28 days lose the deposit."], texts


def test_a_price_list_with_dotted_leaders_is_text(tmp_path: Path) -> None:
    # leaders, but the titles never come back as headings: a price list, not a table of contents
    path = tmp_path / "prices.txt"
    path.write_text("Ski school prices\n\nDay pass ................ 12\nHalf-day pass ........... 8\n\n"
                    "Passes are valid on the day of purchase only.\n")
    assert any("Day pass" in t and "12" in t for t in _texts(path))


def test_markdown_that_only_a_renderer_reads_is_no_text(tmp_path: Path) -> None:
    path = tmp_path / "policy.md"
    path.write_text('---\ntitle: "Booking policy"\nlayout: page\n---\n\n<!-- reviewed by legal in May -->\n'
                    "![Logo](/img/logo.png)\n\n# Booking policy\n\nBookings are confirmed by email.[^1] See the "
                    "[fees page][fees].\n\n## Cancellation\n\n1. Cancel up to 48 hours before for a full refund.\n"
                    "2. Later cancellations cost 50% of the booking.\n\n<details><summary>Groups</summary>\n"
                    "Groups of 10 or more pay a deposit of $100.\n</details>\n\n[fees]: https://example.com/fees\n"
                    "[^1]: We send the email within 2 hours.\n")
    texts = _texts(path)
    joined = "\n".join(texts)
    for leftover in ("layout", "reviewed by legal", "Logo", "[^1]", "[fees]", "example.com", "<details>", "</details>"):
        assert leftover not in joined, (leftover, texts)
    assert "2. Later cancellations cost 50% of the booking." in texts
    assert "Bookings are confirmed by email. See the fees page. We send the email within 2 hours." in texts  # where it points
    assert any("Groups of 10 or more pay a deposit of $100." in t for t in texts)


def test_text_saved_as_unicode_by_windows_reads(tmp_path: Path) -> None:
    text = "Parking rules\n\n1. A day ticket costs £8 – pay at the machine.\n2. “Blue badge” holders park free.\n"
    for encoding in ("utf-16", "utf-16-be", "utf-32", "utf-8-sig", "cp1252"):
        path = tmp_path / f"rules-{encoding}.txt"
        data = text.encode(encoding)
        path.write_bytes(b"\xfe\xff" + data if encoding == "utf-16-be" else data)
        assert "1. A day ticket costs £8 – pay at the machine." in _texts(path), encoding


def test_a_footnote_qualifies_the_item_that_points_to_it_and_attribute_lists_are_dropped(tmp_path: Path) -> None:
    path = tmp_path / "rooms.md"
    path.write_text("![The Vault](/img/vault.jpg){: .hero-image }\n\n## Prices {#prices}\n\n"
                    "1. A game costs $34 per player.\n2. Games before 4 pm cost $5 less per player.[^1]\n"
                    "3. Students get 10% off.\n\n## Gift vouchers\n\n1. Vouchers are valid for 36 months.\n\n"
                    "[^1]: The off-peak price does not apply on public holidays,\n    when every game costs $4 more.\n")
    chunks = [(c.section, c.text) for c in read_chunks(path)]
    assert chunks == [("Prices", "1. A game costs $34 per player."),
                      ("Prices", "2. Games before 4 pm cost $5 less per player. The off-peak price does not apply on "
                                 "public holidays, when every game costs $4 more."),
                      ("Prices", "3. Students get 10% off."),
                      ("Gift vouchers", "1. Vouchers are valid for 36 months.")]


def test_a_back_to_top_link_is_no_part_of_the_clause_above_it(tmp_path: Path) -> None:
    path = tmp_path / "centre.html"
    path.write_text('<html><body><main><section><h2>8. Conduct</h2><p>8.4 Dogs are not allowed, see <a href="#s9">'
                    'section 9</a>.</p><a class="back-to-top" href="#top">Back to top ↑</a></section><section>'
                    '<h2>9. Memberships</h2><p>9.1 Memberships have a minimum term of 3 months.</p><p>'
                    '<a href="#top">Top of page</a></p></section></main></body></html>')
    assert _texts(path) == ["8.4 Dogs are not allowed, see section 9.", "9.1 Memberships have a minimum term of 3 months."]


def test_ligatures_soft_hyphens_and_zero_width_marks_read_as_the_letters_they_stand_for(tmp_path: Path) -> None:
    """A PDF typeset with ligatures yields "ﬁve"; a web page's ``&shy;`` and a copied zero-width space split
    "cancellation" for the embedder, BM25 and the strict reader alike; Markdown draws "&pound;" as "£"."""
    (tmp_path / "hire.html").write_text("<html><body><main><h1>Bike hire</h1><p>1.1 Cancel\u00adlation is free up to "
                                        "ﬁve days before; a ﬂat fee of £12 applies after.\u200b</p></main></body></html>")
    (tmp_path / "hire.md").write_text("# Bike hire\n\n1.1 Cancel&shy;lation is free up to ﬁve days before; a ﬂat "
                                      "fee of &pound;12 applies after.\ufeff\n\n1.2 R&D staff&para; ride free.\n")
    for name in ("hire.html", "hire.md"):
        assert read_chunks(tmp_path / name)[0].text == \
            "1.1 Cancellation is free up to five days before; a flat fee of £12 applies after.", name
    assert read_chunks(tmp_path / "hire.md")[1].text == "1.2 R&D staff¶ ride free."  # a reference needs its ";"


def _footnoted_pdf(path: Path, marker: str, second: str) -> Path:
    """Two pages of 11 pt clauses with a note at the first page's foot in 8 pt, pointed to by clause 1.1
    (``marker`` after "hours"); clause 1.3 is the page's last clause, right above the note."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=11)
    for line in (f"1.1 You may cancel free of charge with 48 hours{marker} notice.",
                 "1.2 Late cancellations cost 50% of the lesson fee.", *["Lessons take place on public roads."] * 28,
                 "1.3 Lessons in your own car cost GBP 34 per hour and need learner insurance."):
        pdf.multi_cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
    pdf.set_y(-30)
    pdf.set_font("Helvetica", size=8)
    pdf.multi_cell(0, 4, f"{marker.strip()} Our office is open from 09:00 to 13:00 on Saturdays; notice given "
                         "when it is closed counts from the next opening time.", new_x="LMARGIN", new_y="NEXT")
    pdf.add_page()
    pdf.set_font("Helvetica", size=11)
    pdf.multi_cell(0, 6, second, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))
    return path


def test_a_pdfs_footnote_follows_the_clause_that_points_to_it(tmp_path: Path) -> None:
    """Read in place, the note at the page foot was glued onto the clause that ended the page (1.3) and the
    clause that points to it (1.1) lost the opening hours it adds; a raised figure extracts as "hours2"."""
    for marker in ("\u00b9", "2"):
        path = _footnoted_pdf(tmp_path / f"terms-{marker == '2'}.pdf", marker,
                              "2.1 Gift vouchers are valid for 24 months.")
        chunks = {c.clause: c.text for c in read_chunks(path)}
        note = f"{marker.strip()} Our office is open from 09:00 to 13:00 on Saturdays"
        assert chunks["1.1"].startswith(f"1.1 You may cancel free of charge with 48 hours{marker} notice. {note}"), marker
        assert "09:00" not in chunks["1.3"] and chunks["2.1"] == "2.1 Gift vouchers are valid for 24 months."


def test_small_print_at_a_pages_foot_that_nothing_points_to_stays_text(tmp_path: Path) -> None:
    path = _footnoted_pdf(tmp_path / "terms.pdf", "", "2.1 Gift vouchers are valid for 24 months.")
    texts = " ".join(c.text for c in read_chunks(path))
    assert "Our office is open from 09:00 to 13:00 on Saturdays" in texts


OLD_PAGE = """<html><body><table width="780"><tr>
<td width="165"><font size="2"><b>&raquo; <a href="index.htm">Home</a></b><br><b>&raquo; <a href="fares.htm">Fares</a></b><br>
<b>&raquo; <a href="cruises.htm">Our Cruises</a></b><br><b>&raquo; <a href="charter.htm">Private Hire</a></b><br>
<b>&raquo; <a href="terms.htm">Terms &amp; Conditions</a></b><br><b>&raquo; <a href="contact.htm">Contact Us</a></b><br>
<font size="1">Ticket office: 01632 960 418<br>Last updated 12/02/2026</font></font></td>
<td width="615"><font size="2"><font size="4"><b>1. Tickets</b></font><br><br>
1.1 Tickets bought online are 10% cheaper; see our <a href="fares.htm">fares</a>.<br><br>
1.2 Children under 5 travel free.<br><br><hr>
<center><font size="1">&copy; 2026 Silverwater Ferry Tours Ltd &middot; Registered in England No. 02198765<br>
<a href="index.htm">Home</a> | <a href="terms.htm">Terms</a> | <a href="privacy.htm">Privacy</a><br>
Best viewed in 1024x768</font></center></font></td></tr></table></body></html>"""


def test_an_old_pages_menu_cell_and_copyright_line_are_no_text(tmp_path: Path) -> None:
    """A page laid out by a table, without <nav> or <footer>: the cell of links beside the text was a chunk
    (phone number and date included) and the copyright line was glued onto the last clause as figures."""
    (tmp_path / "terms.htm").write_text(OLD_PAGE)
    assert [(c.clause, c.text) for c in read_chunks(tmp_path / "terms.htm")] == [
        ("1.1", "1.1 Tickets bought online are 10% cheaper; see our fares."), ("1.2", "1.2 Children under 5 travel free.")]


ACCORDION = """<html><body><header><button aria-controls="menu" aria-expanded="false">Toggle navigation</button>
<div id="menu" hidden><ul><li><a href="/">Home</a></li><li><a href="/fees">Fees</a></li></ul></div></header>
<main><h1>Gym FAQ</h1><div class="accordion">
<button class="accordion-button" aria-expanded="false" aria-controls="a1">How much is a day pass?</button>
<div id="a1" class="accordion-panel" hidden><p>A day pass costs £12 and includes classes.</p></div>
<h3><button data-bs-toggle="collapse" data-bs-target="#a2">Can I freeze my membership?</button></h3>
<div id="a2" aria-hidden="true" style="display:none"><p>You can freeze for up to 3 months a year, at £5 a month.</p></div>
</div><p>Prices include VAT.<i class="icon" aria-hidden="true">★</i></p></main></body></html>"""


def test_an_accordion_faqs_closed_answers_are_text_and_its_buttons_the_questions(tmp_path: Path) -> None:
    """Saved closed, an accordion's answers are hidden panels and its questions buttons: both were dropped as
    furniture, and a page of nothing but an accordion was "no text to index". A menu's toggle stays out."""
    (tmp_path / "faq.html").write_text(ACCORDION)
    assert [(c.section, c.text) for c in read_chunks(tmp_path / "faq.html")] == [
        ("How much is a day pass?", "A day pass costs £12 and includes classes."),
        ("Can I freeze my membership?", "You can freeze for up to 3 months a year, at £5 a month."),
        ("Can I freeze my membership?", "Prices include VAT.")]


EMAIL = """From: Martin Hale <martin@halepianos.example>
Sent: 3 February 2026 09:14
To: Joanna Okafor
Subject: RE: Piano tuning - my prices and terms

Dear Mrs Okafor,

1) Visits. I work from 09:00 to 17:00.

2) Prices. My charges are:

      Standard tuning ............ £95
      Minor repairs (first half hour) ...... £30

   a) A pitch raise is needed when a piano is 15 cents flat.

3) Travel. Travel within 12 miles is free.

Q: My piano has been in storage for years. Can it still be tuned?
A: Usually, yes, with 2 visits.
"""


def test_a_saved_emails_header_is_no_text(tmp_path: Path) -> None:
    """"From: Martin Hale <martin@...>" was the heading of every chunk; a sub-item repeated the last "sentence"
    above it, "£30" of the price list; a "Q:" with a sentence of context was not the question heading its answer."""
    (tmp_path / "terms.txt").write_text(EMAIL)
    chunks = read_chunks(tmp_path / "terms.txt")
    assert not any(word in f"{c.section} {c.text}" for c in chunks for word in ("From:", "Sent:", "Subject:", "martin@"))
    assert next(c.text for c in chunks if c.clause == "2(a)") == "a) A pitch raise is needed when a piano is 15 cents flat."
    assert chunks[-1].question() == "My piano has been in storage for years. Can it still be tuned?"
    assert chunks[-1].text == "Usually, yes, with 2 visits."


def test_a_clause_c_or_a_year_is_no_copyright_line(tmp_path: Path) -> None:
    (tmp_path / "ferry.html").write_text(
        "<html><body><main><h1>Ferry</h1><p>1.1 Children:</p><p>(a) under 5 travel free;</p><p>(b) under 14 travel "
        "with an adult;</p><p>(c) Children with a disability travel with a carer for free.</p>"
        "<p>2026 fares are on the board.</p><p>Copyright in our timetables is ours.</p>"
        "<p>&copy; 2026 Silverwater Ferry Tours Ltd</p></main></body></html>")
    texts = " ".join(c.text for c in read_chunks(tmp_path / "ferry.html"))
    assert "(c) Children with a disability" in texts and "2026 fares" in texts and "Copyright in our" in texts
    assert "Silverwater" not in texts
