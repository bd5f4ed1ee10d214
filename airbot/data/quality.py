"""How good a training set is: size, duplicates, lengths, lazy answers and topic spread.

Nothing here blocks training (``airbot.data.dataset`` rejects what cannot be used); these are the
warnings a careful person wants before spending GPU time. Every check works on any Q&A set:
thresholds are generic, and topic labels come from the data's own words::

    python -m airbot data check my_set.csv          # prints this report
    python -c "from airbot.data.dataset import read_dataset; from airbot.data.quality import quality_report; \
from airbot.models import shared_tokenizer; print(quality_report(read_dataset('my.csv'), shared_tokenizer()).warnings)"
"""

from __future__ import annotations

import math
import re
import statistics
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airbot.data.dataset import Conversation, LoadedDataset, check_lengths, read_dataset, templated, token_lengths
from airbot.models import DEFAULT_BASE

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from transformers import PreTrainedTokenizerBase

MIN_ROWS = 30
"""The seed guide: fine-tuning a support bot takes roughly 30-1000 examples."""
LORA_MAX_ROWS = 20_000
"""The seed guide: LoRA/QLoRA for fewer than 20K examples."""
NEAR_DUPLICATE = 0.95
REPEAT_OVERLAP = 0.8
SHORT_ANSWER_WORDS = 3
DOMINANT_TOPIC = 0.5
MAX_TOPICS = 8
MERGE_TOPICS = 0.75
"""Centre cosine above which two clusters are one topic (distinct topics measure about 0.2-0.65)."""
MAX_PAIRS = 200
_STOPWORD_TEXT = """a about above after again against all am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further had has have having he
her here hers him his how i if in into is it its itself just me more most my myself no nor not now of off on once only
or other our ours out over own same she should so some such than that the their theirs them then there these they
this those through to too under until up very was we were what when where which while who whom why will with would
you your yours yourself yourselves i'm i've it's don't can't what's get got may might must need also many much one"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())
"""Function words left out of topic labels (English; other languages just get busier labels)."""
WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?")


@dataclass
class LengthStats:
    """Token counts of one text per row, and a histogram for the UI."""

    min: int
    median: float
    p95: int
    max: int
    histogram: list[dict[str, Any]]
    """Bins as {'range': '0-31', 'start': 0, 'end': 31, 'count': n}."""


@dataclass
class Topic:
    """A cluster of similar questions, named by its most distinctive words."""

    label: str
    size: int
    share: float
    rows: list[int]
    """Source row numbers (first 20)."""
    example: str = ""
    """The question nearest the cluster's centre: what the topic is really about."""


@dataclass
class QualityReport:
    """Everything the Data tab and ``data check`` show about a training set."""

    rows: int
    format: str
    row_unit: str
    """'line', 'row' or 'item': how row numbers below are counted in the source file."""
    conversation_tokens: LengthStats
    answer_tokens: LengthStats
    exact_duplicates: list[list[int]] = field(default_factory=list)
    conflicting_answers: list[list[int]] = field(default_factory=list)
    near_duplicates: list[tuple[int, int, float]] = field(default_factory=list)
    repeats_question: list[int] = field(default_factory=list)
    short_answers: list[int] = field(default_factory=list)
    over_length: list[int] = field(default_factory=list)
    topics: list[Topic] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready mapping (the CLI's --json and the UI's API output)."""
        return asdict(self)

    def lines(self) -> list[str]:
        """Human-readable summary, one fact per line."""
        c, a = self.conversation_tokens, self.answer_tokens
        out = [f"{self.rows} rows ({self.format} format)",
               (f"tokens per conversation (chat template included): min {c.min}, median {c.median:g}, "
                f"p95 {c.p95}, max {c.max}"),
               f"tokens per answer: min {a.min}, median {a.median:g}, p95 {a.p95}, max {a.max}"]
        if self.topics:
            out.append("topics: " + "; ".join(f"{t.label} ({t.size})" for t in self.topics))
        out += [f"warning: {w}" for w in self.warnings] or ["no warnings"]
        return out


def quality_report(ds: LoadedDataset, tokenizer: PreTrainedTokenizerBase,
                   embedder: SentenceTransformer | None = None, *, max_length: int | None = None) -> QualityReport:
    """Measure ``ds``; ``max_length`` (train.max_length) flags rows training would cut."""
    questions = [question_text(m) for m in ds.rows]
    answers = [m[-1]["content"] for m in ds.rows]
    conv = token_lengths([templated(m, tokenizer) for m in ds.rows], tokenizer)
    report = QualityReport(len(ds), ds.format, ds.where(0).split()[0] if len(ds) else "row",
                           length_stats(conv), length_stats(token_lengths(answers, tokenizer)))
    number = ds.row_numbers
    report.exact_duplicates, report.conflicting_answers = _duplicates(questions, answers, number)
    report.repeats_question = [number[i] for i, (q, a) in enumerate(zip(questions, answers, strict=True))
                               if repeats(q, a)]
    report.short_answers = [number[i] for i, a in enumerate(answers) if len(words(a)) < SHORT_ANSWER_WORDS]
    report.over_length = [number[i] for i, n in enumerate(conv) if max_length and n > max_length]
    if len(ds) >= 2:
        vectors = _embed(questions, embedder)
        report.near_duplicates = _near_duplicates(vectors, questions, number)
        report.topics = _topics(vectors, questions, number)
    report.warnings = _warnings(report, max_length)
    return report


def question_text(messages: Conversation) -> str:
    """The user's side of a conversation (all user turns), which is what gets compared."""
    return "\n".join(m["content"] for m in messages if m["role"] == "user")


