"""Shared test set-up: every test and every notebook run in smoke mode, with runs in a temp folder."""
import os
import tempfile

import pytest
import torch

# Set before any notebook kernel starts (nbval kernels inherit this process's environment),
# so the whole series executes on the shipped sample, small and fast, and never resumes from
# a developer's own checkpoints.
os.environ["TUTORIAL_SMOKE"] = "1"
os.environ["TUTORIAL_HEADLESS"] = "1"
os.environ.setdefault("TUTORIAL_RUNS", tempfile.mkdtemp(prefix="tutorial-test-runs-"))
# `make test` runs two pytest workers (and their notebook kernels) on a 2-core machine: one
# thread each. More threads than cores make OpenMP spin-wait and run several times slower.
os.environ.setdefault("OMP_NUM_THREADS", "1")
torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


@pytest.fixture
def runs_dir(tmp_path, monkeypatch):
    """A fresh, empty runs folder for one test."""
    monkeypatch.setenv("TUTORIAL_RUNS", str(tmp_path / "runs"))
    return tmp_path / "runs"
