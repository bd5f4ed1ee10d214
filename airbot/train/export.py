"""Take a run's result out of airbot: a portable adapter, a merged standalone model, or a GGUF file.

- ``adapter``: the PEFT folder whose ``adapter_config.json`` names the base by its hub id (not this
  machine's cache path), with a model card (``README.md``: base_model, method, hyper-parameters,
  data size, measured results, the command that reproduces the run).
- ``merged``: a LoRA/QLoRA adapter merged into the full-precision base: safetensors + tokenizer +
  a chat template whose default system prompt is the one the bot was trained with, so plain
  ``transformers`` answers like the fine-tuned bot. Prompt and prefix tuning add virtual tokens at
  run time and have no weights to merge; full fine-tuning already saved a whole model.
- ``gguf``: the merged model as one llama.cpp file (``airbot.train.gguf``).

    python -m airbot export --run RUN --format adapter|merged|gguf [--quant q8_0] [--out DIR]
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from airbot.errors import JobError
from airbot.storage import read_json
from airbot.train.model import match_training_base
from airbot.train.runs import adapter_dir, run_path

if TYPE_CHECKING:
    from airbot.config import AirbotConfig
    from airbot.train.gguf import Quant

Format = Literal["adapter", "merged", "gguf"]
FORMATS: tuple[Format, ...] = ("adapter", "merged", "gguf")
Progress = Callable[[float, str], None]

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
    """``exports/<run>-adapter.zip``: the portable adapter export (hub id base, model card)."""
    return export_download(run, "adapter")


def export_merged(run: str | Path) -> Path:
    """``exports/<run>-merged.zip``: the merged export (see ``export_run``) as one download."""
    return export_download(run, "merged")


def export_download(run: str | Path, fmt: Format, quant: Quant = "q8_0", progress: Progress | None = None) -> Path:
    """One file to hand a browser: the adapter or merged export zipped, or the .gguf file itself.
    Rebuilt only when the run's weights changed since (a merge or a GGUF takes tens of seconds)."""
    run_dir = _run_dir(run)
    source, exports = adapter_dir(run_dir), run_dir / "exports"
    if fmt == "gguf":
        target = exports / f"{run_dir.name}-{quant}.gguf"
        return target if _fresh(target, source) else export_run(run_dir, "gguf", exports, quant=quant,
                                                                  progress=progress)
    target = exports / f"{run_dir.name}-{fmt}.zip"
    if _fresh(target, source):
        return target
    folder = export_run(run_dir, fmt, exports / f".{fmt}-download", progress=progress)
    try:
        return _zip(folder, target)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def export_run(run: str | Path, fmt: Format, out: Path | None = None, *, quant: Quant = "q8_0",
               progress: Progress | None = None) -> Path:
    """Write one portable export of a finished run and return its path (a folder, or the .gguf file).

    ``out`` is a folder to create (adapter, merged) or a folder to put the .gguf file in; default
    ``RUN/exports/<run>-<format>``. Nothing is left half-written: each export is built beside its
    target and renamed into place."""
    run_dir = _run_dir(run)
    say = progress or (lambda _f, _m: None)
    if fmt not in FORMATS:
        raise JobError(f"Unknown export format '{fmt}'; choose one of {', '.join(FORMATS)}.")
    source, config = adapter_dir(run_dir), _run_config(run_dir)
    if fmt == "adapter":
        return _publish(_adapter_export(run_dir, source, config), out or run_dir / "exports" / f"{run_dir.name}-adapter")
    say(0.05, "merging the adapter into the base model")
    merged = _publish(_merged_export(run_dir, source, config),
                      (out or run_dir / "exports" / f"{run_dir.name}-merged") if fmt == "merged"
                      else run_dir / "exports" / ".gguf-source")
    if fmt == "merged":
        say(1.0, f"merged model written to {merged.name}")
        return merged
    from airbot.models import EMBEDDED_LLMS, embedded_gguf_path
    from airbot.train.gguf import write_gguf

    if config.model.base not in EMBEDDED_LLMS:
        shutil.rmtree(merged, ignore_errors=True)
        raise JobError("GGUF export carries the embedded model's tokenizer; for another base, convert the merged "
                       "export with llama.cpp's convert_hf_to_gguf.py.")
    folder = out or run_dir / "exports"
    folder.mkdir(parents=True, exist_ok=True)
    try:
        target = write_gguf(merged, folder / f"{run_dir.name}-{quant}.gguf", quant, embedded_gguf_path(config.model.base),
                            progress=say)
    finally:
        shutil.rmtree(merged, ignore_errors=True)
    say(1.0, f"GGUF written to {target.name}")
    return target