def words(text: str) -> list[str]:
    """Lowercase words (letters/digits in any script), for overlap and topic labels."""
    return WORD.findall(text.lower())


def _normalized(text: str) -> str:
    return " ".join(words(text))


def repeats(question: str, answer: str) -> bool:
    """The answer adds (almost) nothing to the question: most of its words are the question's."""
    answer_words = words(answer)
    if not answer_words:
        return False
    asked = set(words(question))
    return sum(w in asked for w in answer_words) / len(answer_words) >= REPEAT_OVERLAP


def length_stats(lengths: list[int], bins: int = 10) -> LengthStats:
    """min/median/p95/max and equal-width bins on round numbers."""
    if not lengths:
        return LengthStats(0, 0, 0, 0, [])
    ordered = sorted(lengths)
    p95 = ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]
    return LengthStats(ordered[0], statistics.median(ordered), p95, ordered[-1], _histogram(ordered, bins))


def _histogram(ordered: list[int], bins: int) -> list[dict[str, Any]]:
    low, high = ordered[0], ordered[-1]
    width = max(1, _nice(math.ceil((high - low + 1) / bins)))
    start = low // width * width
    counts = Counter((n - start) // width for n in ordered)
    top = max(counts)
    edges = [(start + b * width, start + (b + 1) * width - 1, counts.get(b, 0)) for b in range(top + 1)]
    return [{"range": f"{lo}-{hi}" if hi > lo else str(lo), "start": lo, "end": hi, "count": n} for lo, hi, n in edges]


def _nice(width: int) -> int:
    """Round a bin width up to 1, 2, 5 x 10^k so the axis reads well."""
    magnitude = 10 ** max(0, len(str(width)) - 1)
    return next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= width)


def _duplicates(questions: list[str], answers: list[str], number: list[int]) -> tuple[list[list[int]], list[list[int]]]:
    """Groups of rows identical after normalizing, and same-question rows whose answers differ."""
    pairs: dict[tuple[str, str], list[int]] = {}
    by_question: dict[str, set[str]] = {}
    rows_by_question: dict[str, list[int]] = {}
    for i, (q, a) in enumerate(zip(questions, answers, strict=True)):
        key = (_normalized(q), _normalized(a))
        pairs.setdefault(key, []).append(number[i])
        by_question.setdefault(key[0], set()).add(key[1])
        rows_by_question.setdefault(key[0], []).append(number[i])
    exact = [rows for rows in pairs.values() if len(rows) > 1]
    conflicting = [rows_by_question[q] for q, found in by_question.items() if len(found) > 1]
    return exact, conflicting


def _embed(texts: list[str], embedder: SentenceTransformer | None) -> Any:
    if embedder is None:
        from airbot.models import shared_embedder

        embedder = shared_embedder()
    return embedder.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)


