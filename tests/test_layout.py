"""The package layout is the architecture: dependencies point one way and only the UI imports gradio.

Layers, top to bottom (a module may import its own package and anything below its layer):
  ui, commands, cli           -> everything
  bots, evaluate, guide, train services (runs, jobs, export, preflight, finetune)
  knowledge, generate, data, train engine (the modules a training process runs)
  the base: config, errors, models, hosting, storage, prompts, text, log_noise, samples, workspace, rounding
Checked twice: statically over every ``import`` in the source, and by importing every module in a
fresh interpreter (so a module that only breaks at import time fails here too).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "airbot"
BASE = {"config", "errors", "models", "hosting", "storage", "prompts", "text", "log_noise", "samples", "workspace",
        "rounding", "__init__"}
# The train modules the app and CLI use (the run store, background jobs, cost before Start, exports); every
# other train module is the engine that runs inside a training process and never imports these.
TRAIN_SERVICES = {"train", "train.runs", "train.jobs", "train.preflight", "train.export", "train.gguf"}
# What each part may import besides itself and the base.
ALLOWED: dict[str, set[str]] = {
    "data": set(),
    "knowledge": set(),
    "generate": set(),
    "train-engine": {"data", "knowledge", "train-engine"},
    "bots": {"knowledge", "generate", "train-engine", "train.runs"},
    "train": {"data", "knowledge", "generate", "train-engine", "train"},
    "evaluate": {"data", "knowledge", "generate", "bots", "train-engine", "train"},
    "guide": {"evaluate"},
}


def modules() -> dict[str, Path]:
    """Every module of the package, dotted under ``airbot`` ('train.jobs', 'config', 'ui.app')."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        found[".".join(p for p in parts if p != "__init__") or "__init__"] = path
    return found


def part(module: str) -> str:
    """The layer-checking unit a module belongs to."""
    top = module.split(".")[0]
    if top in BASE or module == "__main__":
        return "base" if top in BASE else "entry"
    if top == "train":
        return "train" if module in TRAIN_SERVICES else "train-engine"
    return top


def imports(path: Path) -> set[str]:
    """The airbot modules a file imports (anywhere in it, lazily or not), without the 'airbot.' prefix."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "airbot":
            names = [a.name for a in node.names]
            if node.module == "airbot":
                found |= set(names)
            else:
                found.add(node.module.removeprefix("airbot."))
        elif isinstance(node, ast.Import):
            found |= {a.name.removeprefix("airbot.") for a in node.names if a.name.split(".")[0] == "airbot"}
    return found


def target_parts(imported: str) -> set[str]:
    """The units an import touches: 'train.runs' counts as itself and as 'train'."""
    unit = part(imported)
    return {unit, imported} if unit == "train" else {unit}


def test_at_most_15_modules_at_the_top() -> None:
    assert len(list(PACKAGE.glob("*.py"))) <= 15


def test_every_package_says_what_it_owns() -> None:
    for init in PACKAGE.glob("*/__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc and len(doc) > 60, f"{init.parent.name}/__init__.py needs a docstring that says what it owns"
        if init.parent.name not in ("ui", "commands", "samples", "guide"):
            assert "May import" in doc, f"{init.parent.name}/__init__.py should say what it may import"


def test_dependencies_point_one_way() -> None:
    wrong = []
    for module, path in modules().items():
        unit = part(module)
        if unit in ("ui", "commands", "cli", "entry"):
            continue
        allowed = {"base", unit} | ALLOWED.get(unit, set())
        for imported in imports(path):
            if not target_parts(imported) & allowed:
                wrong.append(f"airbot.{module} imports airbot.{imported}")
    assert not wrong, "\n".join(wrong)


def test_only_the_ui_imports_gradio() -> None:
    wrong = []
    for module, path in modules().items():
        if module.startswith("ui"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if any(n.split(".")[0] in ("gradio", "gradio_client") for n in names):
                wrong.append(module)
    assert not wrong, f"only airbot.ui may import gradio: {wrong}"


def test_every_module_imports_in_a_fresh_interpreter() -> None:
    names = sorted("airbot" if m == "__init__" else f"airbot.{m}" for m in modules())
    code = "import importlib, sys\nfor n in sys.argv[1:]:\n    importlib.import_module(n)\n"
    result = subprocess.run([sys.executable, "-c", code, *names], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]


def test_importing_the_library_loads_neither_gradio_nor_torch() -> None:
    """Nothing heavy at import time: the CLI's --help and the data commands stay fast."""
    lib = [f"airbot.{m}" for m in modules() if part(m) not in ("ui", "commands", "cli", "entry") and m != "__init__"]
    code = "import importlib, sys\nfor n in sys.argv[1:]:\n    importlib.import_module(n)\n" \
           "print(sorted(m for m in ('gradio', 'torch', 'transformers') if m in sys.modules))"
    light = [m for m in lib if m.split(".")[1] in ("config", "errors", "storage", "prompts", "text")
             or m.startswith(("airbot.data.", "airbot.guide", "airbot.train.runs", "airbot.train.status"))]
    result = subprocess.run([sys.executable, "-c", code, *light], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]", f"{result.stdout.strip()} loaded by importing {light}"
