# Two commands for a newcomer; each creates .venv/ on first use and installs the project into it.
#   make series   the real course into runs/series-<time>/: the defaults on a GPU; on a CPU the defaults with
#                 the lecture preset (shipped models, shorter extra runs); smoke mode only without MNIST
#   make test     run the unit tests and execute every notebook (smoke mode) under nbval
# and more:
#   make smoke    the two-minute check: every notebook in smoke mode (the shipped sample, tiny settings)
#   make site     execute the series, then build the course website into runs/series-<time>/site/
#   make site RUN=runs/series-20261130-101500    build the website of a run made before
#   make reference   the reference run in runs/reference/: the whole series at its defaults, side by side
#                 (python -m tutorial_lib.commands.series --full --jobs auto), then from it the results page (docs/results.md),
#                 the website and the shipped models (python -m tutorial_lib.commands.pretrained build, which reuses the
#                 runs the series trained). Run it again to resume where it stopped. DEADLINE=50 gives it
#                 50 minutes: then training stops with checkpoints (TUTORIAL_DEADLINE). MODE=smoke does it all
#                 on the shipped sample, writing the results page and shipped models into the run folder.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: series smoke test site reference clean-venv

series: $(STAMP)
	$(PY) -m tutorial_lib.commands.series

smoke: $(STAMP)
	$(PY) -m tutorial_lib.commands.series --smoke

test: $(STAMP)
	$(PY) -m pytest -n 2 --dist loadfile

RUN ?=
site: $(STAMP)
	@run="$(RUN)"; \
	if [ -z "$$run" ]; then \
	  run=runs/series-$$(date +%Y%m%d-%H%M%S); \
	  $(PY) -m tutorial_lib.commands.series --out "$$run" || echo "some notebooks failed: the site shows those that ran"; \
	fi; \
	$(PY) -m tutorial_lib.commands.site --run "$$run"

REF ?= runs/reference
MODE ?= full
JOBS ?= auto
DEADLINE ?=
RUNS ?= $(or $(TUTORIAL_RUNS),runs)
SMOKE_ONLY = $(if $(filter smoke,$(MODE)),$(1))
reference: $(STAMP)
	@set -e; \
	export TUTORIAL_RUNS=$(abspath $(RUNS)); \
	$(if $(DEADLINE),export TUTORIAL_DEADLINE=$$(( $$(date +%s) + 60 * $(DEADLINE) ));) \
	$(call SMOKE_ONLY,export TUTORIAL_SMOKE=1 TUTORIAL_SHIPPED=$(abspath $(REF))/shipped; mkdir -p $(REF)/shipped;) \
	$(PY) -m tutorial_lib.commands.series --$(MODE) --jobs $(JOBS) --out $(REF); \
	$(PY) -m tutorial_lib.commands.results $(REF) $(call SMOKE_ONLY,--out $(REF)/results-page); \
	$(PY) -m tutorial_lib.commands.site --run $(REF); \
	$(PY) -m tutorial_lib.commands.pretrained build --runs $(RUNS)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[lab,test]"
	touch $(STAMP)

clean-venv:
	rm -rf $(VENV)
