"""Where the code runs: device, seeds, smoke mode, Colab/CI detection, parameter checks.

Every notebook's parameters pass through :func:`pick`, so one environment variable,
``TUTORIAL_SMOKE=1``, shrinks the whole series to a few seconds per notebook on a
2-core CPU (this is how CI executes it). Papermill injects its ``-p`` values in a cell
*after* the parameters cell, so they still win over both the full and the smoke defaults.
"""
from __future__ import annotations

import argparse
import errno
import json
import math
import os
import random
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch

SMOKE_ENV = "TUTORIAL_SMOKE"
HEADLESS_ENV = "TUTORIAL_HEADLESS"
RUNS_ENV = "TUTORIAL_RUNS"

REPO_ROOT = Path(__file__).resolve().parent.parent
"""The checkout this package was imported from (``pip install -e .`` or ``PYTHONPATH``)."""

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


def runs_dir() -> Path:
    """Root folder for checkpoints and run outputs: ``$TUTORIAL_RUNS`` or ``<repo>/runs``.

    Smoke runs live in their own ``smoke/`` subfolder so a tiny CI model is never
    mistaken for a fully trained one.
    """
    root = Path(os.environ.get(RUNS_ENV) or REPO_ROOT / "runs")
    return root / "smoke" if smoke_mode() else root


class RunsFolderError(OSError):
    """The runs folder cannot be written; the message names ``TUTORIAL_RUNS``, the path and the fix."""

    def __init__(self, code: int | None, message: str, path: str):
        super().__init__(code, message)
        self.message, self.filename = message, path

    def __str__(self) -> str:
        return self.message


def runs_folder_error(path: str | os.PathLike, err: OSError) -> RunsFolderError:
    """One message for any failure to write under the runs folder (missing, read-only, full, ...)."""
    reason = err.strerror or str(err)
    if err.errno == errno.ENOSPC:
        fix = "free some space there, or point TUTORIAL_RUNS at a disk with room"
    elif err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        fix = "point TUTORIAL_RUNS at a folder you can write to"
    else:
        fix = "check the path, or point TUTORIAL_RUNS at a folder that exists and that you can write to"
    setting = (f"TUTORIAL_RUNS={os.environ[RUNS_ENV]}" if os.environ.get(RUNS_ENV)
               else f"TUTORIAL_RUNS is not set, so runs go to {REPO_ROOT / 'runs'}")
    return RunsFolderError(err.errno, f"Cannot write {path}: {reason}. ({setting}.) To fix: {fix}, "
                                      f"e.g. export TUTORIAL_RUNS=$HOME/tutorial-runs, then run again. "
                                      f"Nothing already saved was changed.", str(path))


def ensure_dir(path: str | os.PathLike) -> Path:
    """Create a folder under the runs root (parents too, but never the root's own parent).

    A ``TUTORIAL_RUNS`` whose parent folder does not exist is an error rather than a surprise tree
    (a typo, or a network drive not mounted). Any failure becomes one :class:`RunsFolderError`.
    """
    path = Path(path)
    root = Path(os.environ[RUNS_ENV]) if os.environ.get(RUNS_ENV) else None
    if root is not None and not root.parent.exists() and (root == path or root in path.parents):
        raise runs_folder_error(path, FileNotFoundError(errno.ENOENT, f"the parent folder {root.parent} "
                                                                      f"of TUTORIAL_RUNS does not exist"))
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise runs_folder_error(path, err) from None
    return path


# ----------------------------------------------------------------------------- parameter checks
# One clear message per bad parameter, naming what is allowed, raised before training starts.

def check_choice(name: str, value: Any, allowed: Iterable[Any]) -> None:
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not one of the allowed values: {', '.join(map(repr, allowed))}")


