"""Data tab, policy documents: upload them into the knowledge base the RAG bots search.

Upload PDFs, DOCX, Markdown, HTML or text (several at once) or use the shipped airline policy;
see the index (documents, versions, chunks), browse each document's chunks as the bots
retrieve them, and remove or replace a document (only that document is re-embedded).
Every action has a stable ``api_name`` for ``gradio_client``::

    from gradio_client import Client, handle_file
    Client("http://127.0.0.1:7860").predict([handle_file("policy.pdf")], api_name="/kb_add")

The same ``KnowledgeBase`` the CLI's ``index`` command and the bots use does the work.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from airbot.config import AirbotConfig
from airbot.errors import AirbotError
from airbot.knowledge.index import KnowledgeBase, check_documents, open_shared
from airbot.knowledge.readers import SUPPORTED
from airbot.text import addresses_model
from airbot.ui.errors import user_errors
from airbot.ui.state import TRACK, AppState, root_block

DEFAULT_INDEX = "default"
DOC_COLUMNS = ["document", "version", "chunks", "added", "sha256"]
CHUNK_COLUMNS = ["clause / page", "section", "text", "flag"]
INSTRUCTION_FLAG = "⚠ addresses the model: those sentences are left out of the bots' prompts and never quoted"
INTRO = ("## Policy documents (for the RAG and hybrid bots)\n"
         "Upload the documents the RAG bot should answer from: PDF, DOCX, Markdown, HTML or plain text. "
         "They are cut along their own structure (headings, numbered clauses, pages) and embedded once; "
         "replacing one document re-embeds only that document.")


def _kb(config: AirbotConfig) -> KnowledgeBase:
    return open_shared(DEFAULT_INDEX, rag=config.rag, embedder=config.model.embedder, create=True)


def status_markdown(kb: KnowledgeBase) -> str:
    """What is indexed, and when the RAG bots refuse (two lines a person can read at a glance)."""
    status = kb.status()
    if not status.documents:
        return f"Index **{DEFAULT_INDEX}** is empty: upload documents or use the airline policy."
    docs = ", ".join(f"{d.name} (v{d.version})" for d in status.documents)
    return (f"Index **{DEFAULT_INDEX}** · version {status.version} · {len(status.documents)} document(s), "
            f"{status.chunks} chunks: {docs}  \nRAG {status.refusal}.")


def documents_table(kb: KnowledgeBase) -> pd.DataFrame:
    rows = [[d.name, d.version, len(d.chunk_ids), d.added.replace("T", " "), d.sha256[:12]] for d in kb.documents()]
    return pd.DataFrame(rows, columns=DOC_COLUMNS)


def chunks_table(kb: KnowledgeBase, doc: str | None) -> pd.DataFrame:
    """The chunks of ``doc`` as the bots see them (empty when no document is picked)."""
    if not doc or doc not in {d.name for d in kb.documents()}:
        return pd.DataFrame([], columns=CHUNK_COLUMNS)
    rows = [[_where(c.clause, c.page), c.section, c.text, INSTRUCTION_FLAG if addresses_model(c.text) else ""]
            for c in kb.chunks(doc)]
    return pd.DataFrame(rows, columns=CHUNK_COLUMNS)


def _where(clause: str | None, page: int | None) -> str:
    return " · ".join(x for x in (clause or "", f"p. {page}" if page else "") if x) or "-"


def view(kb: KnowledgeBase, doc: str | None = None) -> tuple[str, pd.DataFrame, Any, pd.DataFrame]:
    """Status, documents, the document picker (kept on ``doc`` when it still exists) and its chunks."""
    names = [d.name for d in kb.documents()]
    pick = doc if doc in names else (names[0] if names else None)
    return (status_markdown(kb), documents_table(kb), gr.update(choices=names, value=pick),
            chunks_table(kb, pick))


def _paths(files: Any) -> list[Path]:
    """Uploaded files as paths (``type="filepath"`` gives a str, or a list of them)."""
    items = files if isinstance(files, list) else [files] if files else []
    return [Path(str(f)) for f in items]


class KnowledgePanel:
    """The handlers, bound to the app's config; each returns the whole view."""

    def __init__(self, config: AirbotConfig) -> None:
        self.config = config

    def add(self, files: Any, progress: gr.Progress = TRACK) -> tuple:
        """Index the uploaded files (one already indexed under its name gets a new version). All are
        read first: if any yields no usable text (encrypted, scanned, damaged, empty), every such
        file is named with its reason and none is added."""
        paths = _paths(files)
        if not paths:
            raise AirbotError("Choose one or more documents to upload (PDF, DOCX, Markdown, HTML or text).")
        check_documents(paths)  # every unusable file named at once, and nothing added (as `airbot index` does)
        kb = _kb(self.config)
        for i, path in enumerate(paths):
            def step(frac: float, desc: str, i: int = i) -> None:
                progress((i + frac) / len(paths), desc=desc)

            kb.add(path, progress=step)
        return view(kb, paths[-1].name)

    def use_sample(self, progress: gr.Progress = TRACK) -> tuple:
        """Index the shipped airline policy (Markdown)."""
        from airbot.samples import sample_path

        kb = _kb(self.config)
        path = sample_path("policy")
        kb.add(path, progress=lambda f, m: progress(f, desc=m))
        return view(kb, path.name)

    def status(self, doc: str | None = None) -> tuple:
        return view(_kb(self.config), doc)

    def remove(self, doc: str | None) -> tuple:
        if not doc:
            raise AirbotError("Pick the document to remove first.")
        kb = _kb(self.config)
        kb.remove(doc)
        return view(kb)

    def replace(self, doc: str | None, file: Any, progress: gr.Progress = TRACK) -> tuple:
        """A new version of the picked document from the uploaded file (its name may differ)."""
        paths = _paths(file)
        if not doc or not paths:
            raise AirbotError("Pick the document to replace and upload its new version.")
        kb = _kb(self.config)
        kb.replace(paths[0], name=doc, progress=lambda f, m: progress(f, desc=m))
        return view(kb, doc)

    def chunks(self, doc: str | None) -> pd.DataFrame:
        return chunks_table(_kb(self.config), doc)


