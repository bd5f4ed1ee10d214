"""Take a run's result out of airbot: the adapter as a zip, or a merged standalone model.

A LoRA/QLoRA adapter merged into the full-precision base gives a plain model folder
(safetensors + tokenizer + chat template) that any transformers, vLLM or llama.cpp converter
loads without PEFT. Prompt and prefix tuning add virtual tokens at run time, so they have no
weights to merge into; full fine-tuning already saved a whole model::

    python -c "from airbot.train.export import export_merged; print(export_merged('RUN_NAME'))"
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from airbot.errors import JobError
from airbot.storage import read_json
from airbot.train.model import match_training_base
from airbot.train.runs import adapter_dir, run_path

if TYPE_CHECKING:
    pass

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
