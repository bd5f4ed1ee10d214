"""A Llama-family model's weights laid out for fast one-token decoding (``airbot.generate.stream``'s engine).

``model.generate`` spends more time in Python (logits processors, mask building, cache objects)
than in matmuls for a 135M model. Here a decode step is one TorchScript function (no Python
interpreter between its ~40 small ops per layer; the dispatcher remains), with q/k/v and
gate/up fused (``airbot.generate.kernels``), q and k rotated by one RoPE op from tables
computed once per answer (the softmax scale folded into q's rows), and a preallocated fp32 KV cache:
one-row attention as two fp32 batched matmuls runs several times
faster on the CPU than bf16 ones or SDPA's flash kernel (3 vs 27 us at 64 positions).

The prompt (prefill) uses the model's own weights in its own dtype: for many rows at once a GEMM
beats the weight-only kernels, which only win for one row. The decode step runs bf16 rows whatever
the model's dtype, because the CPU int4 kernel is vectorized for bf16 rows only (one [3072, 576]
product, 1 thread, a Xeon without AVX512-BF16: bf16 rows 0.15 ms, fp32 rows 3.7 ms, fp16 5.7 ms,
the dense fp32 product 0.30 ms). So on a CPU without bf16 units, where the bots load fp32 (a bf16
prompt GEMM there is 2.3x slower: 300 tokens 2.4 s vs 1.05 s), the prompt runs fp32 and the
decode step int4 with bf16 rows: 20 ms a token instead of 70 ms through the fp32 model.
``exact`` engines (quantize="none") decode through the same path as the prompt, with ``generate``'s
attention kernel and dtype, so their greedy tokens equal ``generate``'s.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from airbot.generate.kernels import GROUP, KIND_CODES, RESIDUAL_RANK, Linear, Quantize, fused_linear

assert GROUP == 32, "_project's int4 call spells the group size out"

if TYPE_CHECKING:
    from collections.abc import Sequence


@dataclass
class Layer:
    """One decoder layer: norms, the model's own projections (prefill) and fused decode projections."""

    norm1: torch.Tensor
    norm2: torch.Tensor
    prompt_norm1: torch.Tensor
    """The norms in the model's dtype, for the prompt rows (``norm1``/``norm2``: the decode step's)."""
    prompt_norm2: torch.Tensor
    attn: Any  # the HF attention module: q/k/v/o_proj for prefill
    mlp: Any  # the HF MLP module: gate/up/down_proj for prefill
    qkv: Linear
    o: Linear
    gate_up: Linear
    down: Linear


@dataclass
class State:
    """One answer's KV cache, RoPE tables and how many positions are filled.

    ``qk_cos``/``qk_sin`` ([positions, heads + kv_heads, head_dim], fp32) rotate q and k in one op;
    q's rows carry the softmax scale. ``cos``/``sin`` are the plain tables the prompt uses."""

    keys: list[torch.Tensor]
    values: list[torch.Tensor]
    cos: torch.Tensor
    sin: torch.Tensor
    qk_cos: torch.Tensor
    qk_sin: torch.Tensor
    length: int = 0


PREFIX_MIN = 32
"""Fewest tokens of a prompt's fixed beginning worth keeping (a RAG prompt's instructions and worked
examples are ~160); a shorter one is read with the rest."""
PREFIX_KEEP = 4
"""Prompt beginnings whose keys and values an engine keeps."""


@dataclass(frozen=True)
class Prefix:
    """A prompt beginning read before: its token ids and each layer's keys and values ([kv_heads, tokens, head_dim])."""

    ids: torch.Tensor
    keys: list[torch.Tensor]
    values: list[torch.Tensor]