def build(state: AppState) -> None:
    """Lay out the panel inside the caller's container and register its events."""
    panel = KnowledgePanel(state.config)
    gr.Markdown(INTRO)
    types = sorted(SUPPORTED)
    with gr.Row(equal_height=False):
        upload = gr.File(label="Policy documents", file_count="multiple", file_types=types, type="filepath",
                         elem_id="kb-upload", scale=2)
        with gr.Column(scale=1):
            sample = gr.Button("Use the airline policy", variant="primary", elem_id="kb-sample")
            refresh = gr.Button("Refresh", size="sm", elem_id="kb-refresh")
    status = gr.Markdown(elem_id="kb-status")
    docs = gr.Dataframe(pd.DataFrame([], columns=DOC_COLUMNS), interactive=False, elem_id="kb-docs")
    with gr.Row(equal_height=False):
        picker = gr.Dropdown(label="Document", choices=[], elem_id="kb-doc", scale=2)
        remove = gr.Button("Remove document", variant="stop", size="sm", elem_id="kb-remove", scale=1)
        new_version = gr.File(label="Replace with a new version", file_types=types, type="filepath",
                              elem_id="kb-replace", scale=2)
    chunks = gr.Dataframe(pd.DataFrame([], columns=CHUNK_COLUMNS), interactive=False, wrap=True, max_height=420,
                          column_widths=["11%", "20%", "55%", "14%"], elem_id="kb-chunks",
                          label="Chunks as the bots see them")
    outputs = [status, docs, picker, chunks]
    added = upload.upload(user_errors(panel.add), upload, outputs, api_name="kb_add", show_progress_on=status)
    added.then(lambda: None, None, upload, api_visibility="private", show_progress="hidden")
    sampled = sample.click(user_errors(panel.use_sample), None, outputs, api_name="kb_use_sample",
                           show_progress_on=status)
    refresh.click(user_errors(panel.status), picker, outputs, api_name="kb_status", show_progress_on=status)
    remove.click(user_errors(panel.remove), picker, outputs, api_name="kb_remove", show_progress_on=status)
    replaced = new_version.upload(user_errors(panel.replace), [picker, new_version], outputs,
                                  api_name="kb_replace", show_progress_on=status)
    replaced.then(lambda: None, None, new_version, api_visibility="private", show_progress="hidden")
    for made in (added, sampled, replaced):
        state.after_made("index", made)
    picker.input(user_errors(panel.chunks), picker, chunks, api_name="kb_chunks")
    root_block().load(user_errors(panel.status), None, outputs, api_visibility="private")
