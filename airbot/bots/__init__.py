"""The four bots the app compares (base, fine-tuned, RAG, hybrid) and what keeps their answers honest.

``kinds`` (the ``Bot`` protocol, each kind and the factory) · ``arena`` (the side-by-side race and
votes) · ``grounding`` (evidence sentences and the check of an answer against them) ·
``loop_guard`` (stop an answer that repeats itself).

May import: the base, ``knowledge``, ``generate``, and the train internals that locate and load a
run's adapter (``train.runs``, ``train.model``).
"""
