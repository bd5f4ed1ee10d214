"""Training sets: reading any supported file, validating every row, storing accepted sets, the quality report.

``files`` turns a file on disk into raw records (type, bytes, text, rows); ``dataset`` validates them
into conversations and splits train/held-out; ``store`` keeps accepted sets under ``AIRBOT_HOME``;
``quality`` reports duplicates, lengths and topic spread.

May import: the base (``config``, ``errors``, ``models``, ``storage``, ``prompts``, ``text``). Never
torch-heavy at import time, never gradio.
"""
