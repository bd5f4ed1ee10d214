"""Symmetric int8 rounding of a matrix's rows: the one home of the rule both int8 paths use.

Decoding (``airbot.generate.kernels``: weight-only int8 per output channel) and training
(``airbot.train.int8_base``: activations and output gradients per row, weights per output channel)
round the same way, absmax per row onto -127..127. It lives in the base because the training
engine may not import the decoder (``tests/test_layout.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def quantize_rows(x: torch.Tensor, *, scratch: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Each row of a 2-D float tensor as int8 with its own absmax scale: (int8 rows, scale [rows, 1]).

    ``scratch``: ``x`` is a temporary the caller drops, so it is divided in place (one pass less).
    """
    import torch

    scale = x.abs().amax(dim=1, keepdim=True).clamp_(min=1e-12).div_(127.0)
    scaled = x.div_(scale) if scratch else x.div(scale)
    return scaled.round_().to(torch.int8), scale
