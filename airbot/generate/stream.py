"""Fast streaming decoding for the bots: a hand-rolled KV-cache loop with weight-only int4 matmuls.

A drop-in for ``airbot.generate.hf_generate.stream_chat`` (same arguments, yields text deltas, fills the
same ``GenerationStats``)::

    from airbot.generate.stream import stream_chat
    .venv/bin/python bench/chat.py --repeats 3        # figures: fastgen vs model.generate

Why it is fast on a CPU (each measured in bench/chat.py, see bench/README.md):

* Decoding one token is memory-bound: every weight is read once per token, so weights are int4
  (``airbot.generate.kernels``): lossless for the embedded Q4_1 model, and for a merged LoRA or an
  NF4-rounded QLoRA base rounded to that grid with the rounding error's main directions kept as
  a small bf16 side path. ``quantize="none"`` keeps them exact; ``"int8"`` per-channel int8.
  Int8 weights (the tied head; an NF4 base, which no 4-bit grid holds) run through FBGEMM's int8
  GEMM on VNNI CPUs: a QLoRA fine-tune decodes as fast as the base model.
* ``model.generate`` spends more time in Python than in matmuls for a 135M model; the decode
  step here is one TorchScript function with fused projections, one RoPE op for q and k, and a
  preallocated fp32 KV cache (``airbot.generate.engine``).
* Answers in flight on the same model share each decoding step (``airbot.generate.batch``,
  continuous batching): the weights are read once per step for all of them.
* One intra-op thread per answer (``threads``): a 135M model's per-token matmuls are too small
  to split well, the arena streams several bots at once, and OpenMP threads that outnumber free
  cores stall at every barrier. ``AIRBOT_DECODE_THREADS=0`` leaves torch's setting alone.

An unmerged LoRA (a ``PeftModel``) runs too: its frozen base is quantized and the adapter's A/B
ride along in bf16 (the forgetting probe uses this on the training model). Models outside the
Llama family (``SUPPORTED``), GPU models, bitsandbytes layers and other PEFT methods
(prompt/prefix tuning, DoRA) fall back to ``airbot.generate.hf_generate.stream_chat`` unchanged.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airbot.config import ChatConfig
from airbot.generate.hf_generate import GenerationStats, encode_chat
from airbot.generate.hf_generate import stream_chat as generate_stream_chat
from airbot.generate.kernels import Linear, Quantize, quantize_int4
from airbot.models import compute_scope
from airbot.prompts import Message

if TYPE_CHECKING:
    import torch

    from airbot.generate.engine import Engine, State

__all__ = ["FastGenSettings", "Linear", "TextDeltas", "build_engine", "engine_for", "next_token", "quantize_int4", "stream_chat",
           "unsupported_reason"]

SUPPORTED = ("llama", "mistral", "qwen2")


@dataclass(frozen=True)
class FastGenSettings:
    """How the fast path runs; read from the environment once (``settings_from_env``)."""

    quantize: Quantize = "auto"
    """auto: int4 (lossless where the weights are already 4-bit, else with a low-rank residual);
    int8: per-channel int8 where not already 4-bit; none: exact weights."""
    threads: int = 1
    """Intra-op threads while this answer computes; 0 leaves torch's setting alone."""
    batching: bool = True
    """Answers in flight on the same model decode together (``airbot.generate.batch``)."""
    batch_threads: int = 0
    """Intra-op threads of a step that decodes several answers (0: every core); a lone answer uses ``threads``."""
    reuse_prompts: bool = True
    """A prompt's messages before the question are read apart and their keys and values kept for the next prompt
    that opens the same way (``Engine.read_prompt``)."""


def _on(name: str) -> bool:
    return os.environ.get(name, "1").strip() not in ("0", "false", "no", "off")


def settings_from_env() -> FastGenSettings:
    """``AIRBOT_FASTGEN_QUANTIZE`` (auto|int4|int8|none), ``AIRBOT_DECODE_THREADS`` (0 = torch's),
    ``AIRBOT_BATCHING`` (1, or 0: every answer decodes alone), ``AIRBOT_BATCH_THREADS`` (0 = every core) and
    ``AIRBOT_REUSE_PROMPTS`` (1, or 0: every prompt is read whole)."""
    quantize = os.environ.get("AIRBOT_FASTGEN_QUANTIZE", "auto")
    if quantize not in ("auto", "int4", "int8", "none"):
        quantize = "auto"
    return FastGenSettings(quantize=quantize, threads=int(os.environ.get("AIRBOT_DECODE_THREADS", "1") or 1),  # type: ignore[arg-type]
                           batching=_on("AIRBOT_BATCHING"),
                           batch_threads=int(os.environ.get("AIRBOT_BATCH_THREADS", "0") or 0),
                           reuse_prompts=_on("AIRBOT_REUSE_PROMPTS"))


# --- which models, cached -------------------------------------------------------------------
_engines: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_engines_lock = threading.Lock()


