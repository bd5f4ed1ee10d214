"""Take a run's result out of airbot: the adapter as a zip, or a merged standalone model.

A LoRA/QLoRA adapter merged into the full-precision base gives a plain model folder
(safetensors + tokenizer + chat template) that any transformers, vLLM or llama.cpp converter
loads without PEFT. Prompt and prefix tuning add virtual tokens at run time, so they have no
weights to merge into; full fine-tuning already saved a whole model::

    python -c "from airbot.export import export_merged; print(export_merged('RUN_NAME'))"
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airbot.errors import JobError
from airbot.runs import adapter_dir, read_json, run_path

if TYPE_CHECKING:
    from transformers import PreTrainedModel

TRAINING_META = "airbot_training.json"
"""Sidecar written next to every adapter: method, base, and the base quantization it was trained on."""


def _run_dir(run: str | Path) -> Path:
    return run if isinstance(run, Path) else run_path(run)


def _zip(folder: Path, target: Path) -> Path:
    """Zip ``folder`` into ``target`` atomically (a half-written zip is never offered)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.stem + ".partial")
    archive = Path(shutil.make_archive(str(tmp), "zip", root_dir=folder))
    archive.replace(target)
    return target


def _fresh(target: Path, source: Path) -> bool:
    newest = max((p.stat().st_mtime for p in source.rglob("*") if p.is_file()), default=0.0)
    return target.is_file() and target.stat().st_mtime >= newest


def adapter_zip(run: str | Path) -> Path:
    """``exports/<run>-adapter.zip`` of the saved adapter (or full model), rebuilt only when it changed."""
    run_dir = _run_dir(run)
    source = adapter_dir(run_dir)
    target = run_dir / "exports" / f"{run_dir.name}-adapter.zip"
    return target if _fresh(target, source) else _zip(source, target)


def export_merged(run: str | Path) -> Path:
    """``exports/<run>-merged.zip``: the adapter merged into the base model, saved as safetensors."""
    run_dir = _run_dir(run)
    source = adapter_dir(run_dir)
    target = run_dir / "exports" / f"{run_dir.name}-merged.zip"
    if _fresh(target, source):
        return target
    if (source / "config.json").is_file():  # full fine-tuning: already a standalone model
        return _zip(source, target)
    peft_type = (read_json(source / "adapter_config.json") or {}).get("peft_type")
    if peft_type != "LORA":
        raise JobError(f"Run '{run_dir.name}' used {str(peft_type).lower().replace('_', ' ')}, which adds virtual "
                       f"tokens at run time and has no weights to merge into the model. Download the adapter instead.")
    merged = run_dir / "exports" / "merged"
    _merge_lora(run_dir, source, merged)
    try:
        return _zip(merged, target)
    finally:
        shutil.rmtree(merged, ignore_errors=True)


def match_training_base(model: PreTrainedModel, adapter: Path) -> PreTrainedModel:
    """Give a full-precision base the exact weights a QLoRA adapter was trained against.

    QLoRA trains on NF4-rounded weights; on a 135M model that rounding moves a weight by ~11% on
    average, and the adapter learns to correct *those* weights. Applied to the original fp32
    base, a QLoRA adapter answered 0 of 10 training questions with their key facts, against 3 of
    10 on the 4-bit base it was trained with (SmolLM2-135M, airline sample, 5 epochs). So every
    ``nn.Linear`` that bitsandbytes quantizes (all but the output embedding) is round-tripped
    through the same NF4 quantization (bf16 input, block 64, double quantization), which
    reproduces the training-time weights bit for bit, with no bitsandbytes at inference time.
    Adapters not trained on a quantized base are returned untouched.
    """
    meta = read_json(Path(adapter) / TRAINING_META) or {}
    if meta.get("base_quantization") != "nf4":
        return model
    round_trip_nf4(model)
    return model


def round_trip_nf4(model: Any) -> None:
    """NF4-quantize and dequantize every linear but the LM head in place: training (CPU QLoRA) and
    inference (``match_training_base``) both need these exact weights."""
    import bitsandbytes.functional as bnbf
    import torch

    head = model.get_output_embeddings()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.Linear) and module is not head:
                w = module.weight.data
                packed, state = bnbf.quantize_4bit(w.to(torch.bfloat16), blocksize=64, quant_type="nf4",
                                                   compress_statistics=True)
                w.copy_(bnbf.dequantize_4bit(packed, state).to(w.dtype))


def _merge_lora(run_dir: Path, adapter: Path, out: Path) -> None:
    """Merge into a full-precision base (merging into NF4 would round the update away), whose weights
    match what the adapter was trained on (see ``match_training_base``)."""
    import yaml
    from peft import PeftModel

    from airbot.models import load_causal_lm, load_tokenizer

    config = yaml.safe_load((run_dir / "config.yaml").read_text()) if (run_dir / "config.yaml").is_file() else {}
    base = (config.get("model") or {}).get("base") or "smollm2-135m"
    base_model = match_training_base(load_causal_lm(base, device="cpu"), adapter)
    model = PeftModel.from_pretrained(base_model, adapter).merge_and_unload()
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    load_tokenizer(base).save_pretrained(tmp)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
