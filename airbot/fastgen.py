"""Fast streaming decoding for the bots: a hand-rolled KV-cache loop with weight-only int4/int8 matmuls.

A drop-in for ``airbot.generation.stream_chat`` (same arguments, yields text deltas, fills the
same ``GenerationStats``)::

    from airbot.fastgen import stream_chat
    .venv/bin/python bench/chat.py --repeats 3        # figures: fastgen vs model.generate

Why it is fast on a CPU (each measured in bench/chat.py, see bench/README.md):

* Decoding one token is memory-bound: every weight is read once per token. The embedded
  SmolLM2 comes from a Q4_1 GGUF, so its linear weights already sit exactly on a 4-bit grid with
  one scale and minimum per 32 values; repacking them for ``torch._weight_int4pack_mm_for_cpu``
  is lossless and reads a quarter of the bf16 bytes. Weights that are not on such a grid (a
  merged LoRA, a hub model) get per-channel int8 (``torch._weight_int8pack_mm``) instead, whose
  rounding error is far below a fine-tune's weight changes. ``quantize="none"`` keeps them exact.
* ``model.generate`` spends more time in Python (logits processors, mask building, cache
  objects) than in matmuls for a 135M model; this loop does about 12 tensor ops per layer with
  q/k/v and gate/up fused, RoPE tables computed once per answer and a preallocated KV cache.
* The prompt (prefill) uses the model's own weights: for many rows at once bf16 GEMM beats
  the weight-only kernels, which only win for one row.
* One intra-op thread per answer (``threads``): a 135M model's per-token matmuls are too small
  to split well, the arena streams several bots at once, and OpenMP threads that outnumber free
  cores stall at every barrier. ``AIRBOT_DECODE_THREADS=0`` leaves torch's setting alone.

An unmerged LoRA (a ``PeftModel``) runs too instead of falling back to ``generate``: the frozen
base stays exactly int4 and the adapter's A/B matmuls ride along in bf16. Measured, that is slower
than serving the merged model (int8: fewer, larger ops), so bots.py should keep merging; the path
is for callers that hold a PeftModel. Models outside the Llama family (``SUPPORTED``), GPU models,
bitsandbytes layers and other PEFT methods (prompt/prefix tuning, DoRA) fall back to
``airbot.generation.stream_chat`` unchanged.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from airbot.config import ChatConfig
from airbot.generation import GenerationStats, Message, encode_chat
from airbot.generation import stream_chat as generate_stream_chat

if TYPE_CHECKING:
    import torch

Quantize = Literal["auto", "int4", "int8", "none"]
SUPPORTED = ("llama", "mistral", "qwen2")
GROUP = 32  # values per 4-bit block: the Q4_1 block size of the embedded GGUF
ON_GRID_TOLERANCE = 0.05  # a block is "on a 4-bit grid" when every value is within 5% of a step of one


@dataclass(frozen=True)
class FastGenSettings:
    """How the fast path runs; read from the environment once (``settings_from_env``)."""

    quantize: Quantize = "auto"
    """auto: int4 where the weights are already 4-bit (lossless), int8 elsewhere; none: exact weights."""
    threads: int = 1
    """Intra-op threads while this answer computes; 0 leaves torch's setting alone."""


def settings_from_env() -> FastGenSettings:
    """``AIRBOT_FASTGEN_QUANTIZE`` (auto|int4|int8|none) and ``AIRBOT_DECODE_THREADS`` (0 = torch's)."""
    quantize = os.environ.get("AIRBOT_FASTGEN_QUANTIZE", "auto")
    if quantize not in ("auto", "int4", "int8", "none"):
        quantize = "auto"
    return FastGenSettings(quantize=quantize, threads=int(os.environ.get("AIRBOT_DECODE_THREADS", "1") or 1))  # type: ignore[arg-type]


