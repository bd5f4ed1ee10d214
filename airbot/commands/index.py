"""``python -m airbot index``: build or update a document index for the rag and hybrid bots.

    python -m airbot index airbot/samples/airline_policy.pdf --out default
"""

from __future__ import annotations

import argparse

from airbot.commands.output import print_json, progress_bar
from airbot.errors import AirbotError


def add_index(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("index", help="Build or update a document index (PDF, DOCX, Markdown, HTML, text).")
    p.add_argument("docs", nargs="*", metavar="DOC", help="Documents to add; one already indexed gets a new version.")
    p.add_argument("--out", required=True, metavar="INDEX_DIR",
                   help="Index folder, or a bare name for AIRBOT_HOME/indexes/NAME.")
    p.add_argument("--remove", action="append", default=[], metavar="DOC", help="Drop this document (by file name).")
    p.add_argument("--config", default=None, help="YAML recipe (rag.chunk_tokens, model.embedder).")
    p.add_argument("--json", action="store_true", help="Print the index status as JSON.")
    p.set_defaults(run=_run_index)


def _run_index(args: argparse.Namespace) -> int:
    from airbot.config import load_config
    from airbot.knowledge.index import build_index, index_dir

    if not args.docs and not args.remove:
        raise AirbotError("Nothing to do: name documents to add (DOC...) or --remove DOC.")
    config = load_config(args.config)
    kb = build_index(args.docs, index_dir(args.out, allow_paths=True), progress=progress_bar(not args.json), rag=config.rag,
                     remove=args.remove, embedder=config.model.embedder)
    status = kb.status()
    if args.json:
        print_json(status.to_dict())
        return 0
    for doc in status.documents:
        print(f"{doc.name}: version {doc.version}, {len(doc.chunk_ids)} chunks")
    print(f"index {status.path}: version {status.version}, {status.chunks} chunks")
    print(f"RAG {status.refusal}")
    return 0
