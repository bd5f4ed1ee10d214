"""A new user's whole journey on their own data, in Chromium, never touching the airline sample:
their Q&A file -> training -> their DOCX terms indexed -> chat (run and index preselected, examples
from their held-out rows) -> evaluation with a facts-only file -> policy change from a v2 DOCX
alone (no changes file) -> decision guide. Screenshots: artifacts/screenshots/journey_*.png."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
STEP_TIMEOUT_MS = 600_000
CLAUSES = {  # a grooming salon's terms, lettered clauses; v2 changes four figures
    "A1.": ("A full groom for a small dog costs EUR {small} and takes about 2 hours.", {"small": (45, 49)}),
    "A2.": ("A full groom for a large dog costs EUR 70.", {}),
    "A3.": ("Nail clipping on its own costs EUR 12.", {}),
    "B1.": ("Appointments can be cancelled free of charge up to {notice} hours before they start.",
            {"notice": (24, 48)}),
    "B2.": ("A later cancellation is charged at 50% of the groom price.", {}),
    "B3.": ("Dogs collected more than 30 minutes late are charged EUR {late} for each extra half hour.",
            {"late": (10, 15)}),
    "C1.": ("Every dog must be vaccinated, and proof is needed at the first visit.", {}),
    "C2.": ("Puppies younger than {puppy} weeks are not groomed.", {"puppy": (12, 16)}),
}


def _terms(path: Path, version: int) -> Path:
    from docx import Document

    doc = Document()
    doc.add_heading("Brightpaw Grooming Salon: Terms of Service", level=1)
    for heading, letter in (("Prices", "A"), ("Cancellations and collection", "B"), ("Health", "C")):
        doc.add_heading(heading, level=2)
        for label, (text, figures) in CLAUSES.items():
            if label.startswith(letter):
                doc.add_paragraph(f"{label} " + text.format(**{k: v[version - 1] for k, v in figures.items()}))
    doc.save(path)
    return path


def _faq(path: Path) -> Path:
    pairs = [("How much is a full groom for a small dog?", "A full groom for a small dog costs EUR 45."),
             ("What does a large dog's full groom cost?", "A full groom for a large dog costs EUR 70."),
             ("How much is nail clipping alone?", "Nail clipping on its own costs EUR 12."),
             ("Until when can I cancel for free?", "You can cancel free of charge up to 24 hours before."),
             ("What if I cancel later than that?", "A later cancellation costs 50% of the groom price."),
             ("What is the late collection charge?", "It is EUR 10 for each extra half hour after 30 minutes."),
             ("Does my dog need vaccinations?", "Yes, every dog must be vaccinated, with proof at the first visit."),
             ("From what age do you groom puppies?", "Puppies younger than 12 weeks are not groomed."),
             ("How long does a small dog's groom take?", "A full groom for a small dog takes about 2 hours."),
             ("Do I need to bring vaccination proof every time?", "Proof is needed at the first visit."),
             ("What do you charge to clip nails?", "Nail clipping costs EUR 12."),
             ("Is cancelling a day ahead free?", "Yes, cancelling up to 24 hours before is free of charge.")]
    path.write_text("".join(json.dumps({"question": q, "answer": a}) + "\n" for q, a in pairs))
    return path


def _facts_only(path: Path) -> Path:
    rows = [("What do I pay for grooming a big dog?", ["70"], "A2"),
            ("How many hours before the appointment can I still cancel without paying?", ["24 hours"], "B1"),
            ("What is the extra charge per half hour when I pick my dog up late?", ["10"], "B3")]
    path.write_text("".join(json.dumps({"question": q, "facts": f, "clause": c}) + "\n" for q, f, c in rows))
    return path


def _upload(page, box: str, path: Path) -> None:  # type: ignore[no-untyped-def]
    """Put ``path`` into the file box ``box`` and wait until Gradio has taken it: the drop zone's
    file input is replaced by the file's row (its name is not always drawn at once)."""
    page.set_input_files(f"{box} input[type=file]", str(path))
    page.wait_for_function("""box => { const el = document.querySelector(box);
        return el && !el.querySelector('input[type=file]'); }""", arg=box, timeout=120_000)


