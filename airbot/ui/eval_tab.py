"""Evaluate tab: score the bots on held-out questions, see where they disagree, and test what
happens when the policy changes.

Every button calls the same functions as the CLI (``airbot.evaluate.runner.evaluate`` and
``airbot.evaluate.policy_change.policy_change``), so ``/eval_run`` here and ``python -m airbot eval``
give the same eval.json; ``/eval_results`` re-renders any saved evaluation, and
``/policy_change_run`` stores its result in the evaluation on screen, where the Decision guide
reads it.
"""

from __future__ import annotations

import html
import threading
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from airbot.config import BOT_KINDS, AirbotConfig
from airbot.errors import AirbotError
from airbot.ui.errors import user_errors
from airbot.ui.state import AppState, root_block

NO_RUN = "(no run)"
NO_INDEX = "(no index)"
MARK = {True: "✅", False: "❌", None: "–"}
OUTCOME = {"new": "✅ new figure", "old": "⚠️ old figure", "neither": "❌ neither"}
_stops: dict[str, threading.Event] = {}


# --- pickers ------------------------------------------------------------------------------------
def run_choices() -> list[tuple[str, str]]:
    """The runs of every picker (``train.runs.run_choices``) after "(no run)": an evaluation may do without."""
    from airbot.train.runs import run_choices as choices

    return [(NO_RUN, NO_RUN), *choices()]


def index_choices() -> list[str]:
    """Indexes of the workspace's store, last changed first (the list every index picker shows)."""
    from airbot.bots.arena import list_indexes

    return [NO_INDEX, *list_indexes()]


def newest_pickers(_made: str | None = None) -> tuple[Any, Any]:
    """Both pickers with the user's newest run (``runs.default_run``, as in Chat) and newest index
    preselected (a page load, a run that just finished, an index just built); 'no run'/'no index'
    only when there is none."""
    from airbot.train.runs import default_run

    runs, indexes = run_choices(), index_choices()
    return (gr.Dropdown(choices=runs, value=default_run() or NO_RUN),
            gr.Dropdown(choices=indexes, value=indexes[1] if len(indexes) > 1 else NO_INDEX))


def eval_choices() -> list[str]:
    """Saved evaluations by name (their folder under the store's evals), newest first."""
    from airbot.evaluate.report import list_evaluations

    return [p.parent.name for p in list_evaluations()]


# --- rendering ----------------------------------------------------------------------------------
def scores_frame(report: dict[str, Any]) -> pd.DataFrame:
    """Grouped bars: one group per measure, one bar per bot (x is 'measure · bot', colour the bot)."""
    measures = {"strict accuracy": "strict_accuracy", "fact accuracy": "fact_accuracy", "similarity": "similarity",
                "refusal correctness": "refusal_accuracy"}
    rows = [{"bar": f"{label} · {bot}", "bot": bot, "measure": label, "value": round(float(b[key]), 3)}
            for label, key in measures.items() for bot, b in report.get("bots", {}).items() if b.get(key) is not None]
    return pd.DataFrame(rows, columns=["bar", "bot", "measure", "value"])


def latency_frame(report: dict[str, Any]) -> pd.DataFrame:
    rows = [{"bot": bot, "seconds": b["mean_latency_s"]} for bot, b in report.get("bots", {}).items()
            if b.get("mean_latency_s") is not None]
    return pd.DataFrame(rows, columns=["bot", "seconds"])


def _pct(value: Any, ci: Any = None) -> str:
    if value is None:
        return "–"
    return f"{value * 100:.0f}%" + (f" [{ci[0] * 100:.0f}–{ci[1] * 100:.0f}]" if ci else "")


def summary_frame(report: dict[str, Any]) -> pd.DataFrame:
    """The figures with their 95% intervals, one row per bot."""
    rows = []
    for bot, b in report.get("bots", {}).items():
        rows.append({"bot": bot, "n": b.get("n"),
                     "strict accuracy [95% CI]": _pct(b.get("strict_accuracy"), b.get("strict_accuracy_ci")),
                     "model's own words (strict)": _pct(b.get("model_strict_accuracy")),
                     "fact accuracy [95% CI]": _pct(b.get("fact_accuracy"), b.get("fact_accuracy_ci")),
                     "similarity": b.get("similarity"), "ROUGE-L": b.get("rouge_l"),
                     "refusals [95% CI]": _pct(b.get("refusal_accuracy"), b.get("refusal_accuracy_ci")),
                     "right clause": _pct(b.get("clause_accuracy")), "mean latency (s)": b.get("mean_latency_s")})
    return pd.DataFrame(rows)


