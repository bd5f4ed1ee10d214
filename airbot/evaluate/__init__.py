"""Scoring bots: question sets, per-answer metrics, aggregates, saved reports, the policy-change test.

``questions`` (held-out, out-of-scope and probe sets) · ``metrics`` (one answer vs its reference) ·
``scoring`` (ask, score, summarize per bot) · ``report`` (``EvalReport`` and eval.json) ·
``runner`` (plan and run an evaluation) · ``policy_change`` (documents change: who follows?).

May import: the base, ``data``, ``knowledge``, ``generate``, ``bots``, ``train`` (the run store).
"""
