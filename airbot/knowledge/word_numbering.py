"""The numbers Word draws before numbered paragraphs, rendered from the document's own definitions.

A DOCX keeps a list item's number out of the paragraph's text: the paragraph (or its style) names
a list and a level (``w:numPr``: ``numId``, ``ilvl``) and ``word/numbering.xml`` says how that level
is drawn (``%1.%2`` with decimal, letter or roman counters, a start value, restarts). Policies
written in Word often number every clause this way ("4.2 Refunds are ..." where Word draws the
"4.2"), so a reader that takes only the text finds no clause ids and cites "Section 4" instead.
python-docx reads the XML but does not render numbering; ``WordNumbering`` renders the part a
clause label needs (ECMA-376 part 1, 17.9): ``lvlText`` with ``%N`` place-holders, ``numFmt``
(decimal, zero-padded, letters, roman, bullets, none), ``start``, ``startOverride`` and level
overrides, ``isLgl``, levels tied to a style (``pStyle``, numbered headings), numbering inherited
from a paragraph style and its ``basedOn`` chain, lists built on one abstract definition sharing
their counters (as Word counts them), and deeper levels starting again under a new item::

    python -c "import docx; from airbot.knowledge.word_numbering import WordNumbering as W; \\
        d = docx.Document('terms.docx'); n = W(d); print([n.marker(p) for p in d.paragraphs][:9])"
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
LEVELS = 9
"""Word lists have levels 0-8."""


@dataclass(frozen=True)
class Level:
    """How one level of a list is drawn."""

    start: int = 1
    fmt: str = "decimal"
    text: str = "%1."
    legal: bool = False
    """``isLgl``: every counter this level shows is drawn as a decimal ("1.1.3", not "1.a.iii")."""
    style: str = ""
    """The paragraph style (id) this level belongs to, e.g. "Heading1" for numbered headings."""


def _val(node: Any, tag: str, default: str = "") -> str:
    child = node.find(W + tag) if node is not None else None
    return child.get(W + "val", default) if child is not None else default


def _int(text: str | None, default: int) -> int:
    """A whole number from an attribute, ``default`` where a damaged or odd file has none."""
    text = (text or "").strip()
    return int(text) if text.lstrip("-").isdigit() else default


def _level(node: Any) -> Level:
    return Level(start=_int(_val(node, "start"), 1), fmt=_val(node, "numFmt", "decimal"),
                 text=_val(node, "lvlText", ""), legal=node.find(W + "isLgl") is not None
                 and _val(node, "isLgl", "1") not in ("0", "false"), style=_val(node, "pStyle"))


class WordNumbering:
    """Renders each numbered paragraph's number in document order (counters advance as it goes)."""

    def __init__(self, document: Any) -> None:
        self.abstract: dict[str, dict[int, Level]] = {}
        self.lists: dict[str, tuple[str, dict[int, Level], dict[int, int]]] = {}
        """numId -> (abstractNumId, levels it redefines, startOverride per level)."""
        self.counts: dict[str, list[int | None]] = {}
        self.begun: set[str] = set()
        try:
            root = document.part.numbering_part.element
        except (KeyError, NotImplementedError):  # no numbering part: nothing is numbered by Word
            return
        for node in root.findall(W + "abstractNum"):
            self.abstract[node.get(W + "abstractNumId", "")] = {
                _int(lvl.get(W + "ilvl"), 0): _level(lvl) for lvl in node.findall(W + "lvl")}
        for node in root.findall(W + "num"):
            levels, starts = {}, {}
            for override in node.findall(W + "lvlOverride"):
                ilvl = _int(override.get(W + "ilvl"), 0)
                if (start := _val(override, "startOverride")).lstrip("-").isdigit():
                    starts[ilvl] = int(start)
                if (redefined := override.find(W + "lvl")) is not None:
                    levels[ilvl] = _level(redefined)
            self.lists[node.get(W + "numId", "")] = (_val(node, "abstractNumId"), levels, starts)

    def marker(self, paragraph: Any) -> str | None:
        """What Word draws before ``paragraph`` ("4.2 ", "(b) ", "- "), "" for an unnumbered one, None
        when it names a list the document does not define (the caller then guesses from the style)."""
        found = _numbering_of(paragraph)
        if found is None or found[0] == "0":  # numId 0 switches off numbering a style would give
            return ""
        num_id, ilvl = found
        if num_id not in self.lists:
            return None
        abstract, redefined, starts = self.lists[num_id]
        levels = {**self.abstract.get(abstract, {}), **redefined}
        if ilvl is None:  # a style tied to one level ("Heading2" -> level 1) names no level itself
            style_id = getattr(paragraph.style, "style_id", "") if paragraph.style is not None else ""
            ilvl = next((n for n, level in levels.items() if level.style and level.style == style_id), 0)
        ilvl = min(max(ilvl, 0), LEVELS - 1)
        counts = self.counts.setdefault(abstract, [None] * LEVELS)
        if num_id not in self.begun:  # a list instance that restarts its levels does so at its first item
            self.begun.add(num_id)
            for n, start in starts.items():
                if 0 <= n < LEVELS:
                    counts[n] = start - 1
        level = levels.get(ilvl, Level(text=f"%{ilvl + 1}."))
        current = counts[ilvl]
        counts[ilvl] = level.start if current is None else current + 1
        counts[ilvl + 1:] = [None] * (LEVELS - ilvl - 1)
        if level.fmt == "bullet":
            return "- "
        drawn = re.sub(r"%([1-9])", lambda m: self._counter(levels, counts, int(m.group(1)) - 1, level.legal),
                       level.text).strip()
        return drawn + " " if drawn else ""

    @staticmethod
    def _counter(levels: dict[int, Level], counts: list[int | None], n: int, legal: bool) -> str:
        level = levels.get(n, Level())
        value = counts[n] if counts[n] is not None else level.start
        return draw(value or 0, "decimal" if legal else level.fmt)


