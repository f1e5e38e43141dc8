"""The runs folder and the files written into it: atomically (a reader never sees half a file),
with one message, naming ``TUTORIAL_RUNS`` and the fix, for any failure to write."""
from __future__ import annotations

import errno
import json
import os
import tempfile
from pathlib import Path

from tutorial_lib.runtime import REPO_ROOT, smoke_mode

RUNS_ENV = "TUTORIAL_RUNS"
_runs_root: Path | None = None


def use_runs_folder(path: str | os.PathLike | None) -> None:
    """Keep this process's runs under ``path`` (None: ``$TUTORIAL_RUNS``, else ``<repo>/runs``, again).
    Colab's Drive set-up calls it; it changes nothing another process reads."""
    global _runs_root
    _runs_root = Path(path) if path is not None else None


def _configured_root() -> Path | None:
    if _runs_root is not None:
        return _runs_root
    return Path(os.environ[RUNS_ENV]) if os.environ.get(RUNS_ENV) else None


def runs_dir() -> Path:
    """Root folder for checkpoints and run outputs: ``$TUTORIAL_RUNS`` or ``<repo>/runs``.

    Smoke runs live in their own ``smoke/`` subfolder so a tiny CI model is never
    mistaken for a fully trained one.
    """
    root = _configured_root() or REPO_ROOT / "runs"
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
    root = _configured_root()
    setting = (f"TUTORIAL_RUNS={root}" if root is not None
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
    root = _configured_root()
    if root is not None and not root.parent.exists() and (root == path or root in path.parents):
        raise runs_folder_error(path, FileNotFoundError(errno.ENOENT, f"the parent folder {root.parent} "
                                                                      f"of TUTORIAL_RUNS does not exist"))
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise runs_folder_error(path, err) from None
    return path



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
                  params=None) -> None:
    """Record a run's headline figures as JSON (atomically) for sweeps to collect.

    ``model`` (a :attr:`tutorial_lib.training.History.run` record) and ``params`` (:class:`tutorial_lib.parameters.NotebookParameters`) are stored beside
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
