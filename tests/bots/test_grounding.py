"""Evidence sentences and the grounding check, with the real embedder, on two unlike documents."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from airbot.bots.grounding import CachedEmbed, Evidence, check_answer, echoes_question, extract_text, grounded, select_evidence
from airbot.knowledge.clauses import strip_clause_number
from airbot.text import figures, split_sentences

TELECOM = Path(__file__).resolve().parents[1] / "fixtures" / "telecom" / "policy.md"


@dataclass
class Passage:
    text: str
    section: str = ""


@pytest.fixture(scope="module")
def embed():
    from airbot.knowledge.embedding import fast_encoder
    from airbot.models import DEFAULT_EMBEDDER

    encoder = fast_encoder(DEFAULT_EMBEDDER)
    return lambda texts: np.asarray(encoder.encode(texts), dtype=np.float32).reshape(len(texts), -1)


def test_sentences_keep_decimals_and_abbreviations_and_drop_the_clause_number() -> None:
    text = "4.3 Screen repairs cost EUR 89.50, e.g. for a cracked display. Device Care costs EUR 8 a month."
    assert split_sentences(strip_clause_number(text)) == ["Screen repairs cost EUR 89.50, e.g. for a cracked display.",
                                                          "Device Care costs EUR 8 a month."]
    assert split_sentences(strip_clause_number("Art. 2.3 Calls are charged at EUR 0.80 per minute.")) == \
        ["Calls are charged at EUR 0.80 per minute."]  # legal-style numbers go too (airbot.knowledge.clauses)


def test_best_sentence_may_come_from_a_lower_hit(embed) -> None:
    hits = [Passage("Cabin bags may weigh up to 7 kg. A personal item must fit under the seat.", "Cabin baggage"),
            Passage("Pets in the cabin cost USD 70 per flight. Larger pets travel in the hold for USD 200.", "Pets")]
    evidence = select_evidence("How much does it cost to put my big dog in the hold?", hits, embed, sentences=1)
    assert [(e.source, e.text) for e in evidence] == [(2, "Larger pets travel in the hold for USD 200.")]


def test_best_sentence_first_within_a_long_passage(embed) -> None:
    """A whole article as one passage: the best sentence is found inside it."""
    text = TELECOM.read_text()
    article = text[text.index("## Article 4"):text.index("## Article 5")].split("\n", 1)[1]
    evidence = select_evidence("What is the excess on a Device Care insurance claim?",
                               [Passage(article, "Article 4 — Devices and repairs")], embed, sentences=2)
    assert len(evidence) == 2 and evidence[0].score >= evidence[1].score
    assert "excess of EUR 49 per claim" in evidence[0].text and evidence[0].source == 1


def test_figures_are_canonical() -> None:
    assert figures("USD 1,500 or seven days, 2.50 EUR") == {"1500", "7", "2.5"}


def test_grounded_accepts_the_evidence_figure_and_rejects_others() -> None:
    ev = [Evidence("A paper bill posted to you costs EUR 1.50 a month.", 1, 0, 0.7)]
    context = ev[0].text + " Electronic bills are free."
    question = "What does a printed bill in the post cost?"
    assert grounded("A printed bill costs EUR 1.50 a month.", question, ev, context)
    assert not grounded("A printed bill costs EUR 2.50.", question, ev, context)  # a figure the text lacks
    assert not grounded("Electronic bills are free.", question, ev, context)  # misses the figure asked for
    assert not grounded("", question, ev, context)


def test_grounded_without_figures_compares_words() -> None:
    ev = [Evidence("Tickets are not transferable to another person.", 1, 0, 0.6)]
    question = "Can I give my ticket to my sister?"
    assert grounded("No, tickets are not transferable to another person.", question, ev, ev[0].text)
    assert not grounded("Sure, she can enjoy a luxury upgrade at the lounge.", question, ev, ev[0].text)


def test_the_extract_reads_in_document_order_with_each_source_cited() -> None:
    ev = [Evidence("Paper bills cost EUR 1.50.", 3, 2, 0.6), Evidence("Bills are issued on the 1st.", 1, 0, 0.5),
          Evidence("They are due in 14 days.", 1, 1, 0.4)]
    assert extract_text(ev) == "Bills are issued on the 1st. They are due in 14 days. [1] Paper bills cost EUR 1.50. [3]"
    assert extract_text([]) == ""


@pytest.mark.parametrize(("answer", "flag"), [
    ("", "empty answer"),
    ("A renewal costs EUR 2 per book.", "repeats the prompt's own text"),  # a worked example, leaked
    ("The car park is open from 06:00 to 23:30.", "repeats the prompt's own text"),  # the other one
    ("The service costs EUR 2 per flight.", "invented figure: 2"),
    ("A3. A4. A5. A6. A7.", "label run"),
    ("Bills cost bills cost bills cost bills cost EUR 1.50.", "loop"),
    ("Paper bills are free.", "missing figure: EUR 1.50"),
    ("Paper bills cost 1.50.", "missing figure: EUR 1.50"),  # the unit counts, as in the evaluation
    ("Paper bills cost EUR 1.50 and are due in 30 days.", "invented figure: 30"),
])
def test_the_check_names_why_a_model_answer_is_not_shown(answer: str, flag: str) -> None:
    ev = [Evidence("Paper bills cost EUR 1.50 each.", 1, 0, 0.7)]
    flags = check_answer(answer, "How much is a paper bill?", ev, "Paper bills cost EUR 1.50 each. Bills are monthly.")
    assert any(flag in f for f in flags), flags


def test_an_answer_that_reads_the_question_back_is_not_shown() -> None:
    """The never-tuned half's "Your phone fell in the pool. How long will the repair take? (iii) ..."."""
    ev = [Evidence("Water-damaged devices take 5 working days.", 1, 0, 0.7)]
    context = ev[0].text + " (iii) charging port or camera replacement: 90 minutes."
    question = "My phone fell in the pool. How long will the repair take?"
    echo = "Your phone fell in the pool. How long will the repair take? Water-damaged devices take 5 working days."
    assert "repeats the question" in check_answer(echo, question, ev, context)
    assert check_answer("The repair takes 5 working days for a water-damaged phone.", question, ev, context) == ()
    short = "How long is a slot?"
    assert "repeats the question" in check_answer("How long is a slot? 15 minutes.", short, [], "A slot is 15 minutes.")
    # its subject restated is an answer, not an echo; wording the passage shares is not the question's
    assert not echoes_question("A routine check-up can be booked 6 weeks ahead.", "How far ahead can I book a routine "
                               "check-up?")
    assert not echoes_question("The cut-off for web check-in is 90 minutes before departure.",
                               "What's the cut-off for web check-in?")
    assert not echoes_question("Bags over 23 kg cost extra.", "Do bags over 23 kg cost extra?", "Bags over 23 kg cost extra.")