def _numbering_of(paragraph: Any) -> tuple[str, int | None] | None:
    """(numId, ilvl) from the paragraph's own properties, else from its style and the styles it is based on."""
    num_id: str | None = None
    ilvl: int | None = None
    nodes = [paragraph._p.pPr]
    style = paragraph.style
    while style is not None and len(nodes) < 20:
        nodes.append(style.element.pPr)
        style = style.base_style
    for ppr in nodes:
        numpr = ppr.find(W + "numPr") if ppr is not None else None
        if numpr is None:
            continue
        if num_id is None and numpr.find(W + "numId") is not None:
            num_id = _val(numpr, "numId")
        if ilvl is None and (text := _val(numpr, "ilvl")).isdigit():
            ilvl = int(text)
        if num_id is not None and ilvl is not None:
            break
    return None if num_id is None else (num_id, ilvl)


def draw(value: int, fmt: str) -> str:
    """``value`` as Word draws it in format ``fmt`` (3 -> "3", "03", "c", "C", "iii", "III")."""
    if fmt == "decimalZero":
        return f"{value:02d}"
    if fmt in ("lowerLetter", "upperLetter"):  # Word repeats the letter past z: aa, bb, ...
        letter = chr(ord("a") + (value - 1) % 26) * ((value - 1) // 26 + 1) if value > 0 else ""
        return letter.upper() if fmt == "upperLetter" else letter
    if fmt in ("lowerRoman", "upperRoman"):
        return roman(value).upper() if fmt == "upperRoman" else roman(value)
    if fmt == "none":
        return ""
    return str(value)


def roman(n: int) -> str:
    """Lower-case roman numeral (1 -> "i", 14 -> "xiv")."""
    out = ""
    for value, letters in ((1000, "m"), (900, "cm"), (500, "d"), (400, "cd"), (100, "c"), (90, "xc"), (50, "l"),
                           (40, "xl"), (10, "x"), (9, "ix"), (5, "v"), (4, "iv"), (1, "i")):
        while n >= value:
            out, n = out + letters, n - value
    return out