def _finite(name: str, value: Any, kind: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{name}={value!r} must be {kind}, and finite (inf and nan are not settings)")


def check_positive(name: str, value: Any, *, integer: bool = False) -> None:
    ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
    kind = "a positive integer" if integer else "a positive number"
    if ok_type and not isinstance(value, bool):
        _finite(name, value, kind)
    if isinstance(value, bool) or not ok_type or not value > 0:
        raise ValueError(f"{name}={value!r} must be {kind}")


def check_positive_int(name: str, value: Any) -> None:
    check_positive(name, value, integer=True)


def check_non_negative(name: str, value: Any) -> None:
    if isinstance(value, float):
        _finite(name, value, "a number >= 0")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ValueError(f"{name}={value!r} must be a number >= 0")


def check_non_negative_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name}={value!r} must be an integer >= 0")


# ----------------------------------------------------------------------------- atomic files

def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a reader never sees half a file (temp file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)                 # mkstemp makes 0600; a results file is for reading
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_results(path: str | os.PathLike | None, results: dict, *, model: dict | None = None,
                  params: "NotebookParameters | None" = None) -> None:
    """Record a run's headline figures as JSON (atomically) for sweeps to collect.

    ``model`` (a :attr:`tutorial_lib.trainer.History.run` record) and ``params`` are stored beside
    the figures, so every result names the model that produced it: its settings, the epochs it
    actually trained, the device and the date. Does nothing when ``path`` is empty, so notebooks
    can always call it.
    """
    if not path:
        return
    record = dict(results)
    if model is not None:
        record["model"] = model
        record["epochs_trained"] = model.get("epochs_trained")
    if params is not None:
        record["parameters"] = params.values
        record["at_defaults"] = params.at_defaults
    try:
        atomic_write_bytes(path, (json.dumps(record, indent=2, sort_keys=True, default=str) + "\n").encode())
    except OSError as err:
        raise runs_folder_error(path, err) from None


def precision_for(device: torch.device | str) -> str:
    """The mixed precision a device supports well: ``"bfloat16"`` on compute capability ≥ 8.0
    (A100, H100, L4, ...), ``"float16"`` with a gradient scaler on 7.x (Colab's T4, V100: no bf16
    units), ``"float32"`` on the CPU and older GPUs."""
    device = torch.device(device)
    if device.type != "cuda":
        return "float32"
    major, _ = torch.cuda.get_device_capability(device)
    return "bfloat16" if major >= 8 else "float16" if major == 7 else "float32"


def describe_precision(device: torch.device | str) -> str:
    """What the card supports and what the series uses (float32 everywhere, for now)."""
    best = precision_for(device)
    return ("training runs in float32" if best == "float32" else
            f"it supports {best} mixed precision; the series trains in float32 for now")


def describe() -> str:
    """One line about this environment, printed by the set-up notebook."""
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    where = "Colab" if in_colab() else ("CI" if in_ci() else "local")
    mode = "smoke" if smoke_mode() else "full"
    return (f"Python {sys.version.split()[0]} | torch {torch.__version__} | {gpu} | "
            f"{where} | {mode} mode | {torch.get_num_threads()} CPU threads")


# ----------------------------------------------------------------------------- notebook parameters

NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
WHERE_ONLY = frozenset({"results_json", "figures_dir", "data_root", "device", "lecture", "train_from_scratch"})
"""Parameters that say where things go or run, or whether the series' model is loaded or trained
here, not how it is trained: changing them keeps a run (and what it exports) the series' own."""


def lecture_preset(namespace: dict, shorter: dict[str, Any], skipped: str = "") -> dict:
    """The lecture preset: set the extra runs' settings in ``shorter`` (a notebook's ``globals()``
    is ``namespace``), never making anything longer than it already is (so smoke mode stays
    small), and say in one line what it changed. The series' models are not among them."""
    changed = {}
    for name, value in shorter.items():
        old = namespace[name]
        new = (min(old, value) if isinstance(value, (int, float)) and not isinstance(value, bool)
               else value if isinstance(value, list) and len(value) < len(old) else old)
        if new != old:
            namespace[name], changed[name] = new, (old, new)
    what = ", ".join(f"{name} {old!r} -> {new!r}" for name, (old, new) in changed.items())
    print("LECTURE PRESET: shorter extra runs for a live class (" + (what or "nothing to shorten here")
          + ")" + (f"; {skipped}" if skipped else "") + ". The series' model is the same as at the defaults.")
    return changed


