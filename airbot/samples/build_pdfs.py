"""Render the sample policies (markdown) to the PDFs shipped next to them.

The PDFs exist so the RAG side can be shown on the kind of file a user really uploads, with
several pages so page numbers in cited sources mean something. Rebuild them after editing a
policy, from the repository root:

    python -m airbot.samples.build_pdfs

Output is deterministic (fixed creation date, core font), so rebuilding an unchanged policy
gives the same file and tests/test_samples.py can tell when a PDF is stale.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from fpdf import FPDF

from airbot.samples import SAMPLES_DIR

PDF_SOURCES: dict[str, str] = {
    "airline_policy.md": "airline_policy.pdf",
    "airline_policy_v2.md": "airline_policy_v2.pdf",
}
"""Markdown source -> PDF written next to it."""

CREATION_DATE = datetime(2026, 1, 1, tzinfo=UTC)
FONT = "Helvetica"  # a core PDF font: nothing to embed, but only latin-1 text can be drawn
BODY_SIZE = 10.5
LINE_HEIGHT = 5.5


class _PolicyPDF(FPDF):
    def footer(self) -> None:
        self.set_y(-15)
        self.set_font(FONT, size=8)
        self.cell(0, 10, f"Page {self.page_no()}", align="C")


def _check_latin1(markdown: str) -> None:
    """Fail with the line number: the core font cannot draw curly quotes, dashes or emoji."""
    for number, line in enumerate(markdown.splitlines(), start=1):
        try:
            line.encode("latin-1")
        except UnicodeEncodeError as err:
            bad = line[err.start]
            raise ValueError(f"line {number}: {bad!r} cannot be drawn in {FONT}; use plain ASCII") from None


def render_pdf(markdown: str) -> bytes:
    """Lay out a policy: '# ' title, '## ' section headings, every other non-blank line a paragraph."""
    _check_latin1(markdown)
    pdf = _PolicyPDF(format="A4")
    pdf.set_creation_date(CREATION_DATE)
    pdf.set_margins(20, 20, 20)
    pdf.set_auto_page_break(True, margin=22)
    pdf.add_page()
    for line in markdown.splitlines():
        text = line.strip()
        if not text:
            continue
        if text.startswith("# "):
            pdf.set_title(text[2:])
            pdf.set_font(FONT, style="B", size=18)
            pdf.multi_cell(0, 9, text[2:], new_x="LMARGIN", new_y="NEXT")
            pdf.ln(2)
        elif text.startswith("## "):
            pdf.ln(3)
            pdf.set_font(FONT, style="B", size=13)
            pdf.multi_cell(0, 7, text[3:], new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1)
        else:
            pdf.set_font(FONT, size=BODY_SIZE)
            pdf.multi_cell(0, LINE_HEIGHT, text, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(2)
    return bytes(pdf.output())


def build_all(samples_dir: Path = SAMPLES_DIR) -> list[Path]:
    """Rewrite every PDF in PDF_SOURCES from its markdown; returns the paths written."""
    written = []
    for source, target in PDF_SOURCES.items():
        pdf_path = samples_dir / target
        pdf_path.write_bytes(render_pdf((samples_dir / source).read_text(encoding="utf-8")))
        written.append(pdf_path)
    return written


if __name__ == "__main__":
    for path in build_all():
        print(f"wrote {path}")
