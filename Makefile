# Two commands for a fresh machine: `make run` and `make test`.
# Each creates .venv and installs what it needs the first time; afterwards the install
# step is a no-op until pyproject.toml changes.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck unit bench bench-scale clean

# Quiet unless it fails: one line says what is happening; pip's output goes to
# $(VENV)/pip.log and is shown only when the install fails.
$(STAMP): pyproject.toml
	@if test -x $(BIN)/python; then \
	  echo "Updating the packages in $(VENV) (pyproject.toml changed)..."; \
	else \
	  echo "Creating $(VENV) and installing packages (about 90 s the first time)..."; \
	  $(PYTHON) -m venv $(VENV) || { echo "Could not create $(VENV) with $(PYTHON): it needs Python 3.11 or newer with venv (Debian: apt-get install python3-venv), or name another one: make PYTHON=python3.12 ..."; exit 1; }; \
	fi
	@$(BIN)/python -m pip install --disable-pip-version-check -e '.[test]' >$(VENV)/pip.log 2>&1 || { \
	  tail -n 40 $(VENV)/pip.log; \
	  echo "Installing the packages failed (above: the end of $(VENV)/pip.log); fix the cause, then run make again."; \
	  exit 1; }
	@touch $(STAMP)

run: $(STAMP)
	@$(BIN)/claims run

# Three pytest processes: most tests wait on servers and timers, so three keep two cores
# busy. An idle process takes tests queued for a busy one (worksteal): with xdist's default
# first batches (a quarter of the suite), one process held a queue of integration tests
# behind the minute-long three-worker test and ran them alone for three minutes while the
# others sat idle.
test: $(STAMP) lint typecheck
	$(BIN)/pytest -n 3 --dist worksteal

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m bench.run

# N claims waiting for a person at once (make bench-scale N=1000 for a shorter run).
N ?= 10000
bench-scale: $(STAMP)
	$(BIN)/python -m bench.scale --claims $(N)

unit: $(STAMP)
	$(BIN)/pytest tests/unit

clean:
	rm -rf $(VENV) .temporal .pytest_cache .mypy_cache .ruff_cache *.egg-info
