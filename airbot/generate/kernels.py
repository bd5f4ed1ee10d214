"""Weight-only quantized projections for one-row decoding on a CPU (``airbot.generate.stream``'s matmuls).

Decoding one token reads every weight once, so its speed is the bytes read: int4 reads a
quarter of bf16's, int8 half. The embedded SmolLM2 comes from a Q4_1 GGUF whose linear weights
sit exactly on a 4-bit grid (one scale and minimum per 32 values), so repacking them for
``torch._weight_int4pack_mm_for_cpu`` is lossless. Weights off such a grid (a merged LoRA, an
NF4-rounded QLoRA base, a hub model) are rounded to that grid too and the rounding error's
largest directions are kept as a rank-``RESIDUAL_RANK`` bf16 side path: a merged adapter's
change is low-rank, so it survives where plain rounding would mostly undo it (bench/chat.py
``--quality`` measures the fact accuracy). ``quantize="int8"`` keeps per-channel int8 instead.

Int8 weights (the tied head, an NF4-rounded QLoRA base) run through FBGEMM's int8 GEMM
(``qint8``: the row is quantized to 8 bits per call, int32 accumulation) or through
``torch._weight_int8pack_mm``. Which is faster depends on the machine (on one AMD EPYC FBGEMM was
1.4-2x faster for one row, the 28 MB head 0.8 vs 1.8 ms per token), so it is not assumed from CPU
flags: at first use both are timed on the head's shape (``choose_int8_kernel``; 2.5 s with its
imports on this Xeon, once per CPU) and the choice is kept per CPU model and torch version in
``AIRBOT_HOME/cache/kernels.json``. FBGEMM is a candidate only where the CPU has VNNI: without it
FBGEMM's int16 sums could saturate (wrong results, whatever the speed).
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from airbot.rounding import quantize_rows

if TYPE_CHECKING:
    import torch

Quantize = Literal["auto", "int4", "int8", "none"]
GROUP = 32  # values per 4-bit block: the Q4_1 block size of the embedded GGUF
ON_GRID_TOLERANCE = 0.05  # a block is "on a 4-bit grid" when every value is within 5% of a step of one
RESIDUAL_RANK = 32  # rank of the bf16 side path that keeps an off-grid weight's rounding error's main directions
RESIDUAL_TOLERANCE = 0.05  # rms error in steps left after that side path, below which int4 + side path is used
KIND_CODES = {"int4": 4, "int8": 8, "qint8": 9, "dense": 0}  # what the scripted decode step switches on


def quantize_int8(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric per-output-channel int8: (int8 [N, K], scales [N] fp32)."""
    q, scale = quantize_rows(weight.detach().float())
    return q.contiguous(), scale[:, 0]


@functools.cache
def qint8_available() -> bool:
    """FBGEMM's int8 GEMM is there and the CPU accumulates u8*s8 products in int32 (VNNI)."""
    import torch

    if "fbgemm" not in torch.backends.quantized.supported_engines:
        return False
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:  # not Linux: keep the plain int8 kernel
        return False
    return "avx512_vnni" in flags or "avx_vnni" in flags


def cpu_model() -> str:
    """The CPU's model name (what a kernel timing is valid for), else the platform's processor."""
    import platform

    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@functools.cache
def choose_int8_kernel() -> dict[str, Any]:
    """Which int8 kernel this machine runs faster for one row, measured once per CPU model and torch
    version: ``{"kernel": "qint8"|"int8", "ms": {...}, "cpu": ..., "measured": bool}`` (``measured``
    False: read back from the cache). Only kernels that compute right here are timed (see the
    module docstring)."""
    import torch

    from airbot.config import airbot_home
    from airbot.storage import read_json, write_json

    key = f"{cpu_model()} | torch {torch.__version__}"
    path = airbot_home() / "cache" / "kernels.json"
    cached = (read_json(path) or {}).get(key) if path.is_file() else None
    if isinstance(cached, dict) and cached.get("kernel") in ("qint8", "int8"):
        return {**cached, "cpu": key, "measured": False}
    timings = {"int8": _time_int8("int8")}
    if qint8_available():
        timings["qint8"] = _time_int8("qint8")
    choice = {"kernel": min(timings, key=lambda k: timings[k]), "ms": {k: round(v, 4) for k, v in timings.items()}}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, {**(read_json(path) or {}), key: choice})
    except OSError:  # a read-only home: measure again next time, decode all the same
        pass
    return {**choice, "cpu": key, "measured": True}


