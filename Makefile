# Two commands for a newcomer; each creates .venv/ on first use and installs the project into it.
#   make series   execute the whole notebook series into runs/series-<time>/
#   make test     run the unit tests and execute every notebook (smoke mode) under nbval
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: series test clean-venv

series: $(STAMP)
	$(PY) -m tutorial_lib.series

test: $(STAMP)
	$(PY) -m pytest -n 2 --dist loadfile

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[lab,test]"
	touch $(STAMP)

clean-venv:
	rm -rf $(VENV)
