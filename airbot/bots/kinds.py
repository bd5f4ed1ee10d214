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
import threading
import time
import weakref
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Protocol, runtime_checkable

from airbot.bots.grounding import CachedEmbed, grounded, quote_evidence, select_evidence
from airbot.bots.loop_guard import stop_repeats
from airbot.config import ADAPTER_BOTS, BOT_KINDS, RETRIEVAL_BOTS, AirbotConfig, ChatConfig, RagConfig, load_config
from airbot.errors import AirbotError, ModelError
from airbot.generate.hf_generate import GenerationStats
from airbot.generate.stream import stream_chat
from airbot.knowledge import refusal
from airbot.prompts import Message, chat_messages, passage_text, rag_messages

SNIPPET_CHARS = 300
# Sentences quoted when an answer misses its evidence: measured on the held-out set, the best one
# holds the fact 62-70% of the time, the best two 80-86%, three 86-90% (but read as a wall of text).
QUOTED_SENTENCES = 2


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
                "sources": [asdict(s) for s in self.sources], "timings": timings,
                "best_score": self.best_score, "threshold": self.threshold}


class Retrieval(NamedTuple):
    """What a bot found before answering; ``best``/``threshold`` are the refusal decision's inputs."""

    sources: list[Source]
    refusal: str | None
    seconds: float
    best: float | None = None
    threshold: float | None = None


@runtime_checkable
class Bot(Protocol):
    """What the chat tab, the arena, the evaluation and the CLI rely on."""

    name: str

    def stream(self, question: str, history: list[Message] | None = None) -> Iterator[str]:
        """Text deltas that join to the final answer."""
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
        self.answer = Answer(self.bot.name, self.question, "".join(parts), found.sources, timings,
                             found.refusal is not None, found.best, found.threshold)

    def _deltas(self, stats: GenerationStats) -> Iterator[str]:
        """Retrieve, then either the refusal or the model's stream plus its citation markers."""
        self.found = found = self.bot.lookup(self.question)
        self.retrieval_s = found.seconds
        if found.refusal is not None:
            yield found.refusal
            return
        messages = self.bot.messages(self.question, self.history, found.sources)
        parts: list[str] = []
        for delta in stop_repeats(stream_chat(self.bot.model, self.bot.tokenizer, messages, self.bot.chat, stats)):
            parts.append(delta)
            yield delta
        if cite := self.bot.citation(found.sources):
            yield cite
        started = time.perf_counter()
        if quote := self.bot.grounding(self.question, "".join(parts), found.sources):
            yield quote
        self.retrieval_s += time.perf_counter() - started  # evidence search: retrieval work, not decoding


