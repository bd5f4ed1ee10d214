"""Entry point for ``python -m airbot``."""

import sys

from airbot.cli import main

if __name__ == "__main__":
    sys.exit(main())
