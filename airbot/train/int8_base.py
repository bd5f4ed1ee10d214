"""QLoRA's frozen base multiplied in int8 where that is faster, on request (``train.qlora_cpu_base: nf4-int8``).

Two thirds of a CPU QLoRA step is the frozen base's matrix products: each linear layer once forward
and once backward for the gradient of its input (the base gets no weight gradient). Those two
products are what SwitchBack (Wortsman et al., 2023, "Stable and low-precision training for
large-scale vision-language models") runs in int8: the activations (forward) and the output
gradients (backward) are rounded to int8 per row with their own absmax scale, the weights per
output channel, and the int32 product is scaled back. The LoRA matrices, their gradients, the
optimizer and everything else stay in the compute dtype.

Why here: the base is already rounded to NF4 (4 bits) for QLoRA. On this project's 2-core Xeon
(AVX-512 VNNI, no bf16 units) a [264 x 576] x [576 x 1536] product takes 1.7-2.6 ms in fp32 and
0.4 ms as ``torch._int_mm`` (0.6-0.9 ms with the rounding and scaling). Where int8 is not faster
(a CPU without VNNI, or with bf16/AMX units) ``int8_pays`` measures it at the start of the run and
the base keeps its dequantized product: the choice is made by timing on the machine that trains.

Why it is not the default (bench/README.md, "Training in int8"): training runs 1.21-1.24x the
tokens/s and learns its training questions as well, but the rounded activations (a row's largest
value is 10-40x its mean here, so most values keep 3-4 bits) cost held-out paraphrases overall:
26/88 vs 31/88 over two seeds of two Q&A sets (12 vs 18, then 14 vs 13), 2/50 vs 5/50 on the
airline sample's held-out questions. Rounding only the backward product kept the loss (13/44, seed 42).

``torch._int_mm`` is private API (torchao builds on it): ``tests/train/test_int8_base.py`` fails
loudly if the pinned torch drops it. The rounded weights live beside the module, not in its
state dict, so saving and merging the adapter see the NF4 weights; ``remove`` puts the plain
forward back before the adapter is merged.
"""

from __future__ import annotations

import functools
import logging
import time
import types
from typing import TYPE_CHECKING, Any

from airbot.rounding import quantize_rows

if TYPE_CHECKING:
    import torch

log = logging.getLogger("airbot.train.int8_base")

_ROWS = "_airbot_int8_rows"
"""Attribute holding a base layer's int8 weight ([out, in]) and its per-channel scale."""


def _product() -> type:
    import torch

    class Int8Product(torch.autograd.Function):
        """y = x W^T + b with x and W rounded to int8; dL/dx = dL/dy W likewise. W is frozen."""

        @staticmethod
        def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, scale: torch.Tensor,
                    bias: torch.Tensor | None) -> torch.Tensor:
            ctx.save_for_backward(weight, scale)
            ctx.dtype = x.dtype
            rows = x.reshape(-1, x.shape[-1])
            q, row_scale = quantize_rows(rows.float())
            y = torch._int_mm(q, weight.t()).float().mul_(row_scale).mul_(scale)
            if bias is not None:
                y += bias
            return y.to(x.dtype).reshape(*x.shape[:-1], weight.shape[0])

        @staticmethod
        def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None, None]:
            weight, scale = ctx.saved_tensors
            rows = grad.reshape(-1, grad.shape[-1]).float() * scale  # W = diag(scale) Wq: fold the scale in first
            q, row_scale = quantize_rows(rows, scratch=True)
            dx = torch._int_mm(q, weight).float().mul_(row_scale)
            return dx.to(ctx.dtype).reshape(*grad.shape[:-1], weight.shape[1]), None, None, None

    return Int8Product


@functools.cache
def _product_class() -> Any:
    return _product()


def int8_linear(x: torch.Tensor, weight: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``x @ (scale * weight).T + bias`` through int8 products, forward and backward."""
    return _product_class().apply(x, weight, scale, bias)


def _forward(self: Any, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
    weight, scale = getattr(self, _ROWS)
    return int8_linear(x, weight, scale, self.bias)


def base_layers(model: Any) -> list[Any]:
    """The frozen ``nn.Linear`` layers under the model's LoRA modules (PEFT's ``base_layer``)."""
    import torch

    found = []
    for module in model.modules():
        base = getattr(module, "base_layer", None)
        if isinstance(base, torch.nn.Linear) and not base.weight.requires_grad:
            found.append(base)
    return found


def install(model: Any) -> int:
    """Multiply every frozen base layer under LoRA in int8 from now on; the number of layers switched."""
    layers = base_layers(model)
    for layer in layers:
        q, scale = quantize_rows(layer.weight.detach().float())  # a weight row is an output channel
        object.__setattr__(layer, _ROWS, (q, scale.squeeze(1)))  # not a buffer: stays out of state_dict and saving
        layer.forward = types.MethodType(_forward, layer)
    return len(layers)


def remove(model: Any) -> None:
    """Give every switched layer its own forward (and weights) back, e.g. before merging the adapter."""
    for layer in base_layers(model):
        if _ROWS in layer.__dict__:
            del layer.__dict__[_ROWS]
            del layer.__dict__["forward"]


@functools.cache
def int8_pays(dtype: torch.dtype, rows: int = 256, features: tuple[int, int] = (576, 1536)) -> bool:
    """True when an int8 product (rounding and scaling included) beats ``dtype``'s here, by timing both.

    Takes ~20 ms; the shape is a batch of a small model's layer. A wrong call costs only speed (the
    choice was asked for with nf4-int8), so the best of a few repeats of each is enough, and the answer
    is kept for the process: a timing taken under a passing load spike does not flip later runs' choice.
    """
    import torch

    k, n = features
    x = torch.randn(rows, k, dtype=dtype)
    w = torch.randn(n, k, dtype=dtype)
    q, scale = quantize_rows(w.float())
    scale = scale.squeeze(1)

    def best(fn: Any) -> float:
        fn()
        times = []
        for _ in range(5):
            started = time.perf_counter()
            fn()
            times.append(time.perf_counter() - started)
        return min(times)

    with torch.no_grad():
        plain = best(lambda: x @ w.t())
        try:
            int8 = best(lambda: int8_linear(x, q, scale, None))
        except RuntimeError as err:  # a torch build without an int8 product on this CPU
            log.info("int8 base products unavailable here (%s): the base keeps %s products", err, dtype)
            return False
    log.info("base product %s %.2f ms vs int8 %.2f ms: %s", dtype, plain * 1e3, int8 * 1e3,
             "int8" if int8 < plain else str(dtype))
    return int8 < plain
