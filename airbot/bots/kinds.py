"""One interface over the four bots the app compares: base, fine-tuned, RAG and hybrid.

Every bot streams text deltas and ends in an ``Answer`` (text, cited sources, timings,
whether it refused). All four share one base model, tokenizer and decoding config, so a
comparison differs only in what the bot is: an adapter, retrieved clauses, or both::

    python -m airbot ask --bot rag --index default "How heavy can my checked bag be?"
    python -c "from airbot.bots.kinds import make_bot; print(make_bot('base').answer('Hello').text)"

Models and indexes load once per process (``make_bot`` caches them). A LoRA adapter is merged
into its own copy of the base model, so base and fine-tuned bots can stream at the same time
from different threads without toggling adapters on a shared model.
"""

from __future__ import annotations

import json
import re
import threading
import time
import weakref
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Protocol, runtime_checkable

from airbot.bots import rerank
from airbot.bots.grounding import CachedEmbed, check_answer, extract_text, select_evidence
from airbot.bots.loop_guard import stop_degenerate, stop_repeats
from airbot.config import ADAPTER_BOTS, BOT_KINDS, RETRIEVAL_BOTS, AirbotConfig, ChatConfig, RagConfig, load_config
from airbot.errors import AirbotError, ModelError
from airbot.generate.hf_generate import GenerationStats
from airbot.generate.stream import settings_from_env, stream_chat
from airbot.knowledge import refusal
from airbot.models import compute_scope
from airbot.prompts import Message, chat_messages, passage_text, rag_messages

if TYPE_CHECKING:
    from airbot.knowledge.index import KnowledgeBase

SNIPPET_CHARS = 300
# The fine-tuned bot was trained on single question -> answer turns: given the conversation so far it
# read a follow-up as a cue to repeat its previous answer. It answers each question on its own (measured
# in bench/finetune_quality.py --follow-ups; bench/README.md "Fine-tuning quality").
FINETUNED_HISTORY_TURNS = 0
# Sentences in the extract shown when the model's answer fails its check: measured on the corpus tune
# half with the airline and telecom sets (177 questions), the best one held every fact 0.78 of the
# time, the best two 0.90, the best three 0.94 (bench/corpus; airbot.bots.grounding.select_evidence).
QUOTED_SENTENCES = 3
Mode = Literal["generated", "extract", "refused"]
"""What the user reads: the model's own words, the document extract that replaced them, or the refusal."""
MAX_QUESTION_CHARS = 2000
"""Longest question a bot accepts (about 400 words): the checks run before any embedding or decoding."""


@dataclass
class Source:
    """A retrieved passage the answer was given, as shown under the answer and in ``--json``."""

    doc: str
    page: int | None
    section: str
    clause: str | None
    text: str
    score: float


@dataclass
class Timings:
    """Measured, not estimated: ttft is the time until the first decoded text was available."""

    retrieval_s: float = 0.0
    ttft_s: float = 0.0
    total_s: float = 0.0
    tokens_per_s: float = 0.0
    new_tokens: int = 0


@dataclass
class Answer:
    """What a bot said, from where, and how fast."""

    bot: str
    question: str
    text: str
    sources: list[Source] = field(default_factory=list)
    timings: Timings = field(default_factory=Timings)
    refused: bool = False
    best_score: float | None = None  # RAG bots: the best chunk's relevance, which decided answer vs refusal
    threshold: float | None = None  # ...compared with this index's refusal threshold
    mode: Mode = "generated"
    model_text: str = ""  # what the model wrote, shown or not ("" for a refusal)
    flags: list[str] = field(default_factory=list)  # why the model's text was replaced by the extract
    evidence_score: float | None = None  # RAG bots: the best evidence sentence's score (grounding.select_evidence)

    def reading(self) -> str:
        """One short line saying what the user is reading (the Chat tab shows it under the answer)."""
        if self.mode == "refused":
            return "Refused: the documents do not cover this question."
        if self.mode == "extract":
            why = f" ({'; '.join(self.flags[:2])})" if self.flags else ""
            return f"Document extract: the model's answer failed the grounding check{why}."
        return "The model's answer" + (", checked against the cited clause." if self.sources else ".")

    def decision(self) -> str | None:
        """Why a RAG bot answered or refused, in one line (None for bots that retrieve nothing):
        what the Chat tab and ``airbot ask`` show under the sources."""
        if self.best_score is None or self.threshold is None:
            return None
        top = max((s.score for s in self.sources), default=None)
        return refusal.verdict(self.best_score, self.threshold, top)

    def to_dict(self) -> dict[str, Any]:
        """The ``ask --json`` line: one object per question."""
        timings = {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self.timings).items()}
        return {"bot": self.bot, "question": self.question, "answer": self.text, "refused": self.refused,
                "mode": self.mode, "model_text": self.model_text, "flags": list(self.flags),
                "sources": [asdict(s) for s in self.sources], "timings": timings,
                "best_score": self.best_score, "threshold": self.threshold, "evidence_score": self.evidence_score}


