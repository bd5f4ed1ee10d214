"""Spaces entry point: the app on the embedded defaults (``python app.py``)."""

from airbot.ui.app import launch

if __name__ == "__main__":
    launch()
