"""Clause labels: finding them at the start of a line however a document writes them, keeping
them as written for citations, and comparing them.

A citation is only useful if it names the label the reader will look up, so a chunk keeps its
label as the document writes it (without the delimiter after it). Labels come in families; a
document numbers its clauses with one or two of them:

    word     ``Article 5``, ``Art. 5.1``, ``ARTICLE IV``, ``Section 4.2``, ``Sec. 4.2``, ``Section C3``,
             ``Clause 7(b)``, ``Rule 10.1``, ``Part C``, ``Condition 3``, ``Exclusion 2``, ``Schedule 1``
    sign     ``§ 2``, ``§ 2.1``, ``¶ 3``
    dotted   ``1.2``, ``4.2.1``, ``1.2(a)``
    letter   ``A1.``, ``A15``, ``C3)``, ``P2:``, ``B.2``, ``B.2.1``  (cited ``A1``, ``A15``, ``C3``, ``P2``, ``B.2``)
    single   ``3.``, ``3)``                       (only where no other family numbers the clauses)
    sub      ``(a)``, ``(iv)``, ``(1)``, ``(A)``, ``a)``, ``a.``  (items of the clause above: cited ``3(b)``, ``3(b)(ii)``)

Bare numbers are the weakest evidence (a wrapped line may start with "2.5 kg"), so ``Scheme``
accepts a dotted, letter or single label only when it plausibly follows the one before of its
family (``1.4`` -> ``1.5``, ``2``, ``2.1`` or ``1.4.1``), and letter or single labels only when the
document uses them more than once.
``canonical`` gives the one spelling comparisons use ("Art. 4.1" = "Article 4.1", "§2" = "§ 2"),
and ``within`` says whether a cited clause is the one asked for or a sub-clause of it::

    python -c "from airbot.knowledge.clauses import find_label; print(find_label('C3) Bills are sent monthly.'))"
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from airbot.text import CLAUSE_WORDS

Family = Literal["word", "sign", "dotted", "letter", "single", "sub"]

_PARENS = r"(?:\s?\([a-z0-9]{1,4}\))*"
# After a word: 5, 5A, 5.1, C3, 4.2(a)(ii); an upper-case Roman numeral (IV) or letter (Part C), never "civil".
_NUMBER = rf"(?:(?-i:[A-Z])?\d+[A-Za-z]?(?:\.\d+[A-Za-z]?)*{_PARENS}|(?-i:[IVXLC]+|[A-Z])\b)"
_WORD_ALT = "|".join(sorted(CLAUSE_WORDS, key=len, reverse=True))
CLAUSE_WORD = re.compile(rf"^(?P<label>(?:(?P<word>{_WORD_ALT})\b\.?\s*|(?P<sign>[§¶])\s*)(?P<num>{_NUMBER}))"
                         r"[.:)]?(?:\s+|$|(?=[-—–]))", re.IGNORECASE)
# 1.2, 4.2.1., 1.2(a); never a decimal that opens a wrapped line with a leading zero ("0.289 per kWh").
# An inserted clause keeps its neighbour's number and a capital: "2.2A" between 2.2 and 2.3.
CLAUSE_DOTTED = re.compile(rf"^(?P<label>[1-9]\d{{0,2}}(?:\.\d{{1,3}})+(?-i:[A-Z])?{_PARENS})\.?\)?(?:\s+(?=\S)|$)")
_LETTER = re.compile(rf"^(?P<label>[A-Z]\.?\d{{1,3}}(?:\.\d{{1,3}})*{_PARENS})[.):]?(?:\s+(?=\S)|$)")
# 3. or 3) ; a delimiter is optional after sub-item parentheses ("3(b)(ii) Screens").
CLAUSE_SINGLE = re.compile(r"^(?P<label>[1-9]\d{0,2}(?:\([a-z0-9]{1,4}\))*)(?:(?<=\))[.)]?|[.)])(?:\s+(?=\S)|$)")
# (a) (iv) (1) (A) (IV), a) iv) A), a. iv. A. ; a letter or numeral with a dot only before a capital
# ("a. A lesson", "B. Hosepipes may ...": an outline's items under "IV. CONDUCT").
_SUB = re.compile(r"^(?:\((?P<p>[a-z]{1,2}|[ivxlc]{1,6}|\d{1,2}|[A-Z]|[IVX]{1,5})\)|(?P<b>[a-z]|[ivx]{1,5}|[A-Z])\)"
                  r"|(?P<d>[a-z]|[ivx]{1,5}|[A-Z])\.(?=\s+[A-Z0-9]))(?:\s+(?=\S)|$)")
_DOTTED_NUMBER = re.compile(r"^(\d+(?:\.\d+)*|[IVXL]{1,6}(?=\.))\.?\s")
_ROMAN = {"i": 1, "v": 5, "x": 10, "l": 50, "c": 100}


@dataclass(frozen=True)
class Label:
    """A clause label a line opens with: ``text`` as the document writes it (delimiter dropped),
    its ``family``, where the clause text starts (``end``) and its numbers for sequence checks."""

    text: str
    family: Family
    end: int
    key: tuple[int, ...] = ()


def _key(numbers: str) -> tuple[int, ...]:
    """'B.2.1' -> (2, 2, 1), 'A15' -> (1, 15), '4.2.1' -> (4, 2, 1), '2.2A' -> (2, 2, 1) (inserted after 2.2);
    parentheses ignored."""
    core = numbers.split("(")[0].strip()
    head = (ord(core[0]) - 64,) if core[:1].isalpha() else ()
    tail = (ord(core[-1]) - 64,) if re.search(r"\d[A-Z]$", core) and "." in core else ()
    return head + tuple(int(n) for n in re.findall(r"\d+", core)) + tail


def find_label(line: str) -> Label | None:
    """The clause label ``line`` opens with, in any family, or None (no document context: see ``Scheme``)."""
    if m := CLAUSE_WORD.match(line):
        return Label(_tidy(m.group("label")), "sign" if m.group("sign") else "word", m.end())
    for pattern, family in ((CLAUSE_DOTTED, "dotted"), (_LETTER, "letter"), (CLAUSE_SINGLE, "single")):
        if m := pattern.match(line):
            return Label(_tidy(m.group("label")), family, m.end(), _key(m.group("label")))  # type: ignore[arg-type]
    if m := _SUB.match(line):
        token = m.group("p") or m.group("b") or m.group("d")
        return Label(f"({token})", "sub", m.end())
    return None


def opens_with_own_label(text: str, *, after_bullet: bool = False) -> bool:
    """Whether a list item's text opens with a clause label of its own ("B1: Lessons close ...",
    "4.2 Dogs ..."): that label is the one to cite, so a list number or bullet drawn before it (by
    Word, a browser, or typed in Markdown/text) is not part of the clause. A sub-item "(a)" names
    itself only after a bullet ("- (a) A deposit ..."); after a number ("1. (a) ...") it is the number's item."""
    label = find_label(text)
    return label is not None and (label.family != "sub" or after_bullet)