def question_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per question with each bot's (ok, answer); ``disagree`` when their verdicts differ."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for q in report.get("questions", []):
        row = rows.setdefault((q["kind"], q["question"]), {"kind": q["kind"], "question": q["question"], "bots": {}})
        row["bots"][q["bot"]] = (_verdict(q), q["answer"], _flags_note(q))
    for row in rows.values():
        verdicts = {ok for ok, *_ in row["bots"].values() if ok is not None}
        row["disagree"] = len(verdicts) > 1
    return list(rows.values())


def _verdict(q: dict[str, Any]) -> bool | None:
    """Right or wrong for the question's kind: the strict yardstick (the facts where an older
    evaluation has no strict verdict), declining out-of-scope, the probe's facts."""
    if q["kind"] == "out_of_scope":
        return bool(q["refused"])
    return q["correct"] if q.get("correct") is not None else q.get("facts_ok")


def _flags_note(q: dict[str, Any]) -> str:
    """Under an answer: what the user read (the document extract?) and why the strict reader marks it wrong."""
    parts = ["document extract" if q.get("mode") == "extract" else ""]
    parts += list(q.get("flags") or [])
    return " · ".join(p for p in parts if p)


def questions_html(report: dict[str, Any], only_disagreements: bool = False) -> str:
    """Per-question table: ✅/❌ per bot, the answer on hover and under a click; disagreements shaded."""
    bots = list(report.get("bots", {}))
    rows = [r for r in question_rows(report) if r["bots"] and (r["disagree"] or not only_disagreements)]
    if not rows:
        return "<p><em>No questions to show.</em></p>"
    head = "".join(f"<th>{html.escape(b)}</th>" for b in bots)
    body = [f"<tr><th>kind</th><th>question</th>{head}</tr>"]
    for r in rows:
        style = ' style="background:rgba(255,170,0,0.18)"' if r["disagree"] else ""
        cells = "".join(_answer_cell(*r["bots"].get(b, (None, "", ""))) for b in bots)
        body.append(f"<tr{style}><td>{r['kind']}</td><td>{html.escape(r['question'])}</td>{cells}</tr>")
    legend = ("<p>Shaded rows: the bots disagree. Hover a mark for the answer, or click it to expand; the "
              "flags say why the strict reader marks it wrong. Out-of-scope rows are right when the bot declines.</p>")
    return legend + f"<table class='airbot-eval'>{''.join(body)}</table>"


def _answer_cell(ok: bool | None, answer: str, note: str = "") -> str:
    text = html.escape(answer or "(no answer)")
    mark = MARK[ok] + (f" <small><em>{html.escape(note)}</em></small>" if note else "")  # flags stay visible
    return f"<td title=\"{text}\"><details><summary>{mark}</summary>{text}</details></td>"


def policy_html(report: dict[str, Any]) -> str:
    """Before/after: each changed question's old and new figure, then per bot the figure it gave
    on the old documents → on the updated ones."""
    from airbot.evaluate.policy_change import outcome_table

    counts = report.get("policy_change") or {}
    if not counts:
        return "<p><em>No policy-change test yet: press “Run the policy-change test”.</em></p>"
    bots = list(counts)
    head = "".join(f"<th>{html.escape(b)}</th>" for b in bots)
    body = [f"<tr><th>question</th><th>old figure</th><th>new figure</th>{head}</tr>"]
    for row in outcome_table(report):
        cells = "".join(f"<td>{_before_after(row.get(f'{b}_before', ''), row.get(b, ''))}</td>" for b in bots)
        body.append(f"<tr><td>{html.escape(row['question'])}</td><td>{html.escape(row['old'])}</td>"
                    f"<td>{html.escape(row['new'])}</td>{cells}</tr>")
    legend = "<p>Each cell: the figure the bot gave on the old documents → on the updated ones.</p>"
    return legend + f"<table class='airbot-eval'>{''.join(body)}</table>" + _update_times(report, counts)


