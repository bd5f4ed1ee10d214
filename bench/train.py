"""Training speed: airbot's default recipe against plain TRL (and optionally LLaMA-Factory) on the same
100 airline pairs, each trainer in its own process, with held-out fact accuracy of what it learned.

    .venv/bin/python bench/train.py                           # 100 pairs x 3 epochs, airbot vs plain TRL
    .venv/bin/python bench/train.py --epochs 1 --heldout 20   # quicker
    .venv/bin/python bench/train.py --max-steps 10 --heldout 0   # speed only, a minute or two
    .venv/bin/python bench/train.py --peer llamafactory       # + LLaMA-Factory 0.9.5 (own venv in bench/.peers)
    .venv/bin/python bench/train.py --repeats 3 --json
    .venv/bin/python bench/train.py --learn --skip airbot trl --threads 1   # time to learn the 139-row sample

* airbot: ``run_finetune`` with the default config (whatever ``configs``/``config.py`` say today),
  all 100 pairs trained (``data.heldout_fraction=0``; accuracy is scored on the separate held-out file).
* plain TRL: ``SFTTrainer`` defaults, fp32, LoRA r16 on all linear layers, batch 4, max_length 256,
  the same rows in the messages format with the same system prompt.
* LLaMA-Factory: its fastest CPU settings (bf16 where the CPU has bf16 units, else fp32; no gradient
  checkpointing, lora_dropout 0), same
  rows, rank, batch, length, epochs and learning rate as airbot.

* learn (``--learn``): the app's default run on the whole shipped sample (139 pairs, 10% held out, epochs
  'auto'), timed from start to "did it learn?": "time to learn" is its wall time when it answers >= 95% of
  its training questions right (``learned.json``), else it says how far it got.

Tokens/s counts non-padding tokens (TRL's ``num_tokens``; LLaMA-Factory's non-padding tokens seen)
over the training loop's own time. Held-out accuracy: each adapter is merged into the bf16 base
and answers ``airline_heldout.jsonl`` greedily (through airbot.generate.stream, the same for every
trainer); a question counts when every fact is in the answer (``airbot.text.fact_present``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, Figure, parser, peak_rss_mb, read_jsonl, report, run_worker, temp_home

PEERS = ROOT / "bench" / ".peers"
LLAMAFACTORY = "llamafactory==0.9.5"
TRAINERS = ("airbot", "trl")


def training_rows(n: int) -> list[list[dict[str, str]]]:
    """The first ``n`` sample pairs as chat messages with the bots' system prompt."""
    from airbot.config import ChatConfig
    from airbot.samples import sample_path

    system = ChatConfig().system_prompt
    return [[{"role": "system", "content": system}, {"role": "user", "content": r["question"]},
             {"role": "assistant", "content": r["answer"]}] for r in read_jsonl(sample_path("train"), n)]


def write_rows(rows: list[list[dict[str, str]]], folder: Path) -> Path:
    path = folder / "train.jsonl"
    path.write_text("".join(json.dumps({"question": r[1]["content"], "answer": r[2]["content"]}) + "\n" for r in rows))
    return path


# --- workers (each runs in a fresh process) ---------------------------------------------------
def airbot_worker(args: Any, out: Path) -> dict[str, Any]:
    from airbot.config import load_config
    from airbot.train.finetune import run_finetune

    data = write_rows(training_rows(args.pairs), out)
    overrides = ["data.heldout_fraction=0", f"train.epochs={args.epochs}", f"train.max_steps={args.max_steps}",
                 *[o for o in args.set.split(",") if o]]
    config = load_config(overrides=overrides)
    result = run_finetune(config, data, out / "run")
    return {"tokens_per_s": result.tokens_per_s, "train_s": result.train_s, "wall_s": result.wall_s,
            "tokens": result.train_tokens, "final_loss": result.train_loss, "peak_rss_mb": peak_rss_mb(),
            "adapter": str(result.adapter), "method": config.train.method + (f" ({args.set})" if args.set else "")}


