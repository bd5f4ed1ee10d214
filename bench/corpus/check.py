"""Check the development corpus: build it, read every file back, and verify the question sets against it.

    .venv/bin/python bench/corpus/check.py

Builds every document twice into a temporary folder (the two builds must be byte-identical),
extracts the text back the way an ingester would (pypdf for PDF, python-docx for DOCX,
BeautifulSoup for HTML, the file itself for Markdown and text), splits it into clauses by the
document's numbering style, and verifies:

- SPLIT.json: 5 + 5 documents, every format in each half, the unnumbered documents never tuned; a third set,
  `fresh`, of 4 documents, one per format md/html/docx/pdf, only for reporting;
- every document has 25-45 clauses with unique ids; PDFs have several pages;
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
UNNUMBERED = {"public_library", "vet_practice"}  # clause id = heading / question text; never tuned
PAGE_BREAK = "\f"


# ---- extraction ---------------------------------------------------------------------------------------------

def extract_text(path: Path) -> str:
    """Plain text of an uploaded file, one block (paragraph, heading, list item, table row) per line.

    Headings of HTML and DOCX come back with Markdown '#' marks; PDF pages are separated by a form feed.
    """
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        from pypdf import PdfReader

        return f"\n{PAGE_BREAK}\n".join(page.extract_text() or "" for page in PdfReader(path).pages)
    if suffix == ".docx":
        return _docx_text(path)
    if suffix in (".html", ".htm"):
        return _html_text(path)
    return path.read_text(encoding="utf-8")


def _docx_text(path: Path) -> str:
    from docx import Document
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    document = Document(str(path))
    lines = []
    for child in document.element.body.iterchildren():
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "p":
            paragraph = Paragraph(child, document)
            style = paragraph.style.name if paragraph.style is not None else ""
            text = paragraph.text.strip()
            if not text:
                continue
            if style == "Title":
                text = "# " + text
            elif heading := re.fullmatch(r"Heading (\d)", style):
                text = "#" * (int(heading.group(1)) + 1) + " " + text
            lines.append(text)
        elif tag == "tbl":
            for row in Table(child, document).rows:
                lines.append(" | ".join(cell.text.strip() for cell in row.cells))
    return "\n".join(lines)


def _html_text(path: Path) -> str:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")
    for br in soup.find_all("br"):
        br.replace_with(" ")
    lines = []
    for element in soup.body.find_all(["h1", "h2", "h3", "h4", "p", "li", "tr"]):
        if element.name == "tr":
            text = " | ".join(" ".join(cell.get_text().split()) for cell in element.find_all(["th", "td"]))
        else:
            text = " ".join(element.get_text().split())
            if element.name.startswith("h"):
                text = "#" * int(element.name[1]) + " " + text
        if text:
            lines.append(text)
    return "\n".join(lines)


# ---- clauses ------------------------------------------------------------------------------------------------

def normalize(text: str) -> str:
    return " ".join(text.split())


def split_clauses(doc: Doc, text: str) -> tuple[dict[str, str], list[str]]:
    """{clause id: clause text} and the problems found (duplicate ids)."""
    if doc.nested:
        return _split_nested(text)
    label_re, boundary_re = re.compile(doc.label_re), re.compile(doc.boundary_re)
    clauses: dict[str, str] = {}
    problems: list[str] = []
    current: str | None = None
    for line in text.split("\n"):  # not splitlines(): it would drop the form feed between PDF pages
        if match := label_re.match(line):
            current = match.group(1)
            if current in clauses:
                problems.append(f"clause id {current!r} occurs twice")
            clauses[current] = line
        elif boundary_re.match(line):
            current = None
        elif current is not None:
            clauses[current] += "\n" + line
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


def label_digits_recur(clause_id: str, facts: list[str]) -> bool:
    """True when the clause label's number reappears at the start of a figure: 1.4 -> '14 days', C3 -> '3 estimated'."""
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
    for half, size, want in (("tune", 5, FORMATS), ("never_tuned", 5, FORMATS), ("fresh", 4, FRESH_FORMATS)):
        names = split.get(half, [])
        if len(names) != size:
            failures.append(f"SPLIT.json: {half} has {len(names)} documents, not {size}")
        formats = [DOCS_BY_NAME[n].fmt for n in names if n in DOCS_BY_NAME]
        if set(formats) != want or (half == "fresh" and len(formats) != len(want)):
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
    if set(split) != {"tune", "never_tuned", "fresh"}:
        failures.append(f"SPLIT.json: keys {sorted(split)}, expected fresh, never_tuned and tune")
    return half_of


def check_doc(doc: Doc, built: dict[str, Path], half: str, failures: list[str]) -> str:
    def fail(message: str) -> None:
        failures.append(f"{doc.name}: {message}")

    folder = DOCS_DIR / doc.name
    text_v1, text_v2 = extract_text(built[doc.name]), extract_text(built[f"{doc.name}_v2"])
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
        spanning = [cid for cid, body in clauses_v1.items() if PAGE_BREAK in body and body.split(PAGE_BREAK, 1)[1].strip()]
        notes.append(f"{pages} pages, clauses continued on the next page: {', '.join(spanning) or 'none'}")
        if pages < 2 or not spanning:
            fail(f"PDF has {pages} pages and {len(spanning)} clauses across a page break; expected several pages and one")

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
