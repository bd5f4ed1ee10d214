"""airbot: fine-tune a small LLM on your Q&A data, build a RAG bot over your documents,
compare them side by side and decide which one your use case needs.

Run the app with ``python -m airbot app``; every command is listed by ``python -m airbot -h``.
Nothing heavy is imported here: models and indexes load on first use.
"""

from airbot.log_noise import drop_known_noise

__version__ = "0.1.0"

drop_known_noise()  # first thing: bitsandbytes logs its CPU kernel hint when it is imported (see log_noise)
