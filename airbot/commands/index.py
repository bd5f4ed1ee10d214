"""``python -m airbot index``: build or update a document index for the rag and hybrid bots, and
show how each document was read (``--chunks``: every chunk with the citation the bots will give).

    python -m airbot index airbot/samples/airline_policy.pdf --out default
    python -m airbot index --out default --chunks
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
    p.add_argument("--chunks", action="store_true",
                   help="Also list every chunk with its citation (clause, heading or page): how each document was read.")
    p.add_argument("--json", action="store_true", help="Print the index status as JSON (with --chunks: and the chunks).")
    p.set_defaults(run=_run_index)


def _run_index(args: argparse.Namespace) -> int:
    from airbot.config import load_config
    from airbot.knowledge.index import KnowledgeBase, build_index, index_dir

    if not args.docs and not args.remove and not args.chunks:
        raise AirbotError("Nothing to do: name documents to add (DOC...), --remove DOC, or --chunks to list an index's chunks.")
    config = load_config(args.config)
    if args.docs or args.remove:
        kb = build_index(args.docs, index_dir(args.out, allow_paths=True), progress=progress_bar(not args.json),
                         rag=config.rag, remove=args.remove, embedder=config.model.embedder)
    else:
        kb = KnowledgeBase.open(index_dir(args.out, allow_paths=True), rag=config.rag, embedder=config.model.embedder)
    status = kb.status()
    chunks = kb.chunks() if args.chunks else []
    if args.json:
        print_json({**status.to_dict(), **({"chunk_list": [c.to_dict() for c in chunks]} if args.chunks else {})})
        return 0
    for chunk in chunks:
        text = " ".join(chunk.text.split())
        print(f"{chunk.doc} | {chunk.label()} | {text[:110] + '...' if len(text) > 110 else text}")
    for doc in status.documents:
        print(f"{doc.name}: version {doc.version}, {len(doc.chunk_ids)} chunks")
    print(f"index {status.path}: version {status.version}, {status.chunks} chunks")
    print(f"RAG {status.refusal}")
    return 0
