"""Clause numbers: finding them at the start of a line, however a document writes them, and
comparing them.

Policies number their rules in a few families, and a citation is only useful if the chunk
keeps the number the reader will look up. Every spelling reduces to one canonical id:

    ``1.2``, ``1.2.3``, ``4.2.1.``, ``3)``           -> ``1.2``, ``1.2.3``, ``4.2.1``, ``3``
    ``Article 5``, ``Art. 5.1``, ``ARTICLE IV``      -> ``Article 5``, ``Article 5.1``, ``Article IV``
    ``Section 4.2``, ``Sec. 4.2``, ``Clause 7(b)``   -> ``Section 4.2``, ``Section 4.2``, ``Clause 7(b)``
    ``§ 2.1``, ``§2.1``, ``¶ 3``                     -> ``§2.1``, ``§2.1``, ``¶3``

The words are the generic vocabulary of numbered rules (article, section, clause, rule,
regulation, part, chapter, paragraph and their usual abbreviations), not any one domain's::

    python -c "from airbot.knowledge.clauses import clause_id; print(clause_id('Art. 2.3 Calls are charged', False))"
"""

from __future__ import annotations

import re

# Abbreviation (lower case, no dot) -> the word a citation spells out.
_WORDS = {"article": "Article", "art": "Article", "section": "Section", "sect": "Section", "sec": "Section",
          "clause": "Clause", "cl": "Clause", "rule": "Rule", "regulation": "Regulation", "reg": "Regulation",
          "part": "Part", "chapter": "Chapter", "ch": "Chapter", "paragraph": "Paragraph", "para": "Paragraph"}
# A number: 5, 5A, 5.1, 4.2.1, 7(b), 4.2(a)(ii); or an upper-case Roman numeral (IV), never "civil".
_NUMBER = r"(?:\d+[A-Za-z]?(?:\.\d+[A-Za-z]?)*(?:\s?\([a-z0-9]{1,4}\))*|(?-i:[IVXLC]+)\b)"
_WORD_ALT = "|".join(sorted(_WORDS, key=len, reverse=True))
CLAUSE_WORD = re.compile(rf"^(?:(?P<word>{_WORD_ALT})\b\.?\s*|(?P<sign>[§¶])\s*)(?P<num>{_NUMBER})"
                         r"[.:)]?(?:\s+|$|(?=[-—–]))", re.IGNORECASE)
CLAUSE_DOTTED = re.compile(r"^(\d+(?:\.\d+)+)(?:\s?\(([a-z0-9]{1,4})\))?\.?\)?\s+(?=\S)")
CLAUSE_SINGLE = re.compile(r"^(\d+)[.)]\s+(?=\S)")
_DOTTED_NUMBER = re.compile(r"^(\d+(?:\.\d+)*)\.?\s")


def _word_id(match: re.Match[str]) -> str:
    number = re.sub(r"\s+", "", match.group("num"))
    if match.group("sign"):
        return f"{match.group('sign')}{number}"
    return f"{_WORDS[match.group('word').lower()]} {number}"


def clause_id(line: str, allow_single: bool) -> str | None:
    """The canonical clause number a line opens with (``1.2``, ``Article 5.1``), or None.

    Bare ``3.`` numbers count only in documents without dotted numbers, where they are the
    clause scheme; in documents that have ``1.2`` clauses they are list items inside one.
    """
    if m := CLAUSE_WORD.match(line):
        return _word_id(m)
    if m := CLAUSE_DOTTED.match(line):
        return m.group(1) + (f"({m.group(2)})" if m.group(2) else "")
    if allow_single and (m := CLAUSE_SINGLE.match(line)):
        return m.group(1)
    return None


def heading_clause(text: str) -> str | None:
    """The clause number of a heading ("4.2 Refunds", "Article 3 — Roaming", "§ 2"), or None."""
    if found := clause_id(text, allow_single=True):
        return found
    return m.group(1) if (m := _DOTTED_NUMBER.match(text)) else None


def depth(clause: str) -> int:
    """How deep a clause number sits: ``Article 3`` 1, ``3.2`` 2, ``4.2.1`` 3."""
    return number_of(clause).split("(")[0].count(".") + 1


def strip_clause_number(text: str) -> str:
    """The text without the clause number it opens with: the number means nothing to a sentence
    embedder or to a reader of the quoted sentence, the words after it do."""
    if m := CLAUSE_WORD.match(text):
        return text[m.end():].lstrip(" -—–:")
    if m := CLAUSE_DOTTED.match(text) or CLAUSE_SINGLE.match(text):
        return text[m.end():]
    return text


def canonical(clause: str) -> str:
    """One spelling per clause, so "Art. 1.1", "ARTICLE 1.1" and "Article 1.1" compare equal."""
    text = clause.strip()
    return clause_id(text + " x", allow_single=True) or text.rstrip(".")


def number_of(clause: str) -> str:
    """The number part of a canonical clause id ("Article 1.1" -> "1.1", "§2" -> "2")."""
    return re.sub(r"^(?:[A-Z][a-z]+ |[§¶])", "", clause)


def within(got: str | None, want: str | None) -> bool:
    """Whether a cited clause ``got`` is ``want`` or one of its sub-clauses ("Article 1.3" lies
    within "Article 1", "1.2(b)" within "1.2"). A label may be written without the word the
    document uses ("1.2" for "Section 1.2"); two different words never match."""
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
