"""The generative models of the series, each a :class:`tutorial_lib.trainer.Method`.

    vae    VAE, VAEConfig            (vae.py)
    gan    GAN, GANConfig            (gan.py; DCGAN nets, three generator losses)
    wgan   WGAN, WGANConfig          (gan.py; weight clipping or gradient penalty)
    aegan  AEGAN, AEGANConfig        (aegan.py; plus the ExPostGMM baseline)
"""
from __future__ import annotations

from pathlib import Path

import torch

from tutorial_lib import checkpoints
from tutorial_lib.methods.aegan import AEGAN, AEGANConfig, ExPostGMM
from tutorial_lib.methods.gan import GAN, GANConfig, WGAN, WGANConfig
from tutorial_lib.methods.vae import VAE, VAEConfig, test_nelbo
from tutorial_lib.trainer import Method

REGISTRY = {"vae": (VAE, VAEConfig), "gan": (GAN, GANConfig), "wgan": (WGAN, WGANConfig),
            "aegan": (AEGAN, AEGANConfig)}


def build(name: str, **config) -> Method:
    """A fresh method by name, e.g. ``build("wgan", constraint="gp")``."""
    if name not in REGISTRY:
        raise ValueError(f"method={name!r} is not one of: {', '.join(map(repr, REGISTRY))}")
    cls, cfg_cls = REGISTRY[name]
    return cls(cfg_cls(**config))


def load_model(path: str | Path, device: torch.device | str = "cpu") -> Method:
    """Rebuild a model saved by :func:`tutorial_lib.checkpoints.export_model`, in eval mode.

    ``model.record`` says how it was made (see :func:`tutorial_lib.checkpoints.describe`). A file
    that cannot be read is moved aside with one message saying how to make it again.
    """
    built = {}

    def restore(saved):
        model = build(saved["method"], **saved["config"])
        model.load_state_dict(saved["state_dict"])
        built["model"] = model

    saved = checkpoints.load_or_move_aside(
        path, "Make it again by running the notebook that trains this model (e.g. 04_vae.ipynb for vae.pt).",
        restore=restore)
    model = built["model"]
    model.record = saved.get("record")
    return model.to(device).eval()


def load_series_model(name: str, device: torch.device | str = "cpu") -> Method | None:
    """The series' own model ``<runs>/models/<name>.pt`` (exported at a notebook's defaults), or None.

    Prints which model it loaded: its notebook, settings, epochs, device, and when and where it
    was trained, so a comparison always says what it compares.
    """
    path = checkpoints.models_dir() / f"{name}.pt"
    if not path.exists():
        return None
    model = load_model(path, device)
    print(f"{name}: loaded {path}\n    {checkpoints.describe(model.record)}")
    return model


__all__ = ["VAE", "VAEConfig", "GAN", "GANConfig", "WGAN", "WGANConfig", "AEGAN", "AEGANConfig",
           "ExPostGMM", "test_nelbo", "build", "load_model", "load_series_model", "REGISTRY"]
