# `make demo` and `make test` work on a fresh machine: each creates .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# constraints.txt pins torch to the CPU build; without it pip may pull CUDA packages.
PIP := $(BIN)/pip install --quiet -c constraints.txt
# Measured `make demo` time on a 2-core CPU (README, "Results: study 000"), .venv not counted.
DEMO_MINUTES := 5-11

.PHONY: demo demo-intro test test-slow bench clean fashion-data browser

$(BIN)/genbench: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) torch==2.13.0
	$(PIP) -e '.[test]'
	touch $@

# Says what it runs before the (minutes-long, first time only) set-up of .venv.
demo-intro:
	@echo "make demo: the toy2d study, study 000 done better: a VAE and a GAN on 4 generated 2D datasets"
	@echo "  (pinwheel, spiral, checkerboard, Gaussian mixture), 5 seeds each, no download."
	@echo "  Takes about $(DEMO_MINUTES) min on 2 CPU cores (plus about 2 min to set up .venv the first time)."
	@echo "  The report fills in as runs finish: open runs/toy2d/report.html at any time."

demo: demo-intro $(BIN)/genbench
	$(BIN)/genbench run toy2d --out runs/toy2d

# Real Fashion-MNIST for the data tests, from Debian's package (they skip, saying why,
# where it cannot be installed).
fashion-data:
	@test -d /usr/share/datasets/fashion-mnist || \
	  ( (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist) >/dev/null 2>&1 ) || \
	  echo "note: could not install dataset-fashion-mnist; the tests that need it will skip"

# Headless Chromium for the browser test of the report (it skips, saying why, without it).
browser:
	@command -v chromedriver >/dev/null || \
	  ( (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) >/dev/null 2>&1 ) || \
	  echo "note: could not install chromium and chromium-driver; the browser test will skip"

# The suite but its end-to-end checks of tens of seconds each (pytest's `slow` mark:
# whole studies from new processes, Ray and Slurm clusters, kills), which `test-slow`
# runs; CI runs both. `$(BIN)/python -m pytest` runs everything at once.
test: $(BIN)/genbench fashion-data
	$(BIN)/python -m pytest -q -m "not slow"

test-slow: $(BIN)/genbench fashion-data browser
	$(BIN)/python -m pytest -q -m slow

bench: $(BIN)/genbench
	$(BIN)/python benchmarks/toy2d.py

clean:
	rm -rf runs .pytest_cache