def _before_after(before: str, after: str) -> str:
    """'old → ✅ new figure': what the bot said on the old documents, then on the new ones."""
    shown = OUTCOME.get(after, "–")
    return f"{before} → {shown}" if before else shown


def _update_times(report: dict[str, Any], counts: dict[str, dict[str, int]]) -> str:
    tally = "; ".join(f"{b}: {c.get('new', 0)} new, {c.get('old', 0)} old, {c.get('neither', 0)} neither"
                      for b, c in counts.items())
    rag, retrain = report.get("rag_update_s"), report.get("retrain_s")
    times = f"Updating the RAG index took <b>{rag:.2f} s</b>" if rag is not None else "No RAG update was timed"
    if retrain and (report.get("retrain_estimate") or {}).get("measured"):
        times += f"; retraining the fine-tuned bot took <b>{retrain:.0f} s</b> (timed: trained again, same recipe)."
    else:
        times += (f"; retraining the fine-tuned bot would take <b>~{retrain:.0f} s</b> "
                  f"(an estimate from the run's measured tokens/s, not a timed retrain)." if retrain else ".")
    return f"<p>{html.escape(tally)}</p><p>{times}</p>"


def render(report: dict[str, Any]) -> tuple[Any, pd.DataFrame, pd.DataFrame, str, str, str, dict[str, Any]]:
    """Everything the results area shows, from one eval.json (with its questions)."""
    note = report.get("note", "")
    forgetting = (report.get("forgetting") or {}).get("summary", "")
    header = f"**{report.get('name', '')}** — {note} {forgetting}".strip()
    plain = {k: v for k, v in report.items() if k != "questions"}
    scores = scores_frame(report)
    grouped = gr.BarPlot(value=scores, sort=list(scores["bar"]))  # keep bars grouped by measure, not A-Z
    latency = latency_frame(report)
    # From zero: Vega fits the axis to the data, and 0.8 s vs 1.2 s then looks like nothing vs something.
    top = float(latency["seconds"].max()) if len(latency) else 0.0
    timed = gr.BarPlot(value=latency, y_lim=[0, round(top * 1.15, 2) or 1])
    return (grouped, timed, summary_frame(report), header,
            questions_html(report), policy_html(report), plain)


# --- handlers -----------------------------------------------------------------------------------
def _inputs(state: AppState, run: str | None, index: str | None) -> tuple[Path | None, str | None, AirbotConfig]:
    from airbot.evaluate.runner import eval_config
    from airbot.train.runs import run_path

    run_dir = run_path(run) if run and run != NO_RUN else None  # a name in the run store, nothing else
    index_name = index if index and index != NO_INDEX else None
    config = eval_config(run_dir) if run_dir else state.config
    return run_dir, index_name, config


def _reporter(progress: gr.Progress | None) -> Any:
    """airbot's (fraction, message) callback onto Gradio's progress bar."""
    return (lambda f, m: progress(f, desc=m)) if progress is not None else None


def _stop_event(request: gr.Request | None) -> threading.Event:
    key = getattr(request, "session_hash", None) or "default"
    event = _stops.setdefault(key, threading.Event())
    event.clear()
    return event


def run_eval(state: AppState, run: str | None, index: str | None, bots: list[str], data: str | None,
             limit: float | None, request: gr.Request | None = None,
             progress: gr.Progress | None = None) -> tuple[Any, ...]:
    """Evaluate the chosen bots; the results area and the list of evaluations update at the end."""
    from airbot.evaluate.report import load_report
    from airbot.evaluate.runner import default_questions, evaluate

    run_dir, index_name, config = _inputs(state, run, index)
    stop = _stop_event(request)
    report = evaluate(list(bots or []), default_questions(data, run_dir), config, run_dir=run_dir,
                      index=index_name, progress=_reporter(progress), should_stop=stop.is_set,
                      limit=int(limit) if limit else None)
    if report.out_dir is None:  # evaluate() saves every report it returns
        raise AirbotError("The evaluation finished but its results were not saved; run it again.")
    saved = report.out_dir / "eval.json"
    return (*render(load_report(saved)), gr.Dropdown(choices=eval_choices(), value=report.out_dir.name))


