"""A run's folder: which one a configuration trains in, its lock (two processes never train in
the same folder at once), the settings it holds, and what :func:`~tutorial_lib.training.fit` saves
there and resumes from. A shipped model is the same record, finished and read-only
(:mod:`tutorial_lib.training.shipped`)."""
from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import filelock
import torch

from tutorial_lib import files
from tutorial_lib.training import checkpoints

ASKED_SHIPPED = "asked-shipped.jsonl"
"""In a run folder: one line per ``fit(..., shipped=True)`` call that used it, with the time, so that
``python -m tutorial_lib.commands.pretrained build`` can tell which runs a notebook asked to ship."""


class RunInUse(RuntimeError):
    """Another process is training the same run (same folder) right now."""


class RunFolder:
    """Where a run lives: picks the folder, holds its lock, reads what is saved, saves.

    ``checkpoint_dir=None`` keeps nothing on disk; ``"auto"`` is ``<runs>/checkpoints/<method>-<hash>``.
    """

    def __init__(self, method_name: str, run_config: dict, checkpoint_dir):
        self.method_name, self.config = method_name, run_config
        self.folder = None
        if checkpoint_dir == "auto":
            self.folder = checkpoints.run_dir(method_name, run_config)
        elif checkpoint_dir:
            self.folder = Path(checkpoint_dir)
        self.lock = None

    def __enter__(self) -> "RunFolder":
        if self.folder is not None:
            self._open(self.folder)
        return self

    def __exit__(self, *exc) -> None:
        if self.lock is not None:
            self.lock.release()

    def _open(self, folder: Path) -> None:
        if self.lock is not None:
            self.lock.release()
        files.ensure_dir(folder)
        self.lock = filelock.FileLock(str(folder / ".lock"), timeout=0)
        try:
            self.lock.acquire()
        except filelock.Timeout:
            self.lock = None
            raise RunInUse(f"Another process is training this same run in {folder} right now. Wait for it to "
                           f"finish (then run again: it resumes from that run), or change a setting.") from None
        saved = checkpoints.read_config(folder)
        if saved is not None and saved != json_safe(self.config):
            raise ValueError(f"{folder} holds a run with other settings ({_diff(saved, json_safe(self.config))}); "
                             f"give fit() another checkpoint_dir, or delete that folder to start over.")
        self.folder = folder
        checkpoints.write_config(folder, self.config)

    def read(self, device: torch.device, epochs: int) -> dict | None:
        """The saved state to resume from, or None. A run saved past ``epochs`` is not cut back:
        this run moves to a folder of its own length (its model at ``epochs`` was not kept)."""
        if self.folder is None or not (self.folder / checkpoints.LAST).exists():
            return None
        saved = checkpoints.read_training(self.folder, device)
        if saved["epoch"] <= epochs:
            return saved
        longer = self.folder
        self.config = {**self.config, "epochs": epochs}
        self._open(self.folder.with_name(f"{self.folder.name}-e{epochs}"))
        print(f"The run in {longer} has trained {saved['epoch']} epochs, more than the {epochs} asked for, and "
              f"its model after {epochs} was not kept. Training a separate {epochs}-epoch run in {self.folder}.")
        return self.read(device, epochs)

    def note_asked_shipped(self) -> None:
        """Record that a ``fit(..., shipped=True)`` call used this run (see :data:`ASKED_SHIPPED`)."""
        if self.folder is not None:
            with open(self.folder / ASKED_SHIPPED, "a") as f:
                f.write(json.dumps({"at": datetime.now().timestamp()}) + "\n")

    def save(self, method, history, at) -> None:
        if self.folder is not None:
            history.run["epochs_trained"] = at.epoch
            history.run["finished_at"] = datetime.now().isoformat(timespec="seconds")
            checkpoints.save_training(self.folder, method, history.state(), at.epoch, at.iteration, at.step)


def json_safe(config: dict) -> dict:
    """``config`` as it reads back from config.json (tuples become lists, ...)."""
    return json.loads(json.dumps(config, sort_keys=True, default=str))


def _diff(saved: dict, now: dict) -> str:
    keys = sorted(set(saved) | set(now), key=str)
    return "; ".join(f"{k}: saved {saved.get(k)!r}, now {now.get(k)!r}" for k in keys if saved.get(k) != now.get(k))
