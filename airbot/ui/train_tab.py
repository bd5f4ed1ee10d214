"""Train tab: pick a dataset and a technique, see what it will cost, train, watch the loss fall.

Training runs as a background job (``airbot.train.jobs``): Start returns at once, a ``gr.Timer``
polls the run folder for phase, progress, the loss curve and the log tail, so reloading the page
re-attaches to a running job. The equivalent CLI command is shown next to the settings. Every
action has a stable ``api_name`` for ``gradio_client``::

    from gradio_client import Client
    c = Client("http://127.0.0.1:7860")
    run = c.predict("airline-sample", "qlora", 0, -1, 0, 16, 32, 256, 4, api_name="/train_start")  # epochs 0: auto
    c.predict(run, api_name="/train_status")      # {'phase': 'training', 'progress': 0.4, ...}
    c.predict(run, api_name="/train_cancel")
    c.predict(api_name="/runs_list"); c.predict(run, api_name="/run_download")
    c.predict(run, "gguf", "q8_0", api_name="/run_export")   # adapter | merged | gguf, as a file
    c.predict(run, "merged", "q8_0", "me/my-bot", False, api_name="/run_push")  # the owner's HF_TOKEN only

Epochs 0 means 'auto' (the budget rule of ``airbot.train.budget`` picks them from the number of pairs).
The config itself rejects 0 epochs, as ``--epochs 0`` on the CLI; the tab maps 0 to
``train.epochs='auto'`` before building the config (``make_config``), so /train_start keeps its
numeric argument.
"""

from __future__ import annotations

import html
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import gradio as gr
import pandas as pd

from airbot.config import METHODS, AirbotConfig, Method
from airbot.errors import AirbotError, ConfigError
from airbot.train import jobs, runs
from airbot.train import status as run_status
from airbot.train.checkpoints import latest_checkpoint
from airbot.train.gguf import QUANTS
from airbot.train.learned import read_learned
from airbot.ui.errors import user_errors
from airbot.ui.state import TRACK, AppState, root_block

METHOD_LABELS: dict[Method, str] = {"qlora": "QLoRA: 4-bit base + LoRA (default)", "lora": "LoRA",
                                     "full": "Full fine-tuning", "prompt": "Prompt tuning", "prefix": "Prefix tuning"}
METHOD_NOTES = {
    "qlora": "Base weights stored in 4 bits, small LoRA adapters trained on top: the least memory, "
             "the budget option.",
    "lora": "Frozen base, small low-rank adapters on every linear layer: fast, a few MB to save.",
    "full": "Every weight is trained: the most capacity, the most forgetting, a whole model (~540 MB) to save.",
    "prompt": "Only 20 soft-prompt vectors are learned: tiny, forgets nothing, learns style more than facts.",
    "prefix": "Learned key/value prefixes at every layer: tiny, a little more capacity than prompt tuning.",
}
EXPORT_LABELS = {"adapter": "Adapter (PEFT, zip)", "merged": "Merged model (safetensors, zip)",
                 "gguf": "GGUF (llama.cpp)"}
AUTO_EPOCHS = 0.0
"""What the Epochs box and /train_start's epochs argument send for 'auto' (see the module docstring)."""
PRESETS = {"Auto: learn the set (epochs from its size)": AUTO_EPOCHS, "Quick look (1 epoch: it will not learn the set)": 1.0}
DEFAULT_PRESET = "Auto: learn the set (epochs from its size)"
HISTORY_COLUMNS = ["name", "status", "method", "started", "wall time", "learned", "final loss", "eval loss", "tokens/s"]
PLOT_COLUMNS = ["step", "loss", "series"]
LOG_LINES = 40


# --- pure helpers (tested without a browser) --------------------------------------------------
def dataset_choices() -> list[str]:
    """The user's stored datasets, newest first. The airline sample is listed only once the user
    stored it ("Use the sample" in the Data tab): nothing of it is stored or preselected unasked."""
    from airbot.data.store import list_datasets

    return [d.name for d in list_datasets()]