def parameters_cell(notebook: str | os.PathLike) -> str:
    """The source of the notebook's cell tagged ``parameters`` ("" when it has none)."""
    cells = json.loads(Path(notebook).read_text())["cells"]
    tagged = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    return "".join(tagged[0]["source"]) if tagged else ""


def declared_parameters(notebook: str | os.PathLike) -> list[str]:
    """Names assigned in the notebook's cell tagged ``parameters``, in order."""
    import ast
    tree = ast.parse(parameters_cell(notebook))
    return [t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets
            if isinstance(t, ast.Name)]


@dataclass
class NotebookParameters:
    """A notebook run's parameters, and which of them differ from the notebook's own defaults.

    ``changed`` is empty when the run is at the defaults (those of the current mode, full or
    smoke): then what it trains is the series' own model, which later notebooks load.
    """
    notebook: str
    values: dict
    changed: dict = field(default_factory=dict)

    @property
    def at_defaults(self) -> bool:
        return not self.changed


def notebook_defaults(notebook: str) -> dict:
    """The default values of ``notebooks/<notebook>.ipynb``'s parameters, evaluated in the current
    mode (full or smoke), e.g. for a script that trains what the notebook trains."""
    path = NOTEBOOKS_DIR / f"{notebook}.ipynb"
    defaults: dict = {}
    exec(compile(parameters_cell(path), str(path), "exec"), {"runtime": sys.modules[__name__]}, defaults)
    return defaults


def notebook_parameters(notebook: str, namespace: dict) -> NotebookParameters:
    """Compare the parameters in ``namespace`` (a notebook's ``globals()``) with the notebook's defaults.

    The defaults are read from ``notebooks/<notebook>.ipynb``'s parameters cell and evaluated in
    the current mode, so papermill's ``-p`` values (injected after that cell) show up as changes.
    Parameters in :data:`WHERE_ONLY` are recorded but never count as a change.
    """
    names = declared_parameters(NOTEBOOKS_DIR / f"{notebook}.ipynb")
    defaults = notebook_defaults(notebook)
    values = {k: namespace[k] for k in names if k in namespace}
    changed = {k: v for k, v in values.items() if k not in WHERE_ONLY and (k not in defaults or defaults[k] != v)}
    if changed:
        print("Parameters changed from this notebook's defaults: "
              + ", ".join(f"{k}={v!r} (default {defaults.get(k)!r})" for k, v in changed.items())
              + ". Models this run exports are kept apart from the series' own.")
    return NotebookParameters(notebook, values, changed)


# ----------------------------------------------------------------------------- Colab

_COLAB_CELL = '''# Set-up for Google Colab: install tutorial_lib without changing any package Colab ships (no restart
# needed), report the GPU, and keep your runs on Google Drive if you wish. Elsewhere it does nothing.
KEEP_RUNS_ON_DRIVE = False   # True: checkpoints and trained models go to your Drive and survive a disconnect
import sys
if "google.colab" in sys.modules:
    import pathlib, subprocess, tempfile
    from importlib import metadata
    repo = pathlib.Path.home() / "generative-models-tutorial"
    if not repo.exists():
        subprocess.run(["git", "clone", "--depth", "1", "{url}", str(repo)], check=True)
    found = {{d.metadata["Name"].lower(): d.version for d in reversed(list(metadata.distributions()))
             if d.metadata["Name"]}}         # the copy Python imports wins
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as constraints:
        constraints.write("\\n".join(f"{{name}}=={{version}}" for name, version in found.items()))
    # -c: every package already installed stays at its version; only missing ones are added
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", str(repo), "-c", constraints.name], check=True)
    sys.path.insert(0, str(repo))
    from tutorial_lib import colab
    colab.setup(keep_runs_on_drive=KEEP_RUNS_ON_DRIVE)
from tutorial_lib import runtime
runtime.announce_mode()      # a banner when the notebook runs in smoke mode'''


def colab_setup_source() -> str:
    """The first code cell of every notebook (tests/test_notebooks.py checks they match)."""
    return _COLAB_CELL.format(url=REPO_URL)


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad argument ends in one line on stderr, ``error: ...``, not the usage text."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")
