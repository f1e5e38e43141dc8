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
    """Rebuild a model saved by :func:`tutorial_lib.checkpoints.export_model`, in eval mode."""
    saved = checkpoints.load(path)
    model = build(saved["method"], **saved["config"])
    model.load_state_dict(saved["state_dict"])
    return model.to(device).eval()


__all__ = ["VAE", "VAEConfig", "GAN", "GANConfig", "WGAN", "WGANConfig", "AEGAN", "AEGANConfig",
           "ExPostGMM", "test_nelbo", "build", "load_model", "REGISTRY"]
