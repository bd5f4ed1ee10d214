"""Library log lines airbot drops on purpose: each one narrowly, with the reason, and nothing else.

bitsandbytes (0.50) on a CPU with AVX512-BF16, when it is imported (peft and the transformers Trainer
import it), tries to fetch a faster 4-bit matmul through the Hugging Face ``kernels`` package and, when
that package is not installed, logs to stderr in every process::

    Failed to load CPU gemm_4bit_forward from kernels-community: No module named 'kernels'. Please make ...

It then uses the CPU kernel it ships with (``backends/cpu/ops.py``), which gives the same results, so
for airbot, which does not install ``kernels`` (it downloads code from the Hub), the line is noise that
looks like a failure. Only that record is dropped: if ``kernels`` is installed and still fails to load,
or bitsandbytes logs anything else, it shows as before. There is no library switch for it.

    python -c "import airbot, bitsandbytes"     # silent; without ``import airbot`` the line appears
"""

from __future__ import annotations

import logging

BNB_CPU_LOGGER = "bitsandbytes.backends.cpu.ops"  # the module's ``logging.getLogger(__name__)``
KERNELS_HINT = "Failed to load CPU gemm_4bit_forward from kernels-community"


class MissingKernelsHint(logging.Filter):
    """Drops the kernel hint when, and only when, its cause is the optional ``kernels`` package being absent."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith(KERNELS_HINT):
            return True
        cause = record.args[0] if isinstance(record.args, tuple) and record.args else None
        return not (isinstance(cause, ImportError) and cause.name == "kernels")


def drop_known_noise() -> None:
    """Attach the filter (idempotent). It must run before bitsandbytes is first imported, because the
    hint is logged at import; ``airbot/__init__`` calls it, since airbot reaches bitsandbytes lazily from
    several modules (peft in bots/finetune/export, the Trainer, ``bitsandbytes.functional`` in export)."""
    logger = logging.getLogger(BNB_CPU_LOGGER)
    if not any(isinstance(f, MissingKernelsHint) for f in logger.filters):
        logger.addFilter(MissingKernelsHint())
