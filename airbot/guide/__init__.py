"""The decision guide: does a use case want fine-tuning, RAG, or both (hybrid)?

Pure rules, no gradio or torch. Every rule is a row of the seed brief's tables, kept as data
(``SEED_TABLES``) so the UI can show each verdict beside the rows it came from. Measured evaluation
numbers (``Evidence``) are set beside the questionnaire's verdict, never silently over it: the person
sees what their answers say and what their own data says.

    from airbot.guide import PRESETS, recommend, to_dict
    rec = recommend(PRESETS["Airline FAQs"])          # -> rec.verdict == "fine-tune"
    rec = recommend(answers, Evidence.from_eval_json(json.load(open("eval.json"))))

    python -m airbot.guide                            # the verdict for every preset

The package, one concept per module (dependencies point down the list):
``tables`` the seed's tables as data · ``answers`` the questionnaire, presets and its validation ·
``rules`` weights, scores and hard constraints · ``caveats`` the risks that apply · ``evidence``
measured numbers and how they bear on the verdict · ``verdict`` the ``Recommendation`` itself.
"""

from airbot.guide.answers import PRESETS, Answers, Change, Latency, Level, Style, answers_from_mapping, question_help
from airbot.guide.caveats import Caveat
from airbot.guide.evidence import BOT_NAMES, MIN_GAP, MIN_N, Agreement, BotEvidence, Evidence, PolicyOutcome
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

__all__ = [
    "BLEND_BONUS",
    "BOT_NAMES",
    "CLOSE_BONUS",
    "CLOSE_CALL",
    "LABELS",
    "LORA_MAX_EXAMPLES",
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
    "Evidence",
    "Latency",
    "Level",
    "PolicyOutcome",
    "Reason",
    "Recommendation",
    "SeedTable",
    "Style",
    "Verdict",
    "answers_from_mapping",
    "cite",
    "question_help",
    "recommend",
    "seed_citations",
    "to_dict",
]