def dataset_path(name: str | None) -> Path:
    """The normalized file of a stored dataset. Naming the sample ('airline-sample') stores it on
    request; no name is an error, never a silent fallback to the sample."""
    from airbot.data.store import SAMPLE_NAME, ensure_sample_dataset, get_dataset, list_datasets

    if not name:
        raise AirbotError("No dataset is picked. Upload your Q&A file in the Data tab (or press 'Use the airline "
                          "sample' there), then pick it here.")
    if name == SAMPLE_NAME and name not in {d.name for d in list_datasets()}:
        return ensure_sample_dataset().data_path
    return get_dataset(name).data_path


def make_config(base: AirbotConfig, method: str, epochs: float, max_steps: float, learning_rate: float,
                lora_r: float, lora_alpha: float, max_length: float, batch_size: float) -> AirbotConfig:
    """The app's config with the tab's settings; every bad value is reported at once by the same
    checks the CLI and YAML recipes get (``AirbotConfig.problems``)."""
    numbers = {"epochs": epochs, "max steps": max_steps, "learning rate": learning_rate, "LoRA rank": lora_r,
               "LoRA alpha": lora_alpha, "max length": max_length, "batch size": batch_size}
    empty = [f"{label} is empty; enter a number" for label, value in numbers.items() if value is None]
    if empty:
        raise ConfigError.collected("These training settings cannot be used:", empty, "Fix them and press Start.")
    chosen: float | Literal["auto"] = "auto" if epochs == AUTO_EPOCHS else float(epochs)
    train = replace(base.train, method=method, epochs=chosen, max_steps=int(max_steps or -1),  # type: ignore[arg-type]
                    learning_rate=float(learning_rate), lora_r=int(lora_r), lora_alpha=int(lora_alpha),
                    max_length=int(max_length), batch_size=int(batch_size))
    config = replace(base, train=train)
    problems = ([] if method in METHODS else [f"method '{method}' is not one of {', '.join(METHODS)}"]) + config.problems()
    if problems:
        raise ConfigError.collected("These training settings cannot be used:", problems, "Fix them and press Start.")
    return config


def heldout_html(config: AirbotConfig, dataset: str | None) -> str:
    """Which rows the run will hold out (the same deterministic split training makes), with their questions."""
    from airbot.data.dataset import read_dataset, split_rows

    loaded = read_dataset(dataset_path(dataset))
    _, held = split_rows(len(loaded.rows), config.data.heldout_fraction, config.data.seed)
    if not held:
        return "<div><small>No rows are held out (data.heldout_fraction is 0): every row trains.</small></div>"
    items = "".join(f"<li>{html.escape(loaded.where(i))}: {html.escape(_question(loaded.rows[i]))}</li>" for i in held)
    return (f"<details><summary>Held out from training: <b>{len(held)} of {len(loaded.rows)} rows</b> "
            f"({', '.join(loaded.where(i) for i in held)}): the run never trains on them and asks them as new "
            f"questions after training</summary><ul>{items}</ul></details>")


def _question(row: list[dict[str, str]]) -> str:
    return next((m["content"] for m in reversed(row) if m["role"] == "user"), "")


def learned_html(report: dict[str, Any] | None) -> str:
    """'answers its training questions right: 137/139' in green, or amber with advice below 80%, misses listed."""
    from airbot.train.learned import advice, learned_enough, learned_line

    line = learned_line(report)
    if report is None or line is None:
        return ""
    ok = learned_enough(report)
    colour, mark = ("#1a7f37", "✅") if ok else ("#9a6700", "⚠️")
    tip = "" if ok else f" {html.escape(advice(report) or '')}"
    misses = report["trained"]["misses"]
    listed = "".join(f"<li>{html.escape(m['where'])}: {html.escape(m['question'])} → “{html.escape(m['answer'])}” "
                     f"<small>({html.escape('; '.join(m['flags']))})</small></li>" for m in misses[:50])
    more = f"<details><summary>{len(misses)} missed</summary><ul>{listed}</ul></details>" if misses else ""
    return (f"<div style='color:{colour};font-weight:600' class='learned {'ok' if ok else 'warn'}'>{mark} "
            f"{html.escape(line[0].upper() + line[1:])}.{tip}</div>{more}")