def show_results(choice: str | None) -> tuple[Any, ...]:
    """Render a saved evaluation, named as ``eval_choices`` lists it."""
    from airbot.evaluate.report import load_report, saved_eval

    path = saved_eval(choice)
    if path is None:
        raise AirbotError("Pick a saved evaluation, or run one first.")
    return render(load_report(path))


CHANGE_COLUMNS = ["question", "old", "new", "clause"]


def find_policy_changes(state: AppState, index: str | None, new_doc: str | None,
                        old_name: str | None = None) -> pd.DataFrame:
    """The figures that differ between the indexed document and its new version, each with the
    question the test will ask: shown in an editable table before the test runs."""
    from airbot.evaluate.policy_change import preview_changes

    _, index_name, config = _inputs(state, None, index)
    if index_name is None:
        raise AirbotError("Pick the document index that holds the old version first.")
    if not new_doc:
        raise AirbotError("Upload the new version of the document first (the box 'Its new version').")
    found = preview_changes(config, index_name, old_name or None, Path(new_doc))
    return pd.DataFrame([[c.question, c.old, c.new, c.clause or ""] for c in found], columns=CHANGE_COLUMNS)


def _table_rows(table: Any) -> list[list[Any]]:
    """The changes table's rows, whatever form Gradio hands it in (a DataFrame, or a dict over HTTP)."""
    if table is None:
        return []
    if isinstance(table, pd.DataFrame):
        return table.values.tolist()
    if isinstance(table, dict):
        return list(table.get("data") or [])
    return list(table)


def run_policy_change(state: AppState, run: str | None, index: str | None, bots: list[str], choice: str | None,
                      new_doc: str | None = None, changes: str | None = None, old_name: str | None = None,
                      edited: Any = None, retrain: bool = False,
                      progress: gr.Progress | None = None) -> tuple[Any, ...]:
    """Update a copy of the index to the new policy, re-ask the changed questions, store the result
    in the evaluation on screen (or a new one) so the guide sees it. The questions: an uploaded
    changes file, else the rows of the changes table (as the user edited them), else every figure
    that differs between the two versions."""
    from airbot.evaluate.policy_change import edited_changes, policy_change
    from airbot.evaluate.report import EvalReport, load_report, merge_policy, save_report, saved_eval

    into = saved_eval(choice)  # checked before the long test: only an evaluation of the store is written to
    run_dir, index_name, config = _inputs(state, run, index)
    if index_name is None:
        raise AirbotError("Pick the document index to update (the policy-change test needs one).")
    rows = edited_changes(_table_rows(edited)) if not changes else []
    asked: Path | list[Any] | None = Path(changes) if changes else (rows or None)
    result = policy_change(list(bots or []), config, run_dir=run_dir, index=index_name, old=old_name or None,
                           new=Path(new_doc) if new_doc else None, changes=asked, progress=_reporter(progress),
                           retrain=bool(retrain))
    if into is not None:
        target = merge_policy(into, result)
    else:
        report = EvalReport(f"policy-change-{Path(run_dir).name if run_dir else 'rag'}", {}, [], {}, 0.0, policy=result)
        target = save_report(report, run_dir=run_dir) / "eval.json"
    return (*render(load_report(target)), gr.Dropdown(choices=eval_choices(), value=target.parent.name))


def stop_eval(request: gr.Request | None = None) -> None:
    """Ask a running evaluation to stop after the current answer; what it has is still saved."""
    key = getattr(request, "session_hash", None) or "default"
    _stops.setdefault(key, threading.Event()).set()


