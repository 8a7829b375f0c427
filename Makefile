# Tierdesk: the two commands a newcomer needs are `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
TD     := $(BIN)/tierdesk
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run test check bench messages compile-messages clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Reinstall when the dependency list changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

run: $(VENV)/.installed
	@mkdir -p var
	$(TD) migrate --noinput -v0
	@$(MAKE) --no-print-directory compile-messages
	$(TD) demo --once
	$(TD) collectstatic --noinput -v0
	@echo "Tierdesk on http://$(HOST):$(PORT)/  (Ctrl-C stops the web server and the worker)"
	@$(TD) worker & worker=$$!; trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	  $(BIN)/granian --interface wsgi --http 1 --no-ws --workers 2 --blocking-threads 2 \
	    --host $(HOST) --port $(PORT) --access-log tierdesk.wsgi:application

check: $(VENV)/.installed
	$(BIN)/ruff check tierdesk tests bench
	$(BIN)/lint-imports
	$(BIN)/mypy tierdesk

test: $(VENV)/.installed check
	@mkdir -p var
	@$(MAKE) --no-print-directory compile-messages
	$(BIN)/python -m pytest

bench: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	$(BIN)/python bench/sla_engine.py

# Translations: compiled from the .po catalogues at install time (no .mo in git).
compile-messages:
	@if [ -n "$$(ls tierdesk/locale/*/LC_MESSAGES/*.po tierdesk/*/locale/*/LC_MESSAGES/*.po 2>/dev/null)" ]; then \
	  cd tierdesk && ../$(TD) compilemessages -v0; fi

messages: $(VENV)/.installed
	cd tierdesk && ../$(TD) makemessages -l es --no-obsolete

clean:
	rm -rf var