def _near_duplicates(vectors: Any, questions: list[str], number: list[int]) -> list[tuple[int, int, float]]:
    """Pairs of differently worded questions with cosine >= NEAR_DUPLICATE, most similar first.

    Compared in blocks so 20K questions need a 1K x 20K matrix at a time, not 20K x 20K; the
    upper triangle only, and at most 5 x MAX_PAIRS candidates, so a file of near-copies stays fast.
    """
    import numpy as np

    normalized = [_normalized(q) for q in questions]
    found: list[tuple[int, int, float]] = []
    for start in range(0, len(vectors), 1024):
        sims = np.triu(vectors[start:start + 1024] @ vectors.T, k=start + 1)
        for i, j in zip(*np.nonzero(sims >= NEAR_DUPLICATE), strict=True):
            a, b = start + int(i), int(j)
            if normalized[a] != normalized[b]:
                found.append((number[a], number[b], round(float(sims[i, j]), 3)))
        if len(found) >= 5 * MAX_PAIRS:
            break
    return sorted(found, key=lambda p: -p[2])[:MAX_PAIRS]


def _topics(vectors: Any, questions: list[str], number: list[int]) -> list[Topic]:
    """KMeans over question embeddings (k = sqrt(n/2), at most MAX_TOPICS), biggest topic first.

    KMeans splits a big uniform group into look-alike clusters, which would hide exactly the
    imbalance this should reveal; clusters whose centres are nearly parallel are merged back.
    """
    k = min(MAX_TOPICS, round(math.sqrt(len(questions) / 2)))
    if k < 2:
        return []
    from sklearn.cluster import KMeans

    labels = KMeans(n_clusters=k, n_init=3, random_state=0).fit_predict(vectors)
    groups = _merge_similar([[i for i, c in enumerate(labels) if c == cluster] for cluster in range(k)], vectors)
    names = _topic_labels([[questions[i] for i in g] for g in groups])
    topics = [Topic(names[g], len(members), round(len(members) / len(questions), 3), [number[i] for i in members[:20]],
                    questions[_most_central(members, vectors)]) for g, members in enumerate(groups)]
    return sorted(topics, key=lambda t: -t.size)


def _centre(members: list[int], vectors: Any) -> Any:
    import numpy as np

    mean = vectors[members].mean(axis=0)
    return mean / max(float(np.linalg.norm(mean)), 1e-9)


def _most_central(members: list[int], vectors: Any) -> int:
    centre = _centre(members, vectors)
    return max(members, key=lambda i: float(vectors[i] @ centre))


def _merge_similar(groups: list[list[int]], vectors: Any) -> list[list[int]]:
    """Join groups whose centres have cosine >= MERGE_TOPICS (repeat until none do)."""
    groups = [g for g in groups if g]
    merged = True
    while merged and len(groups) > 1:
        merged = False
        centres = [_centre(g, vectors) for g in groups]
        pairs = [(float(centres[a] @ centres[b]), a, b) for a in range(len(groups)) for b in range(a + 1, len(groups))]
        best, a, b = max(pairs)
        if best >= MERGE_TOPICS:
            groups[a] = sorted(groups[a] + groups.pop(b))
            merged = True
    return groups


def _topic_labels(groups: list[list[str]], top: int = 3) -> list[str]:
    """Each group's most frequent content words, weighted toward words other groups use less.

    A word every group uses (the domain's own name, say) barely counts, so labels tell groups apart.
    """
    counts = [Counter(w for q in group for w in set(words(q)) if w not in STOPWORDS and len(w) > 2 and not w.isdigit())
              for group in groups]
    spread = Counter(w for c in counts for w in c)
    labels = []
    for c in counts:
        scored = sorted(c, key=lambda w: (-c[w] * (0.05 + math.log(len(groups) / spread[w])), w))
        labels.append(", ".join(scored[:top]) or "misc")
    return labels


def _rows(unit: str, numbers: list[int], limit: int = 8) -> str:
    shown = ", ".join(map(str, numbers[:limit]))
    more = f" and {len(numbers) - limit} more" if len(numbers) > limit else ""
    return f"{unit}s {shown}{more}" if len(numbers) > 1 else f"{unit} {shown}"


