"""Pure scoring of one answer against its reference: key facts, similarity, ROUGE-L, refusals,
clause citations, and the interval arithmetic that turns a handful of scores into honest figures.

Nothing here loads a model; similarity takes the embedding function as an argument so the
evaluation can pass the shared embedder and the tests a fake one::

    python -c "from airbot.evaluate.metrics import figure_outcome; print(figure_outcome('It is now 25 kg.', '23 kg', '25 kg'))"

Why facts are matched as tokens, not substrings: ``"25 kg" in "250 kg"`` is true for a substring
and wrong for a policy bot. Text is cut into canonical tokens first (numbers as numbers:
``60,000`` -> ``60000``, ``seven`` -> ``7``; currency after its amount: ``$75`` / ``USD 75`` ->
``75 usd``; unit spellings folded: ``kilograms`` -> ``kg``), then a fact must appear as a
contiguous run of those tokens, so its unit (the token after the number) has to agree too.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from airbot.knowledge.clauses import clause_id, within
from airbot.text import fact_present

# How a bot says "I can't answer that". General phrasings, not one bot's sentence: the RAG bot's
# own refusal is caught by these too, and bots that set ``Answer.refused`` are believed first.
_DOCS = r"(?:the |our |my |these |those |your |available |provided )*(?:documents?|policy|policies|sources?|context|conditions|"\
        r"information|knowledge base|text|clauses?)"
REFUSAL_PATTERNS = [
    r"\b(?:i|we) (?:do not|don't|dont) (?:know|have (?:any |that |enough |this )?(?:information|details|data))",
    r"\b(?:i'm|i am|we're|we are) (?:not sure|unable|not able)",
    r"\b(?:i|we) (?:cannot|can't|can not|could not|couldn't) (?:find|answer|help|say|tell|provide|see|locate)",
    r"\b(?:cannot|can't|couldn't|could not|unable to) (?:find|locate) (?:any|this|that|it|an answer|information|anything)",
    r"\bnot (?:covered|mentioned|addressed|specified|stated|found|answered) (?:in|by) " + _DOCS,
    _DOCS + r" (?:do|does|did) not (?:cover|mention|say|contain|include|address|specify|answer)",
    _DOCS + r" (?:don't|doesn't|didn't) (?:cover|mention|say|contain|include|address|specify|answer)",
    r"\bno (?:relevant |matching )?(?:information|answer|details?|clause|mention) (?:was |is )?(?:found|available|"
    r"about|on|in|for|regarding)\b",
    r"\b(?:there is|there's|there are) no (?:relevant )?(?:information|mention|clauses?|details)",
    r"\boutside (?:the |my |our )?(?:scope|documents?|policy)",
    r"\bbeyond (?:the |my |our )?(?:scope|documents?)",
]
_REFUSAL = re.compile("|".join(f"(?:{p})" for p in REFUSAL_PATTERNS))
Z95 = 1.959963984540054


def figure_outcome(answer: str, old: str, new: str) -> str:
    """After a policy change: does the answer give the 'new' figure, the 'old' one, or 'neither'?

    An answer that states both (e.g. "it rose from 23 kg to 25 kg") counts as new: it is right.
    """
    if fact_present(new, answer):
        return "new"
    return "old" if fact_present(old, answer) else "neither"


# --- refusals and citations -------------------------------------------------------------------
def is_refusal(text: str, flagged: bool = False) -> bool:
    """Did the bot decline to answer? A bot's own ``refused`` flag wins; otherwise the wording.
    An empty answer is not a refusal: a bot that says nothing has not declined politely.

    Apostrophes are normalized (’ -> ') because models emit both.
    """
    if flagged:
        return True
    low = " ".join(text.lower().replace("’", "'").split())
    return bool(_REFUSAL.search(low))


def source_clause(source: Any) -> str | None:
    """The clause id of a cited source: its ``clause`` field, else the clause number its text opens
    with (any spelling ``airbot.knowledge.clauses`` reads: 1.2, Art. 1.2, § 2, Clause 7(b))."""
    clause = _get(source, "clause")
    if clause:
        return str(clause).strip()
    return clause_id(str(_get(source, "text") or "").lstrip(), allow_single=False)


def source_matches(source: Any, expected: str | None) -> bool:
    """Is ``source`` the expected clause? Clause ids compare in any spelling, a sub-clause counting
    for its parent ("Article 1.3" answers a question labelled "Article 1"); a document without
    numbers names its clauses by their headings, so a source under that heading counts too."""
    if not expected:
        return False
    if within(source_clause(source), str(expected).strip()):
        return True
    want = " ".join(str(expected).lower().split())
    section = str(_get(source, "section") or "")
    return any(" ".join(part.lower().split()) == want for part in section.split(" > "))


def clause_correct(expected: str | None, sources: Sequence[Any]) -> bool | None:
    """Is the expected clause among the sources (``source_matches``)? None when there is nothing
    to check (no expected clause, or a bot that cites no sources at all, such as the plain
    fine-tuned one)."""
    if not expected or not sources:
        return None
    return any(source_matches(s, expected) for s in sources)


def cited_texts(answer: str, sources: Sequence[Any]) -> list[str]:
    """The texts of the sources an answer cites by its ``[n]`` markers (all of them when it cites
    none): the clauses a reader can check its figures against."""
    marks = {int(n) for n in re.findall(r"\[(\d+)\]", answer)}
    texts = [str(_get(s, "text") or "") for s in sources]
    cited = [t for i, t in enumerate(texts, 1) if i in marks]
    return cited or texts


def evidence_texts(answer: str, sources: Sequence[Any], clause: str | None) -> list[str]:
    """What an answer's figures may come from, besides the reference, the facts and the question.

    When the question names its clause, only that clause (the sources that are it): a strict reader
    checks the answer against the right clause, so a figure quoted from a neighbouring clause is
    invented for this question, and an answer built on the wrong clause has no clause to lean on.
    Without a named clause, the clauses the answer cites are the best stand-in (``cited_texts``)."""
    if clause:
        return [str(_get(s, "text") or "") for s in sources if source_matches(s, clause)]
    return cited_texts(answer, sources)


def _get(obj: Any, key: str) -> Any:
    return obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)


# --- text similarity ------------------------------------------------------------------------------
def rouge_l(answer: str, reference: str) -> float:
    """ROUGE-L F1 (longest common subsequence of stemmed words), 0-1."""
    return float(_rouge_scorer().score(reference, answer)["rougeL"].fmeasure)


@lru_cache(maxsize=1)
def _rouge_scorer() -> Any:
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)


def cosine_similarities(answers: Sequence[str], references: Sequence[str],
                        embed: Callable[[list[str]], np.ndarray]) -> list[float]:
    """Cosine of each answer with its reference, using one batched call to ``embed``."""
    if not answers:
        return []
    vecs = np.asarray(embed([*answers, *references]), dtype=np.float32)
    norms = np.linalg.norm(vecs, axis=1, keepdims=True)
    unit = vecs / np.where(norms == 0, 1, norms)
    a, r = unit[: len(answers)], unit[len(answers):]
    return [round(float(x), 4) for x in np.sum(a * r, axis=1)]


# --- intervals ----------------------------------------------------------------------------------
def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """95% Wilson score interval for a proportion; sound for small n and for 0% or 100%,
    where the textbook normal interval collapses to a single point."""
    if n <= 0:
        return None
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4)


def mean_interval(values: Sequence[float]) -> tuple[float, float] | None:
    """95% Student-t interval for a mean; None with fewer than two values."""
    vals = [float(v) for v in values if v is not None]
    if len(vals) < 2:
        return None
    from scipy import stats

    mean = float(np.mean(vals))
    sem = float(np.std(vals, ddof=1)) / math.sqrt(len(vals))
    half = float(stats.t.ppf(0.975, len(vals) - 1)) * sem
    return round(mean - half, 4), round(mean + half, 4)


@dataclass
class Proportion:
    """A share with its count and interval, e.g. 7/10 = 0.70 [0.40, 0.89]."""

    k: int
    n: int

    @property
    def value(self) -> float | None:
        return round(self.k / self.n, 4) if self.n else None

    @property
    def ci(self) -> tuple[float, float] | None:
        return wilson_interval(self.k, self.n)


def proportion(flags: Sequence[bool | None]) -> Proportion:
    """Count the True among the flags that apply (None means not applicable, not wrong)."""
    applicable = [f for f in flags if f is not None]
    return Proportion(sum(bool(f) for f in applicable), len(applicable))


def mean_or_none(values: Sequence[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return round(float(np.mean(vals)), 4) if vals else None
