"""Where the code runs: device, seeds, smoke mode, Colab/CI detection.

Every notebook's parameters pass through :func:`pick`, so one environment variable,
``TUTORIAL_SMOKE=1``, shrinks the whole series to a few seconds per notebook on a
2-core CPU (this is how CI executes it). Papermill injects its ``-p`` values in a cell
*after* the parameters cell, so they still win over both the full and the smoke defaults.

The rest of the basement, one job per file: :mod:`~tutorial_lib.checks` (parameter checks),
:mod:`~tutorial_lib.files` (the runs folder, atomic files, results JSON),
:mod:`~tutorial_lib.parameters` (a notebook's parameters cell and the lecture preset),
:mod:`~tutorial_lib.cli` (the commands' argument parser).
"""
from __future__ import annotations

import os
import random
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tutorial_lib.checks import check_choice, check_non_negative_int

SMOKE_ENV = "TUTORIAL_SMOKE"
HEADLESS_ENV = "TUTORIAL_HEADLESS"

REPO_ROOT = Path(__file__).resolve().parent.parent
"""The checkout this package was imported from (``pip install -e .`` or ``PYTHONPATH``)."""

NOTEBOOKS_DIR = REPO_ROOT / "notebooks"

REPO_URL = "https://github.com/generative-models-tutorial/generative-models-tutorial"
"""The one place the repository's address is written; the Colab set-up cell uses it."""


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


SMOKE_BANNER = ("=" * 88 + "\nSMOKE MODE (TUTORIAL_SMOKE=1): tiny data and settings, so that this notebook runs in "
                "seconds on a CPU.\nThe numbers and pictures below are NOT meaningful results. Unset TUTORIAL_SMOKE "
                "for the real run.\n" + "=" * 88)


def announce_mode() -> None:
    """Print :data:`SMOKE_BANNER` in smoke mode (every notebook's first cell calls this); else nothing.

    Under ``TUTORIAL_FIGURE_AUDIT=1`` (the tests) it also installs :mod:`tutorial_lib.figure_audit`.
    """
    if smoke_mode():
        print(SMOKE_BANNER)
    from tutorial_lib import figure_audit
    if figure_audit.enabled():
        figure_audit.install()


def smoke_mode() -> bool:
    """True when ``TUTORIAL_SMOKE`` is set: tiny data, one short epoch, same code path."""
    return _flag(SMOKE_ENV)


def pick(full: Any, smoke: Any) -> Any:
    """The value for the current mode: ``full`` normally, ``smoke`` under ``TUTORIAL_SMOKE=1``.

    Used in every notebook's parameters cell, positionally — ``epochs = runtime.pick(10, 1)`` — because
    papermill's parameter parser skips lines with more than one ``=``.
    """
    return smoke if smoke_mode() else full


def in_colab() -> bool:
    return "google.colab" in sys.modules


def in_ci() -> bool:
    return _flag("CI") or _flag("GITHUB_ACTIONS")


def headless() -> bool:
    """True where no widget frontend will render, so interactive figures draw a static grid instead.

    Live widgets need a frontend that renders them: a kernel started by Jupyter Server (JupyterLab,
    Notebook; it sets ``JPY_SESSION_NAME``), Colab or VS Code — or ``TUTORIAL_WIDGETS=1``. Anywhere
    else (papermill, nbval, a script) and always under ``TUTORIAL_HEADLESS=1``, smoke mode or CI,
    the figures are static, so an unattended run never waits on a widget.
    """
    if smoke_mode() or in_ci() or _flag(HEADLESS_ENV):
        return True
    frontend = (_flag("TUTORIAL_WIDGETS") or in_colab() or "JPY_SESSION_NAME" in os.environ
                or "VSCODE_PID" in os.environ)
    return not frontend


DEVICES = ("auto", "cpu", "cuda")


def get_device(requested: str = "auto", *, quiet: bool = False) -> torch.device:
    """Resolve ``"auto" | "cpu" | "cuda"`` to a ``torch.device``, with a one-line notice.

    ``"auto"`` takes CUDA when present, else the CPU. Asking for ``"cuda"`` on a machine
    without a GPU is an error (raised before any training starts), not a silent fallback.
    """
    check_choice("device", requested, DEVICES)
    has_cuda = torch.cuda.is_available()
    if requested == "cuda" and not has_cuda:
        raise ValueError(
            "device='cuda' was requested but no CUDA GPU is visible. Allowed here: 'auto' or 'cpu'. "
            "In Colab: Runtime > Change runtime type > GPU."
        )
    device = torch.device("cuda" if requested in ("auto", "cuda") and has_cuda else "cpu")
    if not quiet:
        if device.type == "cuda":
            print(f"Using GPU: {torch.cuda.get_device_name(device)}")
        else:
            print("Using the CPU (no CUDA GPU found); full-size training will be slow.")
    return device


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch (CPU and every GPU)."""
    check_non_negative_int("seed", seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)



def environment() -> str:
    """One line about this environment, printed by the set-up notebook."""
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    where = "Colab" if in_colab() else ("CI" if in_ci() else "local")
    mode = "smoke" if smoke_mode() else "full"
    return (f"Python {sys.version.split()[0]} | torch {torch.__version__} | {gpu} | "
            f"{where} | {mode} mode | {torch.get_num_threads()} CPU threads")

