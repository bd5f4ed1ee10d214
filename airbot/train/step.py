"""Make TRL's SFT step cheap on a CPU: score only the answer tokens, once.

TRL 1.x replaces the model's forward with a "fused LM head" (``trl.trainer.utils.
add_fused_lm_head``) that returns per-token log-probabilities instead of logits. On CUDA it
projects only positions that carry loss, with Triton kernels. Without Triton (any CPU) it
projects *every* position in vocabulary tiles, does float32 bookkeeping over the whole
49k-word vocabulary per tile, and recomputes every tile in the backward pass: on a 2-core CPU
that made a step slower than the plain forward (measured in bench/train_speed.py).

``install_compact_lm_head`` swaps in a forward with the same contract (a
``FusedCausalLMOutput`` with ``log_probs``, ``entropy``, ``is_top1``, ``label_mask``) that
projects only the positions whose label is not -100 (the answers, ~40% of a Q&A row) through
``lm_head`` once and lets autograd do the rest. It is used only off CUDA; there TRL's own
kernels are faster. PEFT wrappers pass ``fused_lm_head=True`` through to this forward, and
prompt tuning's virtual tokens arrive with -100 labels, so every method is covered.
"""

from __future__ import annotations

import functools
import os
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel
    from trl import SFTTrainer


def free_cores(cores: int, load: float) -> int:
    """Cores the 1-minute load leaves free, at least one: 2 cores at load 0.3 -> 2, at 1.5 -> 1;
    8 cores at load 1 -> 7."""
    return max(1, min(cores, int(cores - load + 0.5)))


def pick_threads(requested: int = 0) -> int:
    """Set torch's CPU threads for training and return the number.

    ``requested`` > 0 wins (as does an explicit ``OMP_NUM_THREADS``). Otherwise only the cores
    the load leaves free (``free_cores``): OpenMP threads that spin-wait for descheduled partners
    are catastrophic beside any other busy process. On the
    2-core EPYC at load ~1.5, a 3-epoch default run trained at 55 tok/s with 2 threads against
    399 tok/s with 1 (bench/train.py, same run); beside other training jobs 2 threads were 2-3x
    slower too.
    """
    import torch

    if requested > 0:
        torch.set_num_threads(requested)
    elif "OMP_NUM_THREADS" not in os.environ:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
        torch.set_num_threads(free_cores(cores, load))
    return torch.get_num_threads()


def install_compact_lm_head(trainer: SFTTrainer) -> bool:
    """Replace TRL's tiled LM head with the compact one on non-CUDA devices; True when installed."""
    model = trainer.model
    if model is None:
        raise ValueError("the trainer has no model to give a compact LM head")
    get_base_model = getattr(model, "get_base_model", None)  # a PEFT wrapper: patch the model inside it
    if get_base_model is not None:
        model = get_base_model()
    if next(model.parameters()).device.type == "cuda":
        return False
    original = types.MethodType(type(model).forward, model)
    model.forward = types.MethodType(_make_forward(original, type(model).forward), model)
    return True


def _make_forward(original: Any, signature_of: Any) -> Any:
    # Keep the model's own signature: `generate` validates its keyword arguments against it.
    @functools.wraps(signature_of)
    def forward(self: PreTrainedModel, *args: Any, fused_lm_head: bool = False, labels: torch.Tensor | None = None,
                num_items_in_batch: Any = None, **kwargs: Any) -> Any:
        if not fused_lm_head:  # generation and plain calls keep the model's own forward
            if labels is not None:
                kwargs["labels"] = labels
            return original(*args, **kwargs)
        if labels is None:
            raise ValueError("the fused LM head scores labelled positions only; TRL passes fused_lm_head with labels")
        kwargs["use_cache"] = False
        hidden = self.base_model(*args, **kwargs).last_hidden_state
        return compact_log_probs(hidden, self.get_output_embeddings(), labels, num_items_in_batch)

    return forward


def compact_log_probs(hidden: torch.Tensor, lm_head: torch.nn.Module, labels: torch.Tensor,
                      num_items_in_batch: Any = None) -> Any:
    """Next-token log-probabilities at the labelled positions only, in TRL's output shape."""
    import torch
    from trl.trainer.utils import FusedCausalLMOutput

    targets = labels[:, 1:].to(hidden.device)
    mask = targets != -100
    logits = lm_head(hidden[:, :-1][mask]).float()
    log_softmax = logits.log_softmax(-1)
    picked = log_softmax.gather(-1, targets[mask].unsqueeze(-1)).squeeze(-1)
    with torch.no_grad():  # metrics only: TRL logs entropy and top-1 accuracy
        entropy = -(log_softmax.exp() * log_softmax).sum(-1)
        is_top1 = logits.argmax(-1) == targets[mask]
    log_probs = picked.new_zeros(mask.shape).masked_scatter(mask, picked)
    denominator = mask.sum().clamp(min=1) if num_items_in_batch is None else num_items_in_batch
    return FusedCausalLMOutput(
        loss=-log_probs.sum() / denominator, log_probs=log_probs,
        entropy=entropy.new_zeros(mask.shape).masked_scatter(mask, entropy),
        is_top1=torch.zeros_like(mask).masked_scatter(mask, is_top1), label_mask=mask)