class Retrieval(NamedTuple):
    """What a bot found before answering; ``best``/``threshold`` are the refusal decision's inputs."""

    sources: list[Source]
    refusal: str | None
    seconds: float
    best: float | None = None
    threshold: float | None = None


class Final(NamedTuple):
    """What the user reads once decoding is done: the text, whether it is the model's own words or
    the document extract, the model's words either way, and why they were replaced."""

    text: str
    mode: Mode
    model_text: str
    flags: tuple[str, ...] = ()
    evidence_score: float | None = None


@runtime_checkable
class Bot(Protocol):
    """What the chat tab, the arena, the evaluation and the CLI rely on."""

    name: str

    def reply(self, question: str, history: list[Message] | None = None) -> Reply:
        """The answer in progress: iterate it for text deltas; its ``answer`` is complete afterwards."""
        ...

    def stream(self, question: str, history: list[Message] | None = None) -> Iterator[str]:
        """Text deltas as they are decoded (``Answer.text`` is what the user reads in the end: a RAG
        bot replaces a model answer that fails its grounding check by the document extract)."""
        ...

    def answer(self, question: str, history: list[Message] | None = None) -> Answer:
        """The whole answer with sources and timings."""
        ...


class Reply:
    """One answer in progress: iterate for text deltas; ``answer`` is complete afterwards."""

    def __init__(self, bot: ChatBot, question: str, history: list[Message] | None) -> None:
        self.bot, self.question, self.history = bot, question, history
        self.answer: Answer | None = None
        self.found = Retrieval([], None, 0.0)
        self.retrieval_s = 0.0  # the lookup, then the grounding check's evidence search
        self.final: Final | None = None  # what the user reads, once decoding and the check are done

    def __iter__(self) -> Iterator[str]:
        started = time.perf_counter()
        first: float | None = None
        parts: list[str] = []
        stats = GenerationStats()
        for delta in self._deltas(stats):
            first = first or time.perf_counter()
            parts.append(delta)
            yield delta
        total = time.perf_counter() - started
        ttft = (first or time.perf_counter()) - started  # retrieval included: what the user waits
        timings = Timings(round(self.retrieval_s, 4), round(ttft, 4), round(total, 4),
                          round(stats.tokens_per_s, 2), stats.new_tokens)
        found = self.found
        final = self.final or Final("".join(parts), "refused" if found.refusal is not None else "generated",
                                    "" if found.refusal is not None else "".join(parts))
        self.answer = Answer(self.bot.name, self.question, final.text, found.sources, timings, final.mode == "refused",
                             found.best, found.threshold, final.mode, final.model_text, list(final.flags),
                             final.evidence_score)

    def _deltas(self, stats: GenerationStats) -> Iterator[str]:
        """Retrieve, then either the refusal or the model's stream, then its citation markers when
        the model's text passed the check (else ``final`` holds the extract that replaces it)."""
        self.found = found = self.bot.lookup(search_query(self.question, self.history))
        self.retrieval_s = found.seconds
        if found.refusal is not None:
            yield found.refusal
            return
        messages = self.bot.messages(self.question, self.history, found.sources)
        parts: list[str] = []
        decoding = stream_chat(self.bot.model, self.bot.tokenizer, messages, self.bot.chat, stats)
        for delta in stop_repeats(stop_degenerate(decoding)):
            parts.append(delta)
            yield delta
        said = "".join(parts)
        started = time.perf_counter()
        self.final = final = self.bot.finish(self.question, said, found.sources)
        if found.sources:  # evidence search: retrieval work, not decoding (a bot without sources searched nothing)
            self.retrieval_s += time.perf_counter() - started
        if final.mode == "generated" and final.text.startswith(said) and len(final.text) > len(said):
            yield final.text[len(said):]  # the citation markers