def unsupported_reason(model: Any) -> str | None:
    """Why the fast path cannot run ``model`` (None: it can); the caller then uses ``generate``."""
    peft = _peft_reason(model)
    if peft is not None:
        return peft
    model = _inner(model)
    config = getattr(model, "config", None)
    if config is None or getattr(config, "model_type", None) not in SUPPORTED:
        return f"model type {getattr(config, 'model_type', None)!r} is not one of {', '.join(SUPPORTED)}"
    first = next(model.parameters())
    if first.device.type != "cpu":
        return "not on the CPU (GPU generate is already fast)"
    if str(first.dtype) not in ("torch.bfloat16", "torch.float32"):
        return f"weights in {first.dtype} (the loop runs bf16 or fp32)"
    if getattr(config, "hidden_act", "silu") != "silu" or getattr(config, "pretraining_tp", 1) != 1:
        return "an activation or tensor-parallel layout the loop does not implement"
    if getattr(config, "sliding_window", None) and getattr(config, "use_sliding_window", True):
        return "sliding-window attention"
    if getattr(getattr(model, "model", None), "rotary_emb", None) is None:
        return "no rotary embedding module"
    probe = getattr(model.model.layers[0].self_attn.q_proj, "base_layer", model.model.layers[0].self_attn.q_proj)
    if not probe.weight.is_floating_point() or "bit" in type(probe).__name__.lower():
        return f"quantized {type(probe).__name__} layers (bitsandbytes: QLoRA training models)"
    return None


def _peft_reason(model: Any) -> str | None:
    """PEFT wrappers the loop runs: plain LoRA (unmerged), one active adapter, no DoRA."""
    configs = getattr(model, "peft_config", None)
    if not configs:
        return None
    active = getattr(model, "active_adapters", None) or [getattr(model, "active_adapter", None)]
    if len(active) != 1 or active[0] not in configs:
        return "a PEFT model with several active adapters"
    config = configs[active[0]]
    if str(getattr(config, "peft_type", "")).split(".")[-1].upper() != "LORA" or getattr(config, "use_dora", False):
        return f"a {getattr(config, 'peft_type', 'PEFT')} adapter (only plain LoRA runs here; the rest use generate)"
    if getattr(config, "modules_to_save", None) or getattr(config, "trainable_token_indices", None):
        return "a LoRA adapter that also replaces whole modules or token rows"
    return None


def _inner(model: Any) -> Any:
    """The transformers model under a PEFT wrapper (itself otherwise)."""
    return model.get_base_model() if getattr(model, "peft_config", None) else model


def engine_for(model: Any, settings: FastGenSettings | None = None) -> Engine | None:
    """The model's engine (built on first use, then shared), or None when it is unsupported.

    Built from the weights as they are at first use: a model whose weights change afterwards
    (training in the same process) must not be chatted with through this cache.
    """
    if unsupported_reason(model) is not None:
        return None
    settings = settings or settings_from_env()
    with _engines_lock:
        key = model
        cached = _engines.get(key)
        if cached is None or cached[0] != settings.quantize:
            cached = (settings.quantize, build_engine(model, settings))
            _engines[key] = cached
        return cached[1]


def build_engine(model: Any, settings: FastGenSettings) -> Engine | None:
    """A new engine for ``model`` that nothing caches (None when unsupported): for a model whose
    weights change, e.g. the training model the forgetting probe asks before and after training.
    Pass it to ``stream_chat(..., engine=)`` for every question of that moment."""
    if unsupported_reason(model) is not None:
        return None
    from airbot.generate.engine import Engine

    with compute_scope(settings.threads):
        return Engine.build(_inner(model), settings.quantize)


# --- choosing tokens ------------------------------------------------------------------------
def eos_ids(model: Any, tokenizer: Any) -> set[int]:
    """End-of-turn ids: the generation config's (what ``generate`` stops on), else the tokenizer's."""
    ids = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if ids is None:
        ids = tokenizer.eos_token_id
    return set(ids if isinstance(ids, (list, tuple)) else [ids]) - {None}


def next_token(logits: torch.Tensor, seen: torch.Tensor, chat: ChatConfig, generator: Any = None) -> int:
    """Greedy at temperature 0, else temperature + top-p sampling; the repetition penalty as
    ``generate`` applies it (divide positive, multiply negative logits of every token seen)."""
    import torch

    if chat.temperature <= 0 and (chat.repetition_penalty == 1.0 or not len(seen)):
        return int(logits.argmax())  # fp32 holds every bf16 value: the same argmax without the copy
    logits = logits.to(torch.float32, copy=True)  # never change the caller's tensor
    if chat.repetition_penalty != 1.0 and len(seen):
        picked = logits[seen]
        logits[seen] = torch.where(picked < 0, picked * chat.repetition_penalty, picked / chat.repetition_penalty)
    if chat.temperature <= 0:
        return int(logits.argmax())
    probs = (logits / chat.temperature).softmax(-1)
    if chat.top_p < 1.0:
        sorted_probs, order = probs.sort(descending=True)
        drop = sorted_probs.cumsum(-1) - sorted_probs > chat.top_p  # keep the smallest set reaching top_p
        sorted_probs[drop] = 0.0
        probs = torch.zeros_like(probs).scatter(0, order, sorted_probs)
    return int(torch.multinomial(probs, 1, generator=generator))


