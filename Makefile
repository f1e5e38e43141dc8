# Two commands for a newcomer; each creates .venv/ on first use and installs the project into it.
#   make series   execute the whole notebook series into runs/series-<time>/
#   make test     run the unit tests and execute every notebook (smoke mode) under nbval
# and one more:
#   make site     execute the series, then build the course website into runs/series-<time>/site/
#   make site RUN=runs/series-20261130-101500    build the website of a run made before
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: series test site clean-venv

series: $(STAMP)
	$(PY) -m tutorial_lib.series

test: $(STAMP)
	$(PY) -m pytest -n 2 --dist loadfile

RUN ?=
site: $(STAMP)
	@run="$(RUN)"; \
	if [ -z "$$run" ]; then \
	  run=runs/series-$$(date +%Y%m%d-%H%M%S); \
	  $(PY) -m tutorial_lib.series --out "$$run" || echo "some notebooks failed: the site shows those that ran"; \
	fi; \
	$(PY) -m tutorial_lib.site --run "$$run"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[lab,test]"
	touch $(STAMP)

clean-venv:
	rm -rf $(VENV)
