# Every target creates .venv if missing and installs govconnect plus every plugin under plugins/
# in editable mode, so each is one command on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DIST   ?= dist
PLUGINS := $(wildcard plugins/*/pyproject.toml)

.PHONY: install demo test lint format bench dist clean

$(STAMP): pyproject.toml $(PLUGINS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev]' \
		$(foreach p,$(PLUGINS),-e $(dir $(p)))
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/govconnect demo

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n 2

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# govconnect is not on the package index: `make dist` builds the wheels of govconnect and of every
# plugin under plugins/ into $(DIST)/, to copy to a machine without this checkout and install there
# with `pip install $(DIST)/*.whl` (a connector project then needs only `pip install -e .`).
dist: $(STAMP)
	rm -rf $(DIST)
	$(BIN)/python -m pip wheel -q --disable-pip-version-check --no-deps -w $(DIST) . \
		$(foreach p,$(PLUGINS),$(dir $(p)))
	@ls -1 $(DIST)/*.whl

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info dist
