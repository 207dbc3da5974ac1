# dexkit's build glue. `make demo` and `make test` are all a newcomer needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.dexkit-installed

.PHONY: install demo test lint typecheck unit unit-fast notebooks docs wheel-test bench lab browser clean

install: $(STAMP)

# Re-installs only when pyproject.toml changed since the last install.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# Debian's Chromium for the browser tests (no browser download): installed when missing and
# when this machine allows it (root with apt-get).
browser:
	@if command -v chromium >/dev/null 2>&1 || test -x /usr/bin/chromium; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "warning: chromium is missing and cannot be installed here; browser tests will fail"; fi

demo: install
	$(BIN)/dexkit demo

lint: install
	$(BIN)/ruff check dexkit tests benchmarks
	$(BIN)/ruff format --check dexkit tests benchmarks

typecheck: install
	$(BIN)/mypy

unit: install browser
	$(BIN)/pytest

# A contributor's inner loop, under a minute: everything but the slow tests (browser, notebooks,
# the wheel, servers and subprocesses, hypothesis properties, byte-for-byte sample regeneration,
# every test over half a second), on both cores. `make test` still runs everything.
FAST_SKIP := dexkit/synth.py::dexkit.synth.write_sample dexkit/synth.py::dexkit.synth.write_logpush_sample \
	dexkit/_fleetindex.py::dexkit._fleetindex dexkit/charts.py::dexkit.charts.colo_map \
	dexkit/charts.py::dexkit.charts.widget dexkit/inputs.py::dexkit.inputs.load \
	dexkit/report.py::dexkit.report.build_report
unit-fast: install
	$(BIN)/pytest -m "not slow and not browser" -q -p no:cacheprovider -n 2 \
	  $(addprefix --deselect ,$(FAST_SKIP))

# The documentation site, built strictly (a broken link, anchor or API reference fails) and
# offline (no web fonts, no CDN): site/index.html opens from disk.
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

# The notebooks run on the bundled sample: credentials in the environment would switch them to the
# live API, so they are removed for this run.
notebooks: install
	env -u CLOUDFLARE_API_TOKEN -u CLOUDFLARE_ACCOUNT_ID -u CLOUDFLARE_EMAIL -u CLOUDFLARE_API_KEY \
	  $(BIN)/pytest --nbval-lax notebooks/ -p no:cacheprovider

test: lint typecheck unit notebooks docs

# The benchmarks compare with the official cloudflare SDK: the bench extra brings it.
bench: install
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python benchmarks/run.py

# JupyterLab on notebooks/, on localhost only (root, as in containers, needs --allow-root).
lab: install
	$(BIN)/jupyter lab --ip=127.0.0.1 --notebook-dir=notebooks $$([ "$$(id -u)" = 0 ] && echo --allow-root)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache site dist
