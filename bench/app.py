"""App speed: cold start to the first page, and ``/ask`` latency with concurrent gradio_client users.

    .venv/bin/python bench/app.py                                   # base bot, 8 users x 2 questions
    .venv/bin/python bench/app.py --bots base,rag --users 8 --questions 2 --repeats 3 --json

Each start spawns ``python -m airbot app`` on a free port of 127.0.0.1 in a throw-away
AIRBOT_HOME (sharing the converted model cache) and polls ``/`` until HTTP 200: that is the cold
start. Then ``--users`` threads, each with its own ``gradio_client.Client``, call ``/ask`` (the
Chat tab's ``gr.api``) ``--questions`` times in a row; the figures are per-call latency (p50/p95)
and answers per second. Everything is bounded (timeouts on every wait) and talks to 127.0.0.1 only.
The rag and hybrid bots get an index named ``default`` built from the shipped policy.

Each repeat starts the app twice, with continuous batching on and off (``AIRBOT_BATCHING``,
``airbot.generate.batch``), alternating which goes first; ``speedup_concurrent`` is the median
answers per second with batching ÷ without (``--batching on`` or ``off`` runs one way only).

``--with-jobs`` measures fair sharing: on one running app it first times a single user asking the
questions alone (the baseline), then starts a training (``/train_start``, the sample, QLoRA) and an
evaluation (``/eval_run``, rag on the held-out set) and, while both run, the ``--users`` clients ask;
it reports chat p50/p95 under load, the single-user figures and their ratio (target: p95 <= 2x).

    .venv/bin/python bench/app.py --with-jobs --bots base,rag --users 8 --questions 2 --repeats 1
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, Figure, free_port, parser, percentile, read_jsonl, report, temp_home

START_TIMEOUT_S = 240
CALL_TIMEOUT_S = 600


def start_app(home: Path, env_extra: dict[str, str] | None = None) -> tuple[subprocess.Popen, str, float]:
    """Spawn the app and wait for its first page; (process, url, seconds to HTTP 200)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    env = {**os.environ, "AIRBOT_HOME": str(home), "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1",
           **(env_extra or {})}
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "airbot", "app", "--host", "127.0.0.1", "--port", str(port)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    while time.perf_counter() - started < START_TIMEOUT_S:
        if proc.poll() is not None:
            raise RuntimeError(f"the app exited with code {proc.returncode} before serving a page")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return proc, url, time.perf_counter() - started
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    stop_app(proc)
    raise RuntimeError(f"the app served no page within {START_TIMEOUT_S} s")


