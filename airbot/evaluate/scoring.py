"""Turning bots' answers into numbers: ask one question and record the answer with its timings
(``ask``), score it against the reference and facts (``score``), then aggregate per bot with
intervals (``summarize``) and compare base with fine-tuned on the general-knowledge probe
(``forgetting``). ``airbot.evaluate.runner.evaluate`` runs these in that order.

    results = [ask(bot, "rag", item) for item in items]
    score(results, embed)
    summarize("rag", results)["strict_accuracy"]

Two accuracies are kept apart. ``fact_accuracy`` counts an answer that states every key fact;
``strict_accuracy`` is the careful reader's (``airbot.text.judge``): every fact stated with numbers
matched whole and never inside a clause label, no figure that the reference, the facts, the
question's own clause (the cited clauses when the question names none) and the question all lack,
no loop or run of labels. ``model_strict_accuracy``
judges only the model's own words, whether or not the user was shown them (a RAG bot shows the
document extract instead of a model answer that fails its grounding check).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airbot.config import RETRIEVAL_BOTS
from airbot.evaluate import metrics
from airbot.evaluate.questions import EvalItem, Kind
from airbot.text import fact_share, judge

if TYPE_CHECKING:
    from airbot.bots.kinds import Bot


@dataclass
class QuestionResult:
    """One bot's answer to one question, with every score that applies (None where none does)."""

    bot: str
    kind: Kind
    question: str
    answer: str
    reference: str
    facts: list[str]
    facts_ok: bool | None
    fact_share: float | None
    similarity: float | None
    rouge_l: float | None
    refused: bool
    clause: str | None
    clause_ok: bool | None
    sources: list[str]
    latency: float
    ttft_s: float | None
    retrieval_s: float | None
    tokens_per_s: float | None
    where: str = ""
    correct: bool | None = None
    """Right by the strict yardstick (``airbot.text.judge``); None for questions without facts."""
    flags: list[str] = field(default_factory=list)
    """Why the answer is wrong, one line each ("missing fact: 15 days", "invented figure: 18", "loop: ...")."""
    model_correct: bool | None = None
    """The model's own words judged the same way, whatever the user was shown."""
    mode: str = "generated"
    """What the answer is: "generated" (the model's words), "extract" (the document's, replacing a
    model answer that failed its grounding check) or "refused"."""
    model_text: str = ""
    evidence: list[str] = field(default_factory=list)
    """Clause texts an answer's figures may come from (``metrics.evidence_texts``: the question's own
    clause when it names one, else the cited sources): evidence for the invented-figure rule."""


# --- answers and their scores --------------------------------------------------------------------
def ask(bot: Bot, name: str, item: EvalItem) -> QuestionResult:
    """Ask one question and record the answer with its timings; scores are filled in later."""
    started = time.perf_counter()
    answer = bot.answer(item.question)
    wall = time.perf_counter() - started
    timings = _get(answer, "timings")
    sources = list(_get(answer, "sources") or [])
    refused = metrics.is_refusal(str(_get(answer, "text") or ""), bool(_get(answer, "refused")))
    clause_ok = metrics.clause_correct(item.clause, sources)
    if clause_ok is None and item.clause and name in RETRIEVAL_BOTS:
        clause_ok = False  # a retrieval bot that came back with nothing missed the clause
    text = str(_get(answer, "text") or "")
    mode = "refused" if refused else str(_get(answer, "mode") or "generated")
    return QuestionResult(
        bot=name, kind=item.kind, question=item.question, answer=text,
        reference=item.reference, facts=item.facts, facts_ok=None, fact_share=None, similarity=None, rouge_l=None,
        refused=refused, clause=item.clause, clause_ok=clause_ok,
        sources=[c for c in (metrics.source_clause(s) for s in sources) if c], where=item.where,
        latency=round(_num(_get(timings, "total_s")) or wall, 3), ttft_s=_num(_get(timings, "ttft_s")),
        retrieval_s=_num(_get(timings, "retrieval_s")), tokens_per_s=_num(_get(timings, "tokens_per_s")),
        mode=mode, model_text=str(_get(answer, "model_text") or ("" if refused else text)),
        evidence=metrics.evidence_texts(text, sources, item.clause))


def score(results: list[QuestionResult], embed: Callable[[list[str]], Any] | None) -> None:
    """Fill in facts, ROUGE-L and (one batched embedder call) similarity for the answered questions."""
    scored = [r for r in results if r.reference or r.facts]
    for r in scored:
        share = fact_share(r.facts, r.answer)
        r.fact_share = None if share is None else round(share, 4)
        r.facts_ok = None if share is None else share == 1.0
        r.rouge_l = round(metrics.rouge_l(r.answer, r.reference), 4) if r.reference else None
        judge_strictly(r)
    with_ref = [r for r in scored if r.reference]
    if embed is not None and with_ref:
        sims = metrics.cosine_similarities([r.answer for r in with_ref], [r.reference for r in with_ref], embed)
        for r, s in zip(with_ref, sims, strict=True):
            r.similarity = s