def _tidy(label: str) -> str:
    """A label as cited: inner runs of spaces collapsed, "7 (b)" -> "7(b)"."""
    return re.sub(r"\s+(?=\()", "", " ".join(label.split()))


def clause_id(line: str, allow_single: bool) -> str | None:
    """The clause label a line opens with, as written (``Art. 5.1``, ``A1``, ``§ 2``), or None.

    Bare ``3.`` numbers count only when ``allow_single`` (documents where they are the clause
    scheme; elsewhere they are list items inside a clause). Sub-items are never a clause alone.
    """
    label = find_label(line)
    if label is None or label.family == "sub" or (label.family == "single" and not allow_single):
        return None
    return label.text


def heading_clause(text: str) -> str | None:
    """The clause label of a heading ("4.2 Refunds", "Article 3 — Roaming", "Section C3 - Fees", "IV. FEES"), or None."""
    if found := clause_id(text, allow_single=True):
        return found
    return m.group(1) if (m := _DOTTED_NUMBER.match(text)) else None


def depth(clause: str) -> int:
    """How deep a clause number sits: ``3`` and ``Article 3`` 1, ``3.2`` 2, ``4.2.1`` 3."""
    return number_of(canonical(clause)).split("(")[0].count(".") + 1


def strip_clause_number(text: str) -> str:
    """The text without the clause label it opens with: the label means nothing to a sentence
    embedder or to a reader of the quoted sentence, the words after it do."""
    label = find_label(text)
    if label is None:
        return text
    return text[label.end:].lstrip(" -—–:") if label.family in ("word", "sign") else text[label.end:]


