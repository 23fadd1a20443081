# Two commands on a fresh machine: `make run` and `make test` (README.md).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test check bench bench-scale clean models sample-audio system-audio-tools system-browser

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

# make run PORT=8765: the web app on another port
PORT ?= 8000

run: install
	$(BIN)/zuoxi analyze samples/ --format html --out build/report.html --db build/demo.db
	$(BIN)/zuoxi campaign demo --db build/demo.db
	$(BIN)/zuoxi serve --demo --db build/demo.db --port $(PORT)

test: install system-browser
	$(BIN)/python -m pytest -q

# Lint, format and types (pyproject.toml's [tool.ruff] and [tool.mypy]); CI runs it before the tests.
check: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/engine.py
	$(BIN)/python bench/analyze.py
	$(BIN)/python bench/audio.py
	$(BIN)/python bench/web.py
	$(BIN)/python bench/live.py

# 100,000 conversations three ways (local, local processes, Dask): about a quarter of an hour on 2 cores; then
# the pages' and reports' reads of a database that size (bench/volume.py).
bench-scale: install
	$(BIN)/python bench/scale.py
	$(BIN)/python bench/volume.py

clean:
	rm -rf $(VENV) build zuoxi.db

# The emotion/satisfaction/quality models, then the dialogue-act heads that read their vocabulary and
# outputs (training_models/acts.py; labels in eval/labels/, texts in ../shared/data).
models: install
	$(BIN)/python training_models/models.py
	$(BIN)/python training_models/acts.py

# Regenerate samples/audio/ (not needed to run or test): espeak-ng and sox from Debian, installed once.
sample-audio: install system-audio-tools
	$(BIN)/python samples/make_audio.py

system-audio-tools:
	@command -v espeak-ng >/dev/null && command -v sox >/dev/null || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng sox >/dev/null; }

# The browser tests drive Debian's chromium (Playwright, no downloaded browser) and the pages need a
# Chinese font: installed once, when missing. Without root or apt-get those tests are skipped.
system-browser:
	@dpkg -s chromium fonts-wqy-microhei >/dev/null 2>&1 || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	      chromium fonts-wqy-microhei >/dev/null 2>&1; } || \
	  echo "could not install chromium and fonts-wqy-microhei: the browser tests will be skipped" >&2