def test_the_check_passes_an_answer_with_every_figure_of_the_best_sentence() -> None:
    ev = [Evidence("Paper bills cost EUR 1.50 each, or EUR 3 by courier.", 1, 0, 0.7)]
    context = ev[0].text
    assert check_answer("A paper bill costs EUR 1.50, or EUR 3 by courier. [1]", "Paper bill price?", ev, context) == ()
    assert check_answer("A paper bill costs EUR 1.50.", "Paper bill price?", ev, context) == ("missing figure: EUR 3",)


def test_the_check_wants_the_figures_of_the_two_best_sentences_of_the_clause_read() -> None:
    """"Small corrections are free for up to 3 characters." is half an answer to a question about
    the larger correction's fee in the next sentence of the same clause; a sentence of another clause
    is not wanted (its figures answer another question)."""
    context = "Small name corrections are free for up to 3 characters. Larger corrections cost USD 35."
    ev = [Evidence("Small name corrections are free for up to 3 characters.", 1, 0, 0.62),
          Evidence("Larger corrections cost USD 35.", 1, 1, 0.60), Evidence("Seats cost USD 9.", 2, 0, 0.5)]
    question = "What does fixing a big name error cost?"
    assert check_answer("Corrections are free for up to 3 characters.", question, ev, context) == ("missing figure: USD 35",)
    assert check_answer("Up to 3 characters are free; larger corrections cost USD 35.", question, ev, context) == ()
    other = [ev[0], Evidence("Seats cost USD 9.", 2, 0, 0.61)]
    assert check_answer("Corrections are free for up to 3 characters.", question, other, context) == ()


def test_cached_embed_reuses_vectors_and_forgets_the_least_recent(embed) -> None:
    asked: list[list[str]] = []

    def counting(texts: list[str]) -> np.ndarray:
        asked.append(list(texts))
        return embed(texts)

    cached = CachedEmbed(counting, size=3)
    first = cached(["The fee is USD 70 per pet.", "Bags weigh up to 23 kg."])
    again = cached(["Bags weigh up to 23 kg.", "The fee is USD 70 per pet.", "A new question?"])
    assert asked == [["The fee is USD 70 per pet.", "Bags weigh up to 23 kg."], ["A new question?"]]
    assert np.array_equal(again[0], first[1]) and np.array_equal(again[1], first[0])
    assert np.allclose(again[2], embed(["A new question?"])[0], atol=1e-3)
    cached(["One more sentence here."])  # four texts, room for three: the least recently used (bags) goes
    cached(["The fee is USD 70 per pet."])
    assert asked[-1] == ["One more sentence here."]
    cached(["Bags weigh up to 23 kg."])
    assert asked[-1] == ["Bags weigh up to 23 kg."]
