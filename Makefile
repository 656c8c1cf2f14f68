# The two set-up commands of README.md. Both create .venv/ and install everything on a fresh machine.
#   make run    # set up, then run the main job on config/config.yaml (snakemake --cores all)
#   make test   # set up, then run the test suite
# torch is pinned to 2.13.0 (on this kind of machine its CPU build is on disk); see README for GPUs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.photoz-installed

.PHONY: setup run test report lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[test,slurm,peers]"
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(BIN)/snakemake --cores all
	$(BIN)/snakemake --report results/report.html

test: setup
	$(BIN)/python -m pytest -q -rs

report: setup
	$(BIN)/snakemake --report results/report.html

lint: setup
	$(BIN)/ruff check photoz tests workflow/scripts
	$(BIN)/snakemake --lint

clean:
	rm -rf results logs benchmarks .snakemake
