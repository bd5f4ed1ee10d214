"""Data tab: upload a training set (or take the airline sample), see every problem at once, browse
the rows as the model reads them, and read the quality report before training.

Accepted files are stored (``airbot.data.store``) and listed in the picker, so they survive
a restart. The same core functions back ``python -m airbot data check`` and these events::

    from gradio_client import Client, handle_file
    report, *_ = Client("http://127.0.0.1:7860").predict(handle_file("my.csv"), api_name="/data_check")
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import gradio as gr
import pandas as pd

from airbot.config import AirbotConfig
from airbot.data.dataset import SUPPORTED, LoadedDataset, read_dataset, render_row
from airbot.data.quality import QualityReport, check_file, quality_report, question_text, summary
from airbot.data.store import StoredDataset, ensure_sample_dataset, get_dataset, list_datasets, save_dataset
from airbot.errors import AirbotError
from airbot.models import shared_tokenizer
from airbot.ui.errors import user_errors
from airbot.ui.state import AppState, root_block

PAGE_SIZE = 20
MAX_EXTRA_COLUMNS = 4
TRAINED = "trained"
INTRO = ("Upload the questions and answers the model should learn: **CSV, TSV, JSON, JSONL or Parquet** with "
         "question/answer columns (or instruction/output, prompt/response, ...), OpenAI `messages` or ShareGPT "
         "`conversations`. Every problem is listed at once, with its row and how to fix it; accepted files are "
         "stored and appear under *Stored datasets*.")
_errors: dict[str, str] = {}
"""Last error per browser session, so the status box can repeat what the error pop-up said."""


class DataTab:
    """The tab's event handlers, bound to the app's config (no module-level state besides caches)."""

    def __init__(self, config: AirbotConfig) -> None:
        self.config = config

    def check_upload(self, file: str | None, request: gr.Request | None = None) -> tuple:
        """Validate, measure and store an uploaded file; the first output is the report as JSON."""
        with _shown_in_status(request):
            if not file:
                raise AirbotError("No file was uploaded. Choose a CSV, TSV, JSON, JSONL or Parquet file.")
            ds, report = check_file(file, self.config.model.base, max_tokens=self.config.data.max_tokens,
                                    max_length=self.config.train.max_length)
            stored = save_dataset(file, loaded=ds)
            _reports[(stored.meta["sha256"], stored.name)] = report
            return self._view(stored)

    def use_sample(self, request: gr.Request | None = None) -> tuple:
        """Store (once) and open the shipped airline training set."""
        with _shown_in_status(request):
            return self._view(ensure_sample_dataset())

    def open_dataset(self, name: str | None, request: gr.Request | None = None) -> tuple:
        """Show a stored dataset picked in the dropdown."""
        with _shown_in_status(request):
            if not name:
                raise AirbotError("Pick a stored dataset, upload a file or use the airline sample.")
            return self._view(get_dataset(name))

    def render(self, name: str | None, page: float | None, evt: gr.SelectData) -> list[tuple[str, str | None]]:
        """The clicked row through the chat template, trained tokens highlighted."""
        row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        return self.render_index(name, _page_start(page) + int(row))

    def render_index(self, name: str | None, index: int) -> list[tuple[str, str | None]]:
        """Row ``index`` of stored dataset ``name`` exactly as training will see it."""
        if not name:
            return []
        ds = _source(get_dataset(name))
        if not 0 <= index < len(ds):
            return []
        from airbot.prompts import with_system  # training prepends the chat system prompt; show the same

        messages = with_system(ds.rows[index], self.config.chat.system_prompt)
        pieces = render_row(messages, shared_tokenizer(self.config.model.base))
        return [(text, TRAINED if trained else None) for text, trained in pieces]

    def _view(self, stored: StoredDataset) -> tuple:
        """Everything the tab shows for one dataset, in the order of ``build``'s outputs."""
        ds = _source(stored)
        report = _report(stored, ds, self.config)
        frame, page_info = preview(stored.name, 1)
        info = summary(ds, report) | {"file": stored.meta.get("source_name", ds.path.name), "dataset": stored.name}
        return (info, _status_md(stored, ds), report_md(report), _histogram(report),
                topics_md(report), _picker(stored.name), 1, _shown(frame), page_info, self.render_index(stored.name, 0))


