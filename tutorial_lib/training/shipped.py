"""Trained models that ship with the series, read-only: finding one, loading it, describing it.

A shipped model is a *finished training run at a notebook's default settings*: its weights (no
optimizer state, stored as float16 to keep the repository small), the run's history and a record
of how it was made: config, data, epochs trained, device, training seconds, and its Fréchet distance
on the shipped evaluator. It is filed under the key ``fit()`` already gives a run folder,
``<method>-<hash of everything that decides the trajectory>`` (:func:`checkpoints.run_key`), so
``fit(..., shipped=True)`` finds it for exactly the settings it was trained with and the same number
of epochs, loads it (checking its SHA-256 first) instead of training, and says so in one line.

The series' own models are named as their methods are (:data:`tutorial_lib.methods.SERIES`):
:func:`load_series_model` reads ``<runs>/models/<name>.pt`` (what the notebook exported on this
machine), else the shipped one. Making them again is a command:
``python -m tutorial_lib.commands.pretrained build``.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch

from tutorial_lib import checks, methods
from tutorial_lib.training import checkpoints

SHIPPED_ENV = "TUTORIAL_SHIPPED"
"""Environment variable: another folder of shipped models (the tests and ``build`` use their own)."""
INDEX = "index.json"
REBUILD = "python -m tutorial_lib.commands.pretrained build"


def shipped_dir() -> Path:
    return Path(os.environ.get(SHIPPED_ENV) or Path(__file__).resolve().parent.parent / "shipped")


def read_index(folder: Path | None = None) -> dict:
    """``{"models": {key: record}, "names": {series name: key}}``; empty when nothing ships."""
    path = (folder or shipped_dir()) / INDEX
    if not path.exists():
        return {"models": {}, "names": {}}
    try:
        return json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is not readable JSON ({err}): restore it with `git checkout -- {path.name}` in "
                         f"{path.parent}, or rebuild with `{REBUILD}`") from None


def find(method_name: str, run_config: dict, epochs: int) -> dict | None:
    """The record of the shipped run with exactly these settings and ``epochs`` epochs, or None."""
    record = read_index()["models"].get(checkpoints.run_key(method_name, run_config))
    if record is None or record["run"].get("epochs_trained") != epochs:
        return None
    return record


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_into(method: torch.nn.Module, record: dict) -> dict:
    """Check the file's SHA-256, load its weights into ``method``; return the run's history state."""
    path = shipped_dir() / record["file"]
    if not path.exists():
        raise FileNotFoundError(f"{path} is listed in {shipped_dir() / INDEX} but missing: restore it with "
                                f"`git checkout -- {path.name}` in {path.parent}, rebuild with `{REBUILD}`, "
                                f"or set train_from_scratch=True")
    if sha256(path) != record["sha256"]:
        raise checkpoints.CorruptCheckpoint(
            f"{path} does not match the SHA-256 recorded in {INDEX} (changed or damaged since it was built). "
            f"Restore it (git checkout), rebuild with `{REBUILD}`, or set "
            f"train_from_scratch=True to train the model here.")
    payload = checkpoints.load(path, map_location=next(method.parameters()).device)
    method.load_state_dict(payload["state_dict"])      # float16 copied into the model's float32 parameters
    history = payload["history"]
    history["run"] = {**history["run"], "shipped": True, "shipped_file": str(path), "run_dir": None,
                      "fd_shipped": record.get("fd")}
    return history


def summary(record: dict) -> str:
    """One line: what the shipped model is and how it was made."""
    run = record["run"]
    fd = record.get("fd")
    quality = f"; FD {fd['mean']:.1f} ± {fd['std']:.1f} (N = {fd['n']:,})" if fd else ""
    accuracy = record.get("final_epoch", {}).get("test_accuracy")
    if accuracy is not None:
        quality += f"; test accuracy {100 * accuracy:.2f} %"
    epochs = run.get("epochs_trained")
    return (f"{record.get('name') or record['key']}: {record.get('notebook', '?')} at its defaults, "
            f"{epochs} epoch{'' if epochs == 1 else 's'} on {run.get('dataset')} in "
            f"{run.get('train_seconds', float('nan')):.0f} s on {checkpoints.where_trained(run)}, "
            f"finished {run.get('finished_at', '?')}{quality}")


def loaded_line(record: dict) -> str:
    return (f"Loaded the shipped model instead of training ({summary(record)}). "
            f"These are its exact settings; set train_from_scratch=True to train it here.")


# ----------------------------------------------------------------------------- the series' models by name


def resolve(name: str) -> str:
    """A series model's name (``vae``, ``gan``, ``wgan``, ``aegan``) -> its shipped key."""
    names = read_index()["names"]
    key = names.get(name)
    if key is None and not names:
        raise ValueError(f"no shipped model named {name!r}: nothing ships in {shipped_dir()}; make them with "
                         f"`{REBUILD}`, or point {SHIPPED_ENV} at a folder that has them")
    if key is None:
        raise ValueError(f"no shipped model named {name!r}: choose one of {', '.join(sorted(names))} "
                         f"(in {shipped_dir()})")
    return key


def load(name: str, device: torch.device | str = "cpu"):
    """The shipped series model ``name`` (e.g. ``"gan"``), in eval mode, with ``.record``."""
    record = read_index()["models"][resolve(name)]
    model = methods.build(record["method"], **record["config"]).to(device)
    load_into(model, record)
    model.record = {**record["run"], "shipped": True, "notebook": record.get("notebook"), "changed_parameters": {},
                    "shipped_file": record["file"], "fd": record.get("fd")}
    return model.eval()


def sample(name: str, n: int, seed: int = 0, device: torch.device | str = "cpu") -> torch.Tensor:
    """``n`` samples (n, 1, 28, 28) in [-1, 1] from the shipped model ``name``, seeded."""
    from tutorial_lib import metrics
    checks.check_positive_int("n", n)
    model = load(name, device)
    return metrics.draw(model, n, seed).float().cpu()


def load_model(path: str | Path, device: torch.device | str = "cpu") -> methods.Method:
    """Rebuild a model saved by :func:`tutorial_lib.training.checkpoints.export_model`, in eval mode.

    ``model.record`` says how it was made (see :func:`checkpoints.record_line`). A file that cannot
    be read is moved aside with one message saying how to make it again.
    """
    built = {}

    def restore(saved):
        model = methods.build(saved["method"], **saved["config"])
        model.load_state_dict(saved["state_dict"])
        built["model"] = model

    saved = checkpoints.load_or_move_aside(
        path, "Make it again by running the notebook that trains this model (e.g. 04_vae.ipynb for vae.pt).",
        restore=restore)
    model = built["model"]
    model.record = saved.get("record")
    return model.to(device).eval()


def load_series_model(name: str, device: torch.device | str = "cpu", shipped: bool = True) -> methods.Method | None:
    """The series' own model: ``<runs>/models/<name>.pt`` (exported by its notebook at its defaults),
    else (with ``shipped``) the one that ships with the series; None when there is neither.

    Prints which model it loaded: its notebook, settings, epochs, device, and when and where it
    was trained, so a comparison always says what it compares.
    """
    checks.check_choice("name", name, methods.SERIES)
    path = checkpoints.models_dir() / f"{name}.pt"
    if path.exists():
        model = load_model(path, device)
        print(f"{name}: loaded {path}\n    {checkpoints.record_line(model.record)}")
        return model
    index = read_index() if shipped else {"names": {}}
    if name in index["names"]:
        model = load(name, device)
        print(f"{name}: no {path} from this machine's runs; loaded the shipped model\n    "
              f"{summary(index['models'][index['names'][name]])}")
        return model
    return None