# --- weights --------------------------------------------------------------------------------
def quantize_int8(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric per-output-channel int8: (int8 [N, K], scales [N] fp32)."""
    import torch

    w = weight.detach().float()
    scale = w.abs().amax(1).clamp(min=1e-12) / 127
    return torch.round(w / scale[:, None]).clamp(-127, 127).to(torch.int8).contiguous(), scale


def quantize_int4(weight: torch.Tensor, group: int = GROUP) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Asymmetric 4-bit per ``group`` values (Q4_1's layout): (levels 0..15 int32 [N, K], scale and
    zero [K/group, N, 2] fp32 as the CPU int4 kernel wants them, worst error in steps)."""
    import torch

    n, k = weight.shape
    w = weight.detach().float().reshape(n, k // group, group)
    low, high = w.amin(-1), w.amax(-1)
    scale = ((high - low) / 15).clamp(min=1e-12)
    levels = torch.round((w - low[..., None]) / scale[..., None]).clamp(0, 15)
    error = ((levels * scale[..., None] + low[..., None] - w).abs() / scale[..., None]).amax().item()
    # The kernel computes (level - 8) * scale + zero, so zero is the value of level 8.
    scale_zero = torch.stack([scale, low + 8 * scale], -1).transpose(0, 1).contiguous()
    return levels.to(torch.int32).reshape(n, k), scale_zero, error


class Linear:
    """One decode-time projection ``x @ W.T (+ b) (+ x @ A.T @ B.T)`` for a single row, W stored as
    int4, int8 or dense; the optional low-rank A/B is an unmerged LoRA kept exact in the compute dtype."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, mode: Quantize, dtype: torch.dtype,
                 lora: tuple[torch.Tensor, torch.Tensor] | None = None) -> None:
        import torch

        self.bias = None if bias is None else bias.detach().to(dtype)
        self.lora = None if lora is None else (lora[0].detach().to(dtype).contiguous(), lora[1].detach().to(dtype).contiguous())
        self.kind = "dense"
        if mode in ("auto", "int4") and dtype == torch.bfloat16 and weight.shape[1] % (GROUP * 2) == 0:
            levels, scale_zero, error = quantize_int4(weight)
            if mode == "int4" or error <= ON_GRID_TOLERANCE:
                self.kind, self.scale = "int4", scale_zero.to(dtype)
                self.weight = torch.ops.aten._convert_weight_to_int4pack_for_cpu(levels, 2)
                return
        if mode in ("auto", "int8", "int4") and dtype == torch.bfloat16:
            q, scale = quantize_int8(weight)
            self.kind, self.weight, self.scale = "int8", q, scale.to(dtype)
            return
        self.weight = weight.detach().to(dtype).contiguous()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        import torch
        import torch.nn.functional as F

        if self.kind == "int4":
            out = torch.ops.aten._weight_int4pack_mm_for_cpu(x, self.weight, GROUP, self.scale)
        elif self.kind == "int8":
            out = torch._weight_int8pack_mm(x, self.weight, self.scale)
        else:
            out = F.linear(x, self.weight)
        if self.bias is not None:
            out = out + self.bias
        return out if self.lora is None else out + F.linear(F.linear(x, self.lora[0]), self.lora[1])


def _cat_bias(*modules: Any) -> torch.Tensor | None:
    import torch

    biases = [m.bias for m in modules]
    if all(b is None for b in biases):
        return None
    return torch.cat([b if b is not None else m.weight.new_zeros(m.weight.shape[0]) for b, m in zip(biases, modules)])


@dataclass
class Layer:
    """One decoder layer: norms, the model's own projections (prefill) and fused decode projections."""

    norm1: torch.Tensor
    norm2: torch.Tensor
    attn: Any  # the HF attention module: q/k/v/o_proj for prefill
    mlp: Any  # the HF MLP module: gate/up/down_proj for prefill
    qkv: Linear
    o: Linear
    gate_up: Linear
    down: Linear


@dataclass
class Engine:
    """A model's weights laid out for the loop; built once per model and shared by its streams."""

    model: Any
    dtype: torch.dtype
    layers: list[Layer]
    norm: torch.Tensor
    embed: torch.Tensor
    head: Linear
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    eps: float
    exact: bool
    """Keep generate's attention kernel too, so greedy tokens equal generate's (quantize='none')."""
    kinds: dict[str, int] = field(default_factory=dict)

    @classmethod
    def build(cls, model: Any, quantize: Quantize) -> Engine:
        """Fuse q/k/v and gate/up, quantize each projection as ``quantize`` says, keep the rest."""
        import torch

        model = _inner(model)
        dtype = next(model.parameters()).dtype  # bots.py picks bf16 where the CPU has bf16 units
        mode: Quantize = quantize if dtype == torch.bfloat16 else "none"  # int kernels want bf16 rows
        layers = [_layer(layer, mode, dtype) for layer in model.model.layers]
        c = model.config
        head_dim = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
        engine = cls(model, dtype, layers, model.model.norm.weight.detach().to(dtype),
                     model.model.embed_tokens.weight.detach().to(dtype),
                     fused_linear([model.lm_head], "int8" if mode != "none" else "none", dtype),
                     c.num_attention_heads, c.num_key_value_heads, head_dim, c.intermediate_size, c.rms_norm_eps,
                     mode == "none")
        for lin in [engine.head, *(p for lyr in layers for p in (lyr.qkv, lyr.o, lyr.gate_up, lyr.down))]:
            engine.kinds[lin.kind] = engine.kinds.get(lin.kind, 0) + 1
        return engine

    def rms(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """LlamaRMSNorm exactly: fp32 statistics, back to the compute dtype, then the weight."""
        import torch

        h = x.float()
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return weight * h.to(x.dtype)

    def forward(self, ids: torch.Tensor, state: State) -> torch.Tensor:
        """Logits for the last of ``ids`` (1-D), appending their keys and values to ``state``."""
        import torch.nn.functional as F

        x = F.embedding(ids, self.embed)
        for layer, cache in zip(self.layers, state.cache):
            x = x + self._attention(layer, self.rms(x, layer.norm1), cache, state)
            h = self.rms(x, layer.norm2)
            if len(ids) > 1:
                x = x + layer.mlp.down_proj(F.silu(layer.mlp.gate_proj(h)) * layer.mlp.up_proj(h))
            else:
                gu = layer.gate_up(h)
                x = x + layer.down(F.silu(gu[:, : self.intermediate]) * gu[:, self.intermediate:])
        state.length += len(ids)
        return self.head(self.rms(x[-1:], self.norm))[0]

    def _attention(self, layer: Layer, h: torch.Tensor, cache: tuple[torch.Tensor, torch.Tensor],
                   state: State) -> torch.Tensor:
        import torch
        import torch.nn.functional as F

        n, start, d = h.shape[0], state.length, self.head_dim
        if n > 1:
            a = layer.attn
            qkv = torch.cat([a.q_proj(h), a.k_proj(h), a.v_proj(h)], -1)
        else:
            qkv = layer.qkv(h)
        nq, nk = self.heads * d, self.kv_heads * d
        cos, sin = state.cos[start:start + n], state.sin[start:start + n]
        q = _rope(qkv[:, :nq].view(n, self.heads, d).transpose(0, 1), cos, sin)
        keys, values = cache
        keys[:, start:start + n] = _rope(qkv[:, nq:nq + nk].view(n, self.kv_heads, d).transpose(0, 1), cos, sin)
        values[:, start:start + n] = qkv[:, nq + nk:].view(n, self.kv_heads, d).transpose(0, 1)
        k, v = keys[:, : start + n], values[:, : start + n]
        if n > 1 or start == 0 or self.exact:
            out = F.scaled_dot_product_attention(q[None], k[None], v[None], is_causal=n > 1, enable_gqa=True)[0]
        else:  # one query row: two small batched matmuls beat SDPA's flash kernel (~2 ms a token)
            grouped = q.reshape(self.kv_heads, self.heads // self.kv_heads, d)
            scores = torch.bmm(grouped, k.transpose(1, 2)) * d**-0.5
            out = torch.bmm(scores.float().softmax(-1).to(q.dtype), v).reshape(self.heads, 1, d)
        out = out.transpose(0, 1).reshape(n, nq)
        return layer.attn.o_proj(out) if n > 1 else layer.o(out)

    def start(self, max_len: int) -> State:
        """An empty KV cache for ``max_len`` positions and the RoPE tables for them."""
        import torch

        cache = [(torch.zeros(self.kv_heads, max_len, self.head_dim, dtype=self.dtype),
                  torch.zeros(self.kv_heads, max_len, self.head_dim, dtype=self.dtype)) for _ in self.layers]
        positions = torch.arange(max_len).unsqueeze(0)
        cos, sin = self.model.model.rotary_emb(torch.empty(1, dtype=self.dtype), positions)
        half = self.head_dim // 2
        # rotate_half(x) * sin == cat(x2, x1) * (-sin1, sin2): fold the sign into the table once.
        signed = torch.cat([-sin[0, :, :half], sin[0, :, half:]], -1)
        return State(cache, cos[0].to(self.dtype), signed.to(self.dtype))


@dataclass
class State:
    """One answer's KV cache, RoPE tables and how many positions are filled."""

    cache: list[tuple[torch.Tensor, torch.Tensor]]
    cos: torch.Tensor
    sin: torch.Tensor
    length: int = 0


def _rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    import torch

    half = x.shape[-1] // 2
    return x * cos + torch.cat([x[..., half:], x[..., :half]], -1) * sin


def _layer(layer: Any, mode: Quantize, dtype: torch.dtype) -> Layer:
    a, m = layer.self_attn, layer.mlp
    return Layer(layer.input_layernorm.weight.detach().to(dtype), layer.post_attention_layernorm.weight.detach().to(dtype),
                 a, m, fused_linear([a.q_proj, a.k_proj, a.v_proj], mode, dtype), fused_linear([a.o_proj], mode, dtype),
                 fused_linear([m.gate_proj, m.up_proj], mode, dtype), fused_linear([m.down_proj], mode, dtype))


def fused_linear(modules: list[Any], mode: Quantize, dtype: torch.dtype) -> Linear:
    """Projections that read the same input, stacked into one; a LoRA wrapper's frozen base weight
    is what gets quantized (for the embedded model: exactly int4) and its A/B stay a side path."""
    import torch

    bases = [getattr(m, "base_layer", m) for m in modules]
    weight = torch.cat([b.weight for b in bases]) if len(bases) > 1 else bases[0].weight
    return Linear(weight, _cat_bias(*bases), mode, dtype, _stacked_lora(modules, [b.weight.shape[0] for b in bases]))


def _stacked_lora(modules: list[Any], rows: list[int]) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Every active LoRA of ``modules`` as one A (stacked ranks) and one block-diagonal B (scaled)."""
    import torch

    parts = []
    for i, module in enumerate(modules):
        for name in getattr(module, "active_adapters", []) if hasattr(module, "lora_A") else []:
            if name in module.lora_A and not getattr(module, "merged", False):
                a, b = module.lora_A[name].weight.float(), module.lora_B[name].weight.float() * module.scaling[name]
                parts.append((i, a, b))
    if not parts:
        return None
    offsets = [sum(rows[:i]) for i in range(len(rows))]
    stacked_b = torch.zeros(sum(rows), sum(a.shape[0] for _, a, _ in parts))
    col = 0
    for i, a, b in parts:
        stacked_b[offsets[i]:offsets[i] + rows[i], col:col + a.shape[0]] = b
        col += a.shape[0]
    return torch.cat([a for _, a, _ in parts]), stacked_b


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
            with compute_scope(settings.threads):
                cached = (settings.quantize, Engine.build(model, settings.quantize))
            _engines[key] = cached
        return cached[1]


@contextlib.contextmanager
def compute_scope(threads: int) -> Iterator[None]:
    """Inference mode and this thread's intra-op threads for one burst of compute, restored after,
    so nothing leaks into the caller between yields."""
    import torch

    before = torch.get_num_threads()
    if threads > 0 and threads != before:
        torch.set_num_threads(threads)
    try:
        with torch.inference_mode():
            yield
    finally:
        if threads > 0 and threads != before:
            torch.set_num_threads(before)


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
        self.tokenizer, self.tokens, self.emitted = tokenizer, [], ""

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
                stats: GenerationStats | None = None, settings: FastGenSettings | None = None) -> Iterator[str]:
    """Yield the reply's text deltas; a drop-in for ``airbot.generation.stream_chat``.

    Runs in the caller's thread (no worker thread, no queue); unsupported models go through
    ``generate`` instead, with the same stats.
    """
    stats = stats if stats is not None else GenerationStats()
    settings = settings or settings_from_env()
    engine = engine_for(model, settings)
    if engine is None:
        yield from generate_stream_chat(model, tokenizer, messages, chat, stats)
        return
    yield from _stream(engine, tokenizer, messages, chat, stats, settings.threads)


def _stream(engine: Engine, tokenizer: Any, messages: list[Message], chat: ChatConfig, stats: GenerationStats,
            threads: int) -> Iterator[str]:
    import torch

    stats.started = time.perf_counter()
    prompt = encode_chat(tokenizer, messages, "cpu")["input_ids"][0]
    stats.prompt_tokens, stats.new_tokens = len(prompt), 0
    stop, text = eos_ids(engine.model, tokenizer), TextDeltas(tokenizer)
    seen = prompt.clone()
    try:
        with compute_scope(threads):
            state = engine.start(len(prompt) + chat.max_new_tokens + 1)
            token = next_token(engine.forward(prompt, state), seen, chat)
        while True:
            stats.new_tokens += 1
            delta = "" if token in stop else text.push(token)
            if delta:
                stats.first_text = stats.first_text or time.perf_counter()
                yield delta
            if token in stop or stats.new_tokens >= chat.max_new_tokens:
                break
            with compute_scope(threads):
                seen = torch.cat([seen, torch.tensor([token])])
                token = next_token(engine.forward(torch.tensor([token]), state), seen, chat)
        tail = text.push(None)
        if tail:
            stats.first_text = stats.first_text or time.perf_counter()
            yield tail
    finally:
        stats.finished = time.perf_counter()