# --- caches: stored datasets do not change, so (name, sha256) identifies their content ----------
@lru_cache(maxsize=16)
def _source_cached(path: str, sha: str) -> LoadedDataset:
    return read_dataset(path)


def _source(stored: StoredDataset) -> LoadedDataset:
    """The user's original file re-read, so row numbers match what they see in their file."""
    return _source_cached(str(stored.source_path), stored.meta["sha256"])


_reports: dict[tuple[str, str], QualityReport] = {}


def _report(stored: StoredDataset, ds: LoadedDataset, config: AirbotConfig) -> QualityReport:
    key = (stored.meta["sha256"], stored.name)
    if key not in _reports:
        if len(_reports) >= 32:
            _reports.pop(next(iter(_reports)))  # oldest first: dicts keep insertion order
        tokenizer = shared_tokenizer(config.model.base)
        _reports[key] = quality_report(ds, tokenizer, max_length=config.train.max_length)
    return _reports[key]


# --- errors shown twice: as the pop-up and in the status box ------------------------------------
@contextlib.contextmanager
def _shown_in_status(request: gr.Request | None) -> Iterator[None]:
    try:
        yield
    except AirbotError as err:
        if request is not None and request.session_hash:
            if len(_errors) > 200:
                _errors.clear()
            _errors[request.session_hash] = str(err)
        raise


def last_error(request: gr.Request) -> str:
    """The status box after a failed event: the full message, kept on screen."""
    message = _errors.pop(request.session_hash or "", "")
    if not message:
        return ""
    header, *rest = message.splitlines()
    body = [f"- {_md(line.strip()[2:])}" if line.startswith("  - ") else f"\n{_md(line)}" for line in rest]
    return f"### ✗ {_md(header)}\n" + "\n".join(body)


def _md(text: str) -> str:
    """User text shown as Markdown literally (no accidental bold, links or HTML)."""
    return re.sub(r"([\\`*_{}\[\]<>#|])", r"\\\1", text)


# --- what is shown --------------------------------------------------------------------------------
def _status_md(stored: StoredDataset, ds: LoadedDataset) -> str:
    extras = sorted({k for e in ds.extras for k in e})
    kept = f" Extra columns kept: {', '.join(f'`{k}`' for k in extras)}." if extras else ""
    source = stored.meta.get("source_name") or ds.path.name
    fields = ", ".join(f"{role} ← `{column}`" for role, column in ds.fields.items())
    return (f"### ✓ {_md(source)}: {len(ds)} rows, ready to train\nRead as **{ds.format}** ({ds.file_type.upper()}): "
            f"{fields}.{kept} Stored as dataset `{stored.name}`.")


def report_md(report: QualityReport) -> str:
    """The quality report as Markdown: length figures, warnings, topics."""
    c, a = report.conversation_tokens, report.answer_tokens
    lines = ["### Quality report",
             f"- **Tokens per conversation** (chat template included): min {c.min}, median {c.median:g}, "
             f"p95 {c.p95}, max {c.max}",
             f"- **Tokens per answer**: min {a.min}, median {a.median:g}, p95 {a.p95}, max {a.max}"]
    lines += [f"\n**{len(report.warnings)} warning(s)**"] + [f"- ⚠ {_md(w)}" for w in report.warnings] \
        if report.warnings else ["\n**No warnings.**"]
    return "\n".join(lines)


def topics_md(report: QualityReport) -> str:
    """Topic clusters as a table: their telling words, size and a typical question."""
    if not report.topics:
        return ""
    lines = ["### Topics\nQuestions grouped by meaning, each named by its most telling words.", "",
             "| topic | rows | share | typical question |", "|---|---:|---:|---|"]
    lines += [f"| {_md(t.label)} | {t.size} | {t.share:.0%} | {_md(_clip(t.example))} |" for t in report.topics]
    return "\n".join(lines)


