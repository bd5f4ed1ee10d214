"""Text as airbot compares it: words, sentences, figures, and whether an answer states a fact.

One matcher for everyone: the evaluation, the forgetting probe, the grounding check and RAFT rows
all ask ``fact_present`` and ``figures``, so a fact counts the same way wherever it is checked.

Why facts are matched as tokens, not substrings: ``"25 kg" in "250 kg"`` is true for a substring
and wrong for a policy bot. Text is cut into canonical tokens first (numbers as numbers:
``60,000`` -> ``60000``, ``seven`` -> ``7``; currency after its amount: ``$75`` / ``USD 75`` ->
``75 usd``; unit spellings folded: ``kilograms`` -> ``kg``), then a fact must appear as a
contiguous run of those tokens, so its unit (the token after the number) has to agree too::

    python -c "from airbot.text import fact_present; print(fact_present('USD 75', 'It costs $75.'))"
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

# Small numbers are often written out ("seven days"); larger ones almost never are.
_UNITS_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
                "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty"]
_TENS_WORDS = {"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
NUMBER_WORDS: dict[str, int] = {w: i for i, w in enumerate(_UNITS_WORDS)} | _TENS_WORDS
_COMPOUND = re.compile(r"\b(twenty|" + "|".join(_TENS_WORDS) + r")[- ](" + "|".join(_UNITS_WORDS[1:10]) + r")\b")
CURRENCY_SYMBOLS = {"$": "usd", "€": "eur", "£": "gbp", "₹": "inr", "¥": "jpy"}
CURRENCY_WORDS = {"usd": "usd", "dollar": "usd", "eur": "eur", "euro": "eur", "gbp": "gbp",
                  "inr": "inr", "rupee": "inr", "jpy": "jpy", "yen": "jpy", "aud": "aud", "cad": "cad",
                  "chf": "chf", "sgd": "sgd", "aed": "aed", "cny": "cny"}
# Spellings of the same unit; the key is what appears in text, the value the canonical token.
UNIT_WORDS = {"kilogram": "kg", "kilo": "kg", "kgs": "kg", "kilogramme": "kg", "lbs": "lb", "hr": "hour",
              "hrs": "hour", "h": "hour", "min": "minute", "mins": "minute", "centimetre": "cm", "centimeter": "cm",
              "kilometre": "km", "kilometer": "km", "kms": "km", "millilitre": "ml", "milliliter": "ml",
              "litre": "l", "liter": "l", "percent": "%", "pct": "%", "wh": "wh", "watt-hour": "wh"}
_TOKEN = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|[a-z]+|[$€£₹¥%]")
_NUMBER = re.compile(r"[\d,]+(?:\.\d+)?")

# Words that carry no topic in a question; BM25 would otherwise reward clauses full of them.
_STOPWORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their then there these they "
    "this to was will with what whats which who whom how when where why can could do does did i im me my mine we "
    "our you your yours am have has had may might must shall should would get got any some much many".split())


def plain_words(text: str) -> list[str]:
    """Lower-case words and numbers, punctuation dropped: what "the same words in a row" compares
    (a prompt's text leaking into an answer, a question read back)."""
    return re.findall(r"[a-z0-9]+", text.lower())


def tokenize(text: str) -> list[str]:
    """BM25 terms: lower-cased words and numbers, stop words dropped, plural/verb endings cut."""
    return [_stem(w) for w in re.findall(r"\w+", text.lower()) if w not in _STOPWORDS]


@lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    """A tiny suffix stripper (bags→bag, charged→charg, charges→charg); enough for BM25 recall."""
    if word.isdigit() or len(word) <= 3:
        return word
    for suffix in ("ies", "ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


# A sentence ends at . ! ? (or ;) followed by space and a capital, digit or quote; never inside
# "e.g. x", "No. 5" or a decimal "2.5".
_ABBREVIATIONS = ("e.g", "i.e", "etc", "no", "nr", "art", "sec", "para", "approx", "incl", "min", "max", "vs",
                  "mr", "mrs", "ms", "dr", "st", "co", "inc", "ltd", "cf", "fig", "p", "pp", "vol")
_SPLIT = re.compile(r"(?<=[.!?;])\s+(?=[\"'(\[A-Z0-9€$£])")



# --- facts ------------------------------------------------------------------------------------
def _number_token(text: str) -> str:
    """'60,000' -> '60000', '75.00' -> '75', '2.50' -> '2.5': equal numbers, equal tokens."""
    value = float(text.replace(",", ""))
    return str(int(value)) if value.is_integer() else repr(value)


def _word_token(word: str) -> str:
    """Fold a word: number words to digits, currency and unit spellings to one token, plurals cut."""
    if word in NUMBER_WORDS:
        return str(NUMBER_WORDS[word])
    if word in UNIT_WORDS:
        return UNIT_WORDS[word]
    stem = word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word
    stem = UNIT_WORDS.get(stem, stem)
    return CURRENCY_WORDS.get(stem, stem)


def _is_number(token: str) -> bool:
    return bool(_NUMBER.fullmatch(token)) and token[0].isdigit()


@lru_cache(maxsize=4096)
def canonical_tokens(text: str) -> tuple[str, ...]:
    """The text as comparable tokens: lower case, numbers as numbers, currency after the amount."""
    low = text.lower().replace("us$", " usd ").replace("per cent", "percent")
    low = _COMPOUND.sub(lambda m: str(NUMBER_WORDS[m.group(1)] + NUMBER_WORDS[m.group(2)]), low)
    raw = _TOKEN.findall(low)
    tokens = [_number_token(t) if t[0].isdigit() else CURRENCY_SYMBOLS.get(t) or _word_token(t) for t in raw]
    return tuple(_currency_after_amount(tokens))


def _currency_after_amount(tokens: list[str]) -> list[str]:
    """'usd 75' -> '75 usd', so '$75', 'USD 75' and '75 USD' all read the same."""
    currencies = set(CURRENCY_WORDS.values())
    out: list[str] = []
    i = 0
    while i < len(tokens):
        if tokens[i] in currencies and i + 1 < len(tokens) and _is_number(tokens[i + 1]):
            out += [tokens[i + 1], tokens[i]]
            i += 2
            continue
        out.append(tokens[i])
        i += 1
    return out


def fact_present(fact: str, answer: str) -> bool:
    """Does ``answer`` state ``fact``? Numbers must be equal and a unit in the fact must follow it.

    An empty fact is trivially present. A fact is found when its canonical tokens occur as one
    contiguous run in the answer's, so "25 kg" never matches "250 kg" or "25 lb".
    """
    needle = canonical_tokens(str(fact))
    if not needle:
        return True
    hay = canonical_tokens(answer)
    n = len(needle)
    return any(hay[i:i + n] == needle for i in range(len(hay) - n + 1))


def fact_share(facts: Sequence[str], answer: str) -> float | None:
    """Share of ``facts`` stated in ``answer``; None when there are no facts to check."""
    if not facts:
        return None
    return sum(fact_present(f, answer) for f in facts) / len(facts)


def figures(text: str) -> set[str]:
    """The numbers a text states, canonical ('USD 1,500' -> '1500', 'seven' -> '7')."""
    return {t for t in canonical_tokens(text) if t[0].isdigit()}


def content_words(text: str) -> set[str]:
    """Topic words (stop words dropped, endings cut) for comparing an answer with its evidence."""
    return set(tokenize(text))


def split_sentences(text: str) -> list[str]:
    """A text's sentences; list items and lines stay whole, abbreviations and decimals never split."""
    body = text.strip()
    out: list[str] = []
    for line in (ln.strip() for ln in body.splitlines()):
        if not line:
            continue
        pieces = _SPLIT.split(line)
        merged: list[str] = []
        for piece in pieces:
            if merged and _ends_with_abbreviation(merged[-1]):
                merged[-1] = f"{merged[-1]} {piece}"
            else:
                merged.append(piece)
        out.extend(p.strip() for p in merged if p.strip())
    return out


def _ends_with_abbreviation(sentence: str) -> bool:
    last = sentence.rstrip(".").rsplit(None, 1)[-1].lower() if sentence.strip() else ""
    return sentence.endswith(".") and last in _ABBREVIATIONS


# --- the strict yardstick ---------------------------------------------------------------------
CLAUSE_WORDS = {"article": "Article", "art": "Article", "section": "Section", "sect": "Section", "sec": "Section",
                "clause": "Clause", "cl": "Clause", "rule": "Rule", "regulation": "Regulation", "reg": "Regulation",
                "part": "Part", "chapter": "Chapter", "ch": "Chapter", "paragraph": "Paragraph", "para": "Paragraph",
                # insurance wordings and contracts: "Condition 3", "Exclusion 2", "Schedule 1", "Item 4"
                "condition": "Condition", "exclusion": "Exclusion", "provision": "Provision", "schedule": "Schedule",
                "appendix": "Appendix", "annex": "Annex", "item": "Item"}
"""Words that name a clause before its number (lower case, no dot) -> the word a citation spells out;
the chunker's labels (airbot.knowledge.clauses) and the yardstick's label masking read the same list."""
_CLAUSE_WORD_ALT = "|".join(sorted(CLAUSE_WORDS, key=len, reverse=True))
# A clause label is a reference, not a figure: "A15", "B.2", "C3)", "Art. 3", "Section 4", "§ 2.1",
# "clause 7(b)". Its digits never count as a stated number (a "15" inside "A15" is not "15 days").
_LABEL = re.compile(
    rf"(?:\b(?:{_CLAUSE_WORD_ALT})\.?\s*"
    r"\d+(?:\.\d+)*(?:\s?\([a-z0-9]{1,4}\))*"
    r"|§+\s*\d+(?:\.\d+)*(?:\s?\([a-z0-9]{1,4}\))*"
    r"|\b[A-Z]\.?\d+(?:\.\d+)*(?:\([a-z0-9]{1,4}\))*(?=[\s.,;:)\]]|$)"
    r"|\b\d+(?:\.\d+)*(?:\((?:[a-h]|[ivx]{1,4})\))+"  # 3(b), 3(b)(ii)
    r"|\[\d+\])",  # airbot's own citation markers [1]
    re.IGNORECASE)
# A label written on its own as "1.4" or "4.2.1" opening a line or following "see"/"under". Opening a
# line, a number with a lower-case word after it is a measure ("2.1 metres", a fact or a wrapped line).
_BARE_LABEL = re.compile(r"^\d+(?:\.\d+){1,3}\b(?!\s?%)(?!\s+(?-i:[a-z]))"
                         r"|(?:(?<=\bsee )|(?<=\bunder ))\d+(?:\.\d+){1,3}\b(?!\s?%)", re.IGNORECASE | re.MULTILINE)
# A number written with digits, whole: "2,000" even before a comma ("GBP 2,000, unless"), never the
# "2" of "2,000" or a digit inside a word or a longer number.
_DIGITS = re.compile(r"(?<![\w.,])\d{1,3}(?:,\d{3})+(?:\.\d+)?(?!\w|,\d)|(?<![\w.,])\d+(?:\.\d+)?(?!\w|[.,]\d)")
_CURRENCY = r"(?:US\$|USD|EUR|GBP|CHF|AUD|CAD|INR|JPY|SGD|AED|[$€£¥₹])"
_FIGURE_PHRASE = re.compile(
    rf"{_CURRENCY}\s?\d{{1,3}}(?:,\d{{3}})+(?:\.\d+)?|{_CURRENCY}\s?\d+(?:\.\d+)?"
    rf"|\d{{1,3}}(?:,\d{{3}})+(?:\.\d+)?(?:\s?%|\s?{_CURRENCY}\b|\s[A-Za-z][A-Za-z-]*)?"
    rf"|\d+(?:\.\d+)?(?:\s?%|\s?{_CURRENCY}\b|\s[A-Za-z][A-Za-z-]*)?")
_NOT_UNITS = _STOPWORDS | {"per", "each", "every", "or", "and", "to", "from", "until", "after", "before", "up"}


def mask_labels(text: str) -> str:
    """The text with clause labels replaced by a neutral word, so their digits are not figures."""
    return _BARE_LABEL.sub(" clauseref ", _LABEL.sub(" clauseref ", text))


def labels(text: str) -> list[str]:
    """The clause labels a text writes, in order."""
    return [m.group(0).strip() for m in _LABEL.finditer(text)]


def stated_figures(text: str, *, digits_only: bool = False) -> set[str]:
    """The numbers a text states as figures (labels and digits inside longer tokens excluded),
    canonical. ``digits_only`` keeps numbers written with digits (an answer's "one of our agents"
    is not a figure it claims; a document's "seven days" is one it states)."""
    masked = mask_labels(text)
    if digits_only:
        return {_number_token(m.group(0)) for m in _DIGITS.finditer(masked)}
    return {t for t in canonical_tokens(masked) if t[0].isdigit()}


def key_figures(answer: str) -> list[str]:
    """The figures of a reference answer with their units ("EUR 25", "30 days", "12%"), used as its
    key facts when an evaluation file gives none. Clause labels are skipped."""
    found: list[str] = []
    for m in _FIGURE_PHRASE.finditer(mask_labels(answer)):
        phrase = m.group(0).strip()
        words = phrase.split()
        if len(words) > 1 and words[-1].lower() in _NOT_UNITS:
            phrase = " ".join(words[:-1])
        if phrase and phrase not in found:
            found.append(phrase)
    return found


def degenerate(text: str, *, partial: bool = False, evidence: str = "") -> str | None:
    """Why a text is not an answer, or None: a 3-word sequence said three times (a loop), three
    clause labels in a row (a label run), or mostly labels (a list of references, not an answer).
    ``partial``: the text is still being written, so only a loop or a label run count yet (an
    answer may open "Under A3 and E4, ..."). A repetition the ``evidence`` has too (table rows
    that repeat their column names, a clause that lists "A3, A4 and A5") is the document's, not
    the answer's."""
    words = re.findall(r"[a-z0-9']+", text.lower())
    theirs = _repeated_grams(evidence)
    counts: dict[tuple[str, ...], int] = {}
    for i in range(len(words) - 2):
        gram = tuple(words[i:i + 3])
        counts[gram] = counts.get(gram, 0) + 1
        if counts[gram] >= 3 and gram not in theirs:
            return f"loop: '{' '.join(gram)}' repeated 3 times"
    found = list(_LABEL.finditer(text))
    start = 0
    for i, (prev, cur) in enumerate(itertools.pairwise(found), 1):
        start = start if re.fullmatch(r"[\s.,;:&and-]*", text[prev.end():cur.start()]) else i
        run = text[found[start].start():cur.end()]
        if i - start >= 2 and " ".join(run.split()) not in " ".join(evidence.split()):
            return f"label run: {run[:60]!r}"
    rest = re.findall(r"[A-Za-z]{2,}", _LABEL.sub(" ", text))
    if not partial and len(found) >= 2 and len(rest) < 2 * len(found):
        return "a list of clause labels instead of an answer"
    return None


def _repeated_grams(text: str) -> set[tuple[str, ...]]:
    """The 3-word sequences a text says three times or more."""
    words = re.findall(r"[a-z0-9']+", text.lower())
    counts: dict[tuple[str, ...], int] = {}
    for i in range(len(words) - 2):
        gram = tuple(words[i:i + 3])
        counts[gram] = counts.get(gram, 0) + 1
    return {g for g, n in counts.items() if n >= 3}


@dataclass(frozen=True)
class Verdict:
    """The strict reader's verdict on one answer: right only when every key fact is stated, no
    figure is invented and the text does not degenerate."""

    missing: tuple[str, ...]
    invented: tuple[str, ...]
    degenerate: str | None

    @property
    def correct(self) -> bool:
        return not self.missing and not self.invented and self.degenerate is None

    @property
    def flags(self) -> list[str]:
        """One line per reason the answer is wrong (empty when it is right)."""
        return ([f"missing fact: {f}" for f in self.missing] + [f"invented figure: {f}" for f in self.invented]
                + ([self.degenerate] if self.degenerate else []))


def judge(answer: str, facts: Sequence[str], *, evidence: Sequence[str] = (), question: str = "") -> Verdict:
    """Judge ``answer`` as a careful reader does. (a) Every fact is stated, numbers matched whole and
    never inside a clause label or a longer number; (b) every figure the answer writes with digits
    is stated by the facts, the ``evidence`` (the right or cited clause, the reference answer) or
    the question; (c) the text does not loop or list labels."""
    masked = mask_labels(answer)
    missing = tuple(f for f in facts if not fact_present(mask_labels(str(f)), masked))
    allowed = set().union(*(stated_figures(t) for t in [*facts, *evidence, question]))
    invented = tuple(sorted(stated_figures(answer, digits_only=True) - allowed, key=lambda s: float(s)))
    return Verdict(missing, invented, degenerate(answer, evidence=" ".join(evidence)))


# --- text that addresses the model ------------------------------------------------------------
# Documents are data. A sentence in one that speaks to the model instead of the reader ("SYSTEM:
# ...", "ignore all previous instructions", chat-template tokens) is an attempt to steer the bot:
# the prompt leaves it out, grounding never quotes it, and the chunk browser flags it. The
# patterns are about how instructions to a model are written, never about any document's topic.
_ADDRESSES_MODEL = re.compile(
    r"^\W*(?:system|assistant|developer)(?:\s+(?:prompt|message|note))?\s*[:>]"
    r"|\b(?:ignore|disregard|forget|override|bypass)\b[^.!?\n]{0,40}?"
    r"\b(?:previous|prior|above|earlier|preceding|all|any|your|the\s+system)\b[^.!?\n]{0,30}?"
    r"\b(?:instructions?|prompts?|rules|messages|directions|guidelines|context)\b"
    r"|\bfrom\s+now\s+on,?\s+(?:you|the\s+(?:assistant|bot|model|ai))\b"
    r"|\byou\s+are\s+now\s+(?:a|an|the|my|in|no\s+longer)\b"
    r"|\b(?:new|updated|real|actual)\s+(?:system\s+)?instructions?\s*:"
    r"|\b(?:reveal|print|repeat|output|show)\b[^.!?\n]{0,30}?\b(?:system\s+prompt|hidden\s+instructions?)\b"
    r"|<\|?\s*(?:im_start|im_end|system|assistant|user|endoftext)\s*\|?>|\[/?INST\]|\#\#\#\s*(?:instruction|system)\b",
    re.IGNORECASE | re.MULTILINE)


def addresses_model(text: str) -> bool:
    """Whether ``text`` contains a sentence written to steer a language model rather than to inform a reader."""
    return bool(_ADDRESSES_MODEL.search(text))


def without_instructions(text: str) -> str:
    """``text`` with every sentence that addresses the model left out (the rest kept, in order, one
    line per original line): what a reader model is shown of a passage."""
    if not addresses_model(text):
        return text
    lines = []
    for line in text.splitlines():
        kept = [s for s in split_sentences(line) if not addresses_model(s)]
        if kept:
            lines.append(" ".join(kept))
    return "\n".join(lines)
