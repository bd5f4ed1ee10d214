"""The shipped airline samples agree with each other, fact by fact.

Everything the demo measures rests on this data: a training answer that contradicts the policy,
a held-out fact that is not in its clause, or a stale PDF would make a bot look wrong for the
data's fault. Fast: no models are loaded.
"""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from pathlib import Path

import pytest
from pypdf import PdfReader

from airbot.samples import SAMPLE_FILES, SAMPLES_DIR, sample_path
from airbot.samples.build_pdfs import PDF_SOURCES, render_pdf

CLAUSE_ID = re.compile(r"^(\d+\.\d+) ")
UNITS = r"kg|cm|ml|litres?|wh|km|business days?|hours?|minutes?|days?|weeks?|months?|years?|points?"
QUANTITY = re.compile(rf"(?i)\b(USD)\s*(\d[\d,]*)|(?<![\d.,])(\d[\d,]*(?:\.\d+)?)\s*(%|(?:{UNITS})\b)")
NUMBER = re.compile(r"(?<![\d.,])\d[\d,]*(?:\.\d+)?")
MAX_JACCARD = 0.6


# --- helpers -------------------------------------------------------------------------------


def read_jsonl(role: str) -> list[dict]:
    lines = sample_path(role).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def split_clauses(markdown: str) -> dict[str, str]:
    """Clause id ("1.2") -> its text; a clause runs from its numbered line to the next one or heading."""
    clauses: dict[str, str] = {}
    current = None
    for line in markdown.splitlines():
        match = CLAUSE_ID.match(line)
        if match:
            current = match.group(1)
            assert current not in clauses, f"clause {current} appears twice"
            clauses[current] = line[match.end() :]
        elif line.startswith("#"):
            current = None
        elif current and line.strip():
            clauses[current] += " " + line.strip()
    return clauses


def fact_regex(fact: str) -> re.Pattern[str]:
    """Case-insensitive, any whitespace, and numeric-aware: "25 kg" must not match in "125 kg"."""
    body = r"\s+".join(re.escape(part) for part in fact.split())
    head = r"(?<!\d)(?<!\d[.,])" if fact[0].isdigit() else r"(?<!\w)"
    tail = r"(?!\d)(?![.,]\d)" if fact[-1].isdigit() else r"(?!\w)" if fact[-1].isalnum() else ""
    return re.compile(head + body + tail, re.IGNORECASE)


def has_fact(fact: str, text: str) -> bool:
    return fact_regex(fact).search(text) is not None


def quantities(text: str) -> set[tuple[str, str]]:
    """(unit, number) pairs such as ("usd", "75"), ("kg", "23"), ("%", "50"); plurals folded."""
    found = set()
    for match in QUANTITY.finditer(text):
        if match.group(1):
            found.add(("usd", match.group(2).replace(",", "")))
        else:
            unit = match.group(4).lower()
            found.add((unit.removesuffix("s"), match.group(3).replace(",", "")))
    return found


def numbers(text: str) -> set[str]:
    return {n.replace(",", "") for n in NUMBER.findall(text)}


