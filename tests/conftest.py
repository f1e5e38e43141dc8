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
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture
def runs_dir(tmp_path, monkeypatch):
    """A fresh, empty runs folder for one test."""
    monkeypatch.setenv("TUTORIAL_RUNS", str(tmp_path / "runs"))
    return tmp_path / "runs"
