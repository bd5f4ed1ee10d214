"""The decision guide: does a use case want fine-tuning, RAG, or both (hybrid)?

Pure rules, no gradio or torch. Every rule is a row of the guide's tables, kept as data
(``SEED_TABLES``) so the UI can show each verdict beside the rows it came from. Measured evaluation
numbers (``Evidence``) take part in the headline by one stated rule (``EVIDENCE_RULE``): a headline
the person's own numbers contradict always carries a banner, and what the answers alone say stays
visible. Side-by-side votes (passed in: the guide does not import the bots) are cited as win counts.

    from airbot.guide import PRESETS, recommend, to_dict
    rec = recommend(PRESETS["Airline FAQs"])          # -> rec.verdict == "fine-tune"
    rec = recommend(answers, Evidence.from_eval_json(json.load(open("eval.json"))), arena.read_votes())

    python -m airbot.guide                            # the verdict for every preset

The package, one concept per module (dependencies point down the list):
``tables`` the guide's tables as data · ``answers`` the questionnaire, presets and its validation ·
``rules`` weights, scores and hard constraints · ``caveats`` the risks that apply · ``evidence``
measured numbers and every bot compared with every other · ``weigh`` the rule by which they move the
headline · ``votes`` side-by-side votes as win counts · ``verdict`` the ``Recommendation`` itself.
May import ``evaluate`` and the base, never the bots or gradio.
"""

from airbot.guide.answers import PRESETS, Answers, Change, Latency, Level, Style, answers_from_mapping, question_help
from airbot.guide.caveats import Caveat
from airbot.guide.evidence import BOT_NAMES, MEASURES, MIN_GAP, MIN_N, BotEvidence, Comparison, Evidence, Measure, PolicyOutcome
from airbot.guide.rules import (
    BLEND_BONUS,
    CLOSE_BONUS,
    CLOSE_CALL,
    LABELS,
    LORA_MAX_EXAMPLES,
    MIN_EXAMPLES,
    STRONG,
    Reason,
    Verdict,
)
from airbot.guide.tables import SEED_TABLES, SeedTable, cite, seed_citations
from airbot.guide.verdict import Recommendation, recommend, to_dict
from airbot.guide.votes import HeadToHead, head_to_head, vote_lines
from airbot.guide.weigh import EVIDENCE_RULE, Agreement

__all__ = [
    "BLEND_BONUS",
    "BOT_NAMES",
    "CLOSE_BONUS",
    "CLOSE_CALL",
    "EVIDENCE_RULE",
    "LABELS",
    "LORA_MAX_EXAMPLES",
    "MEASURES",
    "MIN_EXAMPLES",
    "MIN_GAP",
    "MIN_N",
    "PRESETS",
    "SEED_TABLES",
    "STRONG",
    "Agreement",
    "Answers",
    "BotEvidence",
    "Caveat",
    "Change",
    "Comparison",
    "Evidence",
    "HeadToHead",
    "Latency",
    "Level",
    "Measure",
    "PolicyOutcome",
    "Reason",
    "Recommendation",
    "SeedTable",
    "Style",
    "Verdict",
    "answers_from_mapping",
    "cite",
    "head_to_head",
    "question_help",
    "recommend",
    "seed_citations",
    "to_dict",
    "vote_lines",
]