def progress_html(status: dict[str, Any], learned: dict[str, Any] | None = None) -> str:
    """Phase, a progress bar, step/total, loss and ETA; once done, what the run learned (``learned_html``)."""
    if not status:
        return "<div>No training yet: pick a dataset and a method, then press <b>Start</b>.</div>"
    phase = status.get("phase", "")
    bits = [f"<b>{html.escape(str(status.get('name', '')))}</b>: {html.escape(phase)}"]
    if status.get("total"):
        bits.append(f"step {status.get('step', 0)}/{status['total']}")
    if status.get("loss") is not None:
        bits.append(f"loss {status['loss']:.3f}")
    if phase == "training" and status.get("eta_s") is not None:
        bits.append(f"ETA {_duration(status['eta_s'])}")
    if status.get("budget"):
        bits.append(html.escape(str(status["budget"])))
    value = float(status.get("progress") or 0.0)
    return (f"<div>{' · '.join(bits)}</div><progress value='{value:.3f}' max='1' style='width:100%'></progress>"
            f"{learned_html(learned) or _message_html(status)}")


def _message_html(status: dict[str, Any]) -> str:
    return f"<div><small>{html.escape(str(status.get('message', '')))}</small></div>"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


LOSS_SERIES = ("train", "held-out")


def loss_frame(run_dir: Path | None) -> pd.DataFrame:
    """Train and held-out loss by step, long format for ``gr.LinePlot(color='series')``."""
    rows = []
    for m in run_status.read_metrics(run_dir) if run_dir else []:
        if m.get("loss") is not None:
            rows.append({"step": m["step"], "loss": m["loss"], "series": "train"})
        if m.get("eval_loss") is not None:
            rows.append({"step": m["step"], "loss": m["eval_loss"], "series": "held-out"})
    # One NaN row per series (not drawn): Gradio 6 fixes the colour legend from the plot's first
    # value, and a plot born without a series never draws that series' line later. Numeric
    # dtypes: an object column makes a categorical axis on which no line is drawn.
    rows += [{"step": 0.0, "loss": float("nan"), "series": series} for series in LOSS_SERIES]
    return pd.DataFrame(rows, columns=PLOT_COLUMNS).astype({"step": float, "loss": float, "series": str})


def log_tail(run_dir: Path | None, lines: int = LOG_LINES) -> str:
    """The end of train.log without carriage-return progress noise."""
    path = run_dir / "train.log" if run_dir else None
    if path is None or not path.is_file():
        return ""
    with path.open("rb") as fh:
        fh.seek(max(0, path.stat().st_size - 16_000))
        text = fh.read().decode("utf-8", "replace")
    # Keep what follows a line's last \r (a redrawn progress bar); not splitlines, which also splits at \r.
    kept = [tail for ln in text.split("\n") if (tail := ln.rsplit("\r", 1)[-1].rstrip())]
    return "\n".join(kept[-lines:])


def history_frame() -> pd.DataFrame:
    """The run history table."""
    rows = []
    for r in runs.list_runs():
        status = r.phase + (" (partial)" if r.partial else "") + \
            (" · resumable" if r.phase not in ("done", *runs.ACTIVE_PHASES) and latest_checkpoint(r.path) else "")
        started = time.strftime("%d %b %H:%M", time.localtime(r.started)) if r.started else ""
        learned = (read_learned(r.path) or {}).get("trained") or {}
        right = f"{learned['right']}/{learned['total']}" if learned.get("total") else ""
        rows.append([r.name, status, r.method, started, _duration(r.wall_s), right, _num(r.final_loss),
                     _num(r.eval_loss), _num(r.tokens_per_s, 0)])
    return pd.DataFrame(rows, columns=HISTORY_COLUMNS)