def _clip(text: str, limit: int = 90) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit - 1] + "…"


def _histogram(report: QualityReport) -> gr.BarPlot:
    bins = report.conversation_tokens.histogram
    frame = pd.DataFrame({"tokens": [b["range"] for b in bins], "rows": [b["count"] for b in bins]})
    return gr.BarPlot(value=frame, sort=list(frame["tokens"]), visible=True)


def _stored_rows() -> list[dict[str, Any]]:
    return [{"name": d.name, "rows": d.rows, "format": d.meta.get("format"), "source": d.meta.get("source_name"),
             "created": d.meta.get("created")} for d in list_datasets()]  # names, not server folders


def _picker(selected: str | None = None) -> gr.Dropdown:
    choices = [(f"{d['name']} ({d['rows']} rows, from {d['source']})", d["name"]) for d in _stored_rows()]
    return gr.Dropdown(choices=choices, value=selected)


def list_stored() -> tuple[gr.Dropdown, list[dict[str, Any]]]:
    """Picker choices and the datasets as JSON (``/data_list``)."""
    return _picker(), _stored_rows()


def _page_start(page: float | None) -> int:
    return (max(1, int(page or 1)) - 1) * PAGE_SIZE


def preview(name: str | None, page: float | None) -> tuple[pd.DataFrame, str]:
    """One page of rows as a table, with source row numbers (``/data_preview``)."""
    if not name:
        return _empty_table(), ""
    ds = _source(get_dataset(name))
    pages = max(1, -(-len(ds) // PAGE_SIZE))
    page_no = min(max(1, int(page or 1)), pages)
    start = (page_no - 1) * PAGE_SIZE
    frame = _table(ds, start, min(start + PAGE_SIZE, len(ds)))
    info = f"Page {page_no} of {pages} · rows {start + 1}-{start + len(frame)} of {len(ds)}"
    return frame, info


def _widths(columns: list[str]) -> list[str | int]:
    """A narrow row-number column; the answer gets the most room, extra columns the least."""
    weight = {"answer": 1.5, "question": 1.2}
    shares = [weight.get(c, 0.7) for c in columns[1:]]
    return ["70px", *[f"{94 * share / sum(shares):.0f}%" for share in shares]]


def _shown(frame: pd.DataFrame) -> gr.Dataframe:
    """The table with widths fitted to its columns (set when a dataset opens; pages keep them)."""
    return gr.Dataframe(frame, column_widths=_widths(list(frame.columns)))


def _empty_table() -> pd.DataFrame:
    return pd.DataFrame({"row": [], "question": [], "answer": []})


def _table(ds: LoadedDataset, start: int, end: int) -> pd.DataFrame:
    unit = ds.where(0).split()[0] if len(ds) else "row"
    extras = sorted({k for e in ds.extras for k in e})[:MAX_EXTRA_COLUMNS]
    records = []
    for i in range(start, end):
        messages = ds.rows[i]
        record = {unit: ds.row_numbers[i], "question": question_text(messages), "answer": messages[-1]["content"]}
        if messages[0]["role"] == "system":
            record = {unit: ds.row_numbers[i], "system": messages[0]["content"], **record}
        for key in extras:
            value = ds.extras[i].get(key)
            record[key] = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
        records.append(record)
    return pd.DataFrame(records)


def _step(page: float | None, delta: int) -> int:
    return max(1, int(page or 1) + delta)


# --- layout and wiring ---------------------------------------------------------------------------
def build(state: AppState) -> None:
    """Lay out the tab inside the caller's ``gr.Tab`` and register its events."""
    tab = DataTab(state.config)
    gr.Markdown(INTRO)
    with gr.Row(equal_height=False):
        upload = gr.File(label="Training file", file_types=sorted(SUPPORTED), elem_id="data-upload", scale=2)
        with gr.Column(scale=1):
            sample = gr.Button("Use the airline sample", variant="primary", elem_id="data-sample")
            # Custom values on: API callers name stored datasets; the store resolves (or refuses) every name.
            picker = gr.Dropdown(label="Stored datasets", choices=[], elem_id="data-picker", allow_custom_value=True,
                                 info="Every accepted file is kept here, across restarts.")
    status = gr.Markdown(elem_id="data-status")
    with gr.Row(equal_height=False):
        report = gr.Markdown(elem_id="data-report")
        plot = gr.BarPlot(x="tokens", y="rows", title="Tokens per conversation (chat template included)",
                          x_title="tokens", y_title="rows", x_label_angle=-45, height=280, elem_id="data-hist",
                          visible=False)
    topics = gr.Markdown(elem_id="data-topics")
    gr.Markdown("### Rows\nClick a row to see it as the model reads it.")
    with gr.Row(equal_height=True):
        prev_btn = gr.Button("◀ Previous", size="sm", scale=0, min_width=110)
        page = gr.Number(value=1, precision=0, minimum=1, show_label=False, container=False, scale=0, min_width=80,
                         elem_id="data-page")
        next_btn = gr.Button("Next ▶", size="sm", scale=0, min_width=110)
        page_info = gr.Markdown(elem_id="data-page-info")
    table = gr.Dataframe(_empty_table(), column_widths=_widths(["row", "question", "answer"]), interactive=False,
                         wrap=True, max_height=420, max_chars=400, elem_id="data-table")
    rendered = gr.HighlightedText(label="The row through the chat template: highlighted text is what training "
                                        "teaches (the answer and its end-of-turn token)",
                                  color_map={TRAINED: "green"}, show_legend=True, elem_id="data-rendered")
    with gr.Accordion("Raw report and stored datasets (JSON)", open=False):
        raw = gr.JSON(label="Quality report")
        stored_json = gr.JSON(label="Stored datasets")
    view = [raw, status, report, plot, topics, picker, page, table, page_info, rendered]
    for made in _wire(tab, upload, sample, picker, view):
        state.after_made("dataset", made, picker)  # the dataset just stored or opened is picked for training
    page.input(user_errors(preview), [picker, page], [table, page_info], api_name="data_preview")
    prev_btn.click(lambda p: _step(p, -1), page, page, show_progress="hidden", api_visibility="private").then(
        preview, [picker, page], [table, page_info], api_visibility="private")
    next_btn.click(lambda p: _step(p, 1), page, page, show_progress="hidden", api_visibility="private").then(
        preview, [picker, page], [table, page_info], api_visibility="private")
    table.select(user_errors(tab.render), [picker, page], rendered, api_name="data_render")
    root_block().load(list_stored, outputs=[picker, stored_json], api_name="data_list")


def _wire(tab: DataTab, upload: gr.File, sample: gr.Button, picker: gr.Dropdown, view: list) -> list[Any]:
    """The three ways to open a dataset; each shows its error in the status box as well. Returns
    the two events that store a dataset (upload, sample), for the tabs that preselect the newest."""
    status = view[1]
    # Progress and error badges on the status box only, not on every output.
    shown = {"show_progress_on": status}
    events = [upload.upload(user_errors(tab.check_upload), upload, view, api_name="data_check", **shown),
              sample.click(user_errors(tab.use_sample), None, view, api_name="data_use_sample", **shown),
              picker.input(user_errors(tab.open_dataset), picker, view, api_name="data_open", **shown)]
    for event in events:
        event.failure(last_error, None, status, api_visibility="private")
    # Empty the drop zone after each file, so the next one can be dropped without clearing it first.
    events[0].success(lambda: None, None, upload, api_visibility="private", show_progress="hidden")
    events[0].failure(lambda: None, None, upload, api_visibility="private", show_progress="hidden")
    return events[:2]
