# Two commands on a fresh machine: `make run` and `make test` (README.md).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test bench clean models sample-audio system-audio-tools

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

run: install
	$(BIN)/zuoxi analyze samples/ --format html --out build/report.html --db build/demo.db
	$(BIN)/zuoxi serve --demo --db build/demo.db

test: install
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/engine.py
	$(BIN)/python bench/audio.py

clean:
	rm -rf $(VENV) build zuoxi.db

models: install
	$(BIN)/python -m zuoxi.analyze.models.train

# Regenerate samples/audio/ (not needed to run or test): espeak-ng and sox from Debian, installed once.
sample-audio: install system-audio-tools
	$(BIN)/python samples/make_audio.py

system-audio-tools:
	@command -v espeak-ng >/dev/null && command -v sox >/dev/null || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng sox >/dev/null; }