# --- layout -------------------------------------------------------------------------------------
def build(state: AppState) -> None:
    """Pickers and buttons on top, charts and tables below."""
    gr.Markdown("Score the bots on questions they never saw. Sets are small, so read the 95% intervals: "
                "overlapping intervals mean the difference is not established.")
    with gr.Row():
        # custom values on: the choices are each visitor's own (listed on focus); the store resolves or refuses a name
        run = gr.Dropdown(run_choices(), value=NO_RUN, label="Fine-tuning run (finetuned, hybrid)", allow_custom_value=True)
        index = gr.Dropdown(index_choices(), value=NO_INDEX, label="Document index (rag, hybrid)", allow_custom_value=True)
        bots = gr.CheckboxGroup(list(BOT_KINDS), value=["finetuned", "rag", "hybrid"], label="Bots")
    with gr.Row():
        data = gr.File(label="Held-out Q&A: question + answer and/or facts (optional; default: the rows the run "
                           "held out from training)", type="filepath", elem_id="eval-data")
        # minimum 0, not 1: the browser sends an empty box as 0, which a minimum of 1 turned into an error
        limit = gr.Number(value=None, precision=0, minimum=0, label="At most N questions per set (0 or blank: all)")
    with gr.Row():
        go = gr.Button("Run evaluation", variant="primary", elem_id="eval-run")
        stop = gr.Button("Stop", variant="stop")
        change = gr.Button("Run the policy-change test", elem_id="eval-policy-run")
    with gr.Accordion("Policy-change inputs: the new version of an indexed document (the changed figures are found "
                      "by comparing it with the indexed one; a changes file is optional)", open=False):
        with gr.Row():
            old_name = gr.Textbox(label="Indexed document that changed (blank: the only one in the index)",
                                  elem_id="eval-old-name")
            new_doc = gr.File(label="Its new version", type="filepath", elem_id="eval-new-doc")
            changes = gr.File(label="Changed questions (optional JSONL: question, old, new)",
                              type="filepath")
        retrain = gr.Checkbox(label="Also time a real retrain of the run (trains it again: minutes)", value=False)
        find = gr.Button("Find the changed figures", elem_id="eval-policy-find")
        edits = gr.Dataframe(headers=CHANGE_COLUMNS, datatype=["str"] * 4, interactive=True, column_count=4,
                             label="Changed figures and the question asked about each: reword a question, or empty "
                                   "its row to drop it; the test asks these rows", elem_id="eval-changes")
    saved = gr.Dropdown(eval_choices(), value=None, label="Saved evaluations", allow_custom_value=True)
    header = gr.Markdown(elem_id="eval-header")
    with gr.Row():
        scores = gr.BarPlot(x="bar", y="value", color="bot", title="Scores per bot (0–1)", y_lim=[0, 1],
                            x_label_angle=-30, height=300)
        latency = gr.BarPlot(x="bot", y="seconds", color="bot", title="Mean answer time (s)", height=300)
    table = gr.Dataframe(label="Per bot, with 95% intervals", interactive=False)
    with gr.Accordion("Per question", open=True):
        questions = gr.HTML(elem_id="eval-questions")
    with gr.Accordion("Policy change: before and after", open=True):
        policy = gr.HTML(elem_id="eval-policy")
    with gr.Accordion("As JSON (eval.json)", open=False):
        raw = gr.JSON(show_label=False)
    outputs = [scores, latency, table, header, questions, policy, raw]

    @user_errors
    def on_run(run: str | None, index: str | None, bots: list[str], data: str | None, limit: float | None,
               request: gr.Request, progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        return run_eval(state, run, index, bots, data, limit, request, progress)

    @user_errors
    def on_policy(run: str | None, index: str | None, bots: list[str], choice: str | None, new: str | None,
                  changed: str | None, old: str | None, edited: Any = None, retrain: bool = False,
                  progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        return run_policy_change(state, run, index, bots, choice, new, changed, old, edited, retrain, progress)

    go.click(on_run, [run, index, bots, data, limit], [*outputs, saved], api_name="eval_run")
    stop.click(stop_eval, None, None, api_visibility="private")
    saved.change(user_errors(show_results), saved, outputs, api_name="eval_results")
    change.click(on_policy, [run, index, bots, saved, new_doc, changes, old_name, edits, retrain], [*outputs, saved],
                 api_name="policy_change_run")
    find.click(user_errors(lambda i, n, o: find_policy_changes(state, i, n, o)), [index, new_doc, old_name], edits,
               api_name="policy_change_find")
    new_doc.change(lambda _: None, new_doc, edits, api_visibility="private", show_progress="hidden")  # a new file: stale rows
    run.focus(lambda: gr.Dropdown(choices=run_choices()), None, run, api_visibility="private")
    index.focus(lambda: gr.Dropdown(choices=index_choices()), None, index, api_visibility="private")
    root_block().load(newest_pickers, None, [run, index], api_visibility="private")
    state.on_made("run", newest_pickers, [run, index])
    state.on_made("index", newest_pickers, [run, index])
    saved.focus(lambda: gr.Dropdown(choices=eval_choices()), None, saved, api_visibility="private")
