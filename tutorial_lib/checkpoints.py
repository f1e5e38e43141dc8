"""Checkpoints that survive interruption: atomic writes, safe loads, one folder per configuration.

A training run's folder is named by its method and a hash of its configuration (everything
except the number of epochs), so re-running a notebook with the same settings finds and
resumes its own run, and a run with other settings never picks it up.
"""
from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import torch

from tutorial_lib import runtime

LAST = "last.pt"
CONFIG = "config.json"


def config_hash(config: dict) -> str:
    """A short stable hash of a JSON-serialisable configuration."""
    blob = json.dumps(config, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:10]


def run_dir(method_name: str, config: dict, root: str | Path | None = None) -> Path:
    """``<runs>/checkpoints/<method>-<hash>``: where a configuration's checkpoints live."""
    root = Path(root) if root is not None else runtime.runs_dir()
    return root / "checkpoints" / f"{method_name}-{config_hash(config)}"


def save(path: str | Path, payload: dict) -> None:
    """``torch.save`` to a temporary file in the same folder, then rename: never half a file."""
    buf = io.BytesIO()
    torch.save(payload, buf)
    runtime.atomic_write_bytes(path, buf.getvalue())


def load(path: str | Path, map_location: Any = "cpu") -> dict:
    """Load with ``weights_only=True``: tensors and plain containers only, no pickled code."""
    return torch.load(path, map_location=map_location, weights_only=True)


def write_config(folder: Path, config: dict) -> None:
    runtime.atomic_write_bytes(folder / CONFIG, (json.dumps(config, indent=2, sort_keys=True) + "\n").encode())


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


def load_training(folder: Path, method, device: torch.device) -> dict:
    """Restore weights, optimizer states and RNG from ``save_training``; return the rest of it."""
    ckpt = load(Path(folder) / LAST, map_location=device)
    method.load_state_dict(ckpt["method"])
    for name, opt in method.optimizers().items():
        opt.load_state_dict(ckpt["optimizers"][name])
    set_rng_state(ckpt["rng"])
    return {k: ckpt[k] for k in ("history", "epoch", "iteration", "step")}


# ----------------------------------------------------------------------------- trained models

def export_model(method, path: str | Path, **extra: Any) -> Path:
    """Save a trained model for other notebooks: its method name, config and weights.

    Notebooks 04–07 export to ``<runs>/models/<name>.pt``; notebook 08 loads them back with
    :func:`tutorial_lib.methods.load_model`.
    """
    path = Path(path)
    save(path, {"method": method.name, "config": method.config(),
                "state_dict": method.state_dict(), "extra": extra})
    return path


def models_dir() -> Path:
    return runtime.runs_dir() / "models"