class ChatBot:
    """A model that answers from its weights alone (the base and fine-tuned bots)."""

    def __init__(self, name: str, model: Any, tokenizer: Any, chat: ChatConfig, history_turns: int | None = None) -> None:
        self.name, self.model, self.tokenizer, self.chat = name, model, tokenizer, chat
        self.history_turns = history_turns
        """Earlier exchanges sent with a question: None all of them, 0 none (see FINETUNED_HISTORY_TURNS)."""

    def lookup(self, question: str) -> Retrieval:
        """Sources, a refusal (None: go ahead and generate), the seconds retrieval took and the
        scores the refusal was decided on (none here: nothing retrieved)."""
        return Retrieval([], None, 0.0)

    def finish(self, question: str, text: str, sources: list[Source]) -> Final:
        """The answer the user reads: the model's own words (this bot has no evidence to check them against)."""
        return Final(text, "generated", text)

    def messages(self, question: str, history: list[Message] | None, sources: list[Source]) -> list[Message]:
        turns = _clean_history(history)
        if self.history_turns is not None:
            turns = turns[len(turns) - 2 * self.history_turns:] if self.history_turns > 0 else []
        return chat_messages(question, self.chat.system_prompt, turns)

    def reply(self, question: str, history: list[Message] | None = None) -> Reply:
        check_question(question)
        return Reply(self, question, history)

    def stream(self, question: str, history: list[Message] | None = None) -> Iterator[str]:
        yield from self.reply(question, history)

    def answer(self, question: str, history: list[Message] | None = None) -> Answer:
        reply = self.reply(question, history)
        for _ in reply:
            pass
        assert reply.answer is not None  # set when the iteration above finished
        return reply.answer


class RagBot(ChatBot):
    """A model that answers from retrieved clauses and cites them (the RAG and hybrid bots)."""

    def __init__(self, name: str, model: Any, tokenizer: Any, chat: ChatConfig, kb: KnowledgeBase,
                 rag: RagConfig) -> None:
        super().__init__(name, model, tokenizer, chat)
        self.kb, self.rag = kb, rag

    def lookup(self, question: str) -> Retrieval:
        """Top clauses; below the index's refusal threshold (``min_score`` calibrated per index,
        airbot.knowledge.refusal) the documents do not cover the question, and the bot says so instead of
        letting a small model improvise."""
        started = time.perf_counter()
        k = max(self.rag.top_k, self.rag.context_chunks)
        hits = self.kb.search(question, max(k, rerank.POOL) if self.rag.rerank else k)
        best, limit = self.kb.relevance(question, hits[:k]), self.kb.refusal_threshold(self.rag.min_score)
        if best < limit:
            return Retrieval([], self.rag.refusal, time.perf_counter() - started, round(best, 4), limit)
        if self.rag.rerank:
            with compute_scope(settings_from_env().threads):
                hits = rerank.rerank(self.model, self.tokenizer, question, hits, k)
        elapsed = time.perf_counter() - started
        sources = [Source(h.doc, h.page, h.section, h.clause, h.text, round(h.score, 4)) for h in hits]
        return Retrieval(sources, None, elapsed, round(best, 4), limit)

    def citation(self, sources: list[Source]) -> str:
        """`` [1]`` (``[1][2]``...) for the passages the model read: a 135M reader does not cite
        reliably itself, and the attribution is exact because it saw only these."""
        shown = min(len(sources), max(1, self.rag.context_chunks))
        return " " + "".join(f"[{n}]" for n in range(1, shown + 1)) if shown else ""

    def finish(self, question: str, text: str, sources: list[Source]) -> Final:
        """The model's words with their citation when they pass the grounding check
        (``airbot.bots.grounding.check_answer``); else the extract of the best evidence sentences
        *instead*: a 135M reader often names the wrong figure of a clause, reads the wrong clause
        when the right one ranked second, or degenerates, and the user must never read that."""
        model_text = text.strip()
        if not sources:
            return Final(model_text, "generated", model_text)
        shown = sources[: max(1, self.rag.context_chunks)]
        # Re-ranked, the first clause is the right one 90% of the time and the extract quotes the clause(s)
        # the model read; ranked by the embedder alone, the best sentence of any retrieved clause does better.
        # Corpus tune half, final answers right: re-ranked 97/109 quoting what was read vs 93 quoting any
        # clause; not re-ranked 94 vs 89 (bench/README.md "Re-ranking").
        quotable = shown if self.rag.rerank else sources
        evidence = select_evidence(question, quotable, _sentence_vectors(self.kb), chunks=len(quotable),
                                   sentences=QUOTED_SENTENCES)
        context = " ".join(passage_text(s) for s in shown)
        flags = check_answer(model_text, question, evidence, context)
        score = round(evidence[0].score, 4) if evidence else None
        if not flags:
            return Final(text + self.citation(sources), "generated", model_text, (), score)
        if not evidence:  # nothing quotable (every sentence spoke to the model): say so rather than show it
            return Final(self.rag.refusal, "refused", model_text, flags)
        return Final(extract_text(quoted(evidence)), "extract", model_text, flags, score)

    def messages(self, question: str, history: list[Message] | None, sources: list[Source]) -> list[Message]:
        shown = sources[: max(1, self.rag.context_chunks)]
        return rag_messages(question, shown, self.chat.system_prompt, _clean_history(history))


