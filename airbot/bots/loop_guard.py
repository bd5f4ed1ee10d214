"""Stop an answer when it starts saying the same sentence again, or degenerates into a loop or a
run of clause labels (``stop_degenerate``).

A 135M model decoding greedily falls into loops ("A dog can weigh more than 8 kg. A dog can
weigh more than 8 kg. ...") until ``max_new_tokens``: the reader waits for text that adds
nothing. A repetition penalty would break the loop but also punishes the figures a RAG answer
must copy from its passages (it cut the model's own fact accuracy from 0.70 to 0.26 on the
airline sample), so the guard works on the answer's own sentences instead::

    for delta in stop_repeats(stop_degenerate(stream_chat(...))):   # what airbot.bots.kinds does

Text streams through untouched until the sentence being written could be a repeat (it is,
so far, the start of a sentence already said); only then is it held back. If it completes as
a repeat, it is dropped and the source generator is closed, which stops decoding. Short
sentences ("Yes.") may repeat: only sentences of ``MIN_WORDS`` words or more count.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from airbot.text import degenerate

MIN_WORDS = 4
_WORD_END = re.compile(r"[\s.,;:!?)\]]")
_BOUNDARY = re.compile(r"(?<=[.!?])\s+|\n+")


def _norm(sentence: str) -> str:
    return " ".join(sentence.lower().split())


class _Sentences:
    """The sentences of ``MIN_WORDS``+ words said so far (shorter ones may repeat), and whether a
    sentence in progress could still be one of them."""

    def __init__(self) -> None:
        self.said: set[str] = set()

    def is_repeat(self, sentence: str) -> bool:
        return _norm(sentence) in self.said

    def could_repeat(self, partial: str) -> bool:
        key = _norm(partial)
        return bool(key) and any(s.startswith(key) for s in self.said)

    def add(self, sentence: str) -> None:
        if len((key := _norm(sentence)).split()) >= MIN_WORDS:
            self.said.add(key)


def stop_repeats(deltas: Iterator[str]) -> Iterator[str]:
    """``deltas`` until the answer repeats a sentence of ``MIN_WORDS``+ words; then stop them."""
    sentences, text, opened, shown = _Sentences(), "", 0, 0  # opened: where the open sentence starts
    try:
        for delta in deltas:
            text += delta
            opened, repeat = _close_sentences(text, opened, sentences)
            if repeat:
                if head := text[shown:opened].rstrip():
                    yield head
                return
            # Hold back a sentence that could be a repeat (and the space before it) until it differs.
            upto = len(text[:opened].rstrip()) if sentences.could_repeat(text[opened:]) else len(text)
            if upto > shown:
                yield text[shown:upto]
                shown = upto
        if shown < len(text) and not sentences.is_repeat(text[opened:]):
            yield text[shown:]
    finally:
        close = getattr(deltas, "close", None)
        if close is not None:
            close()  # a generator: stops decoding now instead of at max_new_tokens


def _close_sentences(text: str, start: int, sentences: _Sentences) -> tuple[int, bool]:
    """Record each sentence ``text`` completes after ``start``, in order: (where the open rest
    starts, False), or (where the first repeated sentence starts, True)."""
    for boundary in _BOUNDARY.finditer(text, start):
        sentence = text[start:boundary.start()]
        if sentences.is_repeat(sentence):
            return start, True
        sentences.add(sentence)
        start = boundary.end()
    return start, False


def stop_degenerate(deltas: Iterator[str]) -> Iterator[str]:
    """``deltas`` until the text so far degenerates (``airbot.text.degenerate``: a 3-word sequence
    said three times, three clause labels in a row, a list of labels); then stop decoding.

    ``stop_repeats`` catches a repeated sentence; a small reader fed a list of clauses also
    echoes label runs ("A3. A4. A5. ...") and loops inside one sentence ("SHOCKER DINING LASER
    SHOCKER ..."), which never complete a sentence to repeat. The delta that made the text
    degenerate is not passed on; what came before it is judged as the answer."""
    text = ""
    try:
        for delta in deltas:
            text += delta
            # a loop or a label run is complete only at a word's end: check there (~0.1 ms a call)
            if _WORD_END.search(delta) and degenerate(text, partial=True):
                return
            yield delta
    finally:
        close = getattr(deltas, "close", None)
        if close is not None:
            close()
