"""``python -m airbot guide``: the decision guide's verdict and reasons, optionally beside an eval.json.

    python -m airbot guide --preset "Airline FAQs" --eval ~/.airbot/evals/demo/eval.json
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from airbot.commands.output import print_json
from airbot.errors import AirbotError


def add_guide(sub: argparse._SubParsersAction) -> None:
    import dataclasses

    from airbot.guide import PRESETS, Answers, question_help

    p = sub.add_parser("guide", help="Fine-tune, RAG or both? The decision guide's verdict and reasons.")
    p.add_argument("--preset", choices=sorted(PRESETS), help="Start from one of the seed's use cases.")
    for f in dataclasses.fields(Answers):
        p.add_argument("--" + f.name.replace("_", "-"), dest=f.name, default=None, help=question_help(f.name))
    p.add_argument("--eval", default=None, help="An evaluation's eval.json: show the measured numbers beside the verdict.")
    p.add_argument("--json", action="store_true", help="Print the recommendation as one JSON object.")
    p.set_defaults(run=_run_guide)


def _run_guide(args: argparse.Namespace) -> int:
    import dataclasses
    from pathlib import Path

    from airbot.guide import PRESETS, Answers, Evidence, answers_from_mapping, recommend, to_dict

    base = dataclasses.asdict(PRESETS[args.preset]) if args.preset else {}
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(Answers) if getattr(args, f.name) is not None}
    answers = answers_from_mapping({**base, **given})
    evidence = Evidence.from_eval_json(_read_json_file(Path(args.eval))) if args.eval else None
    rec = recommend(answers, evidence)
    if args.json:
        print_json(to_dict(rec))
        return 0
    print(f"Recommendation: {rec.verdict}  ({rec.summary})")
    print("Scores: " + ", ".join(f"{k} {v:.1f}" for k, v in rec.scores.items()))
    for r in rec.reasons:
        print(f"  [{r.points_to} +{r.weight:g}] {r.text}  <- {r.seed_row}")
    for line in rec.warnings + [c.text for c in rec.caveats] + rec.evidence_lines:
        print(f"  * {line}")
    return 0


def _read_json_file(path: Any) -> Any:
    """A JSON file the user named, or one clear error saying what is wrong with it."""
    if not path.is_file():
        raise AirbotError(f"{path} does not exist; pass the eval.json an evaluation wrote.")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise AirbotError(f"{path} is not valid JSON ({err}); re-run the evaluation to rewrite it.") from None