def _time_int8(kernel: str, rows: int = 8192, cols: int = 576, calls: int = 30) -> float:
    """Milliseconds per one-row product with ``kernel`` on a [rows, cols] int8 weight (the shape of a
    slice of the tied head: the largest int8 matmul of a decode step), median of ``calls``."""
    import statistics
    import time

    import torch

    generator = torch.Generator().manual_seed(0)
    weight = torch.randn(rows, cols, generator=generator)
    q, scale = quantize_int8(weight)
    x = torch.randn(1, cols, generator=generator).to(torch.bfloat16)
    if kernel == "qint8":
        packed = prepack_qint8(q, scale)
        if packed is None:
            return float("inf")
        call = lambda: torch.ops.quantized.linear_dynamic(x.float(), packed)  # noqa: E731
    else:
        bf16_scale = scale.to(torch.bfloat16)
        call = lambda: torch._weight_int8pack_mm(x, q, bf16_scale)  # noqa: E731
    for _ in range(5):
        call()
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def prepack_qint8(q: torch.Tensor, scale: torch.Tensor) -> Any:
    """FBGEMM's packed form of per-channel int8 weights (``quantize_int8``'s output), or None
    when this torch cannot build it."""
    import torch

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch 2.13 marks quantized tensors deprecated; the kernels stay
            weight = torch._make_per_channel_quantized_tensor(q, scale.double(), torch.zeros(len(scale), dtype=torch.long), 0)
            return torch.ops.quantized.linear_prepack(weight, None)
    except (RuntimeError, AttributeError):
        return None


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


