"""``python -m airbot ask``: one question, or a file of them, to one bot; answers stream to stdout.

    python -m airbot ask --bot rag --index default "Can my cat fly in the cabin?"
"""

from __future__ import annotations

import argparse
import json

from airbot.commands.output import print_json
from airbot.config import BOT_KINDS, RETRIEVAL_BOTS
from airbot.errors import AirbotError


def add_ask(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ask", help="Ask a bot (base, finetuned, rag, hybrid) one question or a file of them.")
    p.add_argument("question", nargs="?", default=None, help="The question (or use --questions).")
    p.add_argument("--bot", default="base", choices=BOT_KINDS, help="Which bot answers.")
    p.add_argument("--run", dest="run_dir", default=None, metavar="RUN_DIR",
                   help="Fine-tuning run folder or name (finetuned and hybrid bots).")
    p.add_argument("--index", default=None, metavar="INDEX_DIR", help="Document index (rag and hybrid bots).")
    p.add_argument("--questions", default=None, metavar="FILE.jsonl", help='One {"question": ...} per line.')
    p.add_argument("--config", default=None, help="YAML recipe whose model, rag and chat settings apply.")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="Override a setting.")
    p.add_argument("--json", action="store_true", help="One JSON object per answer (bot, answer, sources, timings).")
    p.set_defaults(run=_run_ask)


def _run_ask(args: argparse.Namespace) -> int:
    from airbot.bots.kinds import check_question, make_bot
    from airbot.config import load_config
    from airbot.knowledge.manifest import index_dir
    from airbot.train.runs import run_path

    questions = _ask_questions(args)
    for question in questions:
        check_question(question)  # before any model loads
    run_dir = run_path(args.run_dir, allow_paths=True) if args.run_dir else None  # the CLI may name folders
    index = index_dir(args.index, allow_paths=True) if args.index else None
    bot = make_bot(args.bot, load_config(args.config, args.set), run_dir=run_dir, index=index)
    for question in questions:
        if args.json:
            print_json(bot.answer(question).to_dict())
            continue
        if len(questions) > 1:
            print(f"Q: {question}")
        reply = bot.reply(question)
        checked = args.bot in RETRIEVAL_BOTS  # shown once checked: the document extract may replace the model's words
        for delta in reply:
            if not checked:
                print(delta, end="", flush=True)
        print(reply.answer.text if checked and reply.answer else "")
        if checked and reply.answer:
            print(f"  {reply.answer.reading()}")
        for n, source in enumerate(reply.answer.sources if reply.answer else [], 1):
            where = ", ".join(x for x in (f"clause {source.clause}" if source.clause else "",
                                         f"page {source.page}" if source.page else "") if x)
            print(f"  [{n}] {source.doc}{' (' + where + ')' if where else ''} score {source.score:.2f}")
        if reply.answer and (line := reply.answer.decision()):
            print(f"  {line}")
    return 0


def _ask_questions(args: argparse.Namespace) -> list[str]:
    """The question, or every question of a JSONL file (a line may also be a bare JSON string)."""
    from pathlib import Path

    if bool(args.question) == bool(args.questions):
        raise AirbotError("Ask exactly one thing: a QUESTION argument or --questions FILE.jsonl.")
    if args.question:
        return [args.question]
    path = Path(args.questions)
    if not path.is_file():
        raise AirbotError(f"Questions file {path} does not exist.")
    questions, problems = [], []
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise AirbotError(f"{path.name} is not UTF-8 text (byte {err.start}): it is not a questions file. "
                          'Write one {"question": "..."} per line, saved as UTF-8.') from None
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (ValueError, RecursionError):
            problems.append(f"line {n}: not JSON")
            continue
        question = row.get("question") if isinstance(row, dict) else row
        if isinstance(question, str) and question.strip():
            questions.append(question)
        else:
            problems.append(f"line {n}: no \"question\" text")
    if problems or not questions:
        raise AirbotError.collected(f"{path} cannot be used as a questions file:", problems or ["no questions"],
                                    'Write one {"question": "..."} per line.')
    return questions