def tokens(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


def jaccard(a: str, b: str) -> float:
    ta, tb = tokens(a), tokens(b)
    return len(ta & tb) / len(ta | tb)


def pdf_text(data: bytes) -> str:
    """All pages' text with whitespace collapsed, so a fact wrapped across lines still matches."""
    reader = PdfReader(io.BytesIO(data))
    return " ".join(" ".join(page.extract_text().split()) for page in reader.pages)


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def v1() -> str:
    return sample_path("policy").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def v2() -> str:
    return sample_path("policy_v2").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def clauses_v1(v1: str) -> dict[str, str]:
    return split_clauses(v1)


@pytest.fixture(scope="module")
def clauses_v2(v2: str) -> dict[str, str]:
    return split_clauses(v2)


@pytest.fixture(scope="module")
def train() -> list[dict]:
    return read_jsonl("train")


@pytest.fixture(scope="module")
def heldout() -> list[dict]:
    return read_jsonl("heldout")


@pytest.fixture(scope="module")
def changes() -> list[dict]:
    return read_jsonl("changes")


# --- the module ----------------------------------------------------------------------------


def test_every_role_resolves_to_an_existing_file() -> None:
    for role, name in SAMPLE_FILES.items():
        assert sample_path(role) == SAMPLES_DIR / name
        assert sample_path(name) == SAMPLES_DIR / name


def test_unknown_sample_names_the_known_roles() -> None:
    with pytest.raises(FileNotFoundError, match=r"Known samples: .*train"):
        sample_path("trian")


# --- shapes and counts ---------------------------------------------------------------------


def test_row_counts(train: list[dict], heldout: list[dict], changes: list[dict]) -> None:
    assert len(train) >= 100
    assert len(heldout) >= 30
    assert 4 <= len(changes) <= 6
    assert len(read_jsonl("out_of_scope")) == 8
    assert len(read_jsonl("probe")) == 8


@pytest.mark.parametrize(
    ("role", "fields"),
    [
        ("train", {"question", "answer"}),
        ("heldout", {"question", "answer", "facts", "clause"}),
        ("changes", {"clause", "old", "new", "question"}),
        ("out_of_scope", {"question"}),
        ("probe", {"question", "answer", "facts"}),
    ],
)
def test_rows_have_exactly_their_fields(role: str, fields: set[str]) -> None:
    for number, row in enumerate(read_jsonl(role), start=1):
        assert set(row) == fields, f"{role} row {number}"
        assert all(row[key] for key in fields), f"{role} row {number} has an empty field"


@pytest.mark.parametrize("role", ["train", "heldout", "out_of_scope", "probe"])
def test_questions_are_unique(role: str) -> None:
    counts = Counter(row["question"].strip().lower() for row in read_jsonl(role))
    assert [q for q, n in counts.items() if n > 1] == []


def test_probe_answers_contain_their_facts() -> None:
    for row in read_jsonl("probe"):
        assert all(has_fact(fact, row["answer"]) for fact in row["facts"]), row


# --- the policy ----------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["policy", "policy_v2"])
def test_policy_is_plain_ascii(role: str) -> None:
    text = sample_path(role).read_text(encoding="utf-8")
    assert text.isascii(), "the PDF core font draws latin-1 only; keep policies plain ASCII"


def test_policy_has_numbered_sections_and_clauses(v1: str, clauses_v1: dict[str, str]) -> None:
    sections = re.findall(r"^## (\d+)\. ", v1, flags=re.MULTILINE)
    assert sections == [str(n) for n in range(1, len(sections) + 1)]
    assert len(sections) >= 10
    for section in sections:
        assert any(cid.split(".")[0] == section for cid in clauses_v1), f"section {section} is empty"


def test_policy_quantities_are_unambiguous(clauses_v1: dict[str, str]) -> None:
    """Each figure with its unit lives in one clause, so a fact points at exactly one rule."""
    seen: dict[tuple[str, str], str] = {}
    for cid, text in clauses_v1.items():
        for quantity in quantities(text):
            assert seen.setdefault(quantity, cid) == cid, f"{quantity} is in {seen[quantity]} and {cid}"


def test_fact_matching_is_numeric_aware() -> None:
    assert has_fact("25 kg", "up to 25  kg each")
    assert not has_fact("25 kg", "up to 125 kg each")
    assert not has_fact("USD 75", "a fee of USD 750")
    assert not has_fact("50%", "150% of the time")
    assert has_fact("60,000 points", "earn 60,000 points")


# --- training and held-out data against the policy -------------------------------------------


def test_training_figures_are_in_the_policy(train: list[dict], v1: str) -> None:
    policy_quantities, policy_numbers = quantities(v1), numbers(v1)
    for row in train:
        answer = row["answer"]
        assert quantities(answer) <= policy_quantities, (row["question"], quantities(answer) - policy_quantities)
        assert numbers(answer) <= policy_numbers, (row["question"], numbers(answer) - policy_numbers)


def test_training_covers_every_section(train: list[dict], clauses_v1: dict[str, str]) -> None:
    section_of = {q: cid.split(".")[0] for cid, text in clauses_v1.items() for q in quantities(text)}
    answers_per_section: Counter[str] = Counter()
    for row in train:
        answers_per_section.update({section_of[q] for q in quantities(row["answer"]) if q in section_of})
    sections = {cid.split(".")[0] for cid in clauses_v1}
    assert {s: answers_per_section[s] for s in sections if answers_per_section[s] < 3} == {}


def test_heldout_facts_are_in_their_clause_only(heldout: list[dict], clauses_v1: dict[str, str]) -> None:
    for row in heldout:
        assert row["clause"] in clauses_v1, row
        for fact in row["facts"]:
            holders = [cid for cid, text in clauses_v1.items() if has_fact(fact, text)]
            assert holders == [row["clause"]], (row["question"], fact, holders)
            assert has_fact(fact, row["answer"]), (row["question"], fact)


def test_heldout_questions_are_paraphrases_not_copies(train: list[dict], heldout: list[dict]) -> None:
    for row in heldout:
        closest = max(train, key=lambda t: jaccard(row["question"], t["question"]))
        score = jaccard(row["question"], closest["question"])
        assert score < MAX_JACCARD, (row["question"], closest["question"], round(score, 2))


def test_heldout_includes_changed_figures(heldout: list[dict], changes: list[dict]) -> None:
    old_facts = {change["old"] for change in changes}
    assert sum(any(fact in old_facts for fact in row["facts"]) for row in heldout) >= 4


# --- the v2 policy ---------------------------------------------------------------------------


def test_changed_figures_move_from_v1_to_v2(
    changes: list[dict], v1: str, v2: str, clauses_v1: dict[str, str], clauses_v2: dict[str, str]
) -> None:
    for change in changes:
        cid, old, new = change["clause"], change["old"], change["new"]
        assert has_fact(old, clauses_v1[cid]) and not has_fact(old, v2), change
        assert has_fact(new, clauses_v2[cid]) and not has_fact(new, v1), change


def test_v2_differs_only_in_the_changed_figures(changes: list[dict], v1: str, v2: str) -> None:
    lines_v1, lines_v2 = v1.splitlines(), v2.splitlines()
    assert len(lines_v1) == len(lines_v2)
    first_section = next(i for i, line in enumerate(lines_v1) if line.startswith("## "))
    by_clause = {change["clause"]: change for change in changes}
    changed_clauses = set()
    for number, (old_line, new_line) in enumerate(zip(lines_v1, lines_v2)):
        if old_line == new_line or number < first_section:  # the version line may change
            continue
        match = CLAUSE_ID.match(old_line)
        assert match and match.group(1) in by_clause, f"unexpected change on line {number + 1}"
        change = by_clause[match.group(1)]
        assert old_line.replace(change["old"], change["new"]) == new_line
        changed_clauses.add(match.group(1))
    assert changed_clauses == set(by_clause)
    assert v1.endswith("\n") and v2.endswith("\n")


# --- the PDFs --------------------------------------------------------------------------------


@pytest.mark.parametrize(("source", "target"), PDF_SOURCES.items())
def test_pdf_matches_its_markdown(source: str, target: str) -> None:
    """A stale PDF would make the RAG bot answer from old text: rebuild with build_pdfs."""
    shipped = (SAMPLES_DIR / target).read_bytes()
    rebuilt = render_pdf((SAMPLES_DIR / source).read_text(encoding="utf-8"))
    assert pdf_text(shipped) == pdf_text(rebuilt), "run `python -m airbot.samples.build_pdfs`"


def test_pdf_holds_every_clause_and_fact(clauses_v1: dict[str, str], heldout: list[dict]) -> None:
    data = sample_path("policy_pdf").read_bytes()
    assert len(PdfReader(io.BytesIO(data)).pages) > 1
    text = pdf_text(data)
    for cid in clauses_v1:
        assert re.search(rf"(?<![\d.]){re.escape(cid)} ", text), cid
    for row in heldout:
        assert all(has_fact(fact, text) for fact in row["facts"]), row


def test_v2_pdf_holds_the_new_figures(changes: list[dict]) -> None:
    text = pdf_text(sample_path("policy_v2_pdf").read_bytes())
    for change in changes:
        assert has_fact(change["new"], text) and not has_fact(change["old"], text), change


def test_pdf_rendering_is_deterministic() -> None:
    markdown = Path(sample_path("policy")).read_text(encoding="utf-8")
    assert render_pdf(markdown) == render_pdf(markdown)