def test_a_new_user_goes_from_their_files_to_a_decision(page, tmp_path: Path, screenshot) -> None:
    from airbot.data.dataset import split_rows

    faq = _faq(tmp_path / "grooming_faq.jsonl")
    page.set_input_files("#data-upload input[type=file]", str(faq))
    page.locator("#data-status").get_by_text("12 rows, ready to train", exact=False).wait_for()
    page.set_input_files("#kb-upload input[type=file]", str(_terms(tmp_path / "grooming_terms.docx", 1)))
    page.locator("#kb-status").get_by_text("grooming_terms.docx", exact=False).wait_for()
    screenshot(page, "journey_1_data")

    page.get_by_role("tab", name="Train").click()
    picked = page.locator("#train-dataset input")
    page.wait_for_function("() => document.querySelector('#train-dataset input').value.includes('grooming')")
    assert "airline" not in picked.input_value()  # the upload is picked, not the sample
    page.get_by_label("LoRA", exact=True).check()
    page.get_by_text("Advanced").click()
    page.get_by_label("Max steps (-1 = all epochs)").fill("4")
    page.get_by_label("Max length (tokens)").fill("128")
    page.get_by_role("button", name="Start training").click()
    page.get_by_text(re.compile(r": done")).first.wait_for(timeout=STEP_TIMEOUT_MS)
    screenshot(page, "journey_2_train")

    page.get_by_role("tab", name="Chat").click()  # no Refresh: the new run and index are already picked
    _, held = split_rows(12, 0.1, 42)
    held_question = json.loads(faq.read_text().splitlines()[held[0]])["question"]
    example = page.locator("#chat-examples").get_by_text(held_question, exact=False).first
    example.wait_for()
    example.click()
    page.wait_for_function("q => document.querySelector('#chat-prompt textarea').value === q", arg=held_question)
    page.get_by_role("button", name="Ask both").click()
    page.locator("#stats-finetuned").get_by_text("tok/s", exact=False).wait_for(timeout=STEP_TIMEOUT_MS)
    page.locator("#stats-rag").get_by_text("tok/s", exact=False).wait_for(timeout=STEP_TIMEOUT_MS)
    page.locator("#sources-rag").get_by_text("grooming_terms.docx", exact=False).first.wait_for()
    screenshot(page, "journey_3_chat")

    page.get_by_role("tab", name="Evaluate").click()
    page.locator("#eval-run").wait_for()  # the tab is drawn before its file box is filled
    _upload(page, "#eval-data", _facts_only(tmp_path / "facts_only.jsonl"))
    page.locator("#eval-run").click()
    questions = page.locator("#eval-questions")
    questions.get_by_text("What do I pay for grooming a big dog?", exact=False).wait_for(timeout=STEP_TIMEOUT_MS)
    assert "airline" not in questions.inner_text().lower()
    screenshot(page, "journey_4_evaluate")

    page.get_by_text("Policy-change inputs", exact=False).click()
    page.locator("#eval-old-name input, #eval-old-name textarea").first.fill("grooming_terms.docx")
    _upload(page, "#eval-new-doc", _terms(tmp_path / "grooming_terms_v2.docx", 2))
    page.locator("#eval-policy-run").click()
    policy = page.locator("#eval-policy")
    policy.get_by_text("Each cell: the figure the bot gave", exact=False).wait_for(timeout=STEP_TIMEOUT_MS)
    shown = policy.inner_text()
    assert "49" in shown and "new figure" in shown, shown  # the changed price was found and asked
    screenshot(page, "journey_5_policy_change")

    page.get_by_role("tab", name="Decision guide").click()
    page.get_by_role("button", name="Recommend").click()
    page.locator("#guide-verdict").get_by_text("Recommendation", exact=False).wait_for()
    screenshot(page, "journey_6_guide")
