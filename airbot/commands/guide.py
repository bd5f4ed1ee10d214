"""``python -m airbot guide``: the decision guide's verdict and reasons; an eval.json's numbers take part
by the rule the output states, and the Chat tab's side-by-side votes are cited (``--no-votes`` to leave them out).

    python -m airbot guide --preset "Airline FAQs" --eval ~/.airbot/evals/demo/eval.json
    python -m airbot guide --knowledge-change few-times-a-year --examples 200 --json
"""

from __future__ import annotations

import argparse
import json
import typing
from typing import TYPE_CHECKING, Any, Literal

from airbot.commands.output import print_json
from airbot.errors import AirbotError

if TYPE_CHECKING:
    from airbot.guide import Recommendation


def add_guide(sub: argparse._SubParsersAction) -> None:
    import dataclasses

    from airbot.guide import PRESETS, Answers, question_help

    p = sub.add_parser("guide", help="Fine-tune, RAG or both? The decision guide's verdict and reasons.")
    p.add_argument("--preset", choices=sorted(PRESETS), help="Start from one of the example use cases.")
    hints = typing.get_type_hints(Answers)
    for f in dataclasses.fields(Answers):
        choices = typing.get_args(hints[f.name]) if typing.get_origin(hints[f.name]) is Literal else None
        p.add_argument("--" + f.name.replace("_", "-"), dest=f.name, default=None, choices=choices,
                       help=question_help(f.name))
    p.add_argument("--eval", default=None,
                   help="An evaluation's eval.json: its numbers take part in the verdict by the rule printed.")
    p.add_argument("--no-votes", dest="votes", action="store_false",
                   help="Leave out the side-by-side votes recorded in the Chat tab.")
    p.add_argument("--json", action="store_true", help="Print the recommendation as one JSON object.")
    p.set_defaults(run=_run_guide)


def _run_guide(args: argparse.Namespace) -> int:
    import dataclasses
    from pathlib import Path

    from airbot.bots.arena import read_votes
    from airbot.guide import PRESETS, Answers, Evidence, answers_from_mapping, recommend, to_dict

    base = dataclasses.asdict(PRESETS[args.preset]) if args.preset else {}
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(Answers) if getattr(args, f.name) is not None}
    answers = answers_from_mapping({**base, **given})
    evidence = Evidence.from_eval_json(_read_json_file(Path(args.eval))) if args.eval else None
    rec = recommend(answers, evidence, read_votes() if args.votes else None)
    if args.json:
        print_json(to_dict(rec))
        return 0
    _print(rec)
    return 0


def _print(rec: Recommendation) -> None:
    """The recommendation as text: headline, banner, what the answers alone say, then the evidence."""
    print(f"Recommendation: {rec.verdict}  ({rec.summary})")
    if rec.banner:
        print(f"  ! {rec.banner}")
    if rec.questionnaire_verdict != rec.verdict:
        print(f"Your answers alone: {rec.questionnaire_verdict}  ({rec.questionnaire_summary})")
    print("Scores (your answers): " + ", ".join(f"{k} {v:.1f}" for k, v in rec.scores.items()))
    for r in rec.reasons:
        print(f"  [{r.points_to} +{r.weight:g}] {r.text}  (from the table: {r.seed_row})")
    for line in rec.notes + rec.warnings + [c.text for c in rec.caveats] + rec.evidence_lines:
        print(f"  * {line}")
    for c in rec.comparisons:
        print(f"  - {c.line()}")
    for line in rec.vote_lines:
        print(f"  * {line}")
    if rec.evidence_lines:
        print(rec.evidence_rule)


def _read_json_file(path: Any) -> Any:
    """A JSON file the user named, or one clear error saying what is wrong with it."""
    if not path.is_file():
        raise AirbotError(f"{path} does not exist; pass the eval.json an evaluation wrote.")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as err:
        raise AirbotError(f"{path} is not valid JSON ({err}); re-run the evaluation to rewrite it.") from None
