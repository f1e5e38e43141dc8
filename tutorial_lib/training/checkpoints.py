"""Checkpoints that survive interruption: atomic writes, safe loads, one folder per configuration.

A training run's folder is named by its method and a hash of everything that decides its
trajectory (see :func:`tutorial_lib.training.fit`), so re-running a notebook with the same
settings finds and resumes its own run, and a run with other settings never picks it up.

A file that cannot be read is never silently skipped or half-used: it is moved aside (kept,
renamed ``*.corrupt-<time>``) and one :class:`CorruptCheckpoint` names it and says how to go on.
"""
from __future__ import annotations

import hashlib
import io
import json
import platform
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import torch

from tutorial_lib import files, parameters, runtime

LAST = "last.pt"
CONFIG = "config.json"


def config_hash(config: dict) -> str:
    """A short stable hash of a JSON-serialisable configuration."""
    blob = json.dumps(config, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:10]


def run_key(method_name: str, config: dict) -> str:
    """``<method>-<hash>``: a run's name, for its folder and for a shipped model of it."""
    return f"{method_name}-{config_hash(config)}"


def run_dir(method_name: str, config: dict, root: str | Path | None = None) -> Path:
    """``<runs>/checkpoints/<method>-<hash>``: where a configuration's checkpoints live."""
    root = Path(root) if root is not None else files.runs_dir()
    return root / "checkpoints" / run_key(method_name, config)


class CorruptCheckpoint(RuntimeError):
    """A checkpoint or exported model that cannot be read, or does not fit the model it is for."""


def save(path: str | Path, payload: dict) -> None:
    """``torch.save`` to a temporary file in the same folder, then rename: never half a file.

    A failure to write (read-only folder, full disk, ...) leaves any earlier file intact and
    raises one :class:`tutorial_lib.runtime.RunsFolderError` naming the path and ``TUTORIAL_RUNS``.
    """
    buf = io.BytesIO()
    torch.save(payload, buf)
    _write(path, buf.getvalue())


def _write(path: str | Path, blob: bytes) -> None:
    """Atomic write under the runs folder; any OSError becomes one RunsFolderError."""
    try:
        files.atomic_write_bytes(path, blob)
    except OSError as err:
        raise files.runs_folder_error(path, err) from None


def load(path: str | Path, map_location: Any = "cpu") -> dict:
    """Load with ``weights_only=True``: tensors and plain containers only, no pickled code.

    A file that is truncated, empty or not a checkpoint raises :class:`CorruptCheckpoint` naming
    it (torch's own message would suggest ``weights_only=False``, which would run whatever code
    the file holds: never do that with a file you did not make).
    """
    path = Path(path)
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as err:       # truncated zip, pickle garbage, EOF: torch raises several types
        raise CorruptCheckpoint(f"{path} cannot be read ({type(err).__name__}: truncated, or not a "
                                f"checkpoint at all)") from None
    if not isinstance(payload, dict):
        raise CorruptCheckpoint(f"{path} cannot be read (it holds a {type(payload).__name__}, not a checkpoint)")
    return payload


def move_aside(path: str | Path) -> Path:
    """Rename a bad file to ``<name>.corrupt-<time>`` beside it (kept for inspection); return the new path."""
    path = Path(path)
    aside = path.with_name(f"{path.name}.corrupt-{datetime.now():%Y%m%d-%H%M%S-%f}")
    path.rename(aside)
    return aside


def load_or_move_aside(path: str | Path, fix: str, map_location: Any = "cpu", restore=None) -> dict:
    """:func:`load`, then ``restore(payload)``; if either fails, move the file aside and raise one message.

    ``fix`` says how to go on (e.g. "Run the cell again to train from scratch").
    """
    try:
        payload = load(path, map_location)
    except CorruptCheckpoint as err:
        raise _moved_aside(path, str(err), fix) from None
    if restore is not None:
        restore_or_move_aside(path, fix, restore, payload)
    return payload


def restore_or_move_aside(path: str | Path, fix: str, restore, payload: dict) -> None:
    """``restore(payload)``; a payload that does not fit (keys, shapes) moves the file aside, one message."""
    try:
        restore(payload)
    except (KeyError, RuntimeError, ValueError, TypeError) as err:
        first = (str(err).splitlines() or [""])[0][:160]
        raise _moved_aside(path, f"{path} does not fit this model ({type(err).__name__}: {first}); it was "
                                 f"saved by other code or for other settings", fix) from None


def _moved_aside(path: str | Path, message: str, fix: str) -> CorruptCheckpoint:
    aside = move_aside(path)
    return CorruptCheckpoint(f"{message}. It was moved aside to {aside} (kept, not deleted). {fix}")


def write_config(folder: Path, config: dict) -> None:
    _write(Path(folder) / CONFIG, (json.dumps(config, indent=2, sort_keys=True) + "\n").encode())


def read_config(folder: Path) -> dict | None:
    path = Path(folder) / CONFIG
    return json.loads(path.read_text()) if path.exists() else None


# ----------------------------------------------------------------------------- RNG state

