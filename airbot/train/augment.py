"""Question paraphrase augmentation, offline: more wordings of each training question, same answer.

A fine-tuned FAQ bot learns the questions it is shown; users word them differently. Each
training question gets ``train.augment`` extra wordings written by fixed templates (no model, no
network, the same on every machine): a casual lower-case form, a keyword form, a polite frame,
word swaps (cost/price, fee/charge, can I/am I allowed to, ...). The answer is unchanged, so the
figures the bot learns stay the user's. The base model was tried as the paraphraser and could
not do it (SmolLM2-135M answered the question or refused instead of rewording it)::

    python -c "from airbot.train.augment import rewordings; print(rewordings('How much is delivery?', 3))"
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable

from airbot.prompts import Message

# Word and phrase swaps people make between wordings of one question (left -> right and back).
SWAPS = (("how much is", "what is the price of"), ("how much does", "what does it cost for"),
         ("cost", "price"), ("fee", "charge"), ("can i", "am i allowed to"), ("do you", "does your business"),
         ("is there", "do you have"), ("buy", "purchase"), ("cancel", "call off"), ("book", "reserve"),
         ("maximum", "most"), ("minimum", "smallest"), ("allowed", "permitted"), ("need to", "have to"),
         ("get", "receive"), ("free", "at no cost"), ("when", "at what time"), ("how long", "for how long"),
         ("what's", "what is"), ("i'm", "i am"), ("don't", "do not"), ("can't", "cannot"))
_WH = {"how", "what", "when", "where", "which", "who", "why", "much", "many", "long", "can", "do", "is", "are"}
_FILLER = {"a", "an", "the", "to", "of", "for", "my", "your", "me", "i", "you", "please", "it", "be", "in", "on",
           "at", "and", "or", "there", "any", "some"}


def _bare(question: str) -> str:
    return question.strip().rstrip("?!. ").strip()


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text[:2] != text[:2].upper() else text


def casual(question: str) -> str:
    """'How much is delivery?' -> 'how much is delivery'."""
    return _bare(question).lower()


def keywords(question: str) -> str:
    """'How much is the delivery fee for my order?' -> 'how much delivery fee order?'."""
    words = re.findall(r"[\w$€£%'.,-]+", _bare(question).lower())
    kept = [w for w in words if w in _WH or w not in _FILLER]
    return " ".join(kept) + "?"


def polite(question: str) -> str:
    """'How much is delivery?' -> 'Could you tell me how much is delivery?'."""
    return f"Could you tell me {_lower_first(_bare(question))}?"


def greeting(question: str) -> str:
    return f"Hi, quick question: {_lower_first(_bare(question))}?"


def swapped(question: str) -> str:
    """Every swap of SWAPS that applies, both ways (whole words only)."""
    out = question
    for left, right in SWAPS:
        for a, b in ((left, right), (right, left)):
            pattern = re.compile(rf"\b{re.escape(a)}\b", re.IGNORECASE)
            if pattern.search(out):
                out = pattern.sub(b, out, count=1)
                break
    return out


TEMPLATES: tuple[Callable[[str], str], ...] = (swapped, casual, polite, keywords, greeting)


def rewordings(question: str, count: int) -> list[str]:
    """Up to ``count`` different wordings of ``question`` (never the question itself), always in the same order
    for the same question."""
    start = int(hashlib.sha256(question.encode()).hexdigest(), 16) % len(TEMPLATES)
    seen = {question.strip().lower()}
    found: list[str] = []
    for k in range(len(TEMPLATES)):
        candidate = TEMPLATES[(start + k) % len(TEMPLATES)](question).strip()
        if candidate and candidate.lower() not in seen:
            seen.add(candidate.lower())
            found.append(candidate)
        if len(found) == count:
            break
    return found


def augmented(rows: list[list[Message]], count: int) -> list[list[Message]]:
    """``rows`` followed by ``count`` reworded copies of each single-turn row (multi-turn rows are kept as they are)."""
    if count <= 0:
        return rows
    extra = []
    for row in rows:
        users = [i for i, m in enumerate(row) if m["role"] == "user"]
        if len(users) != 1:
            continue
        for wording in rewordings(row[users[0]]["content"], count):
            extra.append([*row[:users[0]], {"role": "user", "content": wording}, *row[users[0] + 1:]])
    return rows + extra