def _groups(unit: str, groups: list[list[int]], limit: int = 6) -> str:
    """'lines 3 & 9, 4 & 12 and 2 more' for people scanning a warning."""
    shown = ", ".join(" & ".join(map(str, g)) for g in groups[:limit])
    more = f" and {len(groups) - limit} more" if len(groups) > limit else ""
    return f"{unit}s {shown}{more}"


def _warnings(r: QualityReport, max_length: int | None) -> list[str]:
    """Plain sentences, each with what to do about it."""
    u = r.row_unit
    out = []
    if r.rows < MIN_ROWS:
        out.append(f"Only {r.rows} examples: fine-tuning usually needs {MIN_ROWS}-1000. Add more varied "
                   f"questions, or expect the model to memorize rather than generalize.")
    if r.rows > LORA_MAX_ROWS:
        out.append(f"{r.rows} examples: LoRA/QLoRA is meant for fewer than {LORA_MAX_ROWS:,}; with this much "
                   f"data full fine-tuning can pay off, or sample a subset.")
    if r.exact_duplicates:
        out.append(f"{len(r.exact_duplicates)} group(s) of rows are exact duplicates ({_groups(u, r.exact_duplicates)});"
                   f" keep one of each so it is not over-weighted.")
    if r.conflicting_answers:
        out.append(f"{len(r.conflicting_answers)} question(s) appear with different answers "
                   f"({_groups(u, r.conflicting_answers)}); the model cannot learn both, so keep the right one.")
    if r.near_duplicates:
        pairs = [[a, b] for a, b, _ in r.near_duplicates]
        out.append(f"{len(r.near_duplicates)} pair(s) of questions are nearly the same (cosine >= {NEAR_DUPLICATE}: "
                   f"{_groups(u, pairs)}); check their answers agree, and keep one if they repeat each other.")
    if r.repeats_question:
        out.append(f"{len(r.repeats_question)} answer(s) mostly repeat their question ({_rows(u, r.repeats_question)}); "
                   f"write answers that add the information asked for.")
    if r.short_answers:
        out.append(f"{len(r.short_answers)} answer(s) have fewer than {SHORT_ANSWER_WORDS} words "
                   f"({_rows(u, r.short_answers)}); the model will learn to answer that tersely.")
    if r.over_length:
        out.append(f"{len(r.over_length)} row(s) are longer than train.max_length={max_length} tokens and will be "
                   f"cut in training ({_rows(u, r.over_length)}); raise train.max_length or shorten them.")
    if r.topics and r.topics[0].share > DOMINANT_TOPIC:
        t = r.topics[0]
        out.append(f"One topic ({t.label}) holds {t.share:.0%} of the questions; the model will know little "
                   f"else. Add examples on the other topics your users ask about.")
    return out


def check_file(path: str | Path, model: str = DEFAULT_BASE, *, max_tokens: int | None = None,
               max_length: int | None = None,
               embedder: SentenceTransformer | None = None) -> tuple[LoadedDataset, QualityReport]:
    """Read, validate and measure a file: what ``data check`` and the Data tab both run.

    The file's structure is checked before ``model``'s tokenizer loads, so a broken file is
    reported in a blink.
    """
    from airbot.models import shared_tokenizer

    ds = read_dataset(path)
    tokenizer = shared_tokenizer(model)
    if max_tokens:
        check_lengths(ds, tokenizer, max_tokens)
    return ds, quality_report(ds, tokenizer, embedder, max_length=max_length)


def summary(ds: LoadedDataset, report: QualityReport) -> dict[str, Any]:
    """One JSON object: which file, how it was read, and the quality report."""
    return {"file": ds.path.name, "format": ds.format, "file_type": ds.file_type, "fields": ds.fields,
            "rows": len(ds), "extra_columns": sorted({k for e in ds.extras for k in e}),
            "report": report.to_dict()}


def describe_fields(ds: LoadedDataset) -> str:
    """'question <- 'Question', answer <- 'output'' for people."""
    return ", ".join(f"{role} <- '{column}'" for role, column in ds.fields.items())