_sentence_caches: weakref.WeakKeyDictionary[KnowledgeBase, CachedEmbed] = weakref.WeakKeyDictionary()
_sentence_caches_lock = threading.Lock()


def _sentence_vectors(kb: KnowledgeBase) -> CachedEmbed:
    """One sentence-vector cache per knowledge base, shared by every bot built on it (the app
    builds a bot per question)."""
    with _sentence_caches_lock:
        if kb not in _sentence_caches:
            _sentence_caches[kb] = CachedEmbed(kb.embed)
        return _sentence_caches[kb]


def quoted(evidence: list[Any]) -> list[Any]:
    """The evidence sentences the extract quotes: the best one and the others from the same clause.

    A sentence from a neighbouring clause brings that clause's figures, which answer another question
    (a careful reader counts them as invented for this one). Measured on the corpus tune half (5
    documents, 109 questions, judged against each question's own clause): final answers right 56/109
    quoting the best sentences of every retrieved clause, 94/109 quoting one clause."""
    return [e for e in evidence if e.source == evidence[0].source]


def check_question(question: str) -> None:
    """An empty question, or one past ``MAX_QUESTION_CHARS`` (a 100k-character question took two
    minutes and 4 GB to embed and read), is refused before any model works on it."""
    if not isinstance(question, str) or not question.strip():
        raise AirbotError("The question is empty. Type a question for the bot to answer.")
    if len(question) > MAX_QUESTION_CHARS:
        raise AirbotError(f"The question is {len(question):,} characters long; a question may have at most "
                          f"{MAX_QUESTION_CHARS:,}. Ask it in a sentence or two.")


FOLLOW_UP = re.compile(r"^\s*(and|also|but|so|then|what about|how about|same)\b|"
                       r"\b(it|its|that|this|those|these|they|them|there|one|ones|same)\b", re.IGNORECASE)
"""Words by which a question leans on the one before ("And how much is it abroad?")."""
FOLLOW_UP_WORDS = 12
"""A follow-up is short: a longer question carries its own subject and is searched alone."""


def search_query(question: str, history: list[Message] | None) -> str:
    """What retrieval searches for: the question, or, for a short follow-up that leans on the
    conversation ("And how much is it abroad?"), the previous question and this one together, so
    the search finds the clause the conversation is about (the model still reads the question
    itself, with the history). A first question, or one with its own subject, is searched alone."""
    asked = [m["content"] for m in _clean_history(history) if m["role"] == "user"]
    if not asked or len(question.split()) > FOLLOW_UP_WORDS or not FOLLOW_UP.search(question):
        return question
    return f"{asked[-1]} {question}"


def _clean_history(history: list[Message] | None) -> list[Message]:
    """Earlier turns as plain role/content pairs (Gradio's messages may carry extra keys)."""
    out: list[Message] = []
    for turn in history or []:
        role, content = turn.get("role"), turn.get("content")
        if role in ("user", "assistant") and isinstance(content, str) and content.strip():
            out.append({"role": role, "content": content})
    return out


# --- building and caching ---------------------------------------------------------------------
_cache: dict[tuple, Any] = {}
_cache_lock = threading.Lock()


def inference_dtype(config: AirbotConfig) -> str:
    """bf16 where the hardware does it fast, else fp32; every bot of a process uses the same."""
    from airbot.models import bf16_supported, pick_device

    return "bfloat16" if bf16_supported(pick_device(config.model.device)) else "float32"


def _cached(key: tuple, build: Any) -> Any:
    with _cache_lock:
        if key not in _cache:
            _cache[key] = build()
        return _cache[key]


def base_model(config: AirbotConfig) -> tuple[Any, Any]:
    """The shared base model and tokenizer."""
    from airbot.models import shared_causal_lm, shared_tokenizer

    model = shared_causal_lm(config.model.base, config.model.device, inference_dtype(config))
    return model, shared_tokenizer(config.model.base)