def canonical(clause: str) -> str:
    """One spelling per clause, so "Art. 1.1", "ARTICLE 1.1" and "Article 1.1" compare equal."""
    text = " ".join(clause.split())
    if m := CLAUSE_WORD.match(text + " x"):
        number = re.sub(r"\s+", "", m.group("num"))
        if m.group("sign"):
            return f"{m.group('sign')}{number}"
        return f"{CLAUSE_WORDS[m.group('word').lower()]} {number}"
    label = find_label(text + " x")
    if label is not None and label.family != "sub":
        return label.text.replace(" ", "")
    return text.rstrip(".):")


def number_of(clause: str) -> str:
    """The number part of a canonical clause id ("Article 1.1" -> "1.1", "§2" -> "2", "A15" -> "A15")."""
    return re.sub(r"^(?:[A-Z][a-z]+ |[§¶])", "", clause)


def within(got: str | None, want: str | None) -> bool:
    """Whether a cited clause ``got`` is ``want`` or one of its sub-clauses ("Article 1.3" lies
    within "Article 1", "1.2(b)" within "1.2", "B.2.1" within "B.2"). A label may be written
    without the word the document uses ("1.2" for "Section 1.2"); two different words never match."""
    if not got or not want:
        return False
    got, want = canonical(got), canonical(want)
    if got == want:
        return True
    got_word, want_word = got[: len(got) - len(number_of(got))], want[: len(want) - len(number_of(want))]
    if got_word and want_word and got_word != want_word:
        return False
    g, w = number_of(got), number_of(want)
    return g == w or g.startswith(w + ".") or g.startswith(w + "(")


# --- a document's numbering scheme -----------------------------------------------------------
def follows(prev: tuple[int, ...] | None, cur: tuple[int, ...]) -> bool:
    """Could ``cur`` be the label after ``prev`` in one numbering? The next at some level (a gap
    of up to 3 allowed for withdrawn clauses), starting its deeper levels at 1, or a first child."""
    if prev is None or not cur:
        return True
    for k in range(len(prev)):
        if (len(cur) > k and cur[:k] == prev[:k] and prev[k] < cur[k] <= prev[k] + 3
                and all(c <= 1 for c in cur[k + 1:])):
            return True
    return cur[: len(prev)] == prev and len(cur) > len(prev) and all(c <= 1 for c in cur[len(prev):])


