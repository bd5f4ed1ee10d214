"""The subcommands of ``python -m airbot``, one module per command (or pair that shares inputs).

Each module keeps a command's parser (``add_<name>``, registered in ``airbot.cli.COMMANDS``) and
its body (``_run_<name>``) side by side. Bodies import what they need lazily, so ``--help`` and
the commands that do not train or chat never load torch or gradio.
"""