class TextDeltas:
    """Turns a growing token list into text deltas that join to ``decode(tokens)``.

    Each call decodes all new tokens and emits what extends the text emitted so far; a trailing
    incomplete UTF-8 character (``\\ufffd``) is held back until the next token completes it.
    """

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer, self.emitted = tokenizer, ""
        self.tokens: list[int] = []

    def push(self, token: int | None) -> str:
        """Add ``token`` (None: the stream ended) and return the new visible text, maybe empty."""
        if token is not None:
            self.tokens.append(token)
        text = self.tokenizer.decode(self.tokens, skip_special_tokens=True)
        if token is not None:
            text = text.rstrip("\ufffd")
        if not text.startswith(self.emitted):  # a decoder rewrote earlier text: emit only what is new
            return ""
        delta, self.emitted = text[len(self.emitted):], text if len(text) > len(self.emitted) else self.emitted
        return delta


# --- the stream -----------------------------------------------------------------------------
def stream_chat(model: Any, tokenizer: Any, messages: list[Message], chat: ChatConfig,
                stats: GenerationStats | None = None, settings: FastGenSettings | None = None,
                engine: Engine | None = None) -> Iterator[str]:
    """Yield the reply's text deltas; a drop-in for ``airbot.generate.hf_generate.stream_chat``.

    Runs in the caller's thread (no worker thread, no queue); unsupported models go through
    ``generate`` instead, with the same stats. ``engine``: one from ``build_engine`` (else the
    model's shared one).
    """
    stats = stats if stats is not None else GenerationStats()
    settings = settings or settings_from_env()
    engine = engine or engine_for(model, settings)
    if engine is None:
        yield from generate_stream_chat(model, tokenizer, messages, chat, stats)
        return
    yield from _stream(engine, tokenizer, messages, chat, stats, settings)


def _stream(engine: Engine, tokenizer: Any, messages: list[Message], chat: ChatConfig, stats: GenerationStats,
            settings: FastGenSettings) -> Iterator[str]:
    stats.started = time.perf_counter()
    prompt = encode_chat(tokenizer, messages, "cpu")["input_ids"][0]
    stats.prompt_tokens, stats.new_tokens = len(prompt), 0
    stop, text = eos_ids(engine.model, tokenizer), TextDeltas(tokenizer)
    seen = prompt.clone()
    following: Generator[int, None, None] | None = None
    try:
        with compute_scope(settings.threads):  # the prompt in this thread: a joining answer never stalls the batch's steps
            state = engine.start(len(prompt) + chat.max_new_tokens + 1)
            fixed = _fixed_length(tokenizer, messages, prompt) if settings.reuse_prompts else 0
            token = next_token(engine.read_prompt(prompt, state, fixed), seen, chat)
        while True:
            stats.new_tokens += 1
            delta = "" if token in stop else text.push(token)
            if delta:
                stats.first_text = stats.first_text or time.perf_counter()
                yield delta
            if token in stop or stats.new_tokens >= chat.max_new_tokens:
                break
            if following is None:
                following = _following(engine, state, token, seen, chat, stop, settings)
            token = next(following)
        tail = text.push(None)
        if tail:
            stats.first_text = stats.first_text or time.perf_counter()
            yield tail
    finally:
        if following is not None:
            following.close()  # a batched answer leaves the batch now, not at its stop
        stats.finished = time.perf_counter()


def _fixed_length(tokenizer: Any, messages: list[Message], prompt: torch.Tensor) -> int:
    """How many of ``prompt``'s tokens are its messages before the last one (instructions, worked examples,
    earlier turns): the beginning ``Engine.read_prompt`` keeps. 0 when they do not tokenize as its beginning."""
    if len(messages) < 2:
        return 0
    text = tokenizer.apply_chat_template(messages[:-1], tokenize=False, add_generation_prompt=False)
    head = tokenizer(text, add_special_tokens=False)["input_ids"]
    return len(head) if len(head) < len(prompt) and prompt[:len(head)].tolist() == head else 0


def _following(engine: Engine, state: State, token: int, seen: torch.Tensor, chat: ChatConfig, stop: set[int],
               settings: FastGenSettings) -> Generator[int, None, None]:
    """The tokens after ``token``: from the engine's batch (``airbot.generate.batch``), or decoded here
    one by one (batching off, or an exact engine, whose steps are the prompt path's)."""
    left = chat.max_new_tokens - 1
    if settings.batching and not engine.exact:
        from airbot.generate.batch import batcher_for

        yield from batcher_for(engine, settings.threads, settings.batch_threads or os.cpu_count() or 1).decode(
            state, token, seen, chat, stop, left)
        return
    import torch

    for _ in range(left):
        with compute_scope(settings.threads):
            if chat.repetition_penalty != 1.0:  # only the penalty reads the history
                seen = torch.cat([seen, torch.tensor([token])])
            token = next_token(engine.forward(torch.tensor([token]), state), seen, chat)
        yield token
        if token in stop:
            return