def finetuned_model(run_dir: str | Path, config: AirbotConfig) -> Any:
    """The run's model, loaded once per adapter version (a re-trained run reloads)."""
    from airbot.train.runs import adapter_dir, run_path

    adapter = adapter_dir(run_path(run_dir))  # a Path is a resolved folder; text is a name in the run store
    stamp = max((p.stat().st_mtime for p in adapter.iterdir()), default=0.0)
    key = ("finetuned", str(adapter.resolve()), stamp, config.model.device, inference_dtype(config))
    return _cached(key, lambda: _load_adapter(adapter, config))


def _load_adapter(adapter: Path, config: AirbotConfig) -> Any:
    """A PEFT adapter on a private copy of the base (LoRA merged in), or a full fine-tuned model."""
    import torch

    from airbot.models import load_causal_lm, pick_device

    dtype = getattr(torch, inference_dtype(config))
    if (adapter / "adapter_config.json").is_file():
        from peft import PeftModel

        meta = json.loads((adapter / "adapter_config.json").read_text())
        from airbot.train.model import match_training_base

        base = load_causal_lm(_run_base(adapter, config), dtype=dtype, device=config.model.device)
        base = match_training_base(base, adapter)  # a QLoRA adapter expects the NF4-rounded weights it trained on
        try:
            model = PeftModel.from_pretrained(base, adapter)
        except (OSError, ValueError, RuntimeError, KeyError) as err:
            raise ModelError(f"The adapter of run '{adapter.parent.name}' does not fit base model '{_run_base(adapter, config)}' "
                             f"({type(err).__name__}: {err}). Use the base model the run was trained on.") from None
        if str(meta.get("peft_type", "")).upper() in ("LORA", "ADALORA", "LOHA", "LOKR", "IA3"):
            model = model.merge_and_unload()  # plain weights: no adapter switching, full speed
    else:
        from transformers import AutoModelForCausalLM

        # transformers wraps PreTrainedModel.to in functools.wraps, which mypy cannot bind as a method
        model = AutoModelForCausalLM.from_pretrained(adapter, dtype=dtype).to(pick_device(config.model.device))  # type: ignore[arg-type]
    model.eval()
    return model


def _run_base(adapter: Path, config: AirbotConfig) -> str:
    """The base the run trained on (its config.yaml), else the current config's."""
    run_config = adapter.parent / "config.yaml"
    if run_config.is_file():
        try:
            return load_config(run_config).model.base
        except AirbotError:
            pass
    return config.model.base


def make_bot(kind: str, config: AirbotConfig | None = None, run_dir: str | Path | None = None,
             index: KnowledgeBase | str | Path | None = None) -> ChatBot:
    """A ready bot of ``kind``; what it needs (a run for finetuned/hybrid, an index for rag/hybrid)
    is checked first, so a mistake is one clear error before any model loads."""
    config = config or load_config()
    _check_needs(kind, run_dir, index)
    from airbot.knowledge.index import open_index

    # _check_needs made sure an adapter bot has its run and a retrieval bot its index
    kb = open_index(index, config) if kind in RETRIEVAL_BOTS and index is not None else None
    if kind in ADAPTER_BOTS and run_dir:
        model, tokenizer = finetuned_model(run_dir, config), base_model(config)[1]
    else:
        model, tokenizer = base_model(config)
    if kb is None:
        return ChatBot(kind, model, tokenizer, config.chat,
                       history_turns=FINETUNED_HISTORY_TURNS if kind == "finetuned" else None)
    return RagBot(kind, model, tokenizer, config.chat, kb, config.rag)


def _check_needs(kind: str, run_dir: str | Path | None, index: KnowledgeBase | str | Path | None) -> None:
    problems = []
    if kind not in BOT_KINDS:
        problems.append(f"unknown bot '{kind}'; choose one of {', '.join(BOT_KINDS)}")
    if kind in ADAPTER_BOTS and not run_dir:
        problems.append(f"the {kind} bot needs a fine-tuning run: train one in the Train tab and pick it in "
                        f"'Fine-tuned run' (CLI: --run RUN_DIR)")
    if kind in RETRIEVAL_BOTS and index is None:
        problems.append(f"the {kind} bot needs a document index: add your documents in the Data tab "
                        f"(CLI: --index INDEX_DIR)")
    if len(problems) == 1:
        raise AirbotError(f"Cannot build the bot: {problems[0]}.")
    if problems:
        raise AirbotError.collected("Cannot build the bot:", problems)