def rng_state() -> dict:
    """The PyTorch RNG states (CPU and every GPU). Training draws all its noise from these."""
    state = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore :func:`rng_state`. The states must be CPU byte tensors, whatever ``map_location`` loaded them to."""
    torch.set_rng_state(state["cpu"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


# ----------------------------------------------------------------------------- training state

def save_training(folder: Path, method, history_state: dict, epoch: int, iteration: int, step: int) -> None:
    """Everything a run needs to continue exactly: weights, optimizer states, RNG, history, position."""
    save(Path(folder) / LAST, {
        "method": method.state_dict(),
        "optimizers": {k: o.state_dict() for k, o in method.optimizers().items()},
        "rng": rng_state(), "history": history_state,
        "epoch": epoch, "iteration": iteration, "step": step})


FRESH_START = ("Run the same cell again to train from scratch (the bad file is out of the way), "
               "or call fit(..., resume=False).")
_TRAINING_KEYS = ("method", "optimizers", "rng", "history", "epoch", "iteration", "step")


def read_training(folder: Path, device: torch.device) -> dict:
    """The saved state of a run, checked for its keys; a bad file is moved aside (see module doc)."""
    def check(ckpt):
        missing = set(_TRAINING_KEYS) - set(ckpt)
        if missing:
            raise KeyError(f"missing {sorted(missing)}")
    return load_or_move_aside(Path(folder) / LAST, FRESH_START, map_location=device, restore=check)


def restore_training(folder: Path, method, ckpt: dict) -> dict:
    """Put ``read_training``'s weights, optimizer states and RNG in place; return the rest of it."""
    def restore(ckpt):
        method.load_state_dict(ckpt["method"])
        for name, opt in method.optimizers().items():
            opt.load_state_dict(ckpt["optimizers"][name])
        set_rng_state(ckpt["rng"])
    restore_or_move_aside(Path(folder) / LAST, FRESH_START, restore, ckpt)
    return {k: ckpt[k] for k in ("history", "epoch", "iteration", "step")}


# ----------------------------------------------------------------------------- trained models

def models_dir() -> Path:
    return files.runs_dir() / "models"


def export_model(method, name: str, *, history=None, params: "parameters.NotebookParameters | None" = None,
                 **extra: Any) -> Path:
    """Save a trained model for other notebooks, with a record of how it was made.

    The record holds the method's config, the notebook and its parameters, the epochs actually
    trained, the device, the date and the training run's folder (``history.run``). Where it goes:

    - ``<runs>/models/<name>.pt`` when the notebook ran at its defaults: the series' own model,
      the one notebooks 08 and 09 load;
    - ``<runs>/models/variants/<name>-<hash>.pt`` when parameters were changed (a ``-p`` re-run),
      so a variant never replaces the series' model. A sweep gives each run its own runs folder.
    """
    if not re.fullmatch(r"[A-Za-z0-9_\-]+", str(name)):
        raise ValueError(f"name={name!r} must be a plain model name like 'vae' (letters, digits, _ and -), not a path")
    variant = params is not None and params.changed
    path = (models_dir() / "variants" / f"{name}-{config_hash(params.changed)}.pt" if variant
            else models_dir() / f"{name}.pt")
    record = {"name": name, **(history.run if history is not None else {}),
              "notebook": params.notebook if params else None,
              "parameters": params.values if params else None,
              "changed_parameters": params.changed if params else None,
              "exported_at": datetime.now().isoformat(timespec="seconds"), "host": platform.node(),
              "smoke": runtime.smoke_mode(), "torch": str(torch.__version__)}
    save(path, {"method": method.name, "config": method.config(), "state_dict": method.state_dict(),
                "record": record, "extra": extra})
    if variant:
        changed = ", ".join(f"{k}={v!r}" for k, v in params.changed.items())
        print(f"Saved {path}. This run changed {changed} from the notebook's defaults, so its model is kept "
              f"apart; notebooks 08 and 09 keep using the series' own {models_dir() / (name + '.pt')}.")
    else:
        print(f"Saved {path} (the series' model of {name}; notebooks 08 and 09 load it).")
    return path


def where_trained(run: dict) -> str:
    """The device a run trained on, or each stretch's when it moved (``run["devices"]``, kept by ``fit``):
    "NVIDIA H100 80GB HBM3 (epochs 1-98), then CPU (epochs 99-100)"."""
    devices = run.get("devices") or []
    if len(devices) < 2:
        return run.get("device_name") or run.get("device", "?")
    ends = [d["from_epoch"] for d in devices[1:]] + [run.get("epochs_trained", "?")]
    return ", then ".join(f"{d['device']} (epochs {d['from_epoch'] + 1}-{end})" for d, end in zip(devices, ends))


def record_line(record: dict | None) -> str:
    """One line saying what made a model: notebook, changed settings, epochs, device, when and where."""
    if not record:
        return "no record of how it was trained (exported by an older version)"
    changed = record.get("changed_parameters")
    how = ("at its default parameters" if changed == {} else
           f"with {', '.join(f'{k}={v!r}' for k, v in changed.items())}" if changed else "")
    config = ", ".join(f"{k}={v}" for k, v in (record.get("config") or {}).items())
    epochs = record.get("epochs_trained")
    parts = [f"{record.get('notebook') or 'a notebook'} {how}".strip(),
             f"{epochs} epoch{'s' if epochs != 1 else ''} on {record.get('dataset', '?')}" if epochs is not None else "",
             f"on {where_trained(record)}",
             f"finished {record.get('finished_at') or record.get('exported_at', '?')} on {record.get('host', '?')}",
             "SMOKE MODE (tiny, not meaningful)" if record.get("smoke") else ""]
    return "; ".join(p for p in parts if p) + (f"; config: {config}" if config else "")