def learn_worker(args: Any, out: Path) -> dict[str, Any]:
    """The default recipe on the whole sample, as the Train tab runs it: how long until it has learned the set."""
    from airbot.config import load_config
    from airbot.samples import sample_path
    from airbot.storage import read_json
    from airbot.train.finetune import run_finetune

    started = time.time()
    config = load_config(overrides=[o for o in args.set.split(",") if o])
    result = run_finetune(config, sample_path("train"), out / "run")
    learned = (read_json(out / "run" / "learned.json") or {}).get("trained", {})
    share = learned["right"] / learned["total"] if learned.get("total") else 0.0
    return {"tokens_per_s": result.tokens_per_s, "train_s": result.train_s, "wall_s": round(time.time() - started, 2),
            "tokens": result.train_tokens, "final_loss": result.train_loss, "peak_rss_mb": peak_rss_mb(),
            "adapter": str(result.adapter), "learned_right": learned.get("right"), "learned_total": learned.get("total"),
            "learned_share": round(share, 4), "time_to_learn_s": round(time.time() - started, 2) if share >= 0.95 else None,
            "epochs": load_config(out / "run" / "config.yaml").train.epochs, "steps": result.steps,
            "method": f"default recipe, {result.train_rows} pairs, epochs auto"}


def trl_worker(args: Any, out: Path) -> dict[str, Any]:
    """TRL's SFTTrainer as its README shows it: defaults, fp32, LoRA r16 all-linear."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM
    from trl import SFTConfig, SFTTrainer

    from airbot.models import load_tokenizer, resolve_base_model

    started = time.time()
    model = AutoModelForCausalLM.from_pretrained(resolve_base_model(), dtype=torch.float32)
    dataset = Dataset.from_list([{"messages": m} for m in training_rows(args.pairs)])
    sft = SFTConfig(output_dir=str(out / "trl"), num_train_epochs=args.epochs, max_steps=args.max_steps,
                    per_device_train_batch_size=4, max_length=256, use_cpu=True, bf16=False, report_to=[],
                    save_strategy="no", logging_steps=1, disable_tqdm=True)
    trainer = SFTTrainer(model=model, args=sft, train_dataset=dataset, processing_class=load_tokenizer(),
                         peft_config=LoraConfig(r=16, target_modules="all-linear", task_type="CAUSAL_LM"))
    train_start = time.time()
    trainer.train()
    train_s = time.time() - train_start
    logs = [h for h in trainer.state.log_history if "loss" in h]
    tokens = int(logs[-1].get("num_tokens", 0)) if logs else 0
    trainer.save_model(str(out / "adapter"))
    return {"tokens_per_s": round(tokens / train_s, 1), "train_s": round(train_s, 2), "wall_s": round(time.time() - started, 2),
            "tokens": tokens, "final_loss": logs[-1]["loss"] if logs else None, "peak_rss_mb": peak_rss_mb(),
            "adapter": str(out / "adapter"), "method": "lora fp32 (TRL defaults)"}


def heldout_accuracy(adapter: Path, limit: int) -> tuple[float | None, int]:
    """Share of held-out questions whose every fact the merged adapter states (greedy, fastgen)."""
    import torch
    from peft import PeftModel

    from airbot.config import ChatConfig
    from airbot.generate.stream import stream_chat
    from airbot.models import load_causal_lm, load_tokenizer
    from airbot.samples import sample_path
    from airbot.text import fact_present
    from airbot.train.model import match_training_base

    if limit <= 0:
        return None, 0
    rows = read_jsonl(sample_path("heldout"), limit)
    # A QLoRA adapter is merged into the NF4-rounded base it was trained against (a no-op for the others).
    base = match_training_base(load_causal_lm(dtype=torch.bfloat16), adapter)
    model = PeftModel.from_pretrained(base, adapter).merge_and_unload().eval()
    tokenizer, chat = load_tokenizer(), ChatConfig()
    ok = 0
    for row in rows:
        messages = [{"role": "system", "content": chat.system_prompt}, {"role": "user", "content": row["question"]}]
        answer = "".join(stream_chat(model, tokenizer, messages, chat))
        ok += all(fact_present(f, answer) for f in row["facts"])
    return ok / len(rows), len(rows)


def worker_main(args: Any) -> None:
    """``--worker NAME``: train one way (or score one adapter), print one JSON line."""
    out = Path(tempfile.mkdtemp(prefix=f"bench-train-{args.worker}-"))
    if args.worker == "eval":
        share, n = heldout_accuracy(Path(args.adapter), args.heldout)
        print(json.dumps({"heldout_accuracy": share, "heldout_n": n}))
        return
    if args.worker == "learn":
        print(json.dumps(learn_worker(args, out)))
        return
    result = airbot_worker(args, out) if args.worker == "airbot" else trl_worker(args, out)
    result["heldout_accuracy"], result["heldout_n"] = heldout_accuracy(Path(result["adapter"]), args.heldout)
    print(json.dumps(result))


# --- LLaMA-Factory peer -----------------------------------------------------------------------
def llamafactory_venv(timeout: int) -> Path:
    """bench/.peers/llamafactory with torch 2.13.0 (CPU) first, then LLaMA-Factory 0.9.5.

    Its requirements name torchvision/torchaudio, whose newest wheels pull a CUDA torch, so
    LLaMA-Factory goes in with --no-deps and its other requirements are installed under a
    constraint that keeps torch at the CPU build. It imports torchaudio at module level (audio
    datasets) and no torchaudio wheel loads against torch 2.13.0, so a stub stands in; text SFT
    never calls it.
    """
    venv = PEERS / "llamafactory"
    cli = venv / "bin" / "llamafactory-cli"
    if cli.is_file():
        _torchaudio_stub(venv)
        return cli
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([*pip, "torch==2.13.0"], check=True, timeout=timeout)
    subprocess.run([*pip, "--no-deps", LLAMAFACTORY], check=True, timeout=timeout)
    meta = subprocess.run([str(venv / "bin" / "python"), "-c", "from importlib.metadata import requires; "
                           "print('\\n'.join(r for r in requires('llamafactory') if 'extra ==' not in r))"],
                          capture_output=True, text=True, check=True).stdout.split("\n")
    reqs = [r for r in meta if r.strip() and not r.split(";")[0].strip().startswith(("torch>", "torchvision", "torchaudio"))]
    constraints = venv / "constraints.txt"
    constraints.write_text("torch==2.13.0\n")
    subprocess.run([*pip, "-c", str(constraints), *reqs], check=True, timeout=timeout)
    _torchaudio_stub(venv)
    return cli


def _torchaudio_stub(venv: Path) -> None:
    python = venv / "bin" / "python"
    if subprocess.run([str(python), "-c", "import torchaudio"], capture_output=True).returncode == 0:
        return
    site = subprocess.run([str(python), "-c", "import site; print(site.getsitepackages()[0])"], capture_output=True,
                          text=True, check=True).stdout.strip()
    stub = Path(site) / "torchaudio"
    stub.mkdir(exist_ok=True)
    (stub / "__init__.py").write_text(
        '"""Stub from airbot bench/train.py: no torchaudio loads against torch 2.13.0; text SFT never uses it."""\n\n\n'
        "def __getattr__(name):\n"
        '    raise ImportError(f"torchaudio.{name}: torchaudio is a stub in this venv (text-only benchmarks)")\n')


def llamafactory_run(args: Any) -> dict[str, Any]:
    """Write the dataset and YAML, run ``llamafactory-cli train``, read its tokens and runtime."""
    import psutil
    import yaml

    from airbot.models import bf16_supported, resolve_base_model
    from airbot.train.finetune import METHOD_LR

    cli = llamafactory_venv(args.peer_timeout)
    work = Path(tempfile.mkdtemp(prefix="bench-train-llamafactory-"))
    (work / "airline.json").write_text(json.dumps([{"messages": m} for m in training_rows(args.pairs)]))
    (work / "dataset_info.json").write_text(json.dumps({"airline": {
        "file_name": "airline.json", "formatting": "sharegpt", "columns": {"messages": "messages"},
        "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant",
                 "system_tag": "system"}}}))
    recipe = {"model_name_or_path": str(resolve_base_model()), "stage": "sft", "do_train": True,
              "finetuning_type": "lora", "lora_rank": 16, "lora_alpha": 32, "lora_dropout": 0.0, "lora_target": "all",
              "dataset": "airline", "dataset_dir": str(work), "template": "smollm2", "cutoff_len": 256,
              "overwrite_cache": True, "output_dir": str(work / "out"), "per_device_train_batch_size": 4,
              "gradient_accumulation_steps": 1, "learning_rate": METHOD_LR["lora"], "num_train_epochs": args.epochs,
              "max_steps": args.max_steps, "lr_scheduler_type": "cosine", "warmup_ratio": 0.05,
              # its fastest precision here: bf16 where the CPU has bf16 units; on a Xeon without them emulated bf16
              # ran 32 tok/s (session 9, 1 thread, load 1.4), fp32 56 tok/s even at load 4
              "bf16": bf16_supported("cpu"),
              "disable_gradient_checkpointing": True, "logging_steps": 1, "save_strategy": "no", "report_to": "none",
              "include_num_input_tokens_seen": "non_padding", "preprocessing_num_workers": 1, "use_cpu": True}
    (work / "train.yaml").write_text(yaml.safe_dump(recipe))
    env = {**os.environ, "DISABLE_VERSION_CHECK": "1", "CUDA_VISIBLE_DEVICES": "", "WANDB_DISABLED": "true",
           **thread_env(args.threads)}
    started, peak = time.time(), 0.0
    with open(work / "train.log", "w") as log:
        proc = subprocess.Popen([str(cli), "train", str(work / "train.yaml")], stdout=log, stderr=subprocess.STDOUT,
                                env=env, cwd=work)
        while proc.poll() is None and time.time() - started < args.peer_timeout:
            peak = max(peak, _tree_rss_mb(psutil.Process(proc.pid)))
            time.sleep(0.5)
        if proc.poll() is None:
            proc.kill()
    if proc.returncode != 0:
        raise RuntimeError(f"llamafactory-cli failed (exit {proc.returncode}); see {work / 'train.log'}")
    return _llamafactory_result(work, peak, time.time() - started)


def _tree_rss_mb(proc: Any) -> float:
    import psutil

    try:
        return sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)]) / 2**20
    except psutil.Error:
        return 0.0


def _llamafactory_result(work: Path, peak: float, wall: float) -> dict[str, Any]:
    import yaml

    bf16 = bool(yaml.safe_load((work / "train.yaml").read_text()).get("bf16"))
    state = json.loads((work / "out" / "trainer_state.json").read_text())
    results = json.loads((work / "out" / "all_results.json").read_text())
    tokens = int(state.get("num_input_tokens_seen", 0))
    runtime = float(results["train_runtime"])
    losses = [h["loss"] for h in state.get("log_history", []) if "loss" in h]
    return {"tokens_per_s": round(tokens / runtime, 1), "train_s": round(runtime, 2), "wall_s": round(wall, 2),
            "tokens": tokens, "final_loss": losses[-1] if losses else None, "peak_rss_mb": round(peak, 1),
            "adapter": str(work / "out"), "method": f"lora {'bf16' if bf16 else 'fp32'} (LLaMA-Factory fastest)"}


# --- the comparison ---------------------------------------------------------------------------
def worker_args(args: Any) -> list[str]:
    return ["--pairs", str(args.pairs), "--epochs", str(args.epochs), "--max-steps", str(args.max_steps),
            "--heldout", str(args.heldout)]


def thread_env(threads: int) -> dict[str, str]:
    return {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)} if threads > 0 else {}


def run_all(args: Any) -> dict[str, list[dict[str, Any]]]:
    """Each trainer ``--repeats`` times, interleaved, each in a fresh process."""
    variants = dict(v.split(":", 1) for v in args.variant)
    names = ([n for n in TRAINERS if n not in args.skip] + [f"airbot-{v}" for v in variants]
             + ([args.peer] if args.peer else []) + (["learn"] if args.learn else []))
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for _ in range(args.repeats):
        for name in results:
            print(f"  training: {name}", file=sys.stderr)
            if name == "llamafactory":
                res = llamafactory_run(args)
                res.update(run_worker(Path(__file__), ["--worker", "eval", "--adapter", res["adapter"],
                                                       "--heldout", str(args.heldout)], timeout=3600,
                                      env=thread_env(args.threads)))
            elif name == "learn":
                res = run_worker(Path(__file__), ["--worker", "learn", "--set", args.set], timeout=7200,
                                 env=thread_env(args.threads))
            elif name.startswith("airbot-"):
                res = run_worker(Path(__file__), ["--worker", "airbot", "--set", variants[name[7:]], *worker_args(args)],
                                 timeout=7200, env=thread_env(args.threads))
            else:
                res = run_worker(Path(__file__), ["--worker", name, *worker_args(args)], timeout=7200,
                                 env=thread_env(args.threads))
            results[name].append(res)
    return results


def figures(results: dict[str, list[dict[str, Any]]]) -> list[Figure]:
    out: list[Figure] = []
    fields = [("tokens_per_s", "train tokens/s", "tok/s"), ("train_s", "training time", "s"),
              ("wall_s", "wall time", "s"), ("peak_rss_mb", "peak RSS", "MB"), ("final_loss", "final loss", ""),
              ("heldout_accuracy", "held-out fact accuracy", "")]
    learn_fields = [("time_to_learn_s", "time to learn", "s"), ("learned_share", "training questions right", ""),
                    ("epochs", "epochs (auto)", ""), ("train_s", "training time", "s"), ("wall_s", "wall time", "s"),
                    ("tokens_per_s", "train tokens/s", "tok/s")]
    for name, runs in results.items():
        for key, label, unit in learn_fields if name == "learn" else fields:
            values = [float(r[key]) for r in runs if r.get(key) is not None]
            note = runs[0]["method"] if key == "tokens_per_s" else (f"n={runs[0]['heldout_n']} questions"
                                                                     if key == "heldout_accuracy" else "")
            if key == "time_to_learn_s" and len(values) < len(runs):
                note = f"{len(runs) - len(values)} of {len(runs)} runs did not reach 95%"
            out.append(Figure(f"{name} {label}", unit, values, note=note))
    base = [r["tokens_per_s"] for r in results.get("airbot", [])]
    for peer in [n for n in results if n not in ("airbot", "learn") and base]:
        ratios = [a / max(p["tokens_per_s"], 1e-9) for a, p in zip(base, results[peer])]
        out.append(Figure(f"speedup_vs_{peer}", "x", ratios))
    return out


def main() -> None:
    p = parser(__doc__.split("\n\n")[0])
    p.set_defaults(repeats=1)
    p.add_argument("--pairs", type=int, default=100)
    p.add_argument("--epochs", type=float, default=3.0)
    p.add_argument("--max-steps", type=int, default=-1, help="Stop each trainer after N steps (quick runs).")
    p.add_argument("--heldout", type=int, default=50, help="Held-out questions to score (0: skip scoring).")
    p.add_argument("--peer", choices=["llamafactory"], default=None)
    p.add_argument("--peer-timeout", type=int, default=3600)
    p.add_argument("--threads", type=int, default=0,
                   help="OMP_NUM_THREADS for every trainer (0: torch's default; 1 is far faster on a shared box).")
    p.add_argument("--skip", nargs="*", default=[], choices=TRAINERS, help="Leave these trainers out (quick peer checks).")
    p.add_argument("--variant", action="append", default=[], metavar="NAME:KEY=VAL,...",
                   help="Also train airbot with these config overrides, interleaved "
                        "(e.g. bnb:train.qlora_cpu_base=bitsandbytes).")
    p.add_argument("--set", default="", help=argparse_hidden())
    p.add_argument("--learn", action="store_true",
                   help="Also time the default recipe learning the whole 139-row sample ('time to learn').")
    p.add_argument("--worker", choices=["airbot", "trl", "eval", "learn"], default=None, help=argparse_hidden())
    p.add_argument("--adapter", default="", help=argparse_hidden())
    args = p.parse_args()
    temp_home("airbot-bench-train-")
    if args.worker:
        worker_main(args)
        return
    results = run_all(args)
    extra = {"settings": f"{args.pairs} pairs, {args.epochs:g} epochs, max_steps {args.max_steps}, "
                         f"threads {args.threads or 'torch default'}"}
    report("train: airbot default recipe vs plain TRL" + (f" vs {args.peer}" if args.peer else ""), figures(results),
           extra, as_json=args.json)


def argparse_hidden() -> str:
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    main()