def _num(value: float | None, digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def adapter_runs() -> list[str]:
    """Runs with something to download: the same list every run picker shows."""
    return [r.name for r in runs.usable_runs()]


# --- API endpoints (also the buttons' handlers) -----------------------------------------------
class TrainTab:
    """Handlers bound to the app's config."""

    def __init__(self, config: AirbotConfig) -> None:
        self.config = config

    def start(self, dataset: str, method: str, epochs: float, max_steps: float, learning_rate: float,
              lora_r: float, lora_alpha: float, max_length: float, batch_size: float) -> str:
        """Start a background run; returns its name (JobError names the run already training)."""
        config = make_config(self.config, method, epochs, max_steps, learning_rate, lora_r, lora_alpha,
                             max_length, batch_size)
        return jobs.start_training(config, dataset_path(dataset)).name

    def heldout(self, dataset: str) -> str:
        """The rows this dataset's runs hold out (or why it cannot be read). With no dataset picked it
        says nothing: the cost line above already says "No dataset is picked" (the page showed it twice)."""
        if not dataset:
            return ""
        try:
            return heldout_html(self.config, dataset)
        except AirbotError as err:
            return f"<div>⚠️ {html.escape(str(err))}</div>"

    def preflight(self, dataset: str, method: str, epochs: float, max_steps: float, learning_rate: float,
                  lora_r: float, lora_alpha: float, max_length: float, batch_size: float) -> tuple[str, str]:
        """The cost line and the equivalent CLI command for the current settings."""
        from airbot.train.preflight import preflight

        try:
            config = make_config(self.config, method, epochs, max_steps, learning_rate, lora_r, lora_alpha,
                                 max_length, batch_size)
            path = dataset_path(dataset)
            return preflight(config, path).line(), jobs.shown_command(config, path)
        except AirbotError as err:
            return f"⚠️ {err}", ""


def train_status(run: str) -> dict[str, Any]:
    """The run's status.json (phase, progress, step/total, eta_s, message, summary when done), with
    the server's folders written as ``$AIRBOT_HOME`` and no process id: a visitor of a shared app
    learns nothing about the machine's file system."""
    from airbot.config import airbot_home

    status = runs.read_status(runs.run_path(run))
    home = str(airbot_home())
    shown: dict[str, Any] = {}
    for key, value in status.items():
        if key == "pid":
            continue
        shown[key] = value.replace(home, "$AIRBOT_HOME") if isinstance(value, str) else value
    return shown


def train_cancel(run: str) -> dict[str, Any]:
    """Stop the run at its next step; a partial adapter is saved and the phase becomes 'cancelled'."""
    if not run:
        active = jobs.active_run()
        if active is None:
            raise AirbotError("No training is running, so there is nothing to cancel.")
        run = active.name
    return jobs.cancel(runs.run_path(run))


def train_resume(run: str, picked: str | None = None) -> str:
    """Continue a stopped, failed or killed run (the one shown, else the one picked below the history)
    from its last checkpoint; returns its name. The message says why when it cannot (done, no checkpoint)."""
    run = run or picked or ""
    if not run:
        raise AirbotError("Pick the run to resume: the one shown above, or click it in the run history.")
    return jobs.resume_training(runs.run_path(run)).name


def runs_list() -> list[dict[str, Any]]:
    """Every run, newest first, with its figures (no local paths: clients would try to fetch them)."""
    return [{k: v for k, v in r.as_row().items() if k != "path"} for r in runs.list_runs()]


def run_download(run: str) -> str:
    """A zip of the run's portable adapter (its base named by hub id, with a model card), or of the
    whole model for full fine-tuning."""
    return run_export(run, "adapter")


def run_export_merged(run: str) -> str:
    """A zip of the base model with the run's LoRA merged in (safetensors + tokenizer)."""
    return run_export(run, "merged")


def run_export(run: str, fmt: str = "adapter", quant: str = "q8_0", progress: gr.Progress = TRACK) -> str:
    """One download of a finished run: the adapter or the merged model as a zip, or a GGUF file for
    llama.cpp (``quant``: f16, q8_0, q4_1); the same exports as ``python -m airbot export``."""
    from airbot.train.export import export_download

    run_dir = _export_run(run, fmt, quant)
    return str(export_download(run_dir, fmt, quant, progress=lambda f, m: progress(f, desc=m)))  # type: ignore[arg-type]


def run_push(run: str, fmt: str, quant: str, repo_id: str, public: bool = False,
             oauth_token: gr.OAuthToken | None = None, progress: gr.Progress = TRACK) -> str:
    """Export the run and upload it to the Hugging Face Hub (private unless ``public``); returns a
    Markdown line with the repo's address.

    The token is the signed-in Hugging Face user's (the Space's "Sign in" button). The server's own
    ``HF_TOKEN`` is used only in the owner's workspace (a local app without logins, like the CLI):
    a visitor of a shared link must never push with the owner's account."""
    from airbot import workspace
    from airbot.train.export import export_run, push_to_hub

    repo_id = (repo_id or "").strip()
    if not repo_id:
        raise AirbotError("Write the Hub repo to push to, as OWNER/NAME (e.g. your-name/my-airbot).")
    token = oauth_token.token if oauth_token is not None else None
    if token is None and workspace.current() != workspace.HOME:
        raise AirbotError("Sign in with Hugging Face (button at the top) to push to your account.")
    run_dir = _export_run(run, fmt, quant)
    path = export_run(run_dir, fmt, quant=quant, progress=lambda f, m: progress(f * 0.8, desc=m))  # type: ignore[arg-type]
    progress(0.85, desc=f"uploading to {repo_id}")
    url = push_to_hub(path, repo_id, private=not public, token=token)
    return f"Pushed the {fmt} export of **{run_dir.name}** to [{repo_id}]({url}) ({'public' if public else 'private'})."


def _export_run(run: str, fmt: str, quant: str) -> Path:
    """The run folder of an export request, after checking what was asked for."""
    from airbot.train.export import FORMATS

    if not run:
        raise AirbotError("Pick a run in the list first.")
    if fmt not in FORMATS:
        raise AirbotError(f"Unknown export format '{fmt}'; choose one of {', '.join(FORMATS)}.")
    if fmt == "gguf" and quant not in QUANTS:
        raise AirbotError(f"Unknown GGUF weights '{quant}'; choose one of {', '.join(QUANTS)}.")
    run_dir = runs.run_path(run)
    if runs.read_status(run_dir).get("phase") in runs.ACTIVE_PHASES:
        raise AirbotError(f"Run '{run}' is still training; export it when it has finished.")
    return run_dir


def poll(run: str, last_phase: str) -> tuple[Any, ...]:
    """One timer tick: re-attach to the active run when none is shown, then read its files."""
    if not run:
        running = jobs.active_run()
        run = running.name if running else ""
    run_dir = runs.run_path(run) if run else None
    status = runs.read_status(run_dir) if run_dir and run_dir.is_dir() else {}
    phase = status.get("phase", "")
    active = phase in runs.ACTIVE_PHASES
    changed = phase != last_phase
    history = history_frame() if changed else gr.skip()
    done = adapter_runs()
    choices = gr.Dropdown(choices=done, value=run if run in done else (done[0] if done else None)) if changed \
        else gr.skip()
    learned = read_learned(run_dir) if run_dir and phase in runs.FINAL_PHASES else None
    return (run, phase, progress_html(status, learned), loss_frame(run_dir), log_tail(run_dir),
            gr.Button(interactive=not active), gr.Button(interactive=active), history, choices,
            gr.Timer(active=active))  # the 1 s poll ticks only while a run is in flight


def _clicked_run(evt: gr.SelectData) -> str:
    """The run of a clicked history row."""
    return str(evt.row_value[0]) if evt.row_value else ""


def _picked_row(evt: gr.SelectData) -> Any:
    """Clicking a history row picks that run for download."""
    name = evt.row_value[0] if evt.row_value else None
    return gr.Dropdown(choices=adapter_runs(), value=name if name in adapter_runs() else None)


# --- layout -----------------------------------------------------------------------------------
def build(state: AppState) -> None:
    """Lay out the tab and wire its events (call inside a ``gr.Tab``)."""
    tab = TrainTab(state.config)
    t = state.config.train
    gr.Markdown("Fine-tune the base model on your questions and answers. Training runs in the background: "
                "you can leave or reload this page and come back.")
    with gr.Row():
        # Custom values on: choices grow at run time, and API callers name datasets the page has not listed.
        dataset = gr.Dropdown(label="Dataset", choices=[], allow_custom_value=True, scale=4, elem_id="train-dataset")
        refresh = gr.Button("↻ Refresh", scale=1, size="sm")
    method = gr.Radio([(METHOD_LABELS[m], m) for m in METHODS], value=t.method, label="Technique")
    note = gr.Markdown(METHOD_NOTES[t.method])
    preset = gr.Radio(list(PRESETS), value=DEFAULT_PRESET, label="Preset")
    with gr.Accordion("Advanced", open=False):
        with gr.Row():
            lr = gr.Number(value=t.learning_rate, label="Learning rate (0 = the technique's usual rate)", minimum=0)
            epochs = gr.Number(value=AUTO_EPOCHS if t.epochs == "auto" else t.epochs, minimum=0,
                               label="Epochs (0 = auto: chosen from the number of pairs)")
            max_steps = gr.Number(value=t.max_steps, label="Max steps (-1 = all epochs)", precision=0)
        with gr.Row():
            # no Gradio minimum: a cleared box arrives as 0 and the config's own check names the setting
            # ("train.lora_r must be ..."), where a minimum gave Gradio's bare "Value 0 is less than 1"
            lora_r = gr.Number(value=t.lora_r, label="LoRA rank r", precision=0)
            lora_alpha = gr.Number(value=t.lora_alpha, label="LoRA alpha", precision=0)
            max_length = gr.Number(value=t.max_length, label="Max length (tokens)", precision=0)
            batch = gr.Number(value=t.batch_size, label="Batch size", precision=0)
    preflight_md = gr.Markdown("")
    heldout = gr.HTML("")
    command = gr.Code(label="Same run from a terminal", language="shell", interactive=False)
    with gr.Row():
        start = gr.Button("Start training", variant="primary")
        cancel = gr.Button("Cancel", variant="stop", interactive=False)
        resume = gr.Button("Resume from checkpoint", elem_id="train-resume")
    run_box = gr.Textbox(label="Run", interactive=False)
    phase_state = gr.State("")
    progress = gr.HTML(progress_html({}))
    plot = gr.LinePlot(loss_frame(None), x="step", y="loss", color="series",
                       title="Loss (train and held-out)", height=280, elem_id="train-loss")
    log = gr.Textbox(label="Log", lines=8, max_lines=8, autoscroll=True, interactive=False)
    gr.Markdown("### Runs")
    history = gr.Dataframe(history_frame(), interactive=False, wrap=True)
    gr.Markdown("### Take a run elsewhere")
    gr.Markdown("The **adapter**: the PEFT folder (its base named by hub id, with a model card) for "
                "`PeftModel.from_pretrained`. The **merged** model: a standalone model for plain `transformers` or vLLM, "
                "whose chat template carries the system prompt it was trained with. **GGUF**: one file for "
                "llama.cpp (`llama-server -m FILE`). The same as `python -m airbot export`.")
    with gr.Row():
        picked = gr.Dropdown(label="Run", choices=[], allow_custom_value=True, scale=2)
        fmt = gr.Radio([(EXPORT_LABELS[f], f) for f in EXPORT_LABELS], value="adapter", label="Format", scale=3)
        quant = gr.Dropdown(list(QUANTS), value="q8_0", label="GGUF weights", visible=False, scale=1)
    with gr.Row():
        download = gr.Button("Export and download", variant="primary", elem_id="run-export")
    file_out = gr.File(label="Download", interactive=False, height=90)
    with gr.Accordion("Push to the Hugging Face Hub", open=False):
        gr.Markdown("Uploads the export above to a model repo of your account, **private** unless you tick "
                    "Public. On a Space, sign in with Hugging Face first; on your own machine the `HF_TOKEN` "
                    "environment variable is used. The token is never shown or logged.")
        with gr.Row():
            repo = gr.Textbox(label="Repo (OWNER/NAME)", placeholder="your-name/my-airbot", scale=3)
            public = gr.Checkbox(label="Public", value=False, scale=1)
            push = gr.Button("Push", scale=1)
        pushed = gr.Markdown("")
    timer = gr.Timer(1.0, active=False)  # started by Start or a page load that finds a run in flight

    settings: list[gr.Dropdown | gr.Radio | gr.Number] = [dataset, method, epochs, max_steps, lr, lora_r, lora_alpha,
                                                          max_length, batch]
    poll_outputs = [run_box, phase_state, progress, plot, log, start, cancel, history, picked, timer]

    def load_datasets(made: str | None = None) -> Any:
        """The user's datasets, with the one just stored or opened in the Data tab picked (else the newest)."""
        choices = dataset_choices()
        return gr.Dropdown(choices=choices, value=made if made in choices else (choices[0] if choices else None))

    root_block().load(user_errors(load_datasets), None, dataset, api_visibility="private").then(
        tab.preflight, settings, [preflight_md, command], api_visibility="private").then(
        lambda run: poll(run, "(page load)"), run_box, poll_outputs, api_visibility="private", show_progress="hidden")
    # a run's phase changes when it starts and when it ends: the Chat and Evaluate pickers then offer it
    state.after_made("run", phase_state.change(lambda: None, None, None, api_visibility="private",
                                               show_progress="hidden"))
    state.on_made("dataset", user_errors(load_datasets), dataset)  # an upload in the Data tab is picked here at once
    dataset.focus(lambda d: gr.Dropdown(choices=dataset_choices(), value=d), dataset, dataset,
                  api_visibility="private", show_progress="hidden")
    dataset.change(tab.heldout, dataset, heldout, api_visibility="private", show_progress="hidden")
    refresh.click(user_errors(load_datasets), None, dataset, api_name="train_datasets")
    method.change(lambda m: (METHOD_NOTES.get(m, ""), 0), method, [note, lr], api_visibility="private")
    preset.change(lambda p: PRESETS[p], preset, epochs, api_visibility="private")
    for component in settings:
        component.change(tab.preflight, settings, [preflight_md, command], api_visibility="private",
                         show_progress="hidden")
    start.click(user_errors(tab.start), settings, run_box, api_name="train_start").then(
        poll, [run_box, phase_state], poll_outputs, api_visibility="private")
    # named: a private endpoint takes its function's name, which would push the public /train_cancel to /train_cancel_1
    cancel.click(user_errors(train_cancel), run_box, None, api_name="train_cancel_button", api_visibility="private")
    resume.click(user_errors(train_resume), [run_box, picked], run_box, api_name="train_resume").then(
        poll, [run_box, phase_state], poll_outputs, api_visibility="private")
    timer.tick(poll, [run_box, phase_state], poll_outputs, api_visibility="private", show_progress="hidden")
    history.select(_picked_row, None, picked, api_visibility="private")
    # a clicked run is shown above (status, chart, log), so a stopped one can be resumed from there
    history.select(_clicked_run, None, run_box, api_visibility="private").then(
        poll, [run_box, phase_state], poll_outputs, api_visibility="private", show_progress="hidden")
    fmt.change(lambda f: gr.Dropdown(visible=f == "gguf"), fmt, quant, api_visibility="private",
               show_progress="hidden")
    download.click(user_errors(run_export), [picked, fmt, quant], file_out, api_name="run_export")
    push.click(user_errors(run_push), [picked, fmt, quant, repo, public], pushed, api_name="run_push")
    gr.api(user_errors(run_download), api_name="run_download")
    gr.api(user_errors(run_export_merged), api_name="run_export_merged")
    gr.api(user_errors(train_status), api_name="train_status")
    gr.api(user_errors(train_cancel), api_name="train_cancel")
    gr.api(user_errors(runs_list), api_name="runs_list")