def stop_app(proc: subprocess.Popen) -> None:
    """End the app we started (its own process group), politely first."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)


def ask(client: Any, question: str, bots: str) -> float:
    started = time.perf_counter()
    client.predict(question, bots, "", "default", api_name="/ask")
    return time.perf_counter() - started


def load_test(url: str, bots: str, users: int, qs: list[str]) -> tuple[list[float], float, list[str]]:
    """``users`` clients asking ``qs`` in a row at the same time: (latencies s, wall s, errors)."""
    from gradio_client import Client

    clients = [Client(url, verbose=False) for _ in range(users)]
    ask(clients[0], qs[0], bots)  # loads the models once, outside the measurement
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def user(i: int) -> None:
        for q in qs[i % len(qs):] + qs[: i % len(qs)]:
            try:
                took = ask(clients[i], q, bots)
                with lock:
                    latencies.append(took)
            except Exception as err:  # a failed call is a finding, not a crash of the bench
                with lock:
                    errors.append(f"{type(err).__name__}: {err}"[:200])

    threads = [threading.Thread(target=user, args=(i,), daemon=True) for i in range(users)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=CALL_TIMEOUT_S * len(qs))
    return latencies, time.perf_counter() - started, errors


def single_user(url: str, bots: str, qs: list[str], rounds: int = 2) -> list[float]:
    """One client asking ``qs`` alone, ``rounds`` times (the first call, which loads models, not counted)."""
    from gradio_client import Client

    client = Client(url, verbose=False)
    ask(client, qs[0], bots)
    return [ask(client, q, bots) for _ in range(rounds) for q in qs]


def start_jobs(url: str, train_steps: int, eval_limit: int) -> tuple[Any, Any, str]:
    """A training and an evaluation running in the app (each from its own client); (jobs, their client, run)."""
    from gradio_client import Client, handle_file

    from airbot.samples import sample_path

    trainer, evaluator = Client(url, verbose=False), Client(url, verbose=False)
    trainer.predict(api_name="/data_use_sample")
    run = trainer.predict("airline-sample", "qlora", 1, train_steps, 0, 16, 32, 256, 4, api_name="/train_start")
    questions = handle_file(str(sample_path("heldout")))
    evaluation = evaluator.submit("(no run)", "default", ["rag"], questions, eval_limit, api_name="/eval_run")
    deadline = time.perf_counter() + START_TIMEOUT_S
    while trainer.predict(run, api_name="/train_status")["phase"] in ("queued", "loading model", "tokenizing") \
            and time.perf_counter() < deadline:  # measure while it trains, not while it loads
        time.sleep(1)
    return evaluation, trainer, run


def stop_jobs(trainer: Any, run: str, evaluation: Any) -> dict[str, Any]:
    """Cancel the training, let the evaluation end; how both were doing when the chat load ended."""
    status = trainer.predict(run, api_name="/train_status")
    phase = status["phase"]
    if phase not in ("done", "failed", "cancelled"):
        trainer.predict(run, api_name="/train_cancel")
    done = evaluation.done()
    evaluation.cancel()
    return {"training_phase_during_load": phase, "training_step": status.get("step"), "evaluation_done_during_load": done}


def jobs_mode(args: Any, home: Path, qs: list[str]) -> None:
    """Chat p50/p95 for ``--users`` clients while a training and an evaluation run, vs one user alone."""
    alone = Figure(f"/ask latency, 1 user alone, bots={args.bots}", "s")
    loaded = Figure(f"/ask latency, {args.users} users while a training and an evaluation run, bots={args.bots}", "s")
    errors: list[str] = []
    extra: dict[str, Any] = {}
    for _ in range(args.repeats):
        proc, url, _ = start_app(home)
        try:
            alone.samples += single_user(url, args.bots, qs, rounds=5)  # 10 answers: a p95 of 4 swung 1.9-8.6 s
            evaluation, trainer, run = start_jobs(url, args.train_steps, args.eval_limit)
            lat, _, errs = load_test(url, args.bots, args.users, qs)
            extra.update(stop_jobs(trainer, run, evaluation))
        finally:
            stop_app(proc)
        loaded.samples += lat
        errors += errs
    for fig in (alone, loaded):
        if fig.samples:
            fig.note = f"p50 {percentile(fig.samples, 50):.2f} s, p95 {percentile(fig.samples, 95):.2f} s"
    if alone.samples and loaded.samples:
        extra["p95_ratio_loaded_vs_alone"] = round(percentile(loaded.samples, 95) / percentile(alone.samples, 95), 2)
    extra["errors"] = len(errors)
    if errors:
        extra["first_error"] = errors[0]
    report(f"app under jobs: {args.users} users x {args.questions} questions, a training and an evaluation running",
           [alone, loaded], extra, as_json=args.json)


def prepare_home(bots: str) -> Path:
    home = temp_home("airbot-bench-app-")
    if {"rag", "hybrid"} & set(bots.split(",")):
        from airbot.knowledge.index import build_index
        from airbot.samples import sample_path

        build_index([sample_path("policy")], home / "indexes" / "default")
    return home


def main() -> None:
    p = parser(__doc__.split("\n\n")[0])
    p.set_defaults(repeats=2)
    p.add_argument("--bots", default="base", help="Comma-separated bots /ask runs (base, rag; finetuned needs a run).")
    p.add_argument("--users", type=int, default=8)
    p.add_argument("--questions", type=int, default=2, help="Questions each user asks in a row.")
    p.add_argument("--with-jobs", action="store_true",
                   help="Ask while a training and an evaluation run in the app, and compare with one user alone.")
    p.add_argument("--train-steps", type=int, default=200, help="--with-jobs: max steps of the training (cancelled after).")
    p.add_argument("--eval-limit", type=int, default=20, help="--with-jobs: questions the evaluation answers.")
    p.add_argument("--batching", choices=["both", "on", "off"], default="both",
                   help="Continuous batching in the app: compare both ways (default) or run one.")
    args = p.parse_args()
    from airbot.samples import sample_path

    home = prepare_home("rag" if args.with_jobs else args.bots)  # the evaluation asks the rag bot
    qs = [r["question"] for r in read_jsonl(sample_path("heldout"), max(args.questions, 1))]
    if args.with_jobs:
        jobs_mode(args, home, qs)
        return
    modes = ["on", "off"] if args.batching == "both" else [args.batching]
    cold = Figure("cold start to first page", "s")
    latency = {m: Figure(f"/ask latency, {args.users} concurrent users, bots={args.bots}, batching {m}", "s")
               for m in modes}
    rate = {m: Figure(f"/ask answers per second, batching {m}", "answers/s") for m in modes}
    errors: list[str] = []
    for repeat in range(args.repeats):
        for mode in modes if repeat % 2 == 0 else modes[::-1]:  # alternate: neither way always runs first
            proc, url, took = start_app(home, {"AIRBOT_BATCHING": "1" if mode == "on" else "0"})
            cold.samples.append(took)
            try:
                lat, wall, errs = load_test(url, args.bots, args.users, qs)
            finally:
                stop_app(proc)
            latency[mode].samples += lat
            rate[mode].samples.append(len(lat) / wall)
            errors += errs
    extra: dict[str, Any] = {"errors": len(errors), **({"first_error": errors[0]} if errors else {})}
    for mode in modes:
        if latency[mode].samples:
            p50, p95 = percentile(latency[mode].samples, 50), percentile(latency[mode].samples, 95)
            latency[mode].note = f"p50 {p50:.2f} s, p95 {p95:.2f} s"
            extra[f"p50_s_batching_{mode}"], extra[f"p95_s_batching_{mode}"] = round(p50, 3), round(p95, 3)
    if len(modes) == 2 and rate["off"].samples and rate["on"].samples:
        extra["speedup_concurrent"] = round(statistics.median(rate["on"].samples) / statistics.median(rate["off"].samples), 3)
    report(f"app: {args.repeats} repeat(s), {args.users} users x {args.questions} questions",
           [cold, *latency.values(), *rate.values()], extra, as_json=args.json)


if __name__ == "__main__":
    main()
