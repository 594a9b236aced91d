# Set-up and entry points. `make demo` and `make test` work on a fresh machine:
# they create .venv, install the pinned dependencies (constraints.txt pins torch==2.13.0,
# whose CPU wheel pip takes from local disk) and the system tools the project uses.
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
CORES ?= 2
CONFIG ?= config/config.yaml
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export PYTHONHASHSEED := 0

.PHONY: venv system demo demo-replicates demo-sweep test test-fast coverage plan dag lint clean

venv: $(VENV)/.installed

# pip compiles every installed module on one core (25 s of a 42 s install); compileall does
# the same on every core afterwards (17 s on 2). Bytecode must exist on disk: where
# PYTHONDONTWRITEBYTECODE is set (as on our machines) nothing else would write it, and every
# job would recompile what it imports. A file compileall cannot compile (a package's own
# test data) is only imported slower, so its exit status is not fatal.
$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --no-compile -c constraints.txt -e '.[workflow,dev]'
	$(BIN)/python -m compileall -q -j 0 $(VENV)/lib >/dev/null || true
	touch $@

# System tools, installed only when missing (needs root + apt): graphviz renders
# `--dag`/`--rulegraph`; slurmctld, slurmd, slurm-client and munge give tests/test_slurm.py a
# real one-node Slurm (started and stopped by the test itself; no service is enabled).
SYSTEM_TOOLS := dot:graphviz slurmctld:slurmctld slurmd:slurmd sbatch:slurm-client munged:munge
system:
	@missing=$$(for t in $(SYSTEM_TOOLS); do cmd=$${t%%:*}; \
	  command -v $$cmd >/dev/null || [ -x /usr/sbin/$$cmd ] || echo $${t#*:}; done); \
	if [ -n "$$missing" ]; then \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    echo "installing:" $$missing; \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      $$missing >/dev/null 2>&1; } || echo "could not install:" $$missing; \
	  else echo "not installed:" $$missing "(DAG rendering / Slurm tests are skipped)"; fi; \
	fi

demo: venv
	$(BIN)/snakemake --profile profiles/local --cores $(CORES) --configfile $(CONFIG)
	$(BIN)/snakemake --profile profiles/local --cores $(CORES) --configfile $(CONFIG) --report results/report.html
	@echo "Results in results/ ; report: results/report.html"

# The demo with 5 seed replicates of every CPT, SFT and evaluation (noise floors, seed x item
# tests): config/replicates.yaml merged into the config.
demo-replicates: venv
	$(BIN)/snakemake --profile profiles/local --cores $(CORES) --configfile $(CONFIG) config/replicates.yaml
	$(BIN)/snakemake --profile profiles/local --cores $(CORES) --configfile $(CONFIG) config/replicates.yaml --report results/report.html
	@echo "Results in results/ (per seed: results/eval/{model}/seed-{seed}/); report: results/report.html"

# The demo with a designed sweep (config/sweep.yaml): 16 sweep mixtures beside the six,
# surrogates with held-out checks, a proposed mixture trained and verified.
demo-sweep: venv
	$(BIN)/cptmix design $(CONFIG) config/sweep.yaml
	$(BIN)/snakemake --profile profiles/local --cores $(CORES) --configfile $(CONFIG) config/sweep.yaml
	$(BIN)/snakemake --profile profiles/local --cores $(CORES) --configfile $(CONFIG) config/sweep.yaml --report results/report.html
	@echo "Results in results/ (the design: results/analysis/design/); report: results/report.html"

test: venv system
	$(BIN)/python -m pytest -q tests

test-fast: venv
	$(BIN)/python -m pytest -q -m "not slow" tests

# The whole suite with line coverage of the library (in-process code; the workflow's scripts
# run in subprocesses and are not counted).
coverage: venv system
	$(BIN)/python -m pytest -q --cov=cptmix --cov-report=term tests

plan: venv
	$(BIN)/snakemake -n --configfile $(CONFIG)

dag: venv system
	$(BIN)/snakemake --configfile $(CONFIG) --rulegraph | dot -Tsvg > results/rulegraph.svg
	@echo "wrote results/rulegraph.svg"

lint: venv
	$(BIN)/ruff check src tests workflow/scripts
	$(BIN)/snakemake --lint --configfile $(CONFIG)

clean:
	rm -rf results .snakemake
