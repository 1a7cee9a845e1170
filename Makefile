# sealdrop: `make run` starts the service on the embedded default, `make test` runs every test.
# Both go through `make setup`, which builds .venv and installs what a fresh Debian machine lacks.

VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DEBIAN := tor chromium age gpg

.PHONY: setup run test lint bench clean

setup: $(STAMP)
	@missing=""; for p in $(DEBIAN); do command -v $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$(echo $$missing | sed 's/gpg/gnupg/'); \
	fi

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

run: setup
	@echo "sealdrop's service arrives with the intake issue; for now: $(PY) -m crypto --help"
	$(PY) -m crypto --help

test: setup
	$(PY) -m ruff check .
	$(PY) -m pytest

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

bench: setup
	$(PY) -m bench.envelope

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
