# Every target below does its own set-up: on a fresh machine with only python3 and make,
# `make test` or `make example` creates .venv, installs symreg into it and then runs.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: test example bench-evaluator bench-constants bench-nguyen bench-peers \
        bench-suite-nguyen bench-suite-feynman bench-suite-feynman100 bench-suite-feynman-peers \
        bench-transformer bench-suite-feynman-transformer \
        clean-venv
PEERS  := $(VENV)/.peers

# torch is installed FIRST and with this exact pin. pyproject.toml leaves torch unpinned (users
# bring their own build), so a plain `pip install -e .` would resolve the newest torch from
# PyPI, whose Linux wheels pull in gigabytes of CUDA libraries. torch==2.13.0 is satisfied by
# the CPU build (2.13.0+cpu) already on the development and CI machines, so it installs in
# seconds and the editable install below then finds torch already satisfied.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install torch==2.13.0
	$(BIN)/pip install -e '.[dev]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider

example: $(STAMP)
	$(BIN)/symreg fit examples/data/kepler.csv --target period --time 20 --maxsize 10 --model-selection bic

bench-evaluator: $(STAMP)
	$(BIN)/python benchmarks/bench_evaluator.py

bench-constants: $(STAMP)
	$(BIN)/python benchmarks/bench_constants.py

bench-nguyen: $(STAMP)
	$(BIN)/python benchmarks/bench_nguyen.py

bench-transformer: $(STAMP)
	$(BIN)/python benchmarks/bench_transformer.py --n 1000 --workers 2

bench-suite-feynman-transformer: $(STAMP)
	$(BIN)/symreg bench feynman --limit 30 --time 30 --methods symreg,symreg+transformer \
		--workers 2 --out benchmarks/results/feynman30-t30-transformer

# The peers of `symreg bench`: pyoperon and gplearn from wheels; rils-rols is a source build
# that needs pybind11 and wheel installed first and then no build isolation.
$(PEERS): $(STAMP)
	$(BIN)/pip install -e '.[bench]'
	$(BIN)/pip install --no-build-isolation rils-rols
	touch $(PEERS)

bench-peers: $(PEERS)

# The two runs recorded in BENCHMARKS.md (results under benchmarks/results/).
bench-suite-nguyen: $(PEERS)
	$(BIN)/symreg bench nguyen --methods symreg,operon --time 20 --workers 2 \
		--out benchmarks/results/nguyen-t20

bench-suite-feynman: $(PEERS)
	$(BIN)/symreg bench feynman --limit 20 --time 30 --methods symreg,operon,rils,gplearn \
		--workers 2 --out benchmarks/results/feynman20-t30

# The search's figures (issue 4): all 100 Feynman laws at 60 s, and symreg against the peers.
bench-suite-feynman100: $(STAMP)
	$(BIN)/symreg bench feynman --time 60 --methods symreg --workers 2 \
		--out benchmarks/results/feynman100-t60

bench-suite-feynman-peers: $(PEERS)
	$(BIN)/symreg bench feynman --limit 30 --time 30 --methods symreg,operon,rils --workers 2 \
		--out benchmarks/results/feynman30-t30-peers

clean-venv:
	rm -rf $(VENV)
