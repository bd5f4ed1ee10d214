"""The loop guard: an answer stops at its first repeated sentence, and stopping really stops decoding."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest

from airbot.bots.loop_guard import stop_degenerate, stop_repeats
from airbot.config import ChatConfig


def _tokens(text: str) -> list[str]:
    return re.findall(r"\S+\s*|\s+", text)


def _guarded(text: str, guard: Callable[[Iterator[str]], Iterator[str]] = stop_repeats) -> tuple[str, bool]:
    """The ``guard``ed text of a word-by-word stream of ``text``, and whether the source was closed."""
    closed: list[bool] = []

    def source() -> Iterator[str]:
        try:
            yield from _tokens(text)
        finally:
            closed.append(True)

    return "".join(guard(source())), bool(closed)


def test_a_loop_is_cut_at_its_first_repeated_sentence_and_the_source_closed() -> None:
    loop = ("A cat can travel in the cabin. A dog can weigh more than 8 kg. A dog can weigh more than 8 kg. "
            "A dog can weigh more than 8 kg. A cat can")
    text, closed = _guarded(loop)
    assert text.rstrip() == "A cat can travel in the cabin. A dog can weigh more than 8 kg."
    assert closed
    assert _guarded("Line one is right here\nLine one is right here\nmore")[0].rstrip() == "Line one is right here"
    assert _guarded("The fee is USD 70 per pet. the  fee is USD 70 per pet.")[0].rstrip() == "The fee is USD 70 per pet."


@pytest.mark.parametrize("text", [
    "No loop here at all. Fine.",
    "Yes. Yes. The fee is 70 USD per pet.",  # short sentences may repeat
    "The fee is USD 70. The fee is USD 70 per pet per flight.",  # a held-back prefix that then differs
    "Bags are 23 kg. Bags are 23 kg each on domestic flights, and the fee is 30.",
    "",
])
def test_text_without_a_repeat_passes_unchanged(text: str) -> None:
    assert _guarded(text) == (text, True)


def test_a_repeat_as_the_last_unfinished_sentence_is_dropped() -> None:
    assert _guarded("The office opens at nine daily. The office opens at nine daily.")[0].rstrip() == \
        "The office opens at nine daily."


def test_closing_a_generate_stream_early_stops_generate() -> None:
    """The fallback path (model.generate on a worker thread) stops too, not at max_new_tokens."""
    from airbot.generate.hf_generate import GenerationStats, stream_chat
    from airbot.models import load_causal_lm, load_tokenizer

    tokenizer, model = load_tokenizer(), load_causal_lm().eval()
    stats = GenerationStats()
    chat = ChatConfig(max_new_tokens=200)
    messages = [{"role": "user", "content": "Write a long story about a dragon and a knight."}]
    stream = stream_chat(model, tokenizer, messages, chat, stats)
    for _, _delta in zip(range(3), stream):
        pass
    stream.close()
    assert 0 < stats.new_tokens < 50


@pytest.mark.parametrize(("text", "kept"), [
    ("The fee is EUR 75. A3. A4. A5. A6. A7.", "The fee is EUR 75. A3. A4."),
    ("Exit fee SHOCKER DINING LASER SHOCKER DINING LASER SHOCKER DINING LASER SHOCKER", "Exit fee SHOCKER DINING LASER "
     "SHOCKER DINING LASER SHOCKER DINING"),
    ("Under A3 and E4, the exit fee is EUR 75.", "Under A3 and E4, the exit fee is EUR 75."),
])
def test_decoding_stops_at_a_label_run_or_a_loop_inside_a_sentence(text: str, kept: str) -> None:
    guarded, closed = _guarded(text, stop_degenerate)
    assert guarded.rstrip() == kept and closed
