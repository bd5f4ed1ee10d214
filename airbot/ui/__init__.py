"""The only package that imports gradio: one module per tab, assembled by ``app.py``."""
