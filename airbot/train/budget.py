"""How long to train when ``train.epochs`` is 'auto' (the default): a budget chosen from the data size.

A fine-tuned FAQ bot must answer its own questions. The old fixed default (3 epochs at 1e-3) left
SmolLM2-135M answering 2 of 31 of them right (8/37 on coworking). Measured with the strict
yardstick (``bench/finetune_quality.py``, tune half of bench/corpus/qa and the airline sample; the
table is in bench/README.md, "Fine-tuning quality"), at the LoRA/QLoRA rate of 2e-3:

* passes, not optimizer steps, decide it for sets of ~100+ pairs: the airline sample (139 pairs,
  answers with 2-6 figures each) learned 55/139 in 4 passes and 136/139 in 8, at batch 4 and at
  batch 2 alike (twice the steps did not help); pizza (129 pairs) learned 115/129 in 5 passes;
* small sets need more passes: one over 37 pairs is 10 optimizer steps, and coworking learned
  30/37 in 4 passes (3e-3), 35/37 in 6.

So: 10 passes up to 40 pairs, falling (on a log scale of pairs) to 8 at 100 pairs and staying there,
and never fewer than 100 optimizer steps (at most 16 passes) for the smallest sets::

    python -c "from airbot.train.budget import choose_budget; print(choose_budget(139, 9127).reason)"
    # 139 pairs → 8 epochs (280 steps)

Only the passes are chosen here: the learning rate is the method's (``METHOD_LR`` in
``airbot.train.finetune`` when train.learning_rate is 0), the schedule cosine with a short warm-up.
``--epochs N`` (or ``--set train.epochs=N``) overrides the rule; ``train.max_steps`` still caps a run.
Every run then checks what it learned (``airbot.train.learned``), so a set the rule does not fit
says so instead of ending in a plain "done".
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace

from airbot.config import AirbotConfig

MIN_STEPS = 100
"""Fewest optimizer steps an 'auto' run takes: the smallest sets get extra passes to reach it."""
MAX_EPOCHS = 16.0
"""Most passes an 'auto' run takes, however small the set."""
EPOCHS_AT = ((40, 10.0), (100, 8.0))
"""(pairs, passes) the rule interpolates between on a log scale of pairs; flat outside (the module
docstring has the measurements). Larger sets keep 8 passes: nothing measured says fewer suffice."""


@dataclass(frozen=True)
class Budget:
    """What an 'auto' run will train for, and why, in the words the Train tab shows."""

    pairs: int
    epochs: float
    steps: int
    epoch_tokens: int
    reworded: int = 0
    """Extra rows written by train.augment (counted in the passes' steps and tokens, not as pairs)."""
    replay: int = 0
    """General-question rows trained alongside (train.replay): in the steps, not in the passes' choice."""

    @property
    def tokens(self) -> int:
        """Tokens pushed through the model over all passes."""
        return int(self.epoch_tokens * self.epochs)

    @property
    def reason(self) -> str:
        """'139 pairs → 8 epochs (280 steps)'."""
        extra = f" (+{self.reworded} reworded)" if self.reworded else ""
        replay = f", {self.replay} replay rows alongside" if self.replay else ""
        return f"{self.pairs} pairs{extra} → {self.epochs:g} epochs ({self.steps} steps{replay})"


def epochs_for(pairs: int) -> float:
    """Passes over ``pairs`` training rows: EPOCHS_AT interpolated on log(pairs)."""
    points = EPOCHS_AT
    if pairs <= points[0][0]:
        return points[0][1]
    for (n0, e0), (n1, e1) in itertools.pairwise(points):
        if pairs <= n1:
            t = (math.log(pairs) - math.log(n0)) / (math.log(n1) - math.log(n0))
            return float(round(e0 + t * (e1 - e0)))  # whole passes: every row is seen equally often
    return points[-1][1]


def steps_per_epoch(pairs: int, batch_size: int, grad_accum: int = 1, world: int = 1) -> int:
    """Optimizer steps in one pass (the trainer's count: a last partial batch is a step)."""
    return max(1, math.ceil(math.ceil(pairs / max(1, batch_size * world)) / max(1, grad_accum)))


def choose_budget(pairs: int, epoch_tokens: int, batch_size: int = 4, grad_accum: int = 1, world: int = 1,
                  replay: int = 0) -> Budget:
    """The passes for a set of ``pairs`` rows (``epoch_tokens`` tokens a pass), with the step floor applied;
    ``replay`` rows train alongside (they add steps, they do not choose the passes)."""
    per_epoch = steps_per_epoch(pairs + replay, batch_size, grad_accum, world)
    epochs = epochs_for(pairs)
    if per_epoch * epochs < MIN_STEPS:
        epochs = min(MAX_EPOCHS, math.ceil(MIN_STEPS / per_epoch))
    return Budget(pairs, float(epochs), math.ceil(per_epoch * epochs), epoch_tokens, replay=replay)


def apply_budget(config: AirbotConfig, rows: int, epoch_tokens: int, world: int = 1,
                 pairs: int | None = None, replay: int = 0) -> tuple[AirbotConfig, Budget | None]:
    """The config with 'auto' epochs replaced by the number chosen for ``rows`` training rows (None: the epochs
    were given). ``pairs`` is the user's own rows when ``rows`` also counts reworded copies (train.augment)."""
    t = config.train
    if t.epochs != "auto":
        return config, None
    budget = choose_budget(rows, epoch_tokens, t.batch_size, t.grad_accum, world, replay)
    if pairs is not None and pairs < rows:
        budget = replace(budget, pairs=pairs, reworded=rows - pairs)
    return replace(config, train=replace(t, epochs=budget.epochs)), budget
