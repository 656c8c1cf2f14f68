# The two set-up commands of README.md. Both create .venv/ and install everything on a fresh machine.
#   make run    # set up, then run the main job on config/config.yaml (snakemake --cores all)
#   make test   # set up, then run the test suite
# make run CONFIG="config/paper.yaml" adds config files (snakemake --configfile), checked first by
# `python -m photoz validate-config`, which names the file and line of a YAML error (Snakemake
# does not). A run killed with SIGKILL leaves Snakemake's lock: `python -m photoz unlock` removes
# it when no snakemake runs in this directory, so `make run` resumes in one command.
# torch is pinned to 2.13.0 (on this kind of machine its CPU build is on disk); for GPUs see docs/cluster.md.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.photoz-installed
CONFIG ?=
CONFIGFILES := $(if $(strip $(CONFIG)),--configfile $(CONFIG))

.PHONY: setup run test report lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[test,slurm,peers]"
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(BIN)/python -m photoz validate-config --quiet config/config.yaml $(CONFIG)
	$(BIN)/python -m photoz unlock
	$(BIN)/snakemake --cores all $(CONFIGFILES)
	$(BIN)/snakemake --report results/report.html $(CONFIGFILES)

test: setup
	$(BIN)/python -m pytest -q -rs

report: setup
	$(BIN)/snakemake --report results/report.html $(CONFIGFILES)

lint: setup
	$(BIN)/ruff check photoz tests workflow/scripts
	$(BIN)/snakemake --lint

clean:
	rm -rf results logs benchmarks .snakemake
