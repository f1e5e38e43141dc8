"""Shared test set-up: every test and every notebook run in smoke mode, with runs in a temp folder.

Everything the tests write outside the repository goes to one folder made for the session
(``TMPDIR`` points there, so pytest's ``tmp_path``, the notebook kernels and the runs folder all
land in it), and the session removes it at the end: a test run leaves nothing in /tmp.
"""
import os
import shutil
import tempfile
from pathlib import Path

import pytest
import torch

# The first process to load this file (pytest itself, or xdist's controller) makes the folder;
# xdist workers and notebook kernels inherit it through the environment.
_OWNS_TMP = "TUTORIAL_TEST_TMP" not in os.environ
if _OWNS_TMP:
    os.environ["TUTORIAL_TEST_TMP"] = tempfile.mkdtemp(prefix="tutorial-tests-")
os.environ["TMPDIR"] = os.environ["TUTORIAL_TEST_TMP"]
tempfile.tempdir = None                          # forget any temp folder already looked up

# Set before any notebook kernel starts (nbval kernels inherit this process's environment),
# so the whole series executes on the shipped sample, small and fast, and never resumes from
# a developer's own checkpoints.
os.environ["TUTORIAL_SMOKE"] = "1"
os.environ["TUTORIAL_HEADLESS"] = "1"
os.environ.setdefault("TUTORIAL_RUNS", os.path.join(os.environ["TMPDIR"], "runs"))
# `make test` runs two pytest workers (and their notebook kernels) on a 2-core machine: one
# thread each. More threads than cores make OpenMP spin-wait and run several times slower.
os.environ.setdefault("OMP_NUM_THREADS", "1")
torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


def pytest_sessionfinish(session, exitstatus):
    if _OWNS_TMP:
        shutil.rmtree(os.environ["TUTORIAL_TEST_TMP"], ignore_errors=True)


@pytest.fixture
def runs_dir(tmp_path, monkeypatch):
    """A fresh, empty runs folder for one test."""
    monkeypatch.setenv("TUTORIAL_RUNS", str(tmp_path / "runs"))
    return tmp_path / "runs"


@pytest.fixture
def one_thread():
    """One CPU thread for the test: reference numbers computed on one thread sum in that order, and
    tiny networks run faster on one thread than on several sharing a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


SMOKE_RUN_ENV = "TUTORIAL_SMOKE_RUN"


@pytest.fixture(scope="session")
def smoke_series():
    """(run folder, exit code) of the whole series 00–11 executed once in smoke mode, with the figure audit on.

    ``python -m tutorial_lib.commands.series --smoke`` into the session's temporary folder, with ``TUTORIAL_FIGURE_AUDIT=1``
    (tutorial_lib/figure_audit.py: each cell's executed output then lists the figures it drew and their axes
    without a label). About 3 minutes on one thread. One run serves the whole session, xdist workers included:
    a lock in the shared folder lets the first test that asks run it and the others wait for it and read it.
    ``TUTORIAL_SMOKE_RUN=<folder>`` reads an earlier run of the same kind instead (exit code 0 is assumed).
    """
    if os.environ.get(SMOKE_RUN_ENV):
        return Path(os.environ[SMOKE_RUN_ENV]), 0
    from filelock import FileLock

    from tutorial_lib import figure_audit
    from tutorial_lib.commands import series

    shared = Path(os.environ["TUTORIAL_TEST_TMP"])
    run, done = shared / "smoke-series", shared / "smoke-series.exit-code"
    with FileLock(str(shared / "smoke-series.lock")):
        if not done.exists():
            os.environ[figure_audit.ENV] = "1"          # the kernels inherit it; nothing else in the session sees it
            try:
                code = series.main(["--smoke", "--out", str(run)])
            finally:
                os.environ.pop(figure_audit.ENV, None)
            done.write_text(str(code))
    return run, int(done.read_text())