def _run_config(run_dir: Path) -> AirbotConfig:
    from airbot.config import load_config

    path = run_dir / "config.yaml"
    return load_config(path) if path.is_file() else load_config()


def _publish(built: Path, target: Path) -> Path:
    """Move a finished build over ``target`` (the previous export of the same kind is replaced)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(target, ignore_errors=True)
    built.rename(target)
    return target


def _adapter_export(run_dir: Path, source: Path, config: AirbotConfig) -> Path:
    """A copy of the adapter that names its base by hub id, with a model card."""
    from airbot.models import hub_id

    build = run_dir / "exports" / ".adapter.tmp"
    shutil.rmtree(build, ignore_errors=True)
    shutil.copytree(source, build)
    adapter_config = build / "adapter_config.json"
    if adapter_config.is_file():
        meta = json.loads(adapter_config.read_text())
        meta["base_model_name_or_path"] = hub_id(config.model.base)
        adapter_config.write_text(json.dumps(meta, indent=2))
    (build / "README.md").write_text(model_card(run_dir, config, "adapter"), encoding="utf-8")
    return build


def _merged_export(run_dir: Path, source: Path, config: AirbotConfig) -> Path:
    """Merge into a full-precision base (merging into NF4 would round the update away), whose weights
    match what the adapter was trained on (see ``match_training_base``); the tokenizer's chat
    template defaults to the system prompt the run trained with."""
    from airbot.models import load_causal_lm, load_tokenizer

    build = run_dir / "exports" / ".merged.tmp"
    shutil.rmtree(build, ignore_errors=True)
    if (source / "config.json").is_file():  # full fine-tuning: already a standalone model
        shutil.copytree(source, build)
    else:
        peft_type = (read_json(source / "adapter_config.json") or {}).get("peft_type")
        if peft_type != "LORA":
            raise JobError(f"Run '{run_dir.name}' used {str(peft_type).lower().replace('_', ' ')}, which adds virtual "
                           f"tokens at run time and has no weights to merge into the model. Export the adapter instead.")
        from peft import PeftModel

        base_model = match_training_base(load_causal_lm(config.model.base, device="cpu"), source)
        PeftModel.from_pretrained(base_model, source).merge_and_unload().save_pretrained(build)
    tokenizer = load_tokenizer(config.model.base)
    tokenizer.chat_template = with_default_system(tokenizer.chat_template or "", config.chat.system_prompt)
    tokenizer.save_pretrained(build)
    (build / "README.md").write_text(model_card(run_dir, config, "merged"), encoding="utf-8")
    return build


def with_default_system(template: str, system_prompt: str) -> str:
    """A chat template that opens with ``system_prompt`` when the caller sends no system message,
    as the fine-tuned bot was trained (``airbot.prompts.with_system``)."""
    if not system_prompt:
        return template
    literal = json.dumps(system_prompt)
    return ("{%- if messages and messages[0]['role'] != 'system' %}{%- set messages = [{'role': 'system', "
            f"'content': {literal}}}] + messages %}}{{%- endif %}}" + template)


def model_card(run_dir: Path, config: AirbotConfig, kind: Literal["adapter", "merged"]) -> str:
    """README.md for an export: what it is, how it was trained, what it measured, how to reproduce it."""
    from airbot.models import hub_id
    from airbot.train.jobs import shown_command

    t = config.train
    status = read_json(run_dir / "status.json") or {}
    summary = status.get("summary") or {}
    base = hub_id(config.model.base)
    lines = ["---", f"base_model: {base}", f"library_name: {'peft' if kind == 'adapter' else 'transformers'}",
             "tags:", "- airbot", f"- {t.method}", "- sft", "---", "",
             f"# {run_dir.name}: {base} fine-tuned with {t.method.upper()} by airbot", ""]
    if kind == "adapter" and t.method == "qlora":
        lines += ["QLoRA trains against NF4-rounded base weights; applied to the unrounded base this adapter is "
                  "close but not exact. The exact fine-tuned weights are in the merged export "
                  "(`python -m airbot export --format merged`).", ""]
    lines += ["## Training", "", "| setting | value |", "|---|---|",
              *[f"| {k} | {v} |" for k, v in _settings(config).items()], ""]
    lines += ["## Measured", "", *_measured(run_dir, summary), ""]
    lines += ["## Use", "", "```python", "from transformers import AutoModelForCausalLM, AutoTokenizer",
              *(_peft_use(base) if kind == "adapter" else ['model = AutoModelForCausalLM.from_pretrained("PATH")',
                                                             'tok = AutoTokenizer.from_pretrained("PATH")']),
              'ids = tok.apply_chat_template([{"role": "user", "content": "..."}], add_generation_prompt=True, '
              'return_tensors="pt")', "print(tok.decode(model.generate(ids, max_new_tokens=64)[0][ids.shape[1]:]))",
              "```", "", "## Reproduce", "", "```bash",
              shown_command(config, config.data.path or "DATA_FILE"), "```", ""]
    return "\n".join(lines)


def _settings(config: AirbotConfig) -> dict[str, Any]:
    t = config.train
    keys = {"method": t.method, "epochs": t.epochs, "max_steps": t.max_steps, "learning_rate": t.learning_rate,
            "batch_size": t.batch_size, "max_length": t.max_length, "system_prompt": config.chat.system_prompt}
    if t.method in ("lora", "qlora"):
        keys |= {"lora_r": t.lora_r, "lora_alpha": t.lora_alpha, "target_modules": t.target_modules}
    return keys


def _measured(run_dir: Path, summary: dict[str, Any]) -> list[str]:
    """What the run itself measured: training time and loss, training questions answered right,
    held-out accuracy from its evaluations, the forgetting probe."""
    out = []
    if summary:
        out.append(f"- training: {summary.get('steps', '?')} steps in {summary.get('train_s', 0):.0f} s, "
                   f"final loss {summary.get('train_loss', float('nan')):.3f}, rows trained {summary.get('train_rows', '?')}")
    if summary.get("learned_total"):
        out.append(f"- answers its training questions right: {summary.get('learned_right')}/{summary['learned_total']}")
    for eval_json in sorted((run_dir / "evals").glob("*/eval.json")):
        bot = ((read_json(eval_json) or {}).get("bots") or {}).get("finetuned") or {}
        acc = bot.get("strict_accuracy", bot.get("fact_accuracy"))
        if acc is not None:
            out.append(f"- held-out questions right ({eval_json.parent.name}): {acc:.0%} of {bot.get('n', '?')}")
    probe = read_json(run_dir / "probe.json") or {}
    if probe.get("score_before") is not None and probe.get("score_after") is not None:
        out.append(f"- general-knowledge probe (forgetting): base {probe['score_before']:.0%}, "
                   f"fine-tuned {probe['score_after']:.0%}")
    return out or ["- nothing measured yet"]


def _peft_use(base: str) -> list[str]:
    return ["from peft import PeftModel", f'model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained("{base}"), '
            '"PATH")', f'tok = AutoTokenizer.from_pretrained("{base}")']


def push_to_hub(export: Path, repo_id: str, *, private: bool = True, token: str | None = None,
                api: Any = None) -> str:
    """Upload an export folder (or a .gguf file) to the Hugging Face Hub; private unless asked otherwise.

    The token comes from ``token``, else ``HF_TOKEN`` (on Spaces, the signed-in user's); it is
    passed to ``huggingface_hub`` and never printed. ``api`` replaces ``HfApi`` (tests use a stand-in,
    since no hub can be reached here). Returns the repo's URL."""
    import os

    if api is None:
        from huggingface_hub import HfApi

        api = HfApi()
    token = token or os.environ.get("HF_TOKEN") or None
    if not token:
        raise JobError("Pushing to the Hub needs a token: set HF_TOKEN (a write token from "
                       "huggingface.co/settings/tokens), or sign in with Hugging Face on Spaces.")
    if "/" not in repo_id or repo_id.count("/") != 1:
        raise JobError(f"'{repo_id}' is not a Hub repo id; write it as OWNER/NAME.")
    url = api.create_repo(repo_id, private=private, exist_ok=True, token=token)
    if export.is_dir():
        api.upload_folder(folder_path=str(export), repo_id=repo_id, token=token,
                          commit_message="Upload from airbot")
    else:
        api.upload_file(path_or_fileobj=str(export), path_in_repo=export.name, repo_id=repo_id, token=token,
                        commit_message="Upload from airbot")
    return str(url)