@dataclass
class Engine:
    """A model's weights laid out for the loop; built once per model and shared by its streams."""

    model: Any
    dtype: torch.dtype
    """The model's dtype: the prompt's rows and its KV tables."""
    step_dtype: torch.dtype
    """The decode step's rows: bf16 where weights are quantized (the int kernels want bf16), else ``dtype``."""
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
    """Decode like generate (its attention kernel, bf16 cache), so greedy tokens equal generate's."""
    kinds: dict[str, int] = field(default_factory=dict)
    packed: tuple = ()
    """The decode step's weights as flat lists (norms, then ``_pack``'s per-linear lists)."""
    batcher: Any = None
    """Its ``airbot.generate.batch.Batcher``, made on first use."""
    prefixes: list[Prefix] = field(default_factory=list)
    """The last ``PREFIX_KEEP`` prompt beginnings it read, newest first (``read_prompt``)."""
    prefix_lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def build(cls, model: Any, quantize: Quantize) -> Engine:
        """Fuse q/k/v and gate/up, quantize each projection as ``quantize`` says, keep the rest."""
        dtype = next(model.parameters()).dtype  # bots.py picks bf16 where the CPU has bf16 units, else fp32
        mode: Quantize = quantize if dtype in (torch.bfloat16, torch.float32) else "none"
        step_dtype = torch.bfloat16 if mode != "none" else dtype  # the int kernels want bf16 rows
        first = _layer(model.model.layers[0], mode, dtype, step_dtype)
        # The first layer decides for all: if its off-grid q/k/v did not fit int4 + a low-rank change
        # (an NF4-rounded QLoRA base), no other layer will, and each try costs an SVD.
        rank = 0 if first.qkv.kind in ("int8", "qint8") else RESIDUAL_RANK
        layers = [first, *(_layer(layer, mode, dtype, step_dtype, rank) for layer in model.model.layers[1:])]
        c = model.config
        head_dim = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
        # The head (tied embedding) is not on a 4-bit grid: int8, no residual (a near-tie's argmax must not move).
        head = fused_linear([model.lm_head], "int8" if mode != "none" else "none", step_dtype, residual_rank=0)
        engine = cls(model, dtype, step_dtype, layers, model.model.norm.weight.detach().to(step_dtype),
                     model.model.embed_tokens.weight.detach().to(step_dtype), head,
                     c.num_attention_heads, c.num_key_value_heads, head_dim, c.intermediate_size, c.rms_norm_eps,
                     mode == "none")
        linears = [p for lyr in layers for p in (lyr.qkv, lyr.o, lyr.gate_up, lyr.down)] + [head]
        for lin in linears:
            engine.kinds[lin.kind] = engine.kinds.get(lin.kind, 0) + 1
        engine.packed = ([lyr.norm1 for lyr in layers], [lyr.norm2 for lyr in layers], engine.norm, *_pack(linears))
        return engine

    def rms(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """LlamaRMSNorm exactly: fp32 statistics, back to the compute dtype, then the weight."""
        return _rms(x, weight, self.eps)

    def forward(self, ids: torch.Tensor, state: State) -> torch.Tensor:
        """Logits for the last of ``ids`` (1-D), appending their keys and values to ``state``."""
        if len(ids) == 1 and not self.exact:
            return self.step(int(ids[0]), state)
        inner = self.model.model
        x = inner.embed_tokens(ids)
        for layer, keys, values in zip(self.layers, state.keys, state.values):
            x = x + self._attention(layer, self.rms(x, layer.prompt_norm1), keys, values, state)
            h = self.rms(x, layer.prompt_norm2)
            x = x + layer.mlp.down_proj(F.silu(layer.mlp.gate_proj(h)) * layer.mlp.up_proj(h))
        state.length += len(ids)
        return self.head(self.rms(x[-1:], inner.norm.weight).to(self.step_dtype))[0]

    def read_prompt(self, ids: torch.Tensor, state: State, fixed: int = 0) -> torch.Tensor:
        """``forward`` over a whole prompt into an empty ``state``, its first ``fixed`` tokens (the part every
        prompt of its kind opens with: the instructions and the reader's two worked examples, ~160 of a RAG
        prompt's ~230 tokens) read apart and their keys and values kept, so the next prompt with the same
        beginning starts from them. Read whole, they were computed again for every answer.

        The beginning is always read apart, kept or not: a prompt's numbers never depend on what was asked
        before (the same question gives the same answer, alone or beside others). An exact engine reads
        every prompt whole (its tokens must equal ``generate``'s)."""
        if self.exact or fixed < PREFIX_MIN or fixed >= len(ids):
            return self.forward(ids, state)
        head = ids[:fixed]
        with self.prefix_lock:
            known = next((p for p in self.prefixes if torch.equal(p.ids, head)), None)
        if known is None:
            self.forward(head, state)
            known = Prefix(head.clone(), [k[:, :fixed].clone() for k in state.keys],
                           [v[:, :fixed].clone() for v in state.values])
            with self.prefix_lock:
                self.prefixes = [known, *(p for p in self.prefixes if not torch.equal(p.ids, head))][:PREFIX_KEEP]
        else:
            for keys, values, old_keys, old_values in zip(state.keys, state.values, known.keys, known.values, strict=True):
                keys[:, :fixed] = old_keys
                values[:, :fixed] = old_values
            state.length = fixed
        return self.forward(ids[fixed:], state)

    def step(self, token: int, state: State) -> torch.Tensor:
        """Logits after one more token, through the scripted decode step."""
        position = state.length
        logits = _decode_step(token, position, self.embed, *self.packed, state.keys, state.values,
                              state.qk_cos[position], state.qk_sin[position], self.heads, self.kv_heads, self.head_dim,
                              self.intermediate, self.eps)
        state.length += 1
        return logits

    def step_rows(self, tokens: list[int], positions: list[int], keys: list[torch.Tensor], values: list[torch.Tensor],
                  cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        """Logits [rows, vocab] after one more token for each of several answers, in one pass over the
        weights (``airbot.generate.batch``): row b's caches are ``keys[layer][b]`` ([rows, kv_heads, length,
        head_dim] per layer), its next position ``positions[b]``, its RoPE rows ``cos[b]``/``sin[b]``."""
        return _decode_rows(torch.tensor(tokens), torch.tensor(positions), max(positions) + 1, self.embed, *self.packed,
                            keys, values, cos, sin, self.heads, self.kv_heads, self.head_dim, self.intermediate, self.eps)

    def _attention(self, layer: Layer, h: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
                   state: State) -> torch.Tensor:
        """Prompt rows (and every row of an exact engine) through the model's own projections and SDPA."""
        n, start, d = h.shape[0], state.length, self.head_dim
        a = layer.attn
        qkv = torch.cat([a.q_proj(h), a.k_proj(h), a.v_proj(h)], -1)
        nq, nk = self.heads * d, self.kv_heads * d
        cos, sin = state.cos[start:start + n], state.sin[start:start + n]
        q = _rope(qkv[:, :nq].view(n, self.heads, d).transpose(0, 1), cos, sin)
        keys[:, start:start + n] = _rope(qkv[:, nq:nq + nk].view(n, self.kv_heads, d).transpose(0, 1), cos, sin)
        values[:, start:start + n] = qkv[:, nq + nk:].view(n, self.kv_heads, d).transpose(0, 1)
        k, v = keys[:, : start + n].to(q.dtype), values[:, : start + n].to(q.dtype)
        if n > 1 and start > 0:  # the rest of a prompt after a reused beginning: row i sees positions <= start + i
            mask = torch.ones(n, start + n, dtype=torch.bool).tril(diagonal=start)
            out = F.scaled_dot_product_attention(q[None], k[None], v[None], attn_mask=mask, enable_gqa=True)[0]
        else:  # SDPA's causal mask is aligned top-left: right only from position 0
            out = F.scaled_dot_product_attention(q[None], k[None], v[None], is_causal=n > 1, enable_gqa=True)[0]
        return a.o_proj(out.transpose(0, 1).reshape(n, nq))

    def start(self, max_len: int) -> State:
        """An empty KV cache for ``max_len`` positions and the RoPE tables for them."""
        cache_dtype = self.dtype if self.exact else torch.float32
        keys = [torch.zeros(self.kv_heads, max_len, self.head_dim, dtype=cache_dtype) for _ in self.layers]
        values = [torch.zeros(self.kv_heads, max_len, self.head_dim, dtype=cache_dtype) for _ in self.layers]
        positions = torch.arange(max_len).unsqueeze(0)
        cos, sin = self.model.model.rotary_emb(torch.empty(1, dtype=self.dtype), positions)
        half = self.head_dim // 2
        # rotate_half(x) * sin == roll(x, half) * (-sin1, sin2): fold the sign into the table once.
        signed = torch.cat([-sin[0, :, :half], sin[0, :, half:]], -1).to(self.dtype)
        cos = cos[0].to(self.dtype)
        # Per head for q and k at once, in fp32 from the bf16 tables generate uses; q's rows carry 1/sqrt(d).
        row_scale = torch.ones(self.heads + self.kv_heads, 1)
        row_scale[: self.heads] = self.head_dim**-0.5
        qk_cos = (cos.float()[:, None, :] * row_scale).contiguous()
        qk_sin = (signed.float()[:, None, :] * row_scale).contiguous()
        return State(keys, values, cos, signed, qk_cos, qk_sin)


def _rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return x * cos + torch.cat([x[..., half:], x[..., :half]], -1) * sin


def _layer(layer: Any, mode: Quantize, dtype: torch.dtype, step_dtype: torch.dtype, rank: int = RESIDUAL_RANK) -> Layer:
    a, m = layer.self_attn, layer.mlp
    n1, n2 = layer.input_layernorm.weight.detach(), layer.post_attention_layernorm.weight.detach()
    return Layer(n1.to(step_dtype), n2.to(step_dtype), n1.to(dtype), n2.to(dtype),
                 a, m, fused_linear([a.q_proj, a.k_proj, a.v_proj], mode, step_dtype, rank),
                 fused_linear([a.o_proj], mode, step_dtype, rank),
                 fused_linear([m.gate_proj, m.up_proj], mode, step_dtype, rank),
                 fused_linear([m.down_proj], mode, step_dtype, rank))


def _pack(linears: Sequence[Linear]) -> tuple[list[int], list[torch.Tensor], list[torch.Tensor], list[torch.Tensor | None],
                                              list[torch.Tensor | None], list[torch.Tensor | None], list[Any]]:
    """Linears as the flat typed lists TorchScript takes: kind codes, weights, scales, biases, A, B.T,
    FBGEMM packs (None where the kind is not qint8)."""
    empty = torch.empty(0)
    return ([KIND_CODES[lin.kind] for lin in linears], [lin.weight for lin in linears],
            [lin.scale if lin.scale is not None else empty for lin in linears], [lin.bias for lin in linears],
            [lin.lora_a for lin in linears], [lin.lora_bt for lin in linears], [lin.packed for lin in linears])


# torch.classes members exist only at runtime (torch's stubs lack them), hence the two name-defined ignores below;
# TorchScript skips a '# type: ignore[...]' comment only when it ends the line.
def _project(x: torch.Tensor, kind: int, weight: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor | None,
             lora_a: torch.Tensor | None, lora_bt: torch.Tensor | None,
             packed: torch.classes.quantized.LinearPackedParamsBase | None) -> torch.Tensor:  # type: ignore[name-defined]
    """``Linear.__call__`` in the form TorchScript compiles."""
    if kind == 4:
        out = torch.ops.aten._weight_int4pack_mm_for_cpu(x, weight, 32, scale)  # GROUP: TorchScript wants a literal
    elif kind == 9 and packed is not None:
        out = torch.ops.quantized.linear_dynamic(x.float(), packed).to(x.dtype)
    elif kind == 8:
        out = torch._weight_int8pack_mm(x, weight, scale)
    else:
        out = F.linear(x, weight)
    if bias is not None:
        out = out + bias
    if lora_a is not None and lora_bt is not None:
        out = out + torch.mm(torch.mm(x.float(), lora_a), lora_bt).to(out.dtype)
    return out


def _project_rows(x: torch.Tensor, kind: int, weight: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor | None,
                  lora_a: torch.Tensor | None, lora_bt: torch.Tensor | None,
                  packed: torch.classes.quantized.LinearPackedParamsBase | None) -> torch.Tensor:  # type: ignore[name-defined]
    """``_project`` for several answers' rows: FBGEMM's dynamic int8 product quantizes its input with
    one range for all rows, so there each row goes alone (a row's logits never depend on its neighbours;
    the price: the int8 head costs ~1.1 ms a row instead of ~0.3 ms in one call of 8 rows)."""
    if kind != 9 or x.shape[0] == 1:
        return _project(x, kind, weight, scale, bias, lora_a, lora_bt, packed)
    return torch.cat([_project(x.narrow(0, b, 1), kind, weight, scale, bias, lora_a, lora_bt, packed)
                      for b in range(x.shape[0])], 0)


def _rms(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """LlamaRMSNorm of rows: fp32 statistics, back to the rows' dtype, then the weight."""
    h = x.float()
    return weight * (h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype)


def _linear_at(x: torch.Tensor, at: int, kinds: list[int], weights: list[torch.Tensor], scales: list[torch.Tensor],
               biases: list[torch.Tensor | None], loras_a: list[torch.Tensor | None], loras_bt: list[torch.Tensor | None],
               packs: list[torch.classes.quantized.LinearPackedParamsBase | None]) -> torch.Tensor:  # type: ignore[name-defined]
    """Rows through the ``at``-th packed linear (per layer: qkv, o, gate/up, down; the head last)."""
    return _project_rows(x, kinds[at], weights[at], scales[at], biases[at], loras_a[at], loras_bt[at], packs[at])


def _feed_forward(x: torch.Tensor, j: int, norm: torch.Tensor, eps: float, intermediate: int, kinds: list[int],
                  weights: list[torch.Tensor], scales: list[torch.Tensor], biases: list[torch.Tensor | None],
                  loras_a: list[torch.Tensor | None], loras_bt: list[torch.Tensor | None],
                  packs: list[torch.classes.quantized.LinearPackedParamsBase | None]) -> torch.Tensor:  # type: ignore[name-defined]
    """``x`` plus the MLP of the layer whose first linear is ``j`` (gate/up at j + 2, down at j + 3)."""
    gu = _linear_at(_rms(x, norm, eps), j + 2, kinds, weights, scales, biases, loras_a, loras_bt, packs)
    act = F.silu(gu.narrow(1, 0, intermediate)) * gu.narrow(1, intermediate, intermediate)
    return x + _linear_at(act, j + 3, kinds, weights, scales, biases, loras_a, loras_bt, packs)


def _decode_step_py(token: int, position: int, embed: torch.Tensor, norms1: list[torch.Tensor], norms2: list[torch.Tensor],
                    final_norm: torch.Tensor, kinds: list[int], weights: list[torch.Tensor], scales: list[torch.Tensor],
                    biases: list[torch.Tensor | None], loras_a: list[torch.Tensor | None],
                    loras_bt: list[torch.Tensor | None],
                    packs: list[torch.classes.quantized.LinearPackedParamsBase | None],  # type: ignore[name-defined]
                    keys: list[torch.Tensor], values: list[torch.Tensor],
                    cos: torch.Tensor, sin: torch.Tensor, heads: int, kv_heads: int, head_dim: int, intermediate: int,
                    eps: float) -> torch.Tensor:
    """One token through every layer: its keys/values land at ``position`` of the fp32 caches, the
    head's logits come back. ``cos``/``sin``: this position's q+k RoPE rows (q pre-scaled)."""
    nqk, nkv, half, length = (heads + kv_heads) * head_dim, kv_heads * head_dim, head_dim // 2, position + 1
    x = embed.narrow(0, token, 1)
    for i in range(len(norms1)):
        j = 4 * i
        qkv = _linear_at(_rms(x, norms1[i], eps), j, kinds, weights, scales, biases, loras_a, loras_bt, packs)[0]
        qk = qkv.narrow(0, 0, nqk).view(heads + kv_heads, head_dim)
        qk = torch.addcmul(qk * cos, qk.roll(half, -1), sin)  # fp32: the tables are
        keys[i].select(1, position).copy_(qk.narrow(0, heads, kv_heads))
        values[i].select(1, position).copy_(qkv.narrow(0, nqk, nkv).view(kv_heads, head_dim))
        q = qk.narrow(0, 0, heads).view(kv_heads, heads // kv_heads, head_dim)
        probs = torch.bmm(q, keys[i].narrow(1, 0, length).transpose(1, 2)).softmax(-1)
        attn = torch.bmm(probs, values[i].narrow(1, 0, length)).view(1, heads * head_dim).to(x.dtype)
        x = x + _linear_at(attn, j + 1, kinds, weights, scales, biases, loras_a, loras_bt, packs)
        x = _feed_forward(x, j, norms2[i], eps, intermediate, kinds, weights, scales, biases, loras_a, loras_bt, packs)
    return _linear_at(_rms(x, final_norm, eps), len(kinds) - 1, kinds, weights, scales, biases, loras_a, loras_bt, packs)[0]


def _decode_rows_py(tokens: torch.Tensor, positions: torch.Tensor, length: int, embed: torch.Tensor,
                    norms1: list[torch.Tensor], norms2: list[torch.Tensor], final_norm: torch.Tensor, kinds: list[int],
                    weights: list[torch.Tensor], scales: list[torch.Tensor], biases: list[torch.Tensor | None],
                    loras_a: list[torch.Tensor | None], loras_bt: list[torch.Tensor | None],
                    packs: list[torch.classes.quantized.LinearPackedParamsBase | None],  # type: ignore[name-defined]
                    keys: list[torch.Tensor], values: list[torch.Tensor],
                    cos: torch.Tensor, sin: torch.Tensor, heads: int, kv_heads: int, head_dim: int, intermediate: int,
                    eps: float) -> torch.Tensor:
    """``_decode_step_py`` for several answers at once: row b's token ``tokens[b]`` lands at ``positions[b]``
    of its caches ``keys[layer][b]``; ``length`` = the longest row's length after it. Rows attend in
    one batched product over ``length`` positions, those past a row's own end masked out."""
    rows = tokens.shape[0]
    nqk, nkv, half = (heads + kv_heads) * head_dim, kv_heads * head_dim, head_dim // 2
    row = torch.arange(rows)
    mask = torch.zeros(rows, length).masked_fill(torch.arange(length)[None, :] > positions[:, None], float("-inf"))
    mask = mask.view(rows, 1, 1, length)
    x = embed.index_select(0, tokens)
    for i in range(len(norms1)):
        j = 4 * i
        qkv = _linear_at(_rms(x, norms1[i], eps), j, kinds, weights, scales, biases, loras_a, loras_bt, packs)
        qk = qkv.narrow(1, 0, nqk).reshape(rows, heads + kv_heads, head_dim)
        qk = torch.addcmul(qk * cos, qk.roll(half, -1), sin)
        key, value = keys[i], values[i]
        key[row, :, positions] = qk.narrow(1, heads, kv_heads)
        value[row, :, positions] = qkv.narrow(1, nqk, nkv).reshape(rows, kv_heads, head_dim).float()
        # rows x kv heads as one bmm batch (the rows of a pool are contiguous), as the one-row step does per row
        group, capacity = heads // kv_heads, key.shape[2]
        q = qk.narrow(1, 0, heads).reshape(rows * kv_heads, group, head_dim)
        k = key.view(rows * kv_heads, capacity, head_dim).narrow(1, 0, length)
        scores = torch.bmm(q, k.transpose(1, 2)).view(rows, kv_heads, group, length) + mask
        probs = scores.softmax(-1).view(rows * kv_heads, group, length)
        v = value.view(rows * kv_heads, capacity, head_dim).narrow(1, 0, length)
        attn = torch.bmm(probs, v).view(rows, heads * head_dim).to(x.dtype)
        x = x + _linear_at(attn, j + 1, kinds, weights, scales, biases, loras_a, loras_bt, packs)
        x = _feed_forward(x, j, norms2[i], eps, intermediate, kinds, weights, scales, biases, loras_a, loras_bt, packs)
    return _linear_at(_rms(x, final_norm, eps), len(kinds) - 1, kinds, weights, scales, biases, loras_a, loras_bt, packs)


def _script(fn: Any) -> Any:
    """TorchScript ``fn`` (about a second, once per process); plain Python where scripting fails.

    ``torch.jit.script`` is deprecated in torch 2.13 and this is its only use. Kept because it still
    pays: base bot, 1 thread, 6 answers x 2 runs, a 2-core Xeon without AVX512-BF16 beside a
    1-thread job: scripted 20.1 / 20.4 tok/s median vs the same step in Python 17.8 / 17.8 (+14%).
    A torch without TorchScript (or ``-W error::DeprecationWarning``) gets the Python step, same
    tokens; ``tests/generate/test_stream.py`` fails when that happens so the choice is re-measured."""
    try:
        return torch.jit.script(fn)
    except Exception as err:  # a torch without TorchScript still decodes, just slower
        logging.getLogger(__name__).warning("fastgen: decode step not scripted (%s); running it in Python", err)
        return fn


_decode_step = _script(_decode_step_py)
_decode_rows = _script(_decode_rows_py)