class ChatBot:
    """A model that answers from its weights alone (the base and fine-tuned bots)."""

    def __init__(self, name: str, model: Any, tokenizer: Any, chat: ChatConfig) -> None:
        self.name, self.model, self.tokenizer, self.chat = name, model, tokenizer, chat

    def lookup(self, question: str) -> Retrieval:
        """Sources, a refusal (None: go ahead and generate), the seconds retrieval took and the
        scores the refusal was decided on (none here: nothing retrieved)."""
        return Retrieval([], None, 0.0)

    def citation(self, sources: list[Source]) -> str:
        """Citation markers appended to the answer (none: this bot reads no passages)."""
        return ""

    def grounding(self, question: str, text: str, sources: list[Source]) -> str:
        """What follows the answer when it does not match its evidence (nothing: no evidence)."""
        return ""

    def messages(self, question: str, history: list[Message] | None, sources: list[Source]) -> list[Message]:
        return chat_messages(question, self.chat.system_prompt, _clean_history(history))

    def reply(self, question: str, history: list[Message] | None = None) -> Reply:
        _check_question(question)
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

    def __init__(self, name: str, model: Any, tokenizer: Any, chat: ChatConfig, kb: Any, rag: RagConfig) -> None:
        super().__init__(name, model, tokenizer, chat)
        self.kb, self.rag = kb, rag

    def lookup(self, question: str) -> Retrieval:
        """Top clauses; below the index's refusal threshold (``min_score`` calibrated per index,
        airbot.knowledge.refusal) the documents do not cover the question, and the bot says so instead of
        letting a small model improvise."""
        started = time.perf_counter()
        hits = self.kb.search(question, max(self.rag.top_k, self.rag.context_chunks))
        best, limit = self.kb.relevance(question, hits), self.kb.refusal_threshold(self.rag.min_score)
        elapsed = time.perf_counter() - started
        if best < limit:
            return Retrieval([], self.rag.refusal, elapsed, round(best, 4), limit)
        sources = [Source(h.doc, h.page, h.section, h.clause, h.text, round(h.score, 4)) for h in hits]
        return Retrieval(sources, None, elapsed, round(best, 4), limit)

    def citation(self, sources: list[Source]) -> str:
        """`` [1]`` (``[1][2]``...) for the passages the model read: a 135M reader does not cite
        reliably itself, and the attribution is exact because it saw only these."""
        shown = min(len(sources), max(1, self.rag.context_chunks))
        return " " + "".join(f"[{n}]" for n in range(1, shown + 1)) if shown else ""

    def grounding(self, question: str, text: str, sources: list[Source]) -> str:
        """The best evidence sentences, quoted with their citation numbers, when the model's answer
        does not state what they say (``airbot.bots.grounding.grounded``): a 135M reader often names the
        wrong figure of a clause, or reads the wrong clause when the right one ranked second."""
        if not sources:
            return ""
        shown = sources[: max(1, self.rag.context_chunks)]
        evidence = select_evidence(question, sources, _sentence_vectors(self.kb), chunks=len(sources),
                                   sentences=QUOTED_SENTENCES)
        context = " ".join(passage_text(s) for s in shown)
        return "" if grounded(text, question, evidence[:1], context) else quote_evidence(evidence)

    def messages(self, question: str, history: list[Message] | None, sources: list[Source]) -> list[Message]:
        shown = sources[: max(1, self.rag.context_chunks)]
        return rag_messages(question, shown, self.chat.system_prompt, _clean_history(history))


_sentence_caches: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_sentence_caches_lock = threading.Lock()


def _sentence_vectors(kb: Any) -> CachedEmbed:
    """One sentence-vector cache per knowledge base, shared by every bot built on it (the app
    builds a bot per question)."""
    with _sentence_caches_lock:
        if kb not in _sentence_caches:
            _sentence_caches[kb] = CachedEmbed(kb.embed)
        return _sentence_caches[kb]


def _check_question(question: str) -> None:
    if not isinstance(question, str) or not question.strip():
        raise AirbotError("The question is empty. Type a question for the bot to answer.")


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

    adapter = adapter_dir(run_path(str(run_dir)))
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
            raise ModelError(f"The adapter in {adapter} does not fit base model '{_run_base(adapter, config)}' "
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
             index: Any = None) -> ChatBot:
    """A ready bot of ``kind``; what it needs (a run for finetuned/hybrid, an index for rag/hybrid)
    is checked first, so a mistake is one clear error before any model loads."""
    config = config or load_config()
    _check_needs(kind, run_dir, index)
    from airbot.knowledge.index import open_index

    kb = open_index(index, config) if kind in RETRIEVAL_BOTS else None
    if kind in ADAPTER_BOTS:
        model, tokenizer = finetuned_model(run_dir, config), base_model(config)[1]  # type: ignore[arg-type]
    else:
        model, tokenizer = base_model(config)
    if kb is None:
        return ChatBot(kind, model, tokenizer, config.chat)
    return RagBot(kind, model, tokenizer, config.chat, kb, config.rag)


def _check_needs(kind: str, run_dir: str | Path | None, index: Any) -> None:
    problems = []
    if kind not in BOT_KINDS:
        problems.append(f"unknown bot '{kind}'; choose one of {', '.join(BOT_KINDS)}")
    if kind in ADAPTER_BOTS and not run_dir:
        problems.append(f"the {kind} bot needs a fine-tuning run (--run RUN_DIR, or pick a run in the Train tab)")
    if kind in RETRIEVAL_BOTS and index is None:
        problems.append(f"the {kind} bot needs a document index (--index INDEX_DIR, or add documents in the Data tab)")
    if len(problems) == 1:
        raise AirbotError(f"Cannot build the bot: {problems[0]}.")
    if problems:
        raise AirbotError.collected("Cannot build the bot:", problems)