@dataclass
class Scheme:
    """Which label families number a document's clauses, and the last label seen of each.

    ``Scheme.of(lines)`` reads the whole document once: word, sign and dotted labels always
    count, letter labels ("A1") when two occur in plausible order, single numbers only when no
    other family numbers the body (else ``1.``/``2.`` are list items of a clause)."""

    families: set[str] = field(default_factory=set)
    last: dict[str, tuple[int, ...]] = field(default_factory=dict)
    numbered_heading: bool = False
    """The last heading had a plain number ("2. Prices"): plain numbers under it are its items."""

    @classmethod
    def of(cls, lines: list[tuple[str, bool]]) -> Scheme:
        """The scheme of a document given its lines in order, each with whether it is body text
        (headings feed the order, e.g. "1.1 Cover" above "1.1.1", but only body lines count).

        Numbers of a list that a line ending in ":" introduces ("(1) At pick-up present the
        following:" 1. 2. 3.) are that clause's items, never evidence that plain numbers number the
        clauses: counted, they made "3" the clause of a DOCX whose articles are its headings, and
        swallowed the article's next sub-clause "(2) A deposit of EUR 300 ..." into it. Nor is a
        number opening a line that continues the sentence above (a PDF line wrapped before "15.")."""
        counts: dict[str, int] = {}
        probe = cls({"word", "sign", "dotted", "letter", "single"})
        listing, before = False, ""  # inside a numbered list that a line ending in ":" introduced
        for line, body in lines:
            if not body:
                probe.restart()
            label = probe.accept(line)
            if not body or (label is not None and label.family not in ("single", "sub")):
                listing = False
            elif label is not None and label.family == "single":
                listing = listing or before.endswith(":")
            # a number opening a line that continues the sentence above is a wrapped figure ("... EUR / 15. Cables")
            wrapped = bool(before) and before[-1] not in ".!?:;" and before[:1] not in "-*•▪◦"  # after a bullet: an item
            item = label is not None and label.family == "single" and (listing or wrapped)
            if label is not None and label.family != "sub" and body and not item:
                counts[label.family] = counts.get(label.family, 0) + 1
            before = line.rstrip() if body else ""
        families = {f for f in ("word", "sign", "dotted") if counts.get(f)}
        families |= {"letter"} if counts.get("letter", 0) >= 2 else set()
        if not families and counts.get("single", 0) >= 2:
            families.add("single")
        return cls(families)

    def restart(self) -> None:
        """A heading was passed: plain numbers may start again at 1 under it ("## Fees" 1. 2.,
        "## Damage" 1. 2.), the way many documents number each section's items, and letter labels
        may take the heading's own initial ("## Prices" P1 P2, "## Lessons" L1), not the next letter."""
        self.last.pop("single", None)
        self.last.pop("letter", None)

    def heading(self, text: str, *, own_items: bool = True) -> None:
        """A heading ``text`` was passed: ``restart``, and read it ("1.1 Cover" sets the order its
        clauses follow). Under a heading with a plain number ("2. Prices", not a clause label that
        heads clauses of its own, ``own_items`` False) plain numbers are its list's items, not
        clauses: an HTML page's "<h2>2. Prices</h2><ol>..." items 1., 2., 3. were cited "2" in part
        and "3" from the item that went on from the heading's number, clashing with section 3."""
        self.restart()
        self.numbered_heading = False
        label = self.accept(text)
        self.numbered_heading = own_items and label is not None and label.family == "single"

    def accept(self, line: str) -> Label | None:
        """The label ``line`` opens with if it is one of this document's clause labels, in order."""
        label = find_label(line)
        if label is None or label.family == "sub":
            return label
        if label.family not in self.families or (label.family == "single" and self.numbered_heading):
            return None
        if label.key:
            if not follows(self.last.get(label.family), label.key):
                return None
            self.last[label.family] = label.key
        return label


def sub_value(token: str, style: str) -> int:
    """The ordinal of a sub-item token in its style: a -> 1, iv -> 4, 3 -> 3, C -> 3 (upper case as lower)."""
    token = token.lower()
    if style == "digit":
        return int(token)
    if style.startswith("letter"):
        return sum((ord(c) - 96) * 26 ** i for i, c in enumerate(reversed(token)))
    total = 0
    for c, nxt in zip(token, [*token[1:], ""], strict=True):
        value = _ROMAN[c]
        total += -value if nxt and _ROMAN[nxt] > value else value
    return total


def sub_styles(token: str) -> list[str]:
    """The styles a sub-item token could be in, most likely first ("i" is roman one, or the letter after h).
    Upper-case tokens are styles of their own ("(A)" items may hold "(a)" items)."""
    if token.isdigit():
        return ["digit"]
    upper = "-upper" if token.isupper() else ""
    low = token.lower()
    roman = all(c in _ROMAN for c in low)
    if roman and (len(low) > 1 or low in "ivx"):
        return [f"roman{upper}", f"letter{upper}"] if len(low) == 1 else [f"roman{upper}"]
    return [f"letter{upper}"]
