# sealdrop: `make run` starts the service on the embedded default, `make test` runs every test.
# Both go through `make setup`, which builds .venv and installs what a fresh Debian machine lacks.

VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DEBIAN := tor chromium firefox-esr age gpg pdftoppm ffmpeg onionbalance
# firefox-esr (Tor Browser's engine) is for the tests only: tests/firefox drive it over WebDriver BiDi.
# onionbalance lives in /usr/sbin, which a non-root PATH may lack: it is looked for there too.
# ffmpeg (with ffprobe) is for the tests only: they make phone-shaped media and check that what was
# cleaned still plays. The service never runs it.
# The poster font is a file, not a command (dropbox/posters; Debian package fonts-dejavu-core).
FONT   := /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf

# Translations: the .po files are the source (dropbox/translations/<lang>/LC_MESSAGES/messages.po);
# the .mo files are built from them here and never committed (.gitignore).
I18N   := dropbox/translations
PO     := $(wildcard $(I18N)/*/LC_MESSAGES/messages.po)
MO     := $(PO:.po=.mo)
# sealview has a catalogue of its own (it runs on an offline machine without dropbox/): the same way.
VI18N  := viewer/translations
VPO    := $(wildcard $(VI18N)/*/LC_MESSAGES/messages.po)
VMO    := $(VPO:.po=.mo)

.PHONY: setup run test lint bench clean translations fuzz faults viewer-bundle

setup: $(STAMP) $(MO) $(VMO)
	@missing=""; for p in $(DEBIAN); do command -v $$p >/dev/null 2>&1 || test -x /usr/sbin/$$p || missing="$$missing $$p"; done; \
	test -f $(FONT) || missing="$$missing fonts-dejavu-core"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$(echo $$missing | sed 's/gpg/gnupg/; s/pdftoppm/poppler-utils/'); \
	fi

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

# One .mo per .po, rebuilt whenever its .po is newer (order-only on the venv: a reinstall does not recompile).
$(I18N)/%/LC_MESSAGES/messages.mo: $(I18N)/%/LC_MESSAGES/messages.po | $(STAMP)
	$(VENV)/bin/pybabel compile --statistics -l $* -i $< -o $@
$(VI18N)/%/LC_MESSAGES/messages.mo: $(VI18N)/%/LC_MESSAGES/messages.po | $(STAMP)
	$(VENV)/bin/pybabel compile --statistics -l $* -i $< -o $@

# For developers after changing a template's or a module's words: re-extract messages.pot, merge it into
# every language's .po (new or changed messages arrive empty or fuzzy; tests/test_i18n.py fails until they
# are translated and the fuzzy flags removed), then recompile. The viewer's catalogue likewise, its
# translations kept in viewer/translations/strings.json and written into the .po files by fill.py
# (tests/viewer/test_i18n.py checks it). Both sides also take strings.d/*.json, one file per feature, so
# two people adding words never edit one file; fill.py writes them into the .po files.
translations: $(STAMP)
	$(VENV)/bin/pybabel extract -F dropbox/babel.cfg -k lazy_gettext -k _l -c TRANSLATORS: \
	  --add-location=file --sort-output --project sealdrop --version 0.1.0 --copyright-holder sealdrop \
	  -o $(I18N)/messages.pot dropbox
	$(VENV)/bin/pybabel update -i $(I18N)/messages.pot -d $(I18N) --ignore-obsolete --ignore-pot-creation-date
	$(VENV)/bin/python $(VI18N)/fill.py $(I18N)
	$(VENV)/bin/pybabel compile --statistics -d $(I18N)
	$(VENV)/bin/pybabel extract -F viewer/babel.cfg -k N_ -c TRANSLATORS: \
	  --add-location=file --sort-output --project sealview --version 0.1.0 --copyright-holder sealdrop \
	  -o $(VI18N)/messages.pot viewer
	$(VENV)/bin/pybabel update -i $(VI18N)/messages.pot -d $(VI18N) --ignore-obsolete --ignore-pot-creation-date
	$(VENV)/bin/python $(VI18N)/fill.py
	$(VENV)/bin/pybabel compile --statistics -d $(VI18N)

# axe-core (package.json, pinned in package-lock.json) for tests/browser/test_accessibility.py: reinstalled
# when node_modules/axe-core is missing or package-lock.json is newer. A second `setup:` line adds it.
AXE := node_modules/axe-core/axe.min.js
setup: $(AXE)
$(AXE): package.json package-lock.json
	command -v npm >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm; }
	npm ci --no-audit --no-fund
	touch $@

# The embedded default: an instance in ./instance (SQLite, local blob store) with the demo desk.
INSTANCE ?= instance
run: setup
	test -f $(INSTANCE)/config.json || $(VENV)/bin/sealdrop init --demo --dir $(INSTANCE)
	$(VENV)/bin/sealdrop serve --dir $(INSTANCE)

# The suite in one process per core (at most TEST_PROCESSES, pytest-xdist), each taking a whole test file
# at a time: a file's tests share its fixtures and run in order, as in a plain `pytest`. Why, and what it
# saved: docs/architecture.md, "Tests".
TEST_PROCESSES ?= 4
test: setup
	$(PY) -m ruff check .
	$(PY) -m pytest -n auto --maxprocesses $(TEST_PROCESSES) --dist loadfile

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

bench: setup
	$(PY) -m bench.envelope
	$(PY) -m bench.browser_envelope
	$(PY) -m bench.ingest
	$(PY) -m bench.viewer
	$(PY) -m bench.media
	$(PY) -m bench.field
	$(PY) -m bench.load --quick
	$(PY) -m bench.scale --quick
	$(PY) -m bench.mixed

# Every parser an outsider reaches, fuzzed under atheris (fuzz/): FUZZ_RUNS cases per target, each in its
# own process; prints cases run, crashes and seconds per target. `make test` runs them briefly.
FUZZ_RUNS ?= 100000
fuzz: setup
	$(PY) -m fuzz --runs $(FUZZ_RUNS)

# kill -9 at random points during FAULT_SUBMISSIONS submissions on every path (tests/faults); `make test`
# runs 60. SEALDROP_FAULT_SEED=N repeats a run's order of kills.
FAULT_SUBMISSIONS ?= 500
faults: setup
	SEALDROP_FAULT_SUBMISSIONS=$(FAULT_SUBMISSIONS) $(PY) -m pytest tests/faults/test_kill.py -q -s

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis

# A signed folder that installs sealview on an offline machine (docs/viewer-install.md): wheels for
# CPython 3.11 and 3.13 from PyPI, signed with $(INSTANCE)'s server key. It must not exist yet.
VIEWER_BUNDLE ?= viewer-bundle
viewer-bundle: setup
	$(PY) -m dropbox.viewer_bundle --dir $(INSTANCE) -o $(VIEWER_BUNDLE)
