# Everything runs from the project's own virtualenv, created on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: test lint typecheck pytest pyodide-deps typescript-deps bench demo clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests examples bench

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) pyodide-deps typescript-deps
	$(BIN)/pytest

# The Pyodide test (tests/pyodide): npm's pyodide, the wasm and pure-Python
# wheels it loads (pinned in requirements.txt, from PyPI) and this project's own
# wheel, all in tests/pyodide (node_modules/ and .cache/ are not committed).
# Without node/npm the step is skipped, and so is that test.
PYODIDE := tests/pyodide
PYODIDE_WHEELS := $(PYODIDE)/.cache/wheels
PYODIDE_OWN := $(PYODIDE)/.cache/own
PYODIDE_SRC := pyproject.toml $(shell find src -name '*.py' -o -name py.typed)

pyodide-deps:
	@if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then \
		$(MAKE) --no-print-directory $(PYODIDE)/node_modules/.package-lock.json $(PYODIDE_WHEELS)/.stamp $(PYODIDE_OWN)/.stamp; \
	else \
		echo "pyodide-deps: node/npm not found; the Pyodide test will be skipped"; \
	fi

$(PYODIDE)/node_modules/.package-lock.json: $(PYODIDE)/package.json $(PYODIDE)/package-lock.json
	cd $(PYODIDE) && npm ci --no-audit --no-fund --loglevel=error

$(PYODIDE_WHEELS)/.stamp: $(PYODIDE)/requirements.txt $(STAMP)
	rm -rf $(PYODIDE_WHEELS)
	$(BIN)/python -m pip download -q --only-binary=:all: --no-deps --require-hashes \
		--platform pyemscripten_2026_0_wasm32 --python-version 3.14 --abi cp314 --implementation cp \
		-d $(PYODIDE_WHEELS) -r $(PYODIDE)/requirements.txt
	touch $@

# Built from a copy of the sources, so no stale build/ directory leaks into the wheel.
$(PYODIDE_OWN)/.stamp: $(PYODIDE_SRC) README.md $(STAMP)
	rm -rf $(PYODIDE_OWN) $(PYODIDE)/.cache/src
	mkdir -p $(PYODIDE)/.cache/src
	cp -R pyproject.toml README.md src $(PYODIDE)/.cache/src/
	find $(PYODIDE)/.cache/src -name '*.egg-info' -prune -exec rm -rf {} +
	$(BIN)/python -m pip wheel -q --no-deps -w $(PYODIDE_OWN) $(PYODIDE)/.cache/src
	rm -rf $(PYODIDE)/.cache/src
	touch $@

# The TypeScript test (tests/typescript): npm's typescript compiles the
# generated room types and the browser client's types with tsc --strict.
# Without node/npm the step is skipped, and so is that test.
TYPESCRIPT := tests/typescript

typescript-deps:
	@if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then \
		$(MAKE) --no-print-directory $(TYPESCRIPT)/node_modules/.package-lock.json; \
	else \
		echo "typescript-deps: node/npm not found; the TypeScript test will be skipped"; \
	fi

$(TYPESCRIPT)/node_modules/.package-lock.json: $(TYPESCRIPT)/package.json $(TYPESCRIPT)/package-lock.json
	cd $(TYPESCRIPT) && npm ci --no-audit --no-fund --loglevel=error

bench: $(STAMP)
	$(BIN)/python -m bench

# The chat example on the self-hosted server: open http://127.0.0.1:8787
demo: $(STAMP)
	$(BIN)/durable-effect serve examples.chat.server:make_server --db chat.db --port 8787

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