def dequantize_int4(levels: torch.Tensor, scale_zero: torch.Tensor, group: int = GROUP) -> torch.Tensor:
    """The fp32 weight the int4 kernel multiplies by (its scales rounded to bf16 as it stores them)."""
    import torch

    sz = scale_zero.to(torch.bfloat16).float().transpose(0, 1)  # [N, K/group, 2]
    n, k = levels.shape
    w = (levels.float().reshape(n, k // group, group) - 8) * sz[..., :1] + sz[..., 1:]
    return w.reshape(n, k)


def fit_residual(weight: torch.Tensor, rank: int, rounds: int = 2) -> tuple[torch.Tensor, torch.Tensor,
                                                                          tuple[torch.Tensor, torch.Tensor], float]:
    """Split ``weight`` into an int4 grid (levels, scale_zero) plus a rank-``rank`` change (A, B), and
    say what is left, as an rms in 4-bit steps: about 0 when ``weight`` is a grid plus a low-rank
    change (a LoRA merged into the Q4_1 base), ~0.29 (uniform rounding noise) when it is not (an
    NF4-rounded QLoRA base). Each round re-rounds ``weight`` minus the change found so far, so
    values a change pushed past half a step go back to their own level instead of the next one."""
    import torch

    w = weight.detach().float()
    change = torch.zeros_like(w)
    for _ in range(rounds):
        levels, scale_zero = refit_int4(w - change, *quantize_int4(w - change)[:2])
        residual = w - dequantize_int4(levels, scale_zero)
        a, b = lowrank_residual(residual, rank)
        change = b @ a
        steps = scale_zero[..., 0].T.repeat_interleave(GROUP, 1)  # [N, K]: each value's step size
        left = float(((residual - change) / steps).pow(2).mean().sqrt())
        if left <= RESIDUAL_TOLERANCE or left > 3 * RESIDUAL_TOLERANCE:  # fits, or noise another round will not fix
            break
    return levels, scale_zero, (a, b), left


def refit_int4(weight: torch.Tensor, levels: torch.Tensor, scale_zero: torch.Tensor,
               group: int = GROUP) -> tuple[torch.Tensor, torch.Tensor]:
    """Each group's grid (scale, minimum) as the least-squares line through its values over their
    levels, then the levels re-rounded to it: a change to a group's extreme values moves the
    min/max grid of ``quantize_int4`` off the base's, the fit does not."""
    import torch

    n, k = weight.shape
    w = weight.detach().float().reshape(n, k // group, group)
    lv = levels.float().reshape(n, k // group, group)
    mk, mw = lv.mean(-1, keepdim=True), w.mean(-1, keepdim=True)
    var = (lv - mk).pow(2).mean(-1, keepdim=True)
    old = scale_zero.transpose(0, 1)[..., :1]  # [N, K/group, 1]
    scale = torch.where(var > 0, ((lv - mk) * (w - mw)).mean(-1, keepdim=True) / var.clamp(min=1e-12), old).clamp(min=1e-12)
    low = mw - scale * mk
    levels = torch.round((w - low) / scale).clamp(0, 15)
    scale_zero = torch.stack([scale[..., 0], (low + 8 * scale)[..., 0]], -1).transpose(0, 1).contiguous()
    return levels.to(torch.int32).reshape(n, k), scale_zero


def lowrank_residual(residual: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(A [r, K], B [N, r]) with B @ A the best rank-``rank`` approximation of ``residual``
    (randomized SVD: seconds for a whole model where a full SVD takes a minute)."""
    import torch

    generator_state = torch.random.get_rng_state()
    torch.manual_seed(0)  # the same model gives the same engine
    try:
        u, s, v = torch.svd_lowrank(residual.float(), q=rank + 8, niter=3)
    finally:
        torch.random.set_rng_state(generator_state)
    return (s[:rank, None] * v[:, :rank].T).contiguous(), u[:, :rank].contiguous()


class Linear:
    """One decode-time projection ``x @ W.T (+ b) (+ x @ A.T @ B.T)`` for a single row, W stored as
    int4, int8 (``qint8``: the same weights through FBGEMM) or dense; the optional low-rank A/B
    (an unmerged LoRA, or an off-grid weight's rounding residual) is kept exact in fp32."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, mode: Quantize, dtype: torch.dtype,
                 lora: tuple[torch.Tensor, torch.Tensor] | None = None, residual_rank: int = RESIDUAL_RANK) -> None:
        import torch

        self.bias = None if bias is None else bias.detach().to(dtype)
        self.kind = "dense"
        self.scale: torch.Tensor | None = None
        self.packed: Any = None  # FBGEMM's int8 weights (kind qint8)
        if mode in ("auto", "int4") and dtype == torch.bfloat16 and weight.shape[1] % (GROUP * 2) == 0:
            levels, scale_zero, error = quantize_int4(weight)
            if error > ON_GRID_TOLERANCE and mode == "auto" and residual_rank > 0 and lora is None:  # merged weights
                fit_levels, fit_scale_zero, extra, left = fit_residual(weight, residual_rank)
                if left <= RESIDUAL_TOLERANCE:  # on a grid up to a low-rank change: a LoRA merged into Q4_1
                    levels, scale_zero = fit_levels, fit_scale_zero
                    lora = extra if lora is None else (torch.cat([lora[0], extra[0]]), torch.cat([lora[1], extra[1]], 1))
                    error = 0.0
            if mode == "int4" or error <= ON_GRID_TOLERANCE:
                self.kind, self.scale = "int4", scale_zero.to(dtype)
                self.weight = torch.ops.aten._convert_weight_to_int4pack_for_cpu(levels, 2)
        if self.kind == "dense" and mode in ("auto", "int8", "int4") and dtype == torch.bfloat16:
            q, scale = quantize_int8(weight)
            self.kind, self.weight, self.scale = "int8", q, scale.to(dtype)
            self.packed = prepack_qint8(q, scale) if choose_int8_kernel()["kernel"] == "qint8" else None
            if self.packed is not None:
                self.kind, self.weight = "qint8", torch.empty(0, dtype=torch.int8)
        elif self.kind == "dense":
            self.weight = weight.detach().to(dtype).contiguous()
        # fp32: one-row bf16 GEMMs this small run ~4x slower on the CPU than fp32 ones (oneDNN setup per call)
        self.lora_a = None if lora is None else lora[0].detach().float().T.contiguous()  # [K, r]
        self.lora_bt = None if lora is None else lora[1].detach().float().T.contiguous()  # [r, N]

    @property
    def lora(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """(A.T, B.T) of the side path in fp32, None without one."""
        return None if self.lora_a is None or self.lora_bt is None else (self.lora_a, self.lora_bt)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        import torch
        import torch.nn.functional as F

        if self.kind == "int4":
            out = torch.ops.aten._weight_int4pack_mm_for_cpu(x, self.weight, GROUP, self.scale)
        elif self.kind == "int8":
            assert self.scale is not None  # int8 weights are always stored with their per-row scales
            out = torch._weight_int8pack_mm(x, self.weight, self.scale)
        elif self.kind == "qint8":
            out = torch.ops.quantized.linear_dynamic(x.float(), self.packed).to(x.dtype)
        else:
            out = F.linear(x, self.weight)
        if self.bias is not None:
            out = out + self.bias
        if self.lora_a is not None and self.lora_bt is not None:
            out = out + torch.mm(torch.mm(x.float(), self.lora_a), self.lora_bt).to(out.dtype)
        return out


def _cat_bias(*modules: Any) -> torch.Tensor | None:
    import torch

    biases = [m.bias for m in modules]
    if all(b is None for b in biases):
        return None
    return torch.cat([b if b is not None else m.weight.new_zeros(m.weight.shape[0]) for b, m in zip(biases, modules)])


def fused_linear(modules: list[Any], mode: Quantize, dtype: torch.dtype, residual_rank: int = RESIDUAL_RANK) -> Linear:
    """Projections that read the same input, stacked into one; a LoRA wrapper's frozen base weight
    is what gets quantized (for the embedded model: exactly int4) and its A/B stay a side path."""
    import torch

    bases = [getattr(m, "base_layer", m) for m in modules]
    weight = torch.cat([b.weight for b in bases]) if len(bases) > 1 else bases[0].weight
    lora = _stacked_lora(modules, [b.weight.shape[0] for b in bases])
    return Linear(weight, _cat_bias(*bases), mode, dtype, lora, residual_rank)


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