def judge_strictly(r: QuestionResult) -> None:
    """Fill in ``correct``, ``flags`` and ``model_correct``: the evidence a figure may come from is
    the reference answer, the facts, the question's clause (else the cited clauses) and the question.
    A refusal is never right on a question that has an answer."""
    if not r.facts:
        return
    evidence = [r.reference, *r.evidence]
    verdict = judge(r.answer, r.facts, evidence=evidence, question=r.question)
    r.flags = ["refused"] if r.refused else verdict.flags
    r.correct = verdict.correct and not r.refused
    r.model_correct = not r.refused and judge(r.model_text, r.facts, evidence=evidence, question=r.question).correct


def _get(obj: Any, key: str) -> Any:
    if obj is None:
        return None
    return obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)


def _num(value: Any) -> float | None:
    return round(float(value), 4) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


# --- aggregates ----------------------------------------------------------------------------------
def summarize(bot: str, results: list[QuestionResult]) -> dict[str, Any]:
    """One bot's figures: shares with Wilson intervals, means with t intervals, counts beside them."""
    held = [r for r in results if r.kind == "heldout"]
    oos = [r for r in results if r.kind == "out_of_scope"]
    probe = [r for r in results if r.kind == "probe"]
    facts = metrics.proportion([r.facts_ok for r in held])
    strict = metrics.proportion([r.correct for r in held])
    model_strict = metrics.proportion([r.model_correct for r in held])
    refusal = metrics.proportion([r.refused for r in oos])
    false_refusal = metrics.proportion([r.refused for r in held])
    clause = metrics.proportion([r.clause_ok for r in held])
    latencies = [r.latency for r in held]  # the same questions for every bot; instant refusals would flatter RAG
    return {
        "n": len(held), "fact_accuracy": facts.value, "fact_accuracy_ci": facts.ci, "fact_n": facts.n,
        "facts_correct": facts.k,
        "strict_accuracy": strict.value, "strict_accuracy_ci": strict.ci, "strict_n": strict.n,
        "strict_correct": strict.k, "model_strict_accuracy": model_strict.value,
        "model_strict_accuracy_ci": model_strict.ci,
        "extract_rate": metrics.proportion([r.mode == "extract" for r in held if not r.refused]).value,
        "similarity": metrics.mean_or_none([r.similarity for r in held]),
        "similarity_ci": metrics.mean_interval([r.similarity for r in held if r.similarity is not None]),
        "rouge_l": metrics.mean_or_none([r.rouge_l for r in held]),
        "rouge_l_ci": metrics.mean_interval([r.rouge_l for r in held if r.rouge_l is not None]),
        "refusal_accuracy": refusal.value, "refusal_accuracy_ci": refusal.ci, "refusal_n": refusal.n,
        "false_refusal_rate": false_refusal.value,
        "clause_accuracy": clause.value, "clause_accuracy_ci": clause.ci, "clause_n": clause.n,
        "mean_latency_s": metrics.mean_or_none(latencies), "latency_ci": metrics.mean_interval(latencies),
        "p90_latency_s": _percentile(latencies, 90),
        "mean_ttft_s": metrics.mean_or_none([r.ttft_s for r in held]),
        "mean_retrieval_s": metrics.mean_or_none([r.retrieval_s for r in held]),
        "tokens_per_s": metrics.mean_or_none([r.tokens_per_s for r in held]),
        "probe_fact_rate": metrics.mean_or_none([r.fact_share for r in probe]), "probe_n": len(probe),
        "bot": bot,
    }


def _percentile(values: list[float], q: float) -> float | None:
    import numpy as np

    return round(float(np.percentile(values, q)), 3) if values else None


def forgetting(results: list[QuestionResult]) -> dict[str, Any] | None:
    """Did fine-tuning damage general knowledge? Base vs fine-tuned fact rate on the probe."""
    def rate(bot: str) -> float | None:
        return metrics.mean_or_none([r.fact_share for r in results if r.bot == bot and r.kind == "probe"])

    base, tuned = rate("base"), rate("finetuned")
    if base is None or tuned is None:
        return None
    drop = round(base - tuned, 4)
    verdict = ("no sign of forgetting" if drop <= 0 else
               f"the fine-tuned bot lost {round(drop * 100)} points of general knowledge")
    n = sum(1 for r in results if r.bot == "finetuned" and r.kind == "probe")
    return {"base": base, "finetuned": tuned, "drop": drop, "n": n,
            "summary": f"General-knowledge probe: base {round(base * 100)}%, fine-tuned {round(tuned * 100)}%: "
                       f"{verdict}."}
